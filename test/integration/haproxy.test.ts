/**
 * ocserv-ts behind Debian's HAProxy (TCP mode, `send-proxy-v2`), as issue 8 asks: openconnect
 * connects to HAProxy, ocserv-ts sees and shows the client's own address, and DTLS goes
 * straight to ocserv-ts's UDP port.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ManagedProcess, type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const HAPROXY_PORT = 4450;

let topo: Topology;
let server: ServerHandle;
let haproxy: ManagedProcess;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startServer(topo, {
    kind: 'ocserv-ts', users: [{ name: 'alice', password: 'alice pw' }], extraConfig: 'listen-proxy-proto = true',
  });
  const dir = topo.tempDir('haproxy');
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, [
    'global',
    '  maxconn 256',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 1h',
    '  timeout server 1h',
    'frontend vpn',
    `  bind ${topo.serverIp}:${HAPROXY_PORT}`,
    '  default_backend ocserv',
    'backend ocserv',
    `  server s1 ${topo.serverIp}:${server.files.port} send-proxy-v2`,
    '',
  ].join('\n'));
  haproxy = topo.spawn(topo.serverNs, 'haproxy', ['-db', '-f', cfg]);
  for (let i = 0; i < 50; i++) {
    const r = await topo.exec(topo.serverNs, 'ss', ['-Hltn', `src ${topo.serverIp}:${HAPROXY_PORT}`]);
    if (r.stdout.trim()) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`haproxy did not start:\n${haproxy.output()}`);
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

t.test('openconnect through HAProxy: the real client address, DTLS direct', async (t) => {
  const s = await connectOpenconnect(topo, {
    url: `https://${topo.serverIp}:${HAPROXY_PORT}/`, user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'ochap',
  });
  live.push(s);
  await s.waitForOutput(/Established DTLS connection/, 15_000);
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', 'show', 'users'], { env: serverEnv() });
  const [u] = JSON.parse(r.stdout) as Array<Record<string, string>>;
  t.equal(u!['Remote IP'], topo.clientIp, 'occtl shows the client, not HAProxy');
  t.match(server.output(), new RegExp(`"user":"alice","group":"[^"]*","ip":"${topo.clientIp.replace(/\./g, '\\.')}"`), 'the login is logged with the client address');
  t.ok(u!['DTLS cipher'] || /DTLS/.test(s.output()), 'DTLS is up, straight to the server');
});
