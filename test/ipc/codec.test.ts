import t from 'tap';
import { pack } from 'msgpackr';
import { DecodeError, MAX_MESSAGE, decode, encode } from '../../src/ipc/codec';
import { workerToMain, workerToSecmod } from '../../src/ipc/messages';
import { ValidationError } from '../../src/ipc/validate';

t.test('round trip', async (t) => {
  const env = { type: 'session.open', id: 7, re: 0, body: { connId: 1, cookie: 'abc', mtu: { link: 1500, cstp: 1472, dtlsOverhead: 38 } } };
  t.same(decode(encode(env)), env);
});

t.test('garbage, wrong shapes and oversized messages are refused', async (t) => {
  t.throws(() => decode(Buffer.from([0xc1])), DecodeError, 'reserved msgpack byte');
  t.throws(() => decode(Buffer.from('hello world')), DecodeError);
  t.throws(() => decode(pack({ type: 'x' })), DecodeError, 'not an envelope array');
  t.throws(() => decode(pack(['x', -1, 0, {}])), DecodeError, 'negative id');
  t.throws(() => decode(pack([42, 0, 0, {}])), DecodeError, 'numeric type');
  t.throws(() => decode(Buffer.alloc(MAX_MESSAGE + 1)), /above/);
  t.throws(() => encode({ type: 'x', id: 0, re: 0, body: { big: 'x'.repeat(MAX_MESSAGE) } }), /above/);
});

t.test('validators narrow worker messages and reject the rest', async (t) => {
  const ok = workerToMain['session.open']({ connId: 1, cookie: 'c', mtu: { link: 1500, cstp: 1472 } }, 'm');
  t.same(ok, { connId: 1, cookie: 'c', mtu: { link: 1500, cstp: 1472 } });
  const bad: unknown[] = [
    null, [], 'x',
    { connId: -1, cookie: 'c', mtu: { link: 1500, cstp: 1472 } },
    { connId: 1.5, cookie: 'c', mtu: { link: 1500, cstp: 1472 } },
    { connId: 1, cookie: 'c'.repeat(513), mtu: { link: 1500, cstp: 1472 } },
    { connId: 1, cookie: 'c', mtu: { link: 70000, cstp: 1472 } },
    { connId: 1, cookie: 'c', mtu: { link: 1500, cstp: 1472 }, extra: true },
    { connId: '1', cookie: 'c', mtu: { link: 1500, cstp: 1472 } },
  ];
  for (const b of bad) t.throws(() => workerToMain['session.open'](b, 'm'), ValidationError, JSON.stringify(b)?.slice(0, 60));
  t.throws(() => workerToSecmod['auth.cont']({ authId: 'a', answers: Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`k${i}`, 'v'])) }, 'm'), /more than 8 keys/);
  const proof = { connId: 1, remoteAddr: '198.18.0.2', cert: 'none', mac: 'm' };
  t.same(workerToSecmod['auth.init']({ remoteAddr: '198.18.0.2', proof, userAgent: 'oc' }, 'm'), { remoteAddr: '198.18.0.2', proof, userAgent: 'oc' });
  t.throws(() => workerToSecmod['auth.init']({ remoteAddr: '198.18.0.2', userAgent: 'oc' }, 'm'), ValidationError, 'a login request needs main\'s proof');
});
