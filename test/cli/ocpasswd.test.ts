/**
 * ocpasswd-ts against Debian's ocpasswd: the same edits give the same files, each tool
 * edits what the other wrote, and the hashes are standard crypt(3) that both servers verify.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PasswdFile } from '../../src/secmod/passwd';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'ocpasswd-ts');
const dir = mkdtempSync(join(tmpdir(), 'ocs-ocpasswd-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const ours = (args: string[], input = '') => spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8' });
const debian = (args: string[], input = '') => spawnSync('ocpasswd', args, { input, encoding: 'utf8' });
const file = (name: string) => join(dir, name);
const fields = (text: string) => text.trim().split('\n').map((l) => l.split(':'));

t.test('a new user: ocpasswd\'s format, mode 0600, a standard SHA-256 crypt hash', async (t) => {
  const f = file('new');
  const r = ours(['-c', f, 'alice'], 'pw-alice\n');
  t.equal(r.status, 0, r.stderr);
  const text = readFileSync(f, 'utf8');
  t.match(text, /^alice:\*:\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}\n$/);
  t.equal(statSync(f).mode & 0o777, 0o600, 'only root reads it, as ocpasswd leaves it');
  const hash = text.trim().split(':')[2];
  const salt = hash.split('$')[2];
  const openssl = spawnSync('openssl', ['passwd', '-5', '-salt', salt, 'pw-alice'], { encoding: 'utf8' });
  t.equal(openssl.stdout.trim(), hash, 'openssl computes the same hash');
  const debianFile = file('new-debian');
  debian(['-c', debianFile, 'alice'], 'pw-alice\n');
  t.match(readFileSync(debianFile, 'utf8'), /^alice:\*:\$5\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{43}\n$/, 'Debian writes the same shape');
});

t.test('the same edits by either tool give the same file', async (t) => {
  const base = file('base');
  debian(['-c', base, 'alice'], 'a\n');
  debian(['-c', base, '-g', 'staff,ops', 'bob'], 'b\n');
  ours(['-c', base, 'carol'], 'c\n');
  writeFileSync(base, `${readFileSync(base, 'utf8')}# a comment line\n`);
  const cases: string[][] = [['-l', 'bob'], ['-u', 'bob'], ['-d', 'alice'], ['-d', 'nobody-here'], ['--lock', 'carol'], ['--passwd', 'X', '-d', 'carol']];
  for (const args of cases) {
    const a = file('a');
    const b = file('b');
    copyFileSync(base, a);
    copyFileSync(base, b);
    const fix = (f: string) => args.map((x) => (x === 'X' ? f : x));
    const withFile = (f: string) => (args.includes('--passwd') ? fix(f) : ['-c', f, ...args]);
    const rd = debian(withFile(a));
    const ro = ours(withFile(b));
    t.equal(ro.status, rd.status, `${args.join(' ')}: same exit code`);
    t.equal(readFileSync(b, 'utf8'), readFileSync(a, 'utf8'), `${args.join(' ')}: same file`);
  }
  // a password change: same lines apart from the (salted) hash
  const a = file('a');
  const b = file('b');
  copyFileSync(base, a);
  copyFileSync(base, b);
  debian(['-c', a, '-g', 'admins', 'bob'], 'new\n');
  ours(['-c', b, '-g', 'admins', 'bob'], 'new\n');
  t.same(fields(readFileSync(b, 'utf8')).map((f) => f.slice(0, 2)), fields(readFileSync(a, 'utf8')).map((f) => f.slice(0, 2)));
});

t.test('each tool edits what the other wrote; the server reads both', async (t) => {
  const f = file('mixed');
  t.equal(ours(['-c', f, '-g', 'staff', 'alice'], 'alice pw\n').status, 0);
  t.equal(debian(['-c', f, 'bob'], 'bob pw\n').status, 0);
  const server = () => new PasswdFile(f);
  t.same(await server().check('alice', 'alice pw'), { result: 'ok', groups: ['staff'] }, 'ocpasswd-ts entry');
  t.same(await server().check('bob', 'bob pw'), { result: 'ok', groups: [] }, 'ocpasswd entry');
  t.equal(debian(['-c', f, '-l', 'alice']).status, 0, 'Debian locks an ocpasswd-ts user');
  t.equal((await server().check('alice', 'alice pw')).result, 'locked');
  t.equal(ours(['-c', f, '-u', 'alice']).status, 0, 'ocpasswd-ts unlocks it');
  t.equal((await server().check('alice', 'alice pw')).result, 'ok');
  t.equal(ours(['-c', f, 'bob'], 'changed\n').status, 0, 'ocpasswd-ts changes a Debian user\'s password');
  t.equal((await server().check('bob', 'changed')).result, 'ok');
  t.equal(debian(['-c', f, '-d', 'bob']).status, 0);
  t.same(fields(readFileSync(f, 'utf8')).map((x) => x[0]), ['alice']);
});

t.test('errors, in ocpasswd\'s words and exit codes', async (t) => {
  const missing = file('missing');
  for (const tool of [ours, debian]) {
    const r = tool(['-c', missing, '-d', 'x']);
    t.equal(r.status, 1);
    t.match(r.stderr, `Cannot open '${missing}' for reading.`);
  }
  const f = file('errs');
  ours(['-c', f, 'alice'], 'pw\n');
  const empty = ours(['-c', f, 'bob'], '');
  t.equal(empty.status, 1);
  t.match(empty.stderr, 'Please specify a password');
  t.equal(ours(['-c', f, 'bob'], '\n').status, 1, 'an empty line is no password');
  writeFileSync(`${f}.tmp`, '');
  const locked = ours(['-c', f, '-l', 'alice']);
  t.equal(locked.status, 1);
  t.match(locked.stderr, `file '${f}' is locked.`);
  t.equal(debian(['-c', f, '-l', 'alice']).status, 1, 'Debian honours the same lock file');
  rmSync(`${f}.tmp`);
  for (const args of [['-l', '-d', 'alice'], ['-c', f], ['-c', f, 'a', 'b'], ['--frobnicate', 'x']]) {
    const r = ours(args);
    t.equal(r.status, 1, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, /Usage:  ocpasswd-ts/, `${args.join(' ')}: usage`);
  }
  t.match(ours(['-c', f, '-c', f, 'x']).stderr, '-c option cannot be specified multiple time');
  t.equal(ours(['-c', f, 'bad:name'], 'pw\n').status, 1, 'a name that would corrupt the file is refused');
  const help = ours(['-h']);
  t.equal(help.status, 0);
  t.match(help.stderr, /-c, --passwd=file/);
  t.match(ours(['-v']).stderr, /^ocpasswd-ts - \d/);
  t.notOk(existsSync(`${f}.tmp`), 'no lock file left behind');
});

t.test('on a terminal: asked twice without echo', async (t) => {
  const f = file('tty');
  // script(1) gives the command a pseudo-terminal; the sleeps let each prompt appear first
  const run = (a: string, b: string) => spawnSync('sh', ['-c',
    `(sleep 0.6; printf '${a}\\r'; sleep 0.4; printf '${b}\\r'; sleep 0.6) | script -qec "${process.execPath} ${BIN} -c ${f} alice" /dev/null`],
  { encoding: 'utf8', timeout: 20_000 });
  const ok = run('tty secret', 'tty secret');
  t.match(ok.stdout, /Enter password: [\s\S]*Re-enter password: /);
  t.notMatch(ok.stdout, /tty secret/, 'the password is not echoed');
  t.equal((await new PasswdFile(f).check('alice', 'tty secret')).result, 'ok');
  const bad = run('one', 'two');
  t.match(bad.stdout, /Passwords do not match/);
  t.equal((await new PasswdFile(f).check('alice', 'tty secret')).result, 'ok', 'the file is unchanged');
});
