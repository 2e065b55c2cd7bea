/**
 * IPv6 inside the tunnel with Debian's openconnect: a dual-stack session gets both addresses,
 * IPv6 routes and DNS servers, and reaches the server's IPv6 tun address and an IPv6 network
 * routed through the tunnel, over CSTP and over DTLS; the server's tun, occtl and the
 * connect-script show the IPv6 side; a per-user explicit-ipv6; the address kept across a
 * cookie reconnection (openconnect refuses a different one); RADIUS Framed-IPv6-Prefix,
 * Framed-IPv6-Route and IPv6 DNS, with Framed-IPv6-Address in accounting; an IPv6-only server; and
 * Debian's ocserv with the same configuration gives the client the same shape of answer.
 * Only documentation (2001:db8::/32) and ULA (fd00::/8) prefixes, inside the test namespaces.
 */
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer, stopProcess, udpCounter,
  type ServerHandle, type StartServerOptions, type Topology, type VpnSession,
} from '../helpers/netns';
import { startFreeradius } from '../helpers/freeradius';

const USERS = [{ name: 'alice', password: 'alice pw' }, { name: 'bob', password: 'bob pw' }];
const pw = Object.fromEntries(USERS.map((u) => [u.name, u.password]));
const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const NET6 = 'fd00:73::/48';
const SERVER6 = 'fd00:73::1';
/** an address of the server namespace reached only through the tunnel */
const BEYOND = '2001:db8:ffff::1';

let topo: Topology;
let dir: string;
const live: VpnSession[] = [];
const servers: ServerHandle[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  dir = topo.tempDir('ipv6');
  for (const ns of [topo.serverNs, topo.clientNs]) {
    await topo.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0'], { check: true });
  }
  await topo.exec(topo.serverNs, 'ip', ['-6', 'addr', 'add', `${BEYOND}/128`, 'dev', 'lo'], { check: true });
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  for (const s of servers) await s.stop();
  await topo?.cleanup();
});

/** connect-script writing its environment, one file per user */
function connectScript(): string {
  const p = join(dir, 'connect.sh');
  writeFileSync(p, `#!/bin/sh\nenv -0 > ${dir}/connect-$USERNAME.env\n`);
  chmodSync(p, 0o755);
  return p;
}

function envOf(user: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(dir, `connect-${user}.env`), 'utf8').split('\0')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

function perUser(): string {
  const users = join(dir, 'users');
  mkdirSync(users, { recursive: true });
  writeFileSync(join(users, 'bob'), 'explicit-ipv6 = fd00:73:0:77::7\nipv6-subnet-prefix = 128\n');
  return users;
}

const DUAL = [
  `ipv6-network = ${NET6}`, 'ipv6-subnet-prefix = 64',
  'route = 198.19.0.0/255.255.255.0', `route = ${NET6}`, 'route = 2001:db8:ffff::/48',
  'dns = 198.19.0.1', 'dns = fd00:73::53',
].join('\n');

/** one server per test, stopped before the next starts: each gives its tun the same IPv6 address */
async function serve(o: Partial<StartServerOptions> & { extraConfig: string }): Promise<ServerHandle> {
  for (const old of servers.splice(0)) await old.stop();
  const s = await startServer(topo, { kind: 'ocserv-ts', users: USERS, ...o });
  servers.push(s);
  return s;
}

async function connect(server: ServerHandle, user: string, o: { noDtls?: boolean; iface?: string; cookie?: string } = {}): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, {
    url: server.url, user, password: pw[user] ?? '', servercert: server.pin, interfaceName: o.iface ?? `oc6-${user}`,
    noDtls: o.noDtls, cookie: o.cookie, timeoutMs: 30_000,
  });
  live.push(s);
  return s;
}

async function disconnect(s: VpnSession): Promise<void> {
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
}

