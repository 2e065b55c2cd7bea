/**
 * config-per-user / config-per-group with real openconnect sessions: what a user's and a
 * group's files give the client (routes, DNS, split-DNS, NBNS, addresses), defaults for users
 * without a file, a bad file refusing only that user until it is fixed, no-udp, and iroutes
 * routed into the client's tun on the server (expose-iroutes, occtl show iroutes). The same
 * files are also given to Debian's ocserv, which must push the same routes and DNS.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, repoRoot, serverEnv, serverTunAddress, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const USERS = [
  { name: 'alice', password: 'alice pw', group: 'staff' },
  { name: 'bob', password: 'bob pw', group: 'staff' },
  { name: 'carol', password: 'carol pw' },
  { name: 'dave', password: 'dave pw', group: 'lab' },
  { name: 'erin', password: 'erin pw' },
  { name: 'mallory', password: 'mallory pw' },
  { name: 'frank', password: 'frank pw' },
];
const pw = Object.fromEntries(USERS.map((u) => [u.name, u.password]));
const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');

let topo: Topology;
let server: ServerHandle | undefined;
let dir: string;
const live: VpnSession[] = [];

/** The settings files both servers get. */
function writeFiles(base: string): string {
  const users = join(base, 'users');
  const groups = join(base, 'groups');
  mkdirSync(users, { recursive: true });
  mkdirSync(groups, { recursive: true });
  writeFileSync(join(groups, 'staff'), 'route = 198.18.241.0/24\nkeepalive = 600\n');
  writeFileSync(join(users, 'alice'), 'route = 198.18.240.0/255.255.255.0\ndns = 198.18.240.53\nsplit-dns = corp.example\nnbns = 198.18.240.54\n');
  writeFileSync(join(users, 'bob'), 'explicit-ipv4 = 198.19.0.77\n');
  writeFileSync(join(groups, 'lab'), 'ipv4-network = 198.19.5.0/24\n');
  writeFileSync(join(users, 'erin'), 'iroute = 198.18.250.0/24\n');
  writeFileSync(join(users, 'frank'), 'no-udp = true\nmax-same-clients = 1\nhostname = franks-box\n');
  writeFileSync(join(base, 'default-user'), 'route = 198.18.242.0/24\ndns = 198.18.242.53\n');
  return [`config-per-user = ${users}`, `config-per-group = ${groups}`, `default-user-config = ${join(base, 'default-user')}`, 'expose-iroutes = true'].join('\n');
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  dir = topo.tempDir('peruser');
  server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, extraConfig: writeFiles(dir) });
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

async function connect(user: string, o: { noDtls?: boolean; url?: string; pin?: string; iface?: string } = {}): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, {
    url: o.url ?? server!.url, user, password: pw[user], servercert: o.pin ?? server!.pin, interfaceName: o.iface ?? `oc-${user}`, noDtls: o.noDtls,
  });
  live.push(s);
  return s;
}
async function disconnect(s: VpnSession): Promise<void> {
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
}
/** openconnect hands the routes to its script in reverse order */
const sorted = (a: string[]) => [...a].sort();

async function until(cond: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

t.test('group file then user file: the client gets both groups of routes and the user\'s DNS', async (t) => {
  const s = await connect('alice');
  t.same(sorted(s.state.routes), ['198.18.240.0/24', '198.18.241.0/24', '198.18.250.0/24'], 'group, user, and erin\'s exposed iroute');
  t.equal(s.state.INTERNAL_IP4_DNS, '198.18.240.53');
  t.equal(s.state.CISCO_SPLIT_DNS, 'corp.example');
  t.equal(s.state.INTERNAL_IP4_NBNS, '198.18.240.54');
  const info = await occtlUser('alice');
  t.same(info.Routes, ['198.18.241.0/255.255.255.0', '198.18.240.0/255.255.255.0', '198.18.250.0/255.255.255.0']);
  t.same(info.DNS, ['198.18.240.53']);
  t.same(info['Split-DNS-Domains'], ['corp.example']);
  t.equal(info.KeepAlive, '600', 'keepalive from the group file');
  await disconnect(s);
});

t.test('default-user-config for a user without a file', async (t) => {
  const s = await connect('carol');
  t.same(sorted(s.state.routes), ['198.18.242.0/24', '198.18.250.0/24']);
  t.equal(s.state.INTERNAL_IP4_DNS, '198.18.242.53');
  await disconnect(s);
});

t.test('explicit-ipv4 gives the user that address', async (t) => {
  const s = await connect('bob');
  t.equal(s.address, '198.19.0.77');
  // the group's routes replace the server's, so aim the ping at the tun
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { iface: s.tundev })).ok, 'the server answers through the tunnel');
  await disconnect(s);
});

