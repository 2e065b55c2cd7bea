/**
 * ping-leases, with real openconnect: the VPN pool is also a LAN the server reaches (as
 * with proxy ARP), and a host there already uses the address the user would get. The
 * server pings it before leasing, hears the answer, and gives the client the next one;
 * a user whose address nobody answers on gets it as usual.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { connectOpenconnect, createTopology, removeStaleNamespaces, startServer, type ServerHandle, type Topology } from '../helpers/netns';
import { capsOf, serverProcs } from '../helpers/server-procs';
import { Ipv4Pool } from '../../src/main/leases';

const ALICE = { name: 'alice', password: 'alice pw' };
const BOB = { name: 'bob', password: 'bob pw' };
const CAP_NET_RAW = 13;
/** the server's own address on the LAN side of the pool */
const LAN_SERVER = '198.19.0.254';

let topo: Topology;
let server: ServerHandle;
let hostNs = '';
/** what alice gets without ping-leases (predictable-ips), and the next candidate */
let squatted = '';
let next = '';

function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}
const removeHost = () => { if (hostNs) spawnSync('ip', ['netns', 'del', hostNs]); };

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const pool = new Ipv4Pool('198.19.0.0', 24, true);
  squatted = pool.allocate(ALICE.name)!.remote;
  next = pool.allocate(ALICE.name)!.remote;
  // a host on the pool's network, behind a veth of the server's namespace
  hostNs = `ocs-${topo.id}-h`;
  process.on('exit', removeHost);
  ip(['netns', 'add', hostNs]);
  ip(['link', 'add', `v${topo.id}h`, 'netns', topo.serverNs, 'type', 'veth', 'peer', 'name', `v${topo.id}g`, 'netns', hostNs]);
  ip(['-n', topo.serverNs, 'addr', 'add', `${LAN_SERVER}/24`, 'dev', `v${topo.id}h`]);
  ip(['-n', topo.serverNs, 'link', 'set', `v${topo.id}h`, 'up']);
  ip(['-n', hostNs, 'addr', 'add', `${squatted}/24`, 'dev', `v${topo.id}g`]);
  ip(['-n', hostNs, 'link', 'set', 'lo', 'up']);
  ip(['-n', hostNs, 'link', 'set', `v${topo.id}g`, 'up']);
  server = await startServer(topo, { kind: 'ocserv-ts', users: [ALICE, BOB], udp: false, extraConfig: 'ping-leases = true' });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
  removeHost();
});

t.test('the address another host answers on is skipped: the client gets the next one', async (t) => {
  t.not(squatted, next);
  const vpn = await connectOpenconnect(topo, { url: server.url, user: ALICE.name, password: ALICE.password, servercert: server.pin, timeoutMs: 30_000 });
  t.teardown(() => vpn.disconnect());
  t.equal(vpn.address, next, `${squatted} answers a ping, so alice gets ${next}`);
  t.match(server.output(), new RegExp(`"vpnIp":"${squatted.replace(/\./g, '\\.')}".*another host uses it`), 'the server says why');
  const fromHost = spawnSync('ip', ['netns', 'exec', hostNs, 'ping', '-c', '1', '-W', '2', squatted], { encoding: 'utf8' });
  t.equal(fromHost.status, 0, 'the host still has its address');
});

t.test('an address nobody answers on is leased', async (t) => {
  const expected = new Ipv4Pool('198.19.0.0', 24, true).allocate(BOB.name)!.remote;
  t.not(expected, squatted);
  const vpn = await connectOpenconnect(topo, { url: server.url, user: BOB.name, password: BOB.password, servercert: server.pin, timeoutMs: 30_000 });
  t.teardown(() => vpn.disconnect());
  t.equal(vpn.address, expected);
});

t.test('main keeps CAP_NET_RAW for the pings', async (t) => {
  t.ok(capsOf(serverProcs(server).main, 'CapEff').includes(CAP_NET_RAW));
});
