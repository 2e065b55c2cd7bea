import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCli } from '../../src/main/cli';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'ocserv-ts');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

t.test('ocserv flags', async (t) => {
  t.same(parseCli(['-c', '/x.conf', '-f', '-d', '3', '-p', '/run/p']), {
    configFile: '/x.conf', foreground: true, debug: 3, pidFile: '/run/p', testConfig: false, version: false, help: false,
  });
  t.equal(parseCli(['-t']).testConfig, true);
  t.throws(() => parseCli(['--bogus']));
  t.throws(() => parseCli(['-d', 'lots']), /-d expects a number/);
});

t.test('-v, -h and unknown flags', async (t) => {
  t.match(run('-v').stdout, /^ocserv-ts \d+\.\d+\.\d+/);
  t.match(run('-h').stdout, /-c, --config FILE/);
  const bad = run('--frobnicate');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /Usage:/);
});

t.test('-t checks a config: file, line and reason, and no start', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.conf');
  writeFileSync(good, 'auth = "plain[passwd=/etc/ocpasswd]"\nserver-cert = /a.pem\nserver-key = /b.pem\nipv4-network = 198.19.0.0/24\n');
  const ok = run('-t', '-c', good);
  t.equal(ok.status, 0);
  t.match(ok.stdout, /configuration OK/);

  const bad = join(dir, 'bad.conf');
  writeFileSync(bad, 'auth = "plain[passwd=/etc/ocpasswd]"\n# comment\ntcp-port = fourfourthree\n');
  const r = run('-t', '-c', bad);
  t.equal(r.status, 1);
  t.match(r.stderr, `${bad}:3: tcp-port: 'fourfourthree' is not a whole number`);
  t.match(r.stderr, /not started/);

  const warn = join(dir, 'warn.conf');
  writeFileSync(warn, `${'auth = "plain[passwd=/p]"\nserver-cert = /a\nserver-key = /b\n'}no-such-option = 1\n`);
  const w = run('-t', '-c', warn);
  t.equal(w.status, 0, 'an unknown option is only a warning');
  t.match(w.stderr, `${warn}:4: warning: unknown option 'no-such-option'`);
});
