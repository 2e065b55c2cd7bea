/**
 * The Prometheus endpoint (metrics-listen), scraped with node's http client from inside the
 * server's namespace while openconnect sessions run: one over DTLS in group staff, one over
 * TLS only without a group. The exposition text is parsed as Prometheus does and checked
 * against what the test did (sessions, logins, failed logins, a ban, traffic per server and
 * per group, workers, sec-mod).
 */
import t from 'tap';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, serverTunAddress, type Topology, type VpnSession,
} from '../helpers/netns';
import { httpGetInServerNs, startOpsServer, type OpsServer } from '../helpers/ops-server';

const ALICE = { name: 'alice', password: 'alice pw', group: 'staff' };
const BOB = { name: 'bob', password: 'bob pw' };
const METRICS = 'http://127.0.0.1:9616/metrics';

let topo: Topology;
let server: OpsServer;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startOpsServer(topo, {
    users: [ALICE, BOB],
    extraConfig: 'metrics-listen = 127.0.0.1:9616\nmax-ban-score = 20\nban-points-wrong-password = 10\nban-points-connection = 1\nmin-reauth-time = 300',
  });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

interface Sample { name: string; labels: Record<string, string>; value: number }
interface Scrape { samples: Sample[]; types: Map<string, string>; contentType: string }

/** the text exposition format, version 0.0.4 */
function parseExposition(text: string): Omit<Scrape, 'contentType'> {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!m) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return { samples, types };
}

async function scrape(): Promise<Scrape> {
  const r = await httpGetInServerNs(topo, METRICS);
  if (r.status !== 200) throw new Error(`scrape: ${r.status ?? ''} ${r.error ?? r.body}`);
  return { ...parseExposition(r.body!), contentType: String(r.headers?.['content-type']) };
}

function value(s: Scrape, name: string, labels: Record<string, string> = {}): number | undefined {
  return s.samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;
}

let alice: VpnSession;
let bob: VpnSession;

t.test('while two sessions run: sessions, transports, logins, traffic by server and group', async (t) => {
  alice = await connectOpenconnect(topo, { url: server.url, user: ALICE.name, password: ALICE.password, servercert: server.pin, timeoutMs: 30_000 });
  await alice.waitForOutput(/Established DTLS connection/, 20_000);
  bob = await connectOpenconnect(topo, { url: server.url, user: BOB.name, password: BOB.password, servercert: server.pin, noDtls: true, timeoutMs: 30_000 });
  for (const s of [alice, bob]) {
    const gw = await serverTunAddress(topo, s.address);
    t.ok((await ping(topo, topo.clientNs, gw!, { count: 4, size: 1000, iface: s.tundev })).ok, `${s.tundev}: traffic`);
  }
  // a scrape may come before main has heard DTLS is up
  let m = await scrape();
  for (let i = 0; i < 20 && value(m, 'ocserv_sessions_active_transport', { transport: 'dtls' }) !== 1; i++) {
    await new Promise((r) => setTimeout(r, 250));
    m = await scrape();
  }
  t.match(m.contentType, /^text\/plain; version=0\.0\.4/);
  t.equal(value(m, 'ocserv_sessions_active'), 2);
  t.equal(value(m, 'ocserv_sessions_active_transport', { transport: 'dtls' }), 1, 'alice over DTLS');
  t.equal(value(m, 'ocserv_sessions_active_transport', { transport: 'cstp' }), 1, 'bob over TLS only');
  t.equal(value(m, 'ocserv_group_sessions_active', { group: 'staff' }), 1);
  t.equal(value(m, 'ocserv_group_sessions_active', { group: '(none)' }), 1);
  t.equal(value(m, 'ocserv_sessions_opened_total'), 2);
  t.equal(m.types.get('ocserv_sessions_opened_total'), 'counter');
  t.equal(value(m, 'ocserv_logins_total'), 2);
  t.equal(value(m, 'ocserv_login_duration_seconds_count'), 2, 'both logins timed');
  t.equal(m.types.get('ocserv_login_duration_seconds'), 'histogram');
  t.ok(value(m, 'ocserv_login_duration_seconds_bucket', { le: '+Inf' }) === 2);
  // 4 pings of 1000 bytes each way per session, plus headers
  for (const dir of ['in', 'out']) {
    t.ok(value(m, 'ocserv_traffic_bytes_total', { direction: dir })! > 8000, `server bytes ${dir}: ${value(m, 'ocserv_traffic_bytes_total', { direction: dir })}`);
    t.ok(value(m, 'ocserv_traffic_packets_total', { direction: dir })! >= 8, `server packets ${dir}`);
    for (const group of ['staff', '(none)']) {
      t.ok(value(m, 'ocserv_group_traffic_bytes_total', { group, direction: dir })! > 4000, `group ${group} bytes ${dir}`);
    }
  }
  t.ok(value(m, 'ocserv_workers')! >= 1, `workers: ${value(m, 'ocserv_workers')}`);
  t.equal(value(m, 'ocserv_secmod_up'), 1);
  t.equal(value(m, 'ocserv_secmod_sessions'), 2, 'sec-mod holds both cookies');
  t.equal(value(m, 'ocserv_secmod_logins_in_progress'), 0);
  t.ok(value(m, 'ocserv_main_process_resident_memory_bytes')! > 0, 'main\'s own process metrics');
});