t.test('a group\'s ipv4-network is a pool of its own, with its own server address', async (t) => {
  const s = await connect('dave');
  t.match(s.address, /^198\.19\.5\.\d+$/);
  t.equal(s.state.INTERNAL_IP4_NETMASK, '255.255.255.0');
  t.equal(await serverTunAddress(topo, s.address), '198.19.5.1');
  // the pushed routes are the server's; reach the pool's server address through the tun too
  await topo.exec(topo.clientNs, 'ip', ['route', 'replace', '198.19.5.1/32', 'dev', s.tundev], { check: true });
  t.ok((await ping(topo, topo.clientNs, '198.19.5.1')).ok);
  await disconnect(s);
});

t.test('a bad settings file refuses only that user, and fixing it needs no reload', async (t) => {
  writeFileSync(join(dir, 'users', 'mallory'), 'mtu = big\n');
  await t.rejects(connect('mallory'), /exited/);
  t.match(server!.output(), /mallory:1: mtu: 'big' is not a whole number/);
  writeFileSync(join(dir, 'users', 'mallory'), 'mtu = 1300\nroute = 198.18.243.0/24\n');
  const s = await connect('mallory');
  t.same(sorted(s.state.routes), ['198.18.243.0/24', '198.18.250.0/24']);
  t.ok(Number(s.state.INTERNAL_IP4_MTU) <= 1300, `MTU ${s.state.INTERNAL_IP4_MTU} within the file's mtu`);
  await disconnect(s);
});

async function occtlUser(name: string): Promise<Record<string, unknown>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server!.files.occtlSocketPath, '-j', 'show', 'user', name], { env: serverEnv() });
  return (JSON.parse(r.stdout) as Array<Record<string, unknown>>)[0];
}

t.test('no-udp, max-same-clients and hostname from a user\'s file', async (t) => {
  const other = await connect('carol');
  await other.waitForOutput(/Established DTLS connection/);
  const s = await connect('frank');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { iface: s.tundev })).ok, 'traffic flows over TLS');
  t.match(s.output(), /No DTLS address/, 'openconnect saw no DTLS offer');
  t.notMatch(s.output(), /Established DTLS connection/);
  t.equal((await occtlUser('frank')).Hostname, 'franks-box');
  await t.rejects(connect('frank', { iface: 'oc-frank2' }), /exited/, 'a second session is over max-same-clients = 1');
  t.match(server!.output(), /user frank already has 1 sessions \(max-same-clients\)/);
  await disconnect(s);
  await disconnect(other);
});

t.test('iroute: the server routes a network behind the client into its tunnel while it is connected', async (t) => {
  // the client's LAN: one end of a veth pair inside the client namespace
  await topo.exec(topo.clientNs, 'ip', ['link', 'add', 'ocs-behind', 'type', 'veth', 'peer', 'name', 'ocs-behind-p'], { check: true });
  await topo.exec(topo.clientNs, 'ip', ['addr', 'add', '198.18.250.1/24', 'dev', 'ocs-behind'], { check: true });
  for (const dev of ['ocs-behind', 'ocs-behind-p']) await topo.exec(topo.clientNs, 'ip', ['link', 'set', dev, 'up'], { check: true });
  const s = await connect('erin');
  t.same(s.state.routes, ['198.19.0.0/24'], 'its own iroute is not given back to it');
  const route = await topo.exec(topo.serverNs, 'ip', ['-4', 'route', 'show', '198.18.250.0/24'], { check: true });
  t.match(route.stdout, /198\.18\.250\.0\/24 dev vpns\d+/);
  t.ok((await ping(topo, topo.serverNs, '198.18.250.1')).ok, 'the server reaches the network behind the client');
  const occtl = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server!.files.occtlSocketPath, 'show', 'iroutes'], { env: serverEnv() });
  t.match(occtl.stdout, /erin .* 198\.18\.250\.0\/255\.255\.255\.0/);
  await disconnect(s);
  t.ok(await until(async () => (await topo.exec(topo.serverNs, 'ip', ['-4', 'route', 'show', '198.18.250.0/24'])).stdout.trim() === ''), 'the route is gone after the disconnect');
  t.notOk((await ping(topo, topo.serverNs, '198.18.250.1', { count: 1 })).ok);
});

t.test('Debian\'s ocserv gives the same user the same routes and DNS from the same files', async (t) => {
  const other = topo.tempDir('peruser-ocserv');
  const ocserv = await startServer(topo, { kind: 'ocserv', users: USERS, port: 4444, extraConfig: writeFiles(other) });
  t.teardown(() => ocserv.stop());
  for (const user of ['alice', 'carol']) {
    const s = await connect(user, { url: ocserv.url, pin: ocserv.pin, noDtls: true });
    const ours = { alice: ['198.18.240.0/24', '198.18.241.0/24', '198.18.250.0/24'], carol: ['198.18.242.0/24', '198.18.250.0/24'] }[user];
    t.same(sorted(s.state.routes), ours, `${user}: routes as ocserv-ts gives them`);
    t.equal(s.state.INTERNAL_IP4_DNS, user === 'alice' ? '198.18.240.53' : '198.18.242.53');
    await disconnect(s);
  }
});
