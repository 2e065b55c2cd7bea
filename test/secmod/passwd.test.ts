import t from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswdFile, hashPassword, isSupportedHash, parsePasswd, verifyCrypt, verifyPassword } from '../../src/secmod/passwd';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-passwd-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const run = (cmd: string, args: string[], input = '') => execFileSync(cmd, args, { input }).toString().trim();
// ocpasswd reads one line from stdin when it is not a terminal (getpass twice only on a tty).
const ocpasswd = (file: string, args: string[], password?: string) =>
  run('ocpasswd', ['-c', file, ...args], password === undefined ? '' : `${password}\n`);
const lineOf = (file: string, user: string) => readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${user}:`))!;

t.test('hashes made by Debian tools verify', async (t) => {
  const pw = 'Corr3ct horse:battery';
  const hashes: Record<string, string> = {
    'mkpasswd sha-256': run('mkpasswd', ['-m', 'sha-256', '-s'], `${pw}\n`),
    'mkpasswd sha-512': run('mkpasswd', ['-m', 'sha-512', '-s'], `${pw}\n`),
    'mkpasswd sha-512 -R 10000': run('mkpasswd', ['-m', 'sha-512', '-R', '10000', '-s'], `${pw}\n`),
    'mkpasswd sha-256 -R 1000': run('mkpasswd', ['-m', 'sha-256', '-R', '1000', '-s'], `${pw}\n`),
    'openssl passwd -5': run('openssl', ['passwd', '-5', '-stdin'], `${pw}\n`),
    'openssl passwd -6': run('openssl', ['passwd', '-6', '-stdin'], `${pw}\n`),
  };
  for (const [tool, hash] of Object.entries(hashes)) {
    t.ok(verifyCrypt(pw, hash), `${tool}: right password`);
    t.notOk(verifyCrypt(pw + 'x', hash), `${tool}: wrong password`);
    t.notOk(verifyCrypt(pw.slice(0, -1), hash), `${tool}: truncated password`);
  }
  t.match(hashes['mkpasswd sha-512 -R 10000'], /^\$6\$rounds=10000\$/);
  // Passwords around the digest sizes and non-ASCII exercise every branch of SHA-crypt.
  for (const p of ['a', 'x'.repeat(32), 'y'.repeat(64), 'z'.repeat(65), 'q'.repeat(200), 'pässwörd €']) {
    for (const m of ['sha-256', 'sha-512']) {
      const h = run('mkpasswd', ['-m', m, '-s'], `${p}\n`);
      t.ok(verifyCrypt(p, h), `${m} ${p.length} chars`);
      t.notOk(verifyCrypt(p + p, h), `${m} ${p.length} chars, wrong`);
    }
  }
});

t.test('ocpasswd-made file: set, groups, lock, unlock', async (t) => {
  const file = join(dir, 'ocpasswd');
  ocpasswd(file, ['alice'], 'alice-pw');
  ocpasswd(file, ['-g', 'staff, admins,ops', 'bob'], 'bob-pw');
  t.match(lineOf(file, 'alice'), /^alice:\*:\$5\$/, 'ocpasswd writes $5$ and group *');
  const pf = new PasswdFile(file);
  t.same(await pf.check('alice', 'alice-pw'), { result: 'ok', groups: [] });
  t.same(await pf.check('alice', 'bob-pw'), { result: 'bad-password', groups: [] });
  t.same(await pf.check('bob', 'bob-pw'), { result: 'ok', groups: ['staff', 'admins', 'ops'] });
  t.same(await pf.check('carol', 'x'), { result: 'no-user', groups: [] });
  t.same(await pf.check('alice', ''), { result: 'empty-password', groups: [] });
  t.same(await pf.check('nobody-at-all', ''), { result: 'empty-password', groups: [] });

  ocpasswd(file, ['-l', 'alice']);
  t.match(lineOf(file, 'alice'), /^alice:\*:!\$5\$/);
  t.same(await pf.check('alice', 'alice-pw'), { result: 'locked', groups: [] }, 'lock seen without restart');
  const e = parsePasswd(readFileSync(file, 'utf8'), file).entries.get('alice')!;
  t.ok(e.locked);
  t.notOk(e.hash.startsWith('!'), 'hash kept without the lock mark');
  ocpasswd(file, ['-u', 'alice']);
  t.equal((await pf.check('alice', 'alice-pw')).result, 'ok', 'unlock seen');

  ocpasswd(file, ['alice'], 'new-alice-pw');
  t.equal((await pf.check('alice', 'alice-pw')).result, 'bad-password', 'old password gone after change');
  t.equal((await pf.check('alice', 'new-alice-pw')).result, 'ok');
  ocpasswd(file, ['-d', 'bob']);
  t.equal((await pf.check('bob', 'bob-pw')).result, 'no-user', 'deletion seen');
  t.equal(pf.errors.length, 0);
});

t.test('parsing', async (t) => {
  const h = hashPassword('pw');
  const text = [
    '# comment',
    '',
    '   ',
    `a:g1:${h}`,
    `b::${h}\r`,
    `c:*:${h}`,
    `d: g1 , g2,,*, g1 :${h}:extra`,
    'no-colon-line',
    `e:${h.replace(/\$/g, '')}`,
    `:g:${h}`,
    `a:other:${h}`,
    '  # indented comment',
  ].join('\n');
  const { entries, errors } = parsePasswd(text, '/etc/x/passwd');
  t.same([...entries.keys()], ['a', 'b', 'c', 'd']);
  t.same(entries.get('a'), { user: 'a', groups: ['g1'], hash: h, locked: false });
  t.same(entries.get('b')!.groups, []);
  t.equal(entries.get('b')!.hash, h, 'CR of a CRLF line stripped');
  t.same(entries.get('c')!.groups, []);
  t.same(entries.get('d')!.groups, ['g1', 'g2']);
  t.equal(entries.get('d')!.hash, h, 'fields after the hash are ignored, as ocserv does');
  t.same(errors, [
    '/etc/x/passwd:8: expected user:group:hash',
    '/etc/x/passwd:9: expected user:group:hash',
    '/etc/x/passwd:10: empty user name',
    "/etc/x/passwd:11: duplicate user 'a', the first entry is used",
  ]);
  t.notMatch(errors.join('\n'), /\$6\$/, 'errors never quote hashes');
});

t.test('PasswdFile reloads and survives a missing file', async (t) => {
  const file = join(dir, 'reload');
  const pf = new PasswdFile(file);
  t.same(await pf.check('u', 'pw'), { result: 'no-user', groups: [] });
  t.match(pf.lastError, /ENOENT/);
  writeFileSync(file, `u:g:${hashPassword('one', 'sha256')}\nbroken\n`);
  t.same(await pf.check('u', 'one'), { result: 'ok', groups: ['g'] });
  t.equal(pf.lastError, undefined);
  t.same(pf.errors, [`${file}:2: expected user:group:hash`]);
  // In-place rewrite of the same length: caught by mtime/ctime, not only by inode.
  writeFileSync(file, `u:h:${hashPassword('two', 'sha256')}\nbroken\n`);
  t.same(await pf.check('u', 'two'), { result: 'ok', groups: ['h'] });
  t.equal((await pf.check('u', 'one')).result, 'bad-password');
  rmSync(file);
  t.equal((await pf.check('u', 'two')).result, 'no-user', 'removed file means no users');
  t.ok(pf.lastError);
});

t.test('unsupported and malformed hashes are refused without throwing', async (t) => {
  const yescrypt = run('mkpasswd', ['-s'], 'pw\n'); // Debian's default scheme
  const md5 = run('openssl', ['passwd', '-1', 'pw']);
  const good = run('mkpasswd', ['-m', 'sha-512', '-s'], 'pw\n');
  const bad = [
    yescrypt, md5, '', '*', '!', 'x', '$6$', '$6$salt$', '$7$salt$abc',
    good.slice(0, -1), good + 'A', good.replace('$6$', '$5$'),
    '$6$rounds=500$abc$' + good.split('$')[3], '$6$rounds=05000$' + good.slice(3),
    '$6$seventeen-chars-salt$' + good.split('$')[3],
  ];
  for (const h of bad) {
    t.notOk(isSupportedHash(h), `unsupported: ${h.slice(0, 20)}`);
    t.equal(verifyCrypt('pw', h), false);
  }
  t.match(yescrypt, /^\$y\$/);
  t.ok(isSupportedHash(good));
  t.ok(verifyCrypt('pw', good.replace('$6$', '$6$rounds=5000$')), 'explicit rounds=5000 is the default computation');
  const file = join(dir, 'unsupported');
  writeFileSync(file, `y:g:${yescrypt}\nz:g:\nm:g:${md5}\nq:g:$7$salt$abc\n`);
  const pf = new PasswdFile(file);
  // logins go through the system's crypt(3), as in ocserv: Debian's yescrypt and MD5-crypt work
  t.same(await pf.check('y', 'pw'), { result: 'ok', groups: ['g'] }, 'yescrypt ($y$, Debian\'s default) logs in');
  t.same(await pf.check('y', 'wrong'), { result: 'bad-password', groups: [] });
  t.same(await pf.check('m', 'pw'), { result: 'ok', groups: ['g'] }, 'MD5-crypt as well');
  t.same(await pf.check('q', 'pw'), { result: 'bad-password', groups: [], unsupported: 'unsupported hash scheme $7$' }, 'a scheme crypt(3) refuses says so');
  t.same(await pf.check('z', 'pw'), { result: 'bad-password', groups: [] }, 'empty stored hash never logs in');
});

t.test('the native check agrees with SHA-crypt for every edge the JavaScript one handles', async (t) => {
  const good = run('mkpasswd', ['-m', 'sha-512', '-s'], 'pw\n');
  t.ok(await verifyPassword('pw', good));
  t.notOk(await verifyPassword('pW', good));
  t.ok(await verifyPassword('pw', good.replace('$6$', '$6$rounds=5000$')), 'explicit rounds=5000');
  for (const h of [good.slice(0, -1), good + 'A', '', '*', '!', '$6$']) t.notOk(await verifyPassword('pw', h), `refused: ${h.slice(0, 20)}`);
  const h5 = hashPassword('Sälty pw 42', 'sha256');
  t.ok(await verifyPassword('Sälty pw 42', h5), 'our own $5$ hashes');
  t.notOk(await verifyPassword('pw\u0000x', good), 'a NUL in the password is not cut there');
});

t.test('hashPassword output matches the system crypt', async (t) => {
  for (const [scheme, m, flag] of [['sha512', 'sha-512', '-6'], ['sha256', 'sha-256', '-5']] as const) {
    const pw = 'Sälty pw 42';
    const h = hashPassword(pw, scheme);
    const salt = h.split('$')[2];
    t.match(h, scheme === 'sha512' ? /^\$6\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/ : /^\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}$/);
    t.equal(run('mkpasswd', ['-m', m, '-S', salt, '-s'], `${pw}\n`), h, `mkpasswd -S agrees (${scheme})`);
    t.equal(run('openssl', ['passwd', flag, '-salt', salt, '-stdin'], `${pw}\n`), h, `openssl passwd agrees (${scheme})`);
    t.ok(verifyCrypt(pw, h));
  }
  t.equal(hashPassword('pw').slice(0, 3), '$6$', 'sha512 by default');
  t.not(hashPassword('pw'), hashPassword('pw'), 'random salt');
  t.throws(() => hashPassword(''), RangeError);
});
