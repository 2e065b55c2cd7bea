import t from 'tap';
import { warmUpLogin } from '../../src/worker/warm-up';
import { parseClientAuth } from '../../src/worker/auth-xml';

t.test('the login warm-up runs its rounds in memory and finishes', async (t) => {
  const started = Date.now();
  await warmUpLogin(6);
  t.ok(Date.now() - started < 1000, 'each round was answered (no one-second wait for a lost answer)');
  const msg = parseClientAuth('<config-auth client="vpn" type="auth-reply"><auth><username>a</username></auth></config-auth>');
  t.equal(msg.type, 'auth-reply', 'the parser it warmed works as before');
});
