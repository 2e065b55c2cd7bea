/**
 * Twenty openconnect clients at once, each with a working tunnel; with a process per client
 * (clients-per-worker = 1, ocserv's isolation) a worker that dies takes only its own session.
 */
import t from 'tap';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, type ServerHandle, type Topology, type VpnSession } from '../helpers/netns';

const N = 20;
const users = Array.from({ length: N }, (_, i) => ({ name: `user${String(i + 1).padStart(2, '0')}`, password: `pw-${i + 1}` }));

let topo: Topology;
let server: ServerHandle;
let sessions: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startServer(topo, { kind: 'ocserv-ts', users, extraConfig: 'max-clients = 64\nclients-per-worker = 1' });
});
t.teardown(async () => {
  await Promise.all(sessions.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

const pingVia = (s: VpnSession) => ping(topo, topo.clientNs, '198.19.0.1', { count: 2, iface: s.tundev });

t.test(`${N} concurrent clients each get a working tunnel`, async (t) => {
  sessions = await Promise.all(users.map((u, i) => connectOpenconnect(topo, {
    url: server.url, user: u.name, password: u.password, servercert: server.pin, noDtls: true,
    interfaceName: `ocs${i}`, timeoutMs: 60_000,
  })));
  const addresses = new Set(sessions.map((s) => s.address));
  t.equal(addresses.size, N, 'every client has its own address');
  const results = await Promise.all(sessions.map(pingVia));
  results.forEach((r, i) => t.ok(r.ok, `${users[i].name} pings through its tunnel`, { output: r.output }));
  const tuns = (await topo.exec(topo.serverNs, 'ip', ['-o', 'link', 'show'])).stdout.split('\n').filter((l) => /: vpns\d+:/.test(l));
  t.equal(tuns.length, N, `${N} tun devices on the server`);
});

t.test('a dying worker takes only its own session', async (t) => {
  const victim = sessions[0];
  const line = server.output().split('\n').find((l) => l.includes('"msg":"session opened"') && l.includes(`"user":"${users[0].name}"`));
  t.ok(line, 'session-opened log line of the victim');
  const pid = JSON.parse(line!).workerPid as number;
  process.kill(pid, 'SIGKILL');
  // main notices, ends that session and frees its tun
  for (let i = 0; i < 50 && !/"why":"killed by SIGKILL","sessions":1/.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(server.output(), /"why":"killed by SIGKILL","sessions":1,"msg":"worker exited"/);
  t.ok(server.proc.exitCode === null, 'main still runs');
  const others = await Promise.all(sessions.slice(1).map(pingVia));
  others.forEach((r, i) => t.ok(r.ok, `${users[i + 1].name} unaffected`, { output: r.output }));
  // openconnect reconnects with its still-valid cookie to a fresh worker
  let back = false;
  for (let i = 0; i < 40 && !back; i++) {
    back = (await ping(topo, topo.clientNs, '198.19.0.1', { count: 1, iface: victim.tundev, timeoutS: 1 })).ok;
  }
  t.ok(back, 'the victim client reconnects by itself');
});