t.test('counters keep growing when a session ends; failed logins by reason; a ban', async (t) => {
  const before = await scrape();
  const gw = await serverTunAddress(topo, alice.address);
  await ping(topo, topo.clientNs, gw!, { count: 2, size: 1000, iface: alice.tundev });
  await alice.disconnect();
  await new Promise((r) => setTimeout(r, 500));
  let after = await scrape();
  for (let i = 0; i < 20 && value(after, 'ocserv_sessions_active') !== 1; i++) {
    await new Promise((r) => setTimeout(r, 250));
    after = await scrape();
  }
  t.equal(value(after, 'ocserv_sessions_active'), 1, 'bob is left');
  t.equal(value(after, 'ocserv_sessions_closed_total'), 1);
  for (const dir of ['in', 'out']) {
    t.ok(value(after, 'ocserv_traffic_bytes_total', { direction: dir })! >= value(before, 'ocserv_traffic_bytes_total', { direction: dir })! + 2000,
      `${dir}: the ended session's traffic stays counted, with its last pings`);
    t.ok(value(after, 'ocserv_group_traffic_bytes_total', { group: 'staff', direction: dir })! > value(before, 'ocserv_group_traffic_bytes_total', { group: 'staff', direction: dir })!);
  }

  const wrong = await openconnectAuthenticate(topo, { url: server.url, user: BOB.name, password: 'wrong', servercert: server.pin });
  t.notOk(wrong.webvpn);
  let m = await scrape();
  t.equal(value(m, 'ocserv_auth_failures_total', { method: 'plain', reason: 'credentials' }), 1, 'a wrong password');
  t.equal(value(m, 'ocserv_bans_total'), 0);
  t.equal(value(m, 'ocserv_banned_ips'), 0);
  await openconnectAuthenticate(topo, { url: server.url, user: BOB.name, password: 'wrong again', servercert: server.pin });
  m = await scrape();
  t.equal(value(m, 'ocserv_auth_failures_total', { method: 'plain', reason: 'credentials' }), 2);
  t.equal(value(m, 'ocserv_bans_total'), 1, 'the second one banned the client');
  t.equal(value(m, 'ocserv_banned_ips'), 1);
  t.equal(value(m, 'ocserv_sessions_active'), 1, 'bob\'s running session is not touched by the ban');
  await bob.disconnect();
});

t.test('only /metrics, read-only', async (t) => {
  t.equal((await httpGetInServerNs(topo, 'http://127.0.0.1:9616/other')).status, 404);
  t.equal((await httpGetInServerNs(topo, METRICS, 'POST')).status, 405, 'POST is refused');
});
