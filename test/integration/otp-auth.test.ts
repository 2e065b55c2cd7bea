/**
 * One-time passwords: `auth = "plain[passwd=...,otp=...]"` with a liboath users file, Debian's
 * openconnect typing the password and then the code (one stdin line per form field), and
 * Debian's ocserv on the same files to show that both read and write them alike.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createTopology, openconnectAuthenticate, removeStaleNamespaces, startServer, type ServerHandle, type Topology,
} from '../helpers/netns';
import { hotp, totp } from '../../src/secmod/auth/oath';

const SECRET = Buffer.from('ocserv-ts otp test!!');
const HEX = SECRET.toString('hex');
const PASSWORDS: Record<string, string> = { alice: 'alice pw', bob: 'bob pw', carol: 'carol pw', hank: 'hank pw', dan: 'dan pw' };

let topo: Topology;
let ours: ServerHandle;
let debian: ServerHandle;
let oathFile: string;

const nowCode = () => totp(SECRET, Date.now() / 1000);
/** a six-digit code that is none of the window's */
function wrongCode(): string {
  const near = new Set([-1, 0, 1].map((k) => totp(SECRET, Date.now() / 1000 + 30 * k)));
  for (let i = 0; ; i++) {
    const c = String(100000 + i * 7919).padStart(6, '0');
    if (!near.has(c)) return c;
  }
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const dir = topo.tempDir('otp');
  const passwd = join(dir, 'ocpasswd');
  oathFile = join(dir, 'users.oath');
  writeFileSync(passwd, '');
  for (const [user, pw] of Object.entries(PASSWORDS)) execFileSync('ocpasswd', ['-c', passwd, '-g', 'staff', user], { input: `${pw}\n` });
  // no password: ocserv asks such a user for the code alone
  appendFileSync(passwd, 'olga:staff:\n');
  writeFileSync(oathFile, [
    '# TOTP, 30 s steps, six digits; PIN "-" (ocserv ignores the PIN field)',
    `HOTP/T30 alice - ${HEX}`,
    `HOTP/T30/6\tcarol\t+\t${HEX}`,
    `HOTP/T30 olga - ${HEX}`,
    `HOTP/E hank 1234 ${HEX} 10`,
    `HOTP/T30 dan - ${HEX}`,
    '',
  ].join('\n'));
  const auth = `auth = "plain[passwd=${passwd},otp=${oathFile}]"`;
  ours = await startServer(topo, { kind: 'ocserv-ts', users: [], extraConfig: auth });
  debian = await startServer(topo, {
    kind: 'ocserv', port: 4444, users: [], debug: 1, extraConfig: `${auth}\nipv4-network = 198.19.1.0\nipv4-netmask = 255.255.255.0`,
  });
});
t.teardown(async () => {
  await ours?.stop();
  await debian?.stop();
  await topo?.cleanup();
});

function login(server: ServerHandle, user: string, answers: string[]) {
  return openconnectAuthenticate(topo, { url: server.url, user, password: '', servercert: server.pin, answers });
}
const lineOf = (user: string) => readFileSync(oathFile, 'utf8').split('\n').find((l) => l.split(/\s+/)[1] === user) ?? '';

