/**
 * Per-session limits with real openconnect sessions, set in per-user files:
 * restrict-user-to-routes (a destination outside the user's routes is unreachable even when
 * the client sends it into the tunnel), restrict-user-to-ports (allow- and deny-lists of TCP
 * ports), and rx-/tx-data-per-sec measured with iperf3 through the tunnel. The rate checks
 * are functional (the limit applies), with wide bounds: not a performance assertion.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const USERS = ['rita', 'uma', 'pete', 'dora', 'rex'].map((name) => ({ name, password: `${name} pw` }));
// 198.18.255.0/24: never a topology's veth link (see createTopology)
const ALLOWED = '198.18.255.1';
const OTHER = '198.18.255.2';
const RATE = 250_000;

let topo: Topology;
let server: ServerHandle | undefined;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  // two addresses of the server itself that clients reach only through the tunnel
  for (const a of [ALLOWED, OTHER]) await topo.exec(topo.serverNs, 'ip', ['addr', 'add', `${a}/32`, 'dev', 'lo'], { check: true });
  const dir = topo.tempDir('limits');
  const users = join(dir, 'users');
  mkdirSync(users);
  const files: Record<string, string> = {
    rita: `route = ${ALLOWED}/32\nrestrict-user-to-routes = true\n`,
    uma: `route = ${ALLOWED}/32\n`,
    pete: 'route = 198.18.255.0/24\nrestrict-user-to-ports = "tcp(8080), icmp()"\n',
    dora: 'route = 198.18.255.0/24\nrestrict-user-to-ports = "!(tcp(8081))"\n',
    rex: `route = 198.18.255.0/24\nrx-data-per-sec = ${RATE}\ntx-data-per-sec = ${RATE}\n`,
  };
  for (const [u, text] of Object.entries(files)) writeFileSync(join(users, u), text);
  server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, extraConfig: `config-per-user = ${users}` });
  // two TCP services on the server: each answers "hi" and closes
  const tcp = `for (const p of [8080, 8081]) require('net').createServer((s) => s.end('hi\\n')).listen(p, '${ALLOWED}');`;
  topo.spawn(topo.serverNs, process.execPath, ['-e', tcp]);
  topo.spawn(topo.serverNs, 'iperf3', ['-s', '-B', ALLOWED, '-p', '5201']);
  for (let i = 0; i < 100; i++) {
    const ss = await topo.exec(topo.serverNs, 'ss', ['-Hltn', `src ${ALLOWED}`]);
    if ([':8080', ':8081', ':5201'].every((p) => ss.stdout.includes(p))) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

async function connect(user: string): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, { url: server!.url, user, password: `${user} pw`, servercert: server!.pin, interfaceName: `oc-${user}` });
  live.push(s);
  return s;
}
async function disconnect(s: VpnSession): Promise<void> {
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
}

/** 'hi' when the TCP connection got the service's answer, else why not. */
async function tcpTry(port: number): Promise<string> {
  const code = `const s = require('net').connect(${port}, '${ALLOWED}');
    let got = ''; s.on('data', (d) => got += d); s.on('end', () => { console.log(got.trim()); process.exit(0); });
    s.on('error', (e) => { console.log(e.code); process.exit(0); });
    setTimeout(() => { console.log('timeout'); process.exit(0); }, 3000);`;
  return (await topo.exec(topo.clientNs, process.execPath, ['-e', code], { timeoutMs: 10_000 })).stdout.trim();
}

/** iperf3 through the tunnel: what the receiving side measured, in bytes per second. */
async function iperf(reverse: boolean): Promise<number> {
  let last = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const r = await topo.exec(topo.clientNs, 'iperf3', ['-c', ALLOWED, '-p', '5201', '-t', '5', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
    const out = JSON.parse(r.stdout || '{}') as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    const bps = out.end?.sum_received?.bits_per_second;
    if (bps !== undefined) return bps / 8;
    // the server runs one test at a time; a leftover of the previous one says "busy"
    last = out.error ?? r.stderr;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`iperf3 failed: ${last}`);
}

t.test('restrict-user-to-routes: only the user\'s routes and the server\'s tun address are reachable', async (t) => {
  const s = await connect('rita');
  // the client sends the other address into the tunnel as well: the server must refuse it
  await topo.exec(topo.clientNs, 'ip', ['route', 'replace', `${OTHER}/32`, 'dev', s.tundev], { check: true });
  t.ok((await ping(topo, topo.clientNs, ALLOWED)).ok, 'an address in the routes');
  t.notOk((await ping(topo, topo.clientNs, OTHER, { count: 2 })).ok, 'an address outside them');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { iface: s.tundev })).ok, 'the server\'s end of the tun');
  await disconnect(s);

  const control = await connect('uma');
  await topo.exec(topo.clientNs, 'ip', ['route', 'replace', `${OTHER}/32`, 'dev', control.tundev], { check: true });
  t.ok((await ping(topo, topo.clientNs, OTHER)).ok, 'without the restriction the same packets pass');
  await disconnect(control);
});

t.test('restrict-user-to-ports: an allow-list', async (t) => {
  const s = await connect('pete');
  t.equal(await tcpTry(8080), 'hi', 'tcp(8080) is allowed');
  t.equal(await tcpTry(8081), 'timeout', 'tcp(8081) is not');
  t.ok((await ping(topo, topo.clientNs, ALLOWED)).ok, 'icmp() is allowed');
  await disconnect(s);
});

t.test('restrict-user-to-ports: a deny-list', async (t) => {
  const s = await connect('dora');
  t.equal(await tcpTry(8080), 'hi', 'tcp(8080) is not denied');
  t.equal(await tcpTry(8081), 'timeout', 'tcp(8081) is denied');
  t.ok((await ping(topo, topo.clientNs, ALLOWED)).ok);
  await disconnect(s);
});

t.test('rx-data-per-sec and tx-data-per-sec hold a client near its limit', async (t) => {
  const s = await connect('rex');
  const up = await iperf(false);
  t.ok(up > 0.3 * RATE && up < 1.5 * RATE, `upload ${Math.round(up)} B/s with rx-data-per-sec = ${RATE}`);
  const down = await iperf(true);
  t.ok(down > 0.3 * RATE && down < 1.5 * RATE, `download ${Math.round(down)} B/s with tx-data-per-sec = ${RATE}`);
  await disconnect(s);
});
