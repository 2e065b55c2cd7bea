/**
 * One-time passwords (src/secmod/auth/oath.ts): the RFC 4226 and RFC 6238 test vectors,
 * liboath's users-file format, the windows, replay refusal and the write-back.
 */
import t from 'tap';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OathUsersFile, authenticateText, hotp, oathTime, parseLine, parseTokenType, splitLines, totp,
} from '../../src/secmod/auth/oath';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-oath-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// the secret of both RFCs' appendices: ASCII "12345678901234567890"
const RFC_SECRET = Buffer.from('12345678901234567890');
const HEX = RFC_SECRET.toString('hex');

t.test('RFC 4226 appendix D: HOTP values for counters 0 to 9', async (t) => {
  const expected = ['755224', '287082', '359152', '969429', '338314', '254676', '287922', '162583', '399871', '520489'];
  t.same(expected.map((_, c) => hotp(RFC_SECRET, c)), expected);
  t.equal(hotp(RFC_SECRET, 0n, 8), '84755224', 'eight digits: the same truncation, two more digits');
});

t.test('RFC 6238 appendix B: TOTP (SHA-1, 8 digits, 30 s steps)', async (t) => {
  const vectors: Array<[number, string]> = [
    [59, '94287082'], [1111111109, '07081804'], [1111111111, '14050471'],
    [1234567890, '89005924'], [2000000000, '69279037'], [20000000000, '65353130'],
  ];
  for (const [time, code] of vectors) t.equal(totp(RFC_SECRET, time, 30, 8), code, `T = ${time}`);
  t.equal(totp(RFC_SECRET, 59, 60, 6), hotp(RFC_SECRET, 0), '60 s steps: step 0 until T = 60');
});

t.test('token types as liboath names them', async (t) => {
  t.same(parseTokenType('HOTP'), { digits: 6 });
  t.same(parseTokenType('HOTP/E'), { digits: 6 });
  t.same(parseTokenType('HOTP/E/8'), { digits: 8 });
  t.same(parseTokenType('HOTP/T30'), { digits: 6, step: 30 });
  t.same(parseTokenType('HOTP/T30/7'), { digits: 7, step: 30 });
  t.same(parseTokenType('HOTP/T60/8'), { digits: 8, step: 60 });
  for (const bad of ['TOTP', 'HOTP/T45', 'HOTP/E/9', 'HOTP/T30/5', 'hotp', '#', 'HOTP/T30/']) t.equal(parseTokenType(bad), undefined, bad);
});

t.test('lines: fields, optional ones, and what is skipped or wrong', async (t) => {
  const full = parseLine(`HOTP/T30/6\talice  1234 ${HEX} 17 123456 2024-01-31T12:00:00L\n`, 4);
  t.match(full, { token: { type: 'HOTP/T30/6', user: 'alice', pin: '1234', digits: 6, step: 30, counter: 17n, lastOtp: '123456', lastTime: '2024-01-31T12:00:00L', line: 4 } });
  t.match(parseLine(`HOTP bob - ${HEX.toUpperCase()}`, 0), { token: { user: 'bob', pin: '-', counter: 0n, lastOtp: undefined } }, 'upper-case hex, no counter');
  for (const skipped of ['# a comment', '', '   ', 'TOTP alice - 00', 'HOTP alice -', 'HOTP alice']) {
    t.same(parseLine(skipped, 0), { skip: true }, `skipped: '${skipped}'`);
  }
  t.match(parseLine('HOTP alice - 0g', 0), { error: /line 1: the secret is not hexadecimal/, user: 'alice' });
  t.match(parseLine('HOTP alice - 123', 0), { error: /not hexadecimal/ }, 'odd length');
  t.match(parseLine(`HOTP alice - ${'00'.repeat(33)}`, 0), { error: /longer than 32 bytes/ });
  t.match(parseLine(`HOTP alice - ${HEX} x12`, 0), { error: /counter is not a number/ });
  t.match(parseLine(`HOTP alice - ${HEX} 99999999999999999999`, 0), { error: /counter is out of range/ });
  t.match(parseLine(`HOTP alice - ${HEX} 1 123456 yesterday`, 0), { error: /the time is not like/ });
  t.equal(oathTime(new Date(2024, 0, 31, 9, 5, 7)), '2024-01-31T09:05:07L', 'local time with a literal L');
});

