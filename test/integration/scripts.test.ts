/**
 * connect-script / disconnect-script / host-update-script as an administrator's ocserv
 * scripts see them: the documented variables, a failing connect-script refusing the
 * session, and a script that never ends killed instead of holding the login.
 */
import t from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, type ServerHandle, type Topology,
} from '../helpers/netns';

let topo: Topology;
let server: ServerHandle | undefined;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

function script(dir: string, name: string, body: string): string {
  const p = join(dir, name);
  writeFileSync(p, `#!/bin/sh\n${body}\n`);
  chmodSync(p, 0o755);
  return p;
}

function envFile(p: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(p, 'utf8').split('\0')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  return cond();
}

const USERS = [{ name: 'alice', password: 'alice pw', group: 'staff' }];

t.test('connect and disconnect scripts get ocserv\'s variables', async (t) => {
  const dir = topo.tempDir('scripts');
  const conn = script(dir, 'connect.sh', `env -0 > ${dir}/connect.env`);
  const disc = script(dir, 'disconnect.sh', `env -0 > ${dir}/disconnect.env`);
  const host = script(dir, 'host.sh', `env -0 > ${dir}/host.env`);
  server = await startServer(topo, {
    kind: 'ocserv-ts', users: USERS, udp: false,
    extraConfig: [`connect-script = ${conn}`, `disconnect-script = ${disc}`, `host-update-script = ${host}`,
      'route = 198.19.0.0/255.255.255.0', 'dns = 198.19.0.53'].join('\n'),
  });
  const s = await connectOpenconnect(topo, {
    url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'ocs1',
    extraArgs: ['--local-hostname', 'alices-laptop'],
  });
  const c = envFile(join(dir, 'connect.env'));
  t.equal(c.REASON, 'connect');
  t.equal(c.USERNAME, 'alice');
  t.equal(c.GROUPNAME, 'staff');
  t.equal(c.IP_REAL, topo.clientIp);
  t.equal(c.IP_REAL_LOCAL, topo.serverIp);
  t.equal(c.IP_REMOTE, s.address);
  t.equal(c.IP_LOCAL, '198.19.0.1');
  t.match(c.DEVICE, /^vpns\d+$/);
  t.match(c.ID, /^\d+$/);
  t.match(c.USER_AGENT, /Open.*Connect/i);
  t.equal(c.OCSERV_ROUTES, '198.19.0.0/255.255.255.0 ');
  t.equal(c.OCSERV_DNS, '198.19.0.53 ');
  t.ok(await until(() => existsSync(join(dir, 'host.env'))), 'host-update-script ran');
  t.equal(envFile(join(dir, 'host.env')).REMOTE_HOSTNAME, 'alices-laptop');

  await ping(topo, topo.clientNs, '198.19.0.1', { count: 3, size: 1000 });
  await s.disconnect();
  t.ok(await until(() => existsSync(join(dir, 'disconnect.env'))), 'disconnect-script ran');
  const d = envFile(join(dir, 'disconnect.env'));
  t.equal(d.REASON, 'disconnect');
  t.equal(d.ID, c.ID);
  t.ok(Number(d.STATS_BYTES_IN) >= 3 * 1028, `STATS_BYTES_IN counts what the client sent (${d.STATS_BYTES_IN})`);
  t.ok(Number(d.STATS_BYTES_OUT) >= 3 * 1028, `STATS_BYTES_OUT (${d.STATS_BYTES_OUT})`);
  t.match(d.STATS_DURATION, /^\d+$/);
  await server.stop();
  server = undefined;
});

t.test('a failing connect-script refuses the session; a hanging one is killed', async (t) => {
  const dir = topo.tempDir('scripts');
  const flag = join(dir, 'allow');
  const conn = script(dir, 'connect.sh', `[ -e ${flag} ] || exit 3\n[ "$(cat ${flag})" = hang ] && exec sleep 600\nexit 0`);
  server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, extraConfig: `connect-script = ${conn}` });
  const opts = { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'ocs2' };
  await t.rejects(connectOpenconnect(topo, opts), /exited|no tunnel/, 'refused');
  t.match(server.output(), /connect-script exited with 3/);
  writeFileSync(flag, 'ok');
  const s = await connectOpenconnect(topo, opts);
  t.ok(s.address, 'allowed once the script says yes');
  await s.disconnect();

  writeFileSync(flag, 'hang');
  const started = Date.now();
  await t.rejects(connectOpenconnect(topo, { ...opts, timeoutMs: 60_000 }), /exited|no tunnel/, 'a script that never ends refuses the session');
  t.match(server.output(), /did not finish within 30000 ms and was killed/);
  t.ok(Date.now() - started < 55_000, 'within the script timeout, not forever');
});
