/**
 * Three ocserv-ts servers behind Debian's HAProxy, sharing sessions, address leases and bans
 * through a real Redis (issue 12). Each server has its own namespace; HAProxy (TCP mode,
 * PROXY protocol v2), redis-server and FreeRADIUS (accounting) live in the "front"
 * namespace, which also forwards each server's DTLS port to it (nftables DNAT), since
 * openconnect sends DTLS to the address it connected to, on the port the server named.
 *
 *   client ns ── front ns: HAProxy :4450, Redis :6379, FreeRADIUS, UDP 443i → vpn i
 *                  ├── vpn1 (198.18.k.6)
 *                  ├── vpn2 (198.18.k.10)
 *                  └── vpn3 (198.18.k.14)
 */
import t from 'tap';
import { connect } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { occtl as occtlIn } from '../helpers/occtl';
import { readDetail, startFreeradius, type DetailRecord, type FreeradiusHandle } from '../helpers/freeradius';
import { startRedis, type RedisHandle } from '../helpers/redis';
import { sleep, until } from '../helpers/wait';

const FRONT_PORT = 4450;
const POOL = '198.19.64.0/26';
const SERVER_TUN = '198.19.64.1';
const USERS = ['alice', 'bob', 'carol', ...Array.from({ length: 30 }, (_v, i) => `u${i}`)].map((name) => ({ name, password: `${name} pw` }));

let topo: Topology;
let redis: RedisHandle;
let radius: FreeradiusHandle;
let haproxySock: string;
const servers: ServerHandle[] = [];
const live: VpnSession[] = [];

type Row = Record<string, string>;

const occtl = (s: ServerHandle, ...args: string[]): Promise<string> => occtlIn(topo, s, ...args);
const clusterUsers = async (via = servers[0]!): Promise<Row[]> => JSON.parse(await occtl(via, '-j', 'show', 'cluster', 'users') || '[]') as Row[];

/** HAProxy's runtime API: its admin socket takes one command per connection. */
function haproxy(cmd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(haproxySock);
    let out = '';
    c.on('data', (d) => { out += d.toString(); });
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.end(`${cmd}\n`);
  });
}

type Rec = DetailRecord;
const detail = (): Rec[] => readDetail(radius.detailPath);

const logs = () => servers.map((s, i) => `--- vpn${i + 1}\n${s.output().slice(-2500)}`).join('\n');

function login(user: string, extra: Partial<Parameters<typeof connectOpenconnect>[1]> = {}): Promise<VpnSession> {
  return connectOpenconnect(topo, {
    url: `https://${topo.serverIp}:${FRONT_PORT}/`, user, password: `${user} pw`, servercert: servers[0]!.pin, interfaceName: `oc${user}`, ...extra,
  }).then((s) => {
    live.push(s);
    return s;
  });
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const front = topo.serverNs;
  await topo.exec(front, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'], { check: true });
  redis = await startRedis({ topo, ns: front, bind: topo.serverIp });
  radius = await startFreeradius({ users: [], topo, ns: front, listen: topo.serverIp, dir: topo.tempDir('freeradius'), secret: 'ocs-cluster-test', clients: ['198.18.0.0/15'] });
  const radcli = radius.writeRadcliConfig(join(topo.tempDir('radcli'), 'radiusclient.conf'), 'nas-identifier ocs-cluster\n');
  const backends: string[] = [];
  const dnat: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const link = await topo.addNamespace(front);
    await topo.exec(link.ns, 'ip', ['route', 'add', 'default', 'via', link.peerIp], { check: true });
    const port = 4430 + i;
    const s = await startServer(topo, {
      kind: 'ocserv-ts', ns: link.ns, listenHost: link.ip, port, users: USERS,
      // the certificates and CA of the first server for all: one service name, one pin
      extraConfig: [
        `session-store = ${redis.url}`,
        `cluster-node-name = vpn${i}`,
        'listen-proxy-proto = true',
        'use-occtl = true',
        `ipv4-network = ${POOL}`,
        `acct = "radius[config=${radcli}]"`,
        'max-ban-score = 20', 'ban-points-wrong-password = 10', 'ban-points-connection = 0',
        'cookie-timeout = 120', `route = ${POOL}`,
        // one certificate for the whole cluster: the client checks one pin whichever server answers
        ...(servers[0] ? [`server-cert = ${servers[0].files.certPath}`, `server-key = ${servers[0].files.keyPath}`] : []),
      ].join('\n'),
    });
    servers.push(s);
    backends.push(`  server vpn${i} ${link.ip}:${port} send-proxy-v2`);
    dnat.push(`    ip daddr ${topo.serverIp} udp dport ${port} dnat to ${link.ip}`);
  }
  const nft = join(topo.tempDir('nft'), 'cluster.nft');
  writeFileSync(nft, ['table ip ocs_cluster {', '  chain pre {', '    type nat hook prerouting priority dstnat; policy accept;', ...dnat, '  }', '}', ''].join('\n'));
  await topo.exec(front, 'nft', ['-f', nft], { check: true });
  const dir = topo.tempDir('haproxy');
  haproxySock = join(dir, 'admin.sock');
  writeFileSync(join(dir, 'haproxy.cfg'), [
    'global', '  maxconn 512', `  stats socket ${haproxySock} mode 600 level admin`,
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 1h', '  timeout server 1h',
    'frontend vpn', `  bind ${topo.serverIp}:${FRONT_PORT}`, '  default_backend vpn',
    'backend vpn', '  balance roundrobin', ...backends, '',
  ].join('\n'));
  const hp = topo.spawn(front, 'haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')]);
  await until('haproxy listening', async () => (await topo.exec(front, 'ss', ['-Hltn', `src ${topo.serverIp}:${FRONT_PORT}`])).stdout.trim(), 10_000, () => hp.output());
});