const NOW = new Date(1_700_000_000_000);
const nowS = NOW.getTime() / 1000;

t.test('HOTP: a few counters ahead, the counter of the code used is recorded, replay refused', async (t) => {
  const text = `# tokens\r\nHOTP/E\tbob\t-\t${HEX}\t3\nHOTP/T30 carol - ${HEX}\nlast line without newline`;
  const code = hotp(RFC_SECRET, 5);
  const r = authenticateText(text, 'bob', code, NOW);
  t.equal(r.result, 'ok');
  const lines = splitLines(r.text!);
  t.same(lines.length, 4);
  t.equal(lines[0], '# tokens\r\n', 'other lines stay byte for byte');
  t.equal(lines[1], `HOTP/E\tbob\t-\t${HEX}\t5\t${code}\t${oathTime(NOW)}\n`, 'liboath\'s layout: counter of the code used, code, time');
  t.equal(lines[2], `HOTP/T30 carol - ${HEX}\n`);
  t.equal(lines[3], 'last line without newline');

  t.same(authenticateText(r.text!, 'bob', code, NOW), { result: 'replayed' }, 'the same code again');
  t.same(authenticateText(r.text!, 'bob', hotp(RFC_SECRET, 4), NOW), { result: 'invalid' }, 'an older code');
  t.equal(authenticateText(r.text!, 'bob', hotp(RFC_SECRET, 6), NOW).result, 'ok', 'the next one');
  t.equal(authenticateText(r.text!, 'bob', hotp(RFC_SECRET, 15), NOW).result, 'ok', 'ten ahead');
  t.same(authenticateText(r.text!, 'bob', hotp(RFC_SECRET, 16), NOW), { result: 'invalid' }, 'beyond the window');
  t.same(authenticateText(text, 'bob', hotp(RFC_SECRET, 2), NOW), { result: 'invalid' }, 'below the stored counter');
});

t.test('TOTP: one step either side, later steps only, liboath\'s counter', async (t) => {
  const text = `HOTP/T30 alice - ${HEX} 7\n`;
  const at = (dt: number) => totp(RFC_SECRET, nowS + dt);
  t.same(authenticateText(text, 'alice', at(-60), NOW), { result: 'invalid' }, 'two steps old');
  t.same(authenticateText(text, 'alice', at(60), NOW), { result: 'invalid' }, 'two steps ahead');
  const early = authenticateText(text, 'alice', at(-30), NOW);
  t.equal(early.result, 'ok', 'a clock one step behind');
  t.match(early.text, new RegExp(`^HOTP/T30\talice\t-\t${HEX}\t8\t${at(-30)}\t`), 'counter 7 + distance 1, as liboath writes it');

  const used = authenticateText(text, 'alice', at(0), NOW).text!;
  t.same(authenticateText(used, 'alice', at(0), NOW), { result: 'replayed' }, 'the same code');
  t.same(authenticateText(used, 'alice', at(-30), NOW), { result: 'replayed' }, 'a code of an earlier step');
  t.same(authenticateText(used, 'alice', at(0), new Date(NOW.getTime() + 30_000)), { result: 'replayed' }, 'the same code a step later');
  t.equal(authenticateText(used, 'alice', at(30), NOW).result, 'ok', 'the next step\'s code');
  const long = `HOTP/T30 alice - ${HEX} 0 ${totp(RFC_SECRET, nowS - 3600)} 2023-11-14T21:13:20L\n`;
  t.equal(authenticateText(long, 'alice', at(0), NOW).result, 'ok', 'a last code outside the window is older than all in it');
});