async function occtlJson(server: ServerHandle, ...args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', ...args], { env: serverEnv() });
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

async function until(what: string, cond: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const inNet = (ip: string, cidr: string) => ipaddr.IPv6.parse(ip).match(ipaddr.IPv6.parseCIDR(cidr));
const sorted = (a: string[] | undefined) => [...(a ?? [])].sort();

t.test('dual-stack over CSTP: both addresses, IPv6 routes and DNS; the server and a routed network answer over IPv6', async (t) => {
  const server = await serve({ udp: false, extraConfig: `${DUAL}\nconnect-script = ${connectScript()}` });
  const s = await connect(server, 'alice', { noDtls: true });
  t.match(s.address, /^198\.19\.0\.\d+$/, 'an IPv4 address');
  t.ok(s.address6 && inNet(s.address6, NET6), `an IPv6 address in ${NET6}: ${s.address6}`);
  t.equal(s.state.INTERNAL_IP6_NETMASK, `${s.address6}/64`, 'X-CSTP-Address-IP6: address/ipv6-subnet-prefix');
  t.same(sorted(s.state.routes6), ['2001:db8:ffff::/48', NET6], 'IPv6 split-include routes');
  t.same(s.state.routes, ['198.19.0.0/24']);
  t.same(sorted(s.state.INTERNAL_IP4_DNS?.split(' ')), ['198.19.0.1', 'fd00:73::53'], 'openconnect takes both DNS servers in X-CSTP-DNS');

  const p6 = await ping(topo, topo.clientNs, SERVER6, { count: 3 });
  t.equal(p6.received, 3, 'the server\'s IPv6 tun address answers', { output: p6.output });
  const beyond = await ping(topo, topo.clientNs, BEYOND, { count: 3, size: 1200 });
  t.equal(beyond.received, 3, 'an IPv6 network routed through the tunnel answers (1200-byte pings)', { output: beyond.output });
  t.equal((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1 })).received, 1, 'IPv4 still flows');

  // the server side: its /128 on the tun and a route to the client's /64
  const [u] = await occtlJson(server, 'show', 'user', 'alice');
  t.equal(u!['IPv6'], s.address6, 'occtl: IPv6 is the client\'s address');
  t.equal(u!['P-t-P IPv6'], SERVER6, 'occtl: P-t-P IPv6 is the server\'s end');
  const dev = String(u!['Device']);
  const addrs = await topo.exec(topo.serverNs, 'ip', ['-6', 'addr', 'show', 'dev', dev], { check: true });
  t.match(addrs.stdout, new RegExp(`inet6 ${SERVER6}/128`));
  const routes = await topo.exec(topo.serverNs, 'ip', ['-6', 'route', 'show', 'dev', dev], { check: true });
  const net64 = ipaddr.IPv6.networkAddressFromCIDR(`${s.address6}/64`).toString();
  t.match(routes.stdout, new RegExp(`${net64}/64 metric 1`), 'a route to the client\'s /64, metric 1 as ocserv');

  const env = envOf('alice');
  t.equal(env.IPV6_LOCAL, SERVER6);
  t.equal(env.IPV6_REMOTE, s.address6);
  t.equal(env.IPV6_PREFIX, '64');
  t.equal(env.IP_REMOTE, s.address);
  t.equal(env.OCSERV_ROUTES6, `${NET6} 2001:db8:ffff::/48 `);
  t.equal(env.OCSERV_ROUTES4, '198.19.0.0/255.255.255.0 ');
  t.equal(env.OCSERV_DNS6, 'fd00:73::53 ');
  await disconnect(s);
});

t.test('dual-stack over DTLS: IPv6 packets travel in DTLS records', async (t) => {
  const server = await serve({ extraConfig: DUAL, port: 4446 });
  const s = await connect(server, 'alice');
  await s.waitForOutput(/Established DTLS connection/, 15_000);
  await new Promise((r) => setTimeout(r, 700)); // openconnect probes the DTLS MTU first
  const before = await udpCounter(topo, topo.serverNs, 'InDatagrams');
  const p = await ping(topo, topo.clientNs, BEYOND, { count: 5 });
  const big = await ping(topo, topo.clientNs, SERVER6, { count: 3, size: 1200 });
  const after = await udpCounter(topo, topo.serverNs, 'InDatagrams');
  t.equal(p.received, 5, 'IPv6 pings answered', { output: p.output });
  t.equal(big.received, 3, '1200-byte IPv6 pings answered', { output: big.output });
  t.ok(after - before >= 8, `the pings travelled over UDP (${after - before} datagrams)`);
  await disconnect(s);
});

t.test('per-user explicit-ipv6 and ipv6-subnet-prefix; the IPv6 address survives a cookie reconnection', async (t) => {
  const server = await serve({ udp: false, port: 4447, extraConfig: `${DUAL}\nconfig-per-user = ${perUser()}\npredictable-ips = false\ncookie-timeout = 60` });
  const bob = await connect(server, 'bob', { noDtls: true });
  t.equal(bob.address6, 'fd00:73:0:77::7');
  t.equal(bob.state.INTERNAL_IP6_NETMASK, 'fd00:73:0:77::7/128', 'the file\'s ipv6-subnet-prefix');
  t.equal((await ping(topo, topo.clientNs, SERVER6, { count: 2, iface: bob.tundev })).received, 2);
  await disconnect(bob);

  const auth = await openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: pw.alice!, servercert: server.pin });
  if (!auth.cookie) throw new Error(`no cookie:\n${auth.output}`);
  const first = await connect(server, 'alice', { cookie: auth.cookie, iface: 'oc6-r1', noDtls: true });
  await stopProcess(first.proc, 'SIGKILL');
  live.splice(live.indexOf(first), 1);
  await until('the server to notice', async () => (await occtlJson(server, 'show', 'users')).length === 0);
  const second = await connect(server, 'alice', { cookie: auth.cookie, iface: 'oc6-r2', noDtls: true });
  t.equal(second.address6, first.address6, 'the same IPv6 address after the tunnel was gone');
  const third = await connect(server, 'alice', { cookie: auth.cookie, iface: 'oc6-r3', noDtls: true });
  t.equal(third.address6, first.address6, 'and when a new connection takes over a live one');
  t.equal((await ping(topo, topo.clientNs, BEYOND, { count: 2 })).received, 2);
  await disconnect(third);
  live.splice(live.indexOf(second), 1);
  await stopProcess(second.proc, 'SIGKILL');
});