t.test('TOTP: the password, then a second form for the code', async (t) => {
  const code = nowCode();
  const r = await login(ours, 'alice', [PASSWORDS.alice, code]);
  t.equal(r.code, 0, 'openconnect logs in');
  t.ok(r.webvpn, 'and gets a session cookie');
  t.match(r.output, /Please enter your username and password\.\nPassword:[\s\S]*Please enter your OTP password\.\nPassword:/, 'two forms');
  t.match(lineOf('alice'), new RegExp(`^HOTP/T30\talice\t-\t${HEX}\t\\d+\t${code}\t\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dL$`),
    'the code used is recorded as liboath records it');
  t.match(readFileSync(oathFile, 'utf8'), /^# TOTP, 30 s steps/, 'other lines are kept');

  const again = await login(ours, 'alice', [PASSWORDS.alice, code]);
  t.not(again.code, 0, 'the same code a second time is refused');
  t.notOk(again.webvpn);
  t.match(again.output, /Please enter your OTP password\.[\s\S]*401/, 'after the password was accepted');
  t.match(ours.output(), /"reason":"OTP already used"/);
});

t.test('a wrong code ends the login; a wrong password never gets to the code', async (t) => {
  const wrong = await login(ours, 'alice', [PASSWORDS.alice, wrongCode()]);
  t.not(wrong.code, 0);
  t.notOk(wrong.webvpn, 'no cookie for a wrong code');
  t.match(ours.output(), /"reason":"wrong OTP"/);
  t.notMatch(wrong.output, /OTP password\.[\s\S]*OTP password\./, 'no second try at the code');

  const badPw = await login(ours, 'alice', ['not alice pw']);
  t.notOk(badPw.webvpn);
  t.notMatch(badPw.output, /OTP/, 'the code is only asked once the password is right');
});

t.test('a user without a token in the OTP file is refused, as by ocserv', async (t) => {
  const r = await login(ours, 'bob', [PASSWORDS.bob, nowCode()]);
  t.notOk(r.webvpn, 'ocserv-ts refuses bob');
  t.match(ours.output(), /"reason":"no OTP token for the user"/);
  const d = await login(debian, 'bob', [PASSWORDS.bob, nowCode()]);
  t.notOk(d.webvpn, 'and so does Debian\'s ocserv');
  t.match(debian.output(), /OTP auth failed for 'bob': Cannot find information about user/);
});

t.test('a user with no password answers the code alone', async (t) => {
  const r = await login(ours, 'olga', [nowCode()]);
  t.ok(r.webvpn, 'olga logs in with the code');
  t.notMatch(r.output, /OTP password/, 'one form only');
});

t.test('HOTP with a PIN field and a counter: the counter moves to the code used', async (t) => {
  const r = await login(ours, 'hank', [PASSWORDS.hank, hotp(SECRET, 13)]);
  t.ok(r.webvpn, 'a code three presses ahead of counter 10');
  t.match(lineOf('hank'), new RegExp(`^HOTP/E\thank\t1234\t${HEX}\t13\t${hotp(SECRET, 13)}\t`), 'PIN kept, counter 13');
  t.notOk((await login(ours, 'hank', [PASSWORDS.hank, hotp(SECRET, 12)])).webvpn, 'an older code is refused');
});

t.test('Debian\'s ocserv on the same files: each refuses what the other recorded', async (t) => {
  // HOTP: ours used 13 above; ocserv refuses it and takes 14; ours then refuses 14 and takes 15
  t.notOk((await login(debian, 'hank', [PASSWORDS.hank, hotp(SECRET, 13)])).webvpn, 'ocserv refuses the code ocserv-ts recorded');
  t.ok((await login(debian, 'hank', [PASSWORDS.hank, hotp(SECRET, 14)])).webvpn, 'ocserv takes the next');
  t.match(lineOf('hank'), new RegExp(`^HOTP/E\thank\t1234\t${HEX}\t14\t${hotp(SECRET, 14)}\t\\d{4}-[\\d-]+T[\\d:]+L$`), 'liboath writes the line as ocserv-ts does');
  t.notOk((await login(ours, 'hank', [PASSWORDS.hank, hotp(SECRET, 14)])).webvpn, 'ocserv-ts refuses the code ocserv recorded');
  t.ok((await login(ours, 'hank', [PASSWORDS.hank, hotp(SECRET, 15)])).webvpn, 'and takes the next');

  // TOTP, PIN '+' (verified elsewhere): ocserv logs carol in, ocserv-ts refuses her code afterwards
  const code = nowCode();
  const d = await login(debian, 'carol', [PASSWORDS.carol, code]);
  t.ok(d.webvpn, 'ocserv: password then code');
  t.match(d.output, /Please enter your OTP password\.\nPassword:/, 'ocserv\'s second form reads like ours');
  t.notOk((await login(ours, 'carol', [PASSWORDS.carol, code])).webvpn, 'ocserv-ts refuses a TOTP code ocserv recorded');

  // and the other way round
  const c2 = nowCode();
  t.ok((await login(ours, 'dan', [PASSWORDS.dan, c2])).webvpn, 'ocserv-ts logs dan in');
  t.notOk((await login(debian, 'dan', [PASSWORDS.dan, c2])).webvpn, 'ocserv refuses the code ocserv-ts recorded');
  t.match(debian.output(), /OTP auth failed for 'dan': .*replay/i, 'ocserv: replayed');
  t.notOk((await login(debian, 'alice', [PASSWORDS.alice, wrongCode()])).webvpn, 'both refuse a wrong code');
});