t.test('digits, several tokens, unknown users and malformed lines', async (t) => {
  const eight = `HOTP/E/8 dave - ${HEX}\n`;
  t.equal(authenticateText(eight, 'dave', hotp(RFC_SECRET, 0, 8), NOW).result, 'ok');
  t.same(authenticateText(eight, 'dave', hotp(RFC_SECRET, 0, 6), NOW), { result: 'invalid' }, 'six digits for an eight-digit token');
  t.same(authenticateText(eight, 'dave', ` ${hotp(RFC_SECRET, 0, 8)}x`, NOW), { result: 'invalid' });

  const other = Buffer.from('another secret 12345');
  const two = `HOTP/T30 erin - ${HEX}\nHOTP erin - ${other.toString('hex')}\n`;
  const r = authenticateText(two, 'erin', hotp(other, 0), NOW);
  t.equal(r.result, 'ok', 'the second token of a user');
  t.equal(splitLines(r.text!)[0], `HOTP/T30 erin - ${HEX}\n`, 'the first is untouched');
  t.match(splitLines(r.text!)[1], /^HOTP\terin\t-\t[0-9a-f]+\t0\t\d{6}\t/);

  t.same(authenticateText(two, 'frank', '123456', NOW), { result: 'unknown-user' });
  t.same(authenticateText(`HOTP frank - zz\nHOTP erin - ${HEX}\n`, 'erin', hotp(RFC_SECRET, 0), NOW).result, 'ok',
    'another user\'s broken line does not concern this login');
  t.match(authenticateText(`HOTP erin - ${HEX} nope\n`, 'erin', hotp(RFC_SECRET, 0), NOW), { result: 'error', reason: /counter is not a number/ });
});

t.test('the file: rewritten by rename, mode 0600, owner kept, read afresh each time', async (t) => {
  const file = join(dir, 'users.oath');
  writeFileSync(file, `# ours\nHOTP carol - ${HEX}\nHOTP/T30 alice - ${HEX}\n`, { mode: 0o644 });
  chownSync(file, 65534, 65534);
  const before = statSync(file);
  const f = new OathUsersFile(file);
  t.same(f.authenticate('carol', hotp(RFC_SECRET, 1), NOW), { result: 'ok' });
  const after = statSync(file);
  t.not(after.ino, before.ino, 'a new file took its place');
  t.equal(after.mode & 0o777, 0o600, 'readable by its owner only, as liboath leaves it');
  t.same([after.uid, after.gid], [65534, 65534], 'the owner is kept');
  t.same(readdirSync(dir).filter((n) => n.startsWith('users.oath.')), [], 'no temporary file left');
  t.match(readFileSync(file, 'utf8'), new RegExp(`^# ours\nHOTP\tcarol\t-\t${HEX}\t1\t${hotp(RFC_SECRET, 1)}\t.+L\nHOTP/T30 alice - ${HEX}\n$`));
  t.same(f.authenticate('carol', hotp(RFC_SECRET, 1), NOW), { result: 'replayed' }, 'a second login with the same code');

  // an administrator edits the file: the next code sees it
  writeFileSync(file, `HOTP carol - ${HEX} 40\n`);
  t.same(f.authenticate('carol', hotp(RFC_SECRET, 2), NOW), { result: 'invalid' });
  t.same(f.authenticate('carol', ` ${hotp(RFC_SECRET, 41)}\n`, NOW), { result: 'ok' }, 'blanks around the code are ignored');

  const missing = new OathUsersFile(join(dir, 'nope.oath'));
  t.match(missing.authenticate('carol', '123456', NOW), { result: 'error', reason: /cannot read .*nope\.oath/ });

  // a code that cannot be recorded could be used again: refused
  const text = readFileSync(file, 'utf8');
  mkdirSync(`${file}.new`);
  t.match(f.authenticate('carol', hotp(RFC_SECRET, 42), NOW), { result: 'error', reason: /cannot update .*users\.oath/ });
  t.equal(readFileSync(file, 'utf8'), text, 'the file is as it was');
  rmdirSync(`${file}.new`);
  t.same(f.authenticate('carol', hotp(RFC_SECRET, 42), NOW), { result: 'ok' });
});
