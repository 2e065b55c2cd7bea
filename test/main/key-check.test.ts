/**
 * Start-up checks of the key files: whether the worker user can read a key is found out by
 * trying, as that user, and is a warning; two certificates OpenSSL cannot serve side by side
 * are an error.
 */
import t from 'tap';
import pino from 'pino';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../../src/common/config';
import { checkServerKeys, readableAs } from '../../src/main/key-check';
import { resolveRunAs } from '../../src/main/privileges';
import { addonPath } from '../../src/native';
import { selfSigned } from '../helpers/tls-keys';

const dir = mkdtempSync(join(tmpdir(), 'ocs-keycheck-'));
chmodSync(dir, 0o755);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const nobody = resolveRunAs('nobody', 'nogroup');
const ec = selfSigned(dir, 'ecdsa');
const rsa = selfSigned(dir, 'rsa');
const ec2 = selfSigned(dir, 'ecdsa', 'ecdsa2');

function logger(): { log: pino.Logger; lines: () => string } {
  let out = '';
  return { log: pino({ level: 'debug' }, { write: (s: string) => { out += s; } }), lines: () => out };
}
const cfg = (pairs: Array<{ certPath: string; keyPath: string }>, keyIsolation = true) =>
  ({ serverCert: pairs.map((p) => p.certPath), serverKey: pairs.map((p) => p.keyPath), keyIsolation }) as unknown as Config;

t.test('readableAs tries the file as that user', async (t) => {
  chmodSync(ec.keyPath, 0o600);
  t.notOk(readableAs(ec.keyPath, nobody), 'root-owned, mode 600');
  chmodSync(ec.keyPath, 0o644);
  t.ok(readableAs(ec.keyPath, nobody), 'mode 644');
  chmodSync(ec.keyPath, 0o600);
  chownSync(ec.keyPath, nobody.uid, 0);
  t.ok(readableAs(ec.keyPath, nobody), 'owned by the worker user');
  chownSync(ec.keyPath, 0, 0);
});

t.test('a key the worker user can read is a warning; a private one is not', async (t) => {
  const quiet = logger();
  checkServerKeys(cfg([ec, rsa]), nobody, quiet.log);
  t.equal(quiet.lines(), '', 'nothing to say about keys only root can read');

  chmodSync(rsa.keyPath, 0o644);
  const loud = logger();
  checkServerKeys(cfg([ec, rsa]), nobody, loud.log);
  chmodSync(rsa.keyPath, 0o600);
  t.match(loud.lines(), /"level":40[^\n]*run-as-user 'nobody' can read it/);
  t.match(loud.lines(), new RegExp(`"key":"${rsa.keyPath}"`));
  t.notMatch(loud.lines(), new RegExp(`"key":"${ec.keyPath}"`));
});

t.test('key-isolation = false is a warning at start', async (t) => {
  const l = logger();
  checkServerKeys(cfg([ec], false), nobody, l.log);
  t.match(l.lines(), /key-isolation = false: every worker holds the server private keys/);
});

t.test('two certificates of one key type, or a missing key, stop the start', async (t) => {
  t.throws(() => checkServerKeys(cfg([ec, ec2]), nobody, logger().log), /both have ec keys; only one certificate per key type/);
  t.throws(() => checkServerKeys(cfg([{ certPath: ec.certPath, keyPath: join(dir, 'missing.pem') }]), nobody, logger().log), /server-key .*missing\.pem: ENOENT/);
});

t.test('key isolation that cannot work here stops the start with the way out', async (t) => {
  // a build whose addon has no engine beside it, in a fresh process (an engine once
  // loaded stays known to OpenSSL)
  const lonely = join(dir, 'ocserv_native.node');
  copyFileSync(addonPath, lonely);
  const script = `
    const { checkServerKeys } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'main', 'key-check.js'))});
    const log = { warn() {}, info() {}, debug() {} };
    const who = { user: 'nobody', group: 'nogroup', uid: 65534, gid: 65534 };
    const c = (iso) => ({ serverCert: [${JSON.stringify(ec.certPath)}], serverKey: [${JSON.stringify(ec.keyPath)}], keyIsolation: iso });
    try { checkServerKeys(c(false), who, log); console.log('off: ok'); } catch (e) { console.log('off: ' + e.message); }
    try { checkServerKeys(c(true), who, log); console.log('on: ok'); } catch (e) { console.log('on: ' + e.message); }`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, OCSERV_NATIVE_ADDON: lonely } });
  t.match(r.stdout, /^off: ok$/m, 'key-isolation = false needs no engine');
  t.match(r.stdout, /^on: key isolation: cannot use the key engine .*set key-isolation = false/m, 'isolation without an engine is refused, naming the way out');
  t.doesNotThrow(() => checkServerKeys(cfg([ec, rsa]), nobody, logger().log), 'with the engine beside the addon it passes');
});