t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await Promise.all(servers.map((s) => s.stop()));
  await radius?.stop();
  await redis?.stop();
  await topo?.cleanup();
});

t.test('a client comes back through another server with its cookie and keeps its address; one accounting session', async (t) => {
  const alice = await login('alice', { extraArgs: ['--reconnect-timeout', '60'] });
  await alice.waitForOutput(/Established DTLS connection/, 15_000);
  const [before] = (await clusterUsers()).filter((u) => u.Username === 'alice');
  t.ok(before, 'occtl-ts show cluster users lists alice');
  t.equal(before!['Remote IP'], topo.clientIp, 'with her own address, through HAProxy');
  const first = before!.Server!;
  t.match(first, /^vpn[123]$/);

  // that server's connection breaks and HAProxy sends her elsewhere
  await haproxy(`disable server vpn/${first}`);
  await haproxy(`shutdown sessions server vpn/${first}`);
  const after = await until('alice back through another server', async () => {
    const u = (await clusterUsers()).find((x) => x.Username === 'alice');
    return u && u.Server !== first && u;
  }, 60_000, () => `${alice.output().slice(-2000)}\n${logs()}`);
  await haproxy(`enable server vpn/${first}`);
  t.equal(after.Session, before!.Session, 'the same session (cookie and sid)');
  t.equal(after.IPv4, before!.IPv4, 'the same address');
  t.equal((await clusterUsers()).filter((u) => u.Username === 'alice').length, 1, 'one tunnel in the whole cluster');
  await alice.waitForOutput(/Established DTLS connection[\s\S]*Established DTLS connection/, 20_000);
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 3, iface: alice.tundev })).ok, 'traffic flows through the new server, DTLS included');

  await alice.disconnect();
  const recs = await until('alice\'s Stop', () => {
    const r = detail().filter((x) => x['User-Name'] === 'alice');
    return r.some((x) => x['Acct-Status-Type'] === 'Stop') && r;
  }, 20_000, logs);
  await sleep(1000);
  const all = detail().filter((x) => x['User-Name'] === 'alice');
  t.equal(all.filter((x) => x['Acct-Status-Type'] === 'Start').length, 1, 'one Start');
  t.equal(all.filter((x) => x['Acct-Status-Type'] === 'Stop').length, 1, 'one Stop');
  t.equal(new Set(all.map((x) => x['Acct-Session-Id'])).size, 1, 'one Acct-Session-Id over both servers');
  t.equal(recs.find((x) => x['Acct-Status-Type'] === 'Stop')!['Acct-Terminate-Cause'], 'User-Request');
});

