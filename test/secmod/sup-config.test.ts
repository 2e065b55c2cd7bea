import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, parseConfigText, type Config } from '../../src/common/config';
import { SupConfigReader } from '../../src/secmod/sup-config';
import { createLogger } from '../../src/common/log';

const dir = mkdtempSync(join(tmpdir(), 'ocs-supconfig-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const users = join(dir, 'users');
const groups = join(dir, 'groups');
mkdirSync(users);
mkdirSync(groups);
writeFileSync(join(users, 'alice'), 'route = 10.2.0.0/16\ndpd = 40\n');
writeFileSync(join(groups, 'staff'), 'route = 10.1.0.0/16\ndpd = 30\nno-udp = true\n');
writeFileSync(join(dir, 'default-user'), 'dns = 10.0.0.53\n');
writeFileSync(join(dir, 'default-group'), 'keepalive = 77\n');
writeFileSync(join(users, 'broken'), 'route = 10.2.0.0/16\nmtu = big\n');

function config(extra: string): Config {
  const text = ['auth = "plain[passwd=/dev/null]"', 'server-cert = /dev/null', 'server-key = /dev/null', 'ipv4-network = 198.19.0.0/24', extra].join('\n');
  return buildConfig(parseConfigText(text, 'ocserv.conf'), 'ocserv.conf');
}

const reader = new SupConfigReader(createLogger('test'));
const c = config(`config-per-user = ${users}\nconfig-per-group = ${groups}\ndefault-user-config = ${dir}/default-user\ndefault-group-config = ${dir}/default-group`);

t.test('group file, then user file', async (t) => {
  const r = await reader.read(c, 'alice', 'staff');
  if (!r.ok) throw new Error(r.reason);
  t.same(r.config.routes!.map((x) => x.network), ['10.1.0.0', '10.2.0.0']);
  t.equal(r.config.dpd, 40);
  t.equal(r.config.noUdp, true);
  t.equal(r.config.dns, undefined, 'the default user file is only for users without a file');
});

t.test('defaults for a user and a group without files; no group, no group file', async (t) => {
  const r = await reader.read(c, 'zed', 'others');
  t.same(r, { ok: true, config: { dns: ['10.0.0.53'], keepalive: 77 } });
  const noGroup = await reader.read(c, 'zed', '');
  t.same(noGroup, { ok: true, config: { dns: ['10.0.0.53'] } });
});

t.test('a bad line refuses the session, naming file and line', async (t) => {
  const r = await reader.read(c, 'broken', 'staff');
  t.notOk(r.ok);
  t.match((r as { reason: string }).reason, new RegExp(`${users}/broken:2: mtu: 'big' is not a whole number`));
});

t.test('names that are not file names never leave the directory', async (t) => {
  writeFileSync(join(dir, 'evil'), 'route = 6.6.6.0/24\n');
  for (const name of ['../evil', '..', '.', 'a/b']) {
    const r = await reader.read(c, name, '');
    t.same(r, { ok: true, config: { dns: ['10.0.0.53'] } }, `${name}: the default`);
  }
});

t.test('a directory where the file should be refuses too', async (t) => {
  mkdirSync(join(users, 'dirname'));
  const r = await reader.read(c, 'dirname', '');
  t.notOk(r.ok);
});

t.test('RADIUS groupconfig: no file is read', async (t) => {
  const rc: Config = { ...c, auth: [{ type: 'radius', params: { config: '/etc/radcli/radiusclient.conf', groupconfig: 'true' }, raw: '' }] };
  t.same(await reader.read(rc, 'alice', 'staff'), { ok: true, config: {} });
  const plainRadius: Config = { ...c, auth: [{ type: 'radius', params: { config: '/etc/radcli/radiusclient.conf' }, raw: '' }] };
  t.equal((await reader.read(plainRadius, 'alice', 'staff')).ok, true);
  t.not(await reader.read(plainRadius, 'alice', 'staff'), { ok: true, config: {} }, 'without groupconfig the files count');
});