t.test('RADIUS: Framed-IPv6-Prefix is the client\'s network, Framed-IPv6-Route and IPv6 DNS reach it; accounting has the address', async (t) => {
  const fr = await startFreeradius({
    users: [{
      name: 'rad6', password: 'rad6 pw',
      reply: [['Framed-IPv6-Prefix', 'fd00:73:0:99::/64'], ['Framed-IPv6-Route', '2001:db8:ffff::/48 :: 1'], ['DNS-Server-IPv6-Address', 'fd00:73::53']],
    }],
    topo, ns: topo.serverNs, dir: topo.tempDir('freeradius6'), secret: 'ocs-radius6',
  });
  t.teardown(() => fr.stop());
  const radcli = fr.writeRadcliConfig(join(topo.tempDir('radcli6'), 'radiusclient.conf'), 'nas-identifier ocs-v6\n');
  const server = await serve({ udp: false, port: 4450, users: [], extraConfig: `${DUAL}\nauth = "radius[config=${radcli}]"\nacct = "radius[config=${radcli}]"` });
  const s = await connectOpenconnect(topo, {
    url: server.url, user: 'rad6', password: 'rad6 pw', servercert: server.pin, interfaceName: 'oc6-rad', noDtls: true, timeoutMs: 30_000,
  });
  live.push(s);
  t.equal(s.state.INTERNAL_IP6_NETMASK, 'fd00:73:0:99::/64', 'the prefix, as ocserv gives a delegated prefix');
  t.same(s.state.routes6, ['2001:db8:ffff::/48'], 'Framed-IPv6-Route replaces the configured routes');
  t.equal(s.state.INTERNAL_IP4_DNS, 'fd00:73::53', 'the backend\'s DNS replaces the configured ones');
  t.equal((await ping(topo, topo.clientNs, BEYOND, { count: 2 })).received, 2, 'the routed network answers');
  let start = '';
  await until('the accounting Start', () => {
    start = existsSync(fr.detailPath) ? readFileSync(fr.detailPath, 'utf8') : '';
    return /Acct-Status-Type = Start/.test(start);
  });
  t.match(start, /Framed-IPv6-Address = fd00:73:0:99::\n/);
  t.match(start, /Framed-IPv6-Prefix = fd00:73:0:99::\/64\n/);
  t.match(start, /Framed-IP-Address = 198\.19\.0\.\d+\n/, 'dual-stack: the IPv4 address too');
  await disconnect(s);
});

t.test('an IPv6-only server (no ipv4-network): the client gets IPv6 alone', async (t) => {
  const server = await serve({
    udp: false, port: 4448, omit: ['ipv4-network', 'ipv4-netmask'],
    extraConfig: `ipv6-network = ${NET6}\nroute = ${NET6}\nroute = 2001:db8:ffff::/48\ndns = fd00:73::53`,
  });
  const s = await connect(server, 'alice', { noDtls: true });
  t.equal(s.address, '', 'no IPv4 address');
  t.ok(s.address6 && inNet(s.address6, NET6), s.address6);
  t.equal(s.state.INTERNAL_IP6_NETMASK, `${s.address6}/128`, 'ipv6-subnet-prefix defaults to 128');
  t.equal((await ping(topo, topo.clientNs, SERVER6, { count: 2 })).received, 2);
  t.equal((await ping(topo, topo.clientNs, BEYOND, { count: 2 })).received, 2);
  const [u] = await occtlJson(server, 'show', 'user', 'alice');
  t.equal(u!['IPv6'], s.address6);
  t.notOk('IPv4' in u!, 'occtl prints no IPv4 line');
  await disconnect(s);
});

t.test('Debian\'s ocserv with the same configuration answers in the same form', async (t) => {
  const ocserv = await serve({ kind: 'ocserv', udp: false, port: 4449, extraConfig: DUAL });
  const s = await connect(ocserv, 'alice', { noDtls: true, iface: 'oc6-ocserv' });
  t.ok(s.address6 && inNet(s.address6, NET6), s.address6);
  t.equal(s.state.INTERNAL_IP6_NETMASK, `${s.address6}/64`, 'address/ipv6-subnet-prefix, as ocserv-ts');
  t.same(sorted(s.state.routes6), ['2001:db8:ffff::/48', NET6]);
  t.same(sorted(s.state.INTERNAL_IP4_DNS?.split(' ')), ['198.19.0.1', 'fd00:73::53']);
  t.equal((await ping(topo, topo.clientNs, SERVER6, { count: 2 })).received, 2, 'ocserv\'s tun has the same IPv6 address');
  await disconnect(s);
});