t.test('30 clients over three servers never share an address', async (t) => {
  const users = USERS.filter((u) => /^u\d+$/.test(u.name));
  const sessions: VpnSession[] = [];
  for (let i = 0; i < users.length; i += 10) {
    sessions.push(...await Promise.all(users.slice(i, i + 10).map((u) => login(u.name, { noDtls: true, timeoutMs: 60_000 }))));
  }
  const rows = (await clusterUsers()).filter((u) => /^u\d+$/.test(u.Username!));
  t.equal(rows.length, 30, 'all 30 listed cluster-wide');
  t.same(new Set(rows.map((u) => u.Server)), new Set(['vpn1', 'vpn2', 'vpn3']), 'spread over the three servers');
  const addrs = sessions.map((s) => s.address);
  t.equal(new Set(addrs).size, 30, `30 distinct addresses: ${addrs.join(' ')}`);
  for (const s of sessions.slice(0, 3)) t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: s.tundev })).ok);
  await Promise.all(sessions.map((s) => s.disconnect()));
  live.splice(0, live.length, ...live.filter((s) => !sessions.includes(s)));
});

t.test('disconnect user works whichever server the user is on; a ban reaches every server', async (t) => {
  const bob = await login('bob', { noDtls: true });
  const row = (await clusterUsers()).find((u) => u.Username === 'bob')!;
  const elsewhere = servers.find((_s, i) => `vpn${i + 1}` !== row.Server)!;
  t.match(await occtl(elsewhere, 'disconnect', 'user', 'bob'), /was disconnected/, 'asked of a server bob is not on');
  await until('bob gone from the cluster', async () => !(await clusterUsers()).some((u) => u.Username === 'bob'), 15_000, logs);
  await bob.proc.exited;

  // two wrong passwords through two servers (round robin) reach max-ban-score 20 together
  for (let i = 0; i < 2; i++) {
    const r = await openconnectAuthenticate(topo, { url: `https://${topo.serverIp}:${FRONT_PORT}/`, user: 'carol', password: 'wrong', servercert: servers[0]!.pin });
    t.not(r.code, 0);
  }
  await until('banned on every server', async () => {
    const outs = await Promise.all(servers.map((s) => occtl(s, '-j', 'show', 'ip', 'bans')));
    return outs.every((o) => o.includes(topo.clientIp));
  }, 10_000, logs);
  const refused = await openconnectAuthenticate(topo, { url: `https://${topo.serverIp}:${FRONT_PORT}/`, user: 'carol', password: 'carol pw', servercert: servers[0]!.pin });
  t.not(refused.code, 0, 'the right password is refused too while banned');
  t.match(await occtl(servers[2]!, 'unban', 'ip', topo.clientIp), /unbanned/);
  await until('unbanned everywhere', async () => {
    const outs = await Promise.all(servers.map((s) => occtl(s, '-j', 'show', 'ip', 'bans')));
    return outs.every((o) => !o.includes(topo.clientIp));
  }, 10_000, logs);
  const ok = await openconnectAuthenticate(topo, { url: `https://${topo.serverIp}:${FRONT_PORT}/`, user: 'carol', password: 'carol pw', servercert: servers[0]!.pin });
  t.equal(ok.code, 0, 'and carol logs in again');
});

t.test('Redis down: tunnels carry on, logins fail clearly; Redis back: logins work again', async (t) => {
  const dave = await login('u0', { noDtls: true });
  await redis.stop();
  const r = await openconnectAuthenticate(topo, { url: `https://${topo.serverIp}:${FRONT_PORT}/`, user: 'u1', password: 'u1 pw', servercert: servers[0]!.pin });
  t.not(r.code, 0, 'a login fails');
  t.match(r.output, /session store unavailable/i, 'and says why');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 3, iface: dave.tundev })).ok, 'a running tunnel carries traffic');
  await redis.start();
  const back = await until('logins work again', async () => {
    const x = await openconnectAuthenticate(topo, { url: `https://${topo.serverIp}:${FRONT_PORT}/`, user: 'u1', password: 'u1 pw', servercert: servers[0]!.pin });
    return x.code === 0 && x;
  }, 30_000, logs);
  t.ok(back.cookie, 'a cookie again');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 2, iface: dave.tundev })).ok, 'the old tunnel still carries traffic');
  for (const [i, s] of servers.entries()) {
    t.ok(await until(`vpn${i + 1} logs that the store is back`, () => /session store reachable again/.test(s.output()), 10_000).catch(() => false),
      `vpn${i + 1} logged that the store is back`);
  }
});
