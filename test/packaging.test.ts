/**
 * The package as someone installing it gets it: `npm pack` in this checkout (its prepare
 * step compiles dist/), the tarball installed into an empty directory, the native
 * parts compiled there by the install script, and `npx ocserv-ts --version` run from it.
 */
import t from 'tap';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** npm as a person runs it: nothing of the test runner's or of `npm test`'s own environment */
function npmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(NODE_OPTIONS|TAP|_TAPJS|npm_|NPM_|INIT_CWD)/i.test(k)) env[k] = v;
  return env;
}

function run(cmd: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env: npmEnv(), encoding: 'utf8', timeout: 300_000 });
}

const work = mkdtempSync(join(tmpdir(), 'ocs-pack-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const tarball = join(work, `ocserv-ts-${VERSION}.tgz`);

t.test('npm pack builds and packs what an installation needs, and nothing of the tests', async (t) => {
  const r = run('npm', ['pack', '--pack-destination', work], ROOT);
  t.equal(r.status, 0, r.stderr.slice(-3000));
  t.ok(existsSync(tarball), 'the tarball is written');
  const list = run('tar', ['tzf', tarball], work).stdout.split('\n').filter(Boolean);
  for (const f of ['package/package.json', 'package/bin/ocserv-ts', 'package/bin/occtl-ts', 'package/dist/src/main/index.js',
    'package/dist/src/worker/index.js', 'package/binding.gyp', 'package/src/native/addon.cc', 'package/src/native/pam/ocserv_pam_helper.c',
    'package/config/systemd/ocserv-ts.service', 'package/config/systemd/ocserv-ts.socket', 'package/scripts/install-service.js',
    'package/docs/INSTALL.md', 'package/docs/MIGRATING.md', 'package/docs/TROUBLESHOOTING.md', 'package/ocserv.conf.example']) {
    t.ok(list.includes(f), f);
  }
  t.same(list.filter((f) => /^package\/(dist\/test|test|build|node_modules|bench)\//.test(f)), [], 'no tests, build output or dependencies');
});

t.test('the tarball installs, builds its native parts and runs', async (t) => {
  const prefix = join(work, 'prefix');
  const mk = spawnSync('mkdir', ['-p', prefix]);
  t.equal(mk.status, 0);
  writeFileSync(join(prefix, 'package.json'), JSON.stringify({ name: 'ocs-pack-test', version: '1.0.0', private: true }));
  // the dependencies from npm's cache where it has them; a fresh machine's cache holds the
  // tarballs `npm ci` fetched but not the registry's metadata that resolving them needs
  const r = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], prefix);
  t.equal(r.status, 0, `npm install: ${r.stderr.slice(-3000)}`);
  const pkg = join(prefix, 'node_modules', 'ocserv-ts');
  const built = readdirSync(join(pkg, 'build', 'Release'));
  for (const f of ['ocserv_native.node', 'ocserv_keyfwd.so', 'ocserv_pam_helper']) t.ok(built.includes(f), `${f} compiled at install`);

  const v = run('npx', ['--no-install', 'ocserv-ts', '--version'], prefix);
  t.equal(v.status, 0, v.stderr);
  t.equal(v.stdout.trim(), `ocserv-ts ${VERSION}`);
  const o = run('npx', ['--no-install', 'occtl-ts', '--help'], prefix);
  t.equal(o.status, 0, o.stderr);

  // the installed package puts its own paths into the unit files
  const dest = join(work, 'units');
  const s = run(process.execPath, [join(pkg, 'scripts', 'install-service.js'), '--dest', dest], prefix);
  t.equal(s.status, 0, s.stderr);
  t.match(readFileSync(join(dest, 'ocserv-ts.service'), 'utf8'), `ExecStart=${pkg}/bin/ocserv-ts -f -c /etc/ocserv-ts/ocserv.conf`);
});
