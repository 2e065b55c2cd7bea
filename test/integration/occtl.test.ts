/**
 * occtl-ts against a running ocserv-ts with real openconnect sessions: every command with
 * none, one and several sessions, the JSON a dashboard written for ocserv's occtl parses,
 * disconnects that end the client, bans, reload, events, permissions and stop; and
 * ocpasswd-ts's files logging in to Debian's ocserv.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { Ipv4Pool } from '../../src/main/leases';
import { PacketIO, seqpacketConnect } from '../../src/native';
import { asNobody } from '../cli/as-nobody';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const OCPASSWD = join(repoRoot(), 'bin', 'ocpasswd-ts');
const USERS = [
  { name: 'alice', password: 'alice pw', group: 'staff' },
  { name: 'bob', password: 'bob pw' },
  { name: 'carol', password: 'carol pw' },
  { name: 'dave', password: 'dave pw' },
];
const pw = Object.fromEntries(USERS.map((u) => [u.name, u.password]));

/** What ocserv's occtl puts in each record of `-j show users` (1.1.6; DTLS cipher only with DTLS). */
const OCSERV_USER_KEYS = ['ID', 'Username', 'Groupname', 'State', 'vhost', 'Device', 'MTU', 'Remote IP', 'Location', 'Local Device IP',
  'IPv4', 'P-t-P IPv4', 'User-Agent', 'RX', 'TX', '_RX', '_TX', 'Average RX', 'Average TX', 'DPD', 'KeepAlive', 'Hostname',
  'Connected at', '_Connected at', 'Full session', 'Session', 'TLS ciphersuite', 'DNS', 'NBNS', 'Split-DNS-Domains', 'Routes',
  'No-routes', 'iRoutes', 'Restricted to routes', 'Restricted to ports'];

const OCCTL_USERS_HEADER = '      id     user    vhost             ip         vpn-ip device   since    dtls-cipher    status';

let topo: Topology;
let server: ServerHandle;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: USERS,
    extraConfig: [
      // a score that three wrong passwords pass but the test's own connections do not
      'max-ban-score = 40', 'ban-points-wrong-password = 15', 'ban-points-connection = 1', 'min-reauth-time = 300',
      'route = 198.19.0.0/255.255.255.0', 'route = 10.77.0.0/16', 'no-route = 10.77.5.0/24', 'dns = 198.19.0.53',
    ].join('\n'),
  });
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

interface Run { code: number | null; stdout: string; stderr: string }

function occtl(...args: string[]): Promise<Run> {
  return topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, ...args], { env: serverEnv(), timeoutMs: 20_000 });
}
async function json<T = Array<Record<string, unknown>>>(...args: string[]): Promise<T> {
  const r = await occtl('-j', ...args);
  return JSON.parse(r.stdout) as T;
}
async function connect(user: string, o: { dtls?: boolean } = {}): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, {
    url: server.url, user, password: pw[user], servercert: server.pin, noDtls: !o.dtls, interfaceName: `oc${user}`, timeoutMs: 30_000,
  });
  live.push(s);
  return s;
}
const exitedWithin = (s: VpnSession, ms: number) =>
  Promise.race([s.proc.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const predicted = (user: string) => new Ipv4Pool('198.19.0.0', 24, true).allocate(user)!.remote;

/** A script of the kind dashboards run over ocserv's `occtl -j show users`: it throws on any missing field. */
function dashboard(out: string) {
  const need = (u: Record<string, unknown>, k: string) => {
    if (!(k in u)) throw new Error(`no "${k}" in occtl's record`);
    return u[k];
  };
  return (JSON.parse(out) as Array<Record<string, unknown>>).map((u) => ({
    id: Number(need(u, 'ID')),
    user: String(need(u, 'Username')),
    group: String(need(u, 'Groupname')),
    from: String(need(u, 'Remote IP')),
    vpnIp: String(need(u, 'IPv4')),
    device: String(need(u, 'Device')),
    rx: Number(need(u, 'RX')),
    tx: Number(need(u, 'TX')),
    traffic: `${need(u, '_RX')} / ${need(u, '_TX')}`,
    rate: `${need(u, 'Average RX')} / ${need(u, 'Average TX')}`,
    since: `${need(u, 'Connected at')} (${String(need(u, '_Connected at')).trim()})`,
    agent: String(need(u, 'User-Agent')),
    session: String(need(u, 'Session')),
  }));
}

t.test('no sessions: every listing is empty, status says so', async (t) => {
  t.same(await occtl('show', 'users'), { code: 0, signal: null, stdout: '', stderr: '' });
  t.same(await json('show', 'users'), []);
  const status = await occtl('show', 'status');
  t.equal(status.code, 0);
  t.match(status.stdout, /^General info:\n\tStatus: online\n\tServer PID: \d+\n\tSec-mod PID: \d+\n/);
  t.match(status.stdout, /\tActive sessions: 0\n/);
  t.match(status.stdout, /\tWorker count: \d+\n\tClients per worker: 32\n/);
  t.same(await occtl('show', 'user', 'alice'), { code: 2, signal: null, stdout: 'user or ID not found\n', stderr: '' });
  t.equal((await occtl('-j', 'show', 'id', '7')).stdout, '[\n]\n');
  for (const cmd of [['show', 'sessions', 'all'], ['show', 'sessions', 'valid'], ['show', 'ip', 'bans'], ['show', 'iroutes']]) {
    t.same(await occtl(...cmd), { code: 0, signal: null, stdout: '', stderr: '' }, cmd.join(' '));
  }
  for (const cmd of [['show', 'sessions', 'all'], ['show', 'ip', 'bans'], ['show', 'ip', 'ban', 'points'], ['show', 'iroutes']]) {
    t.same(await json(...cmd), [], `-j ${cmd.join(' ')}`);
  }
});

t.test('one session: users, user, id, sessions, session; live traffic figures', async (t) => {
  const alice = await connect('alice', { dtls: true });
  t.equal(alice.address, predicted('alice'));
  const table = await occtl('show', 'users');
  const lines = table.stdout.split('\n');
  t.equal(lines[0], OCCTL_USERS_HEADER, 'occtl\'s header');
  t.match(lines[1], new RegExp(`^ {7}1 {4}alice  default +${topo.clientIp.replace(/\./g, '\\.')} +${alice.address.replace(/\./g, '\\.')} +vpns\\d+ +\\d+s +\\S+ connected$`));
  t.equal(lines.length, 3);

  const [u] = await json('show', 'users');
  for (const k of OCSERV_USER_KEYS) t.ok(k in u, `-j show users has "${k}"`);
  t.match(u, {
    ID: 1, Username: 'alice', Groupname: 'staff', State: 'connected', vhost: 'default', 'Remote IP': topo.clientIp,
    'Local Device IP': topo.serverIp, IPv4: alice.address, 'P-t-P IPv4': '198.19.0.1', DNS: ['198.19.0.53'],
    Routes: ['198.19.0.0/255.255.255.0', '10.77.0.0/255.255.0.0'], 'No-routes': ['10.77.5.0/255.255.255.0'],
    'Restricted to routes': 'False', 'User-Agent': /Open AnyConnect VPN Agent/, 'TLS ciphersuite': /^\(TLS1\.[23]\)-/,
  });
  t.equal(u.Session, String(u['Full session']).slice(0, 6));
  t.ok(existsSync(`/proc/${u['Worker PID']}`), 'Worker PID is the live worker');
  const tuns = (await topo.exec(topo.serverNs, 'ip', ['-o', 'link', 'show', String(u.Device)])).stdout;
  t.match(tuns, /mtu \d+/, 'Device is the session\'s tun on the server');

  const human = await occtl('show', 'user', 'alice');
  t.equal(human.code, 0);
  t.match(human.stdout, /^\tID: 1\n\tWorker PID: \d+\n\tUsername: alice   Groupname: staff\n\tState: connected\n\tvhost: default\n\tDevice: vpns\d+   MTU: \d+\n/);
  t.match(human.stdout, /\n\tRX: \d+ \(.+\)   TX: \d+ \(.+\)\n\tAverage bandwidth RX: .+\/sec  TX: .+\/sec\n\tDPD: 90   KeepAlive: 32400\n/);
  t.match(human.stdout, /\n\tRoutes: 198\.19\.0\.0\/255\.255\.255\.0\n\t\t10\.77\.0\.0\/255\.255\.0\.0\n\tNo-routes: 10\.77\.5\.0\/255\.255\.255\.0\n\tRestricted to routes: False\n\n$/);
  t.match((await occtl('show', 'id', '1')).stdout, /^\tID: 1\n\tWorker PID: \d+\n\tUsername: alice   Groupname: staff\n/, 'show id 1 is alice');
  t.match((await json('show', 'id', '1'))[0], { Username: 'alice' });

  const sessions = await occtl('show', 'sessions', 'valid');
  t.match(sessions.stdout, new RegExp(`^session     user    vhost             ip               user agent  created   status\\n${u.Session} {4}alice  default +${topo.clientIp.replace(/\./g, '\\.')} Open AnyConnect VPN Agen +\\d+s authenticated\\n$`));
  const [s] = await json('show', 'sessions', 'all');
  t.match(s, { Session: u.Session, 'Full session': u['Full session'], State: 'authenticated', Username: 'alice', in_use: 1, session_is_open: 1 });
  const one = await occtl('show', 'session', String(u.Session));
  t.match(one.stdout, new RegExp(`^\\tSession: ${u.Session}\\n\\tFull session ID: ${u['Full session']}\\n\\tCreated: .+\\n\\tState: authenticated\\n\\tUsername: alice   Groupname: staff\\n`));
  t.match(one.stdout, /\tIn use: True   Activated: True\n/);
  t.same(await occtl('show', 'session', 'zzzzzz'), { code: 2, signal: null, stdout: 'Session ID not found or expired\n', stderr: '' });

  // the figures are current: no disconnect, no stats interval
  const before = (await json('show', 'user', 'alice'))[0];
  const statusBefore = await json<Record<string, number>>('show', 'status');
  const p = await ping(topo, topo.clientNs, '198.19.0.1', { count: 10, size: 1000 });
  t.ok(p.ok, 'traffic through the tunnel', { output: p.output });
  const after = (await json('show', 'user', 'alice'))[0];
  t.ok(Number(after.RX) - Number(before.RX) >= 10 * 1028, `RX grew by the pings (${before.RX} -> ${after.RX})`);
  t.ok(Number(after.TX) - Number(before.TX) >= 10 * 1028, `TX grew by the replies (${before.TX} -> ${after.TX})`);
  const statusAfter = await json<Record<string, number>>('show', 'status');
  t.ok(statusAfter.raw_rx - statusBefore.raw_rx >= 10 * 1028, 'show status RX is live too');
  t.equal(statusAfter['Active sessions'], 1);
});

t.test('several sessions: newest first, one record each', async (t) => {
  await connect('bob');
  await connect('carol');
  const rows = (await occtl('show', 'users')).stdout.trimEnd().split('\n');
  t.equal(rows[0], OCCTL_USERS_HEADER);
  t.same(rows.slice(1).map((r) => r.trim().split(/\s+/)[1]), ['carol', 'bob', 'alice']);
  t.match(rows[1], /\(no-dtls\) connected$/, 'a CSTP-only session shows (no-dtls), as occtl');
  const all = dashboard((await occtl('-j', 'show', 'users')).stdout);
  t.same(all.map((u) => u.user), ['carol', 'bob', 'alice']);
  t.equal(new Set(all.map((u) => u.vpnIp)).size, 3, 'each has its own address');
  t.same(all.map((u) => u.vpnIp), [predicted('carol'), predicted('bob'), predicted('alice')]);
  t.match((await occtl('show', 'status')).stdout, /\tActive sessions: 3\n/);
  t.equal((await json('show', 'sessions', 'valid')).length, 3);
  t.equal((await json('show', 'iroutes')).length, 3);
  t.equal((await occtl('show', 'iroutes')).stdout, '    id     user    vhost device           vpn-ip                       iroute\n', 'no user provides routes');
  t.equal((await json('show', 'user', 'bob'))[0].Groupname, '(none)');
});

t.test('a script written for ocserv\'s occtl reads occtl-ts the same way', async (t) => {
  // Debian's ocserv beside ours, on its own port and address pool, with its own occtl
  const debian = await startServer(topo, {
    kind: 'ocserv', port: 4444, users: USERS,
    extraConfig: 'ipv4-network = 198.19.1.0\nipv4-netmask = 255.255.255.0\nroute = 198.19.1.0/255.255.255.0\ndns = 198.19.1.1',
  });
  t.teardown(() => debian.stop());
  const dave = await connectOpenconnect(topo, { url: debian.url, user: 'dave', password: pw.dave, servercert: debian.pin, noDtls: true, interfaceName: 'ocdeb' });
  t.teardown(() => dave.disconnect());
  const theirs = (await topo.exec(topo.serverNs, 'occtl', ['-s', debian.files.occtlSocketPath, '-j', 'show', 'users'])).stdout;
  const ours = (await occtl('-j', 'show', 'users')).stdout;
  const a = dashboard(theirs);
  const b = dashboard(ours);
  t.equal(a.length, 1, 'the script reads ocserv\'s output');
  t.equal(b.length, 3, 'and ours');
  t.same(Object.keys(b[0]), Object.keys(a[0]));
  t.match(a[0], { user: 'dave', from: topo.clientIp, vpnIp: /^198\.19\.1\./ });
  const keysOf = (out: string) => Object.keys((JSON.parse(out) as Array<Record<string, unknown>>)[0]);
  const missing = keysOf(theirs).filter((k) => !keysOf(ours).includes(k));
  t.same(missing, [], 'every field ocserv\'s occtl gives, occtl-ts gives');
  const statusTheirs = JSON.parse((await topo.exec(topo.serverNs, 'occtl', ['-s', debian.files.occtlSocketPath, '-j', 'show', 'status'])).stdout);
  const statusOurs = await json<Record<string, unknown>>('show', 'status');
  const latency = /latency/;
  t.same(Object.keys(statusTheirs).filter((k) => !latency.test(k) && !(k in statusOurs)), [],
    'show status has ocserv\'s fields (but its latency sampling)');
  // ocserv's `-j show sessions` is not valid JSON (a trailing comma); its keys are still ours
  const sessionKeys = (out: string) => [...new Set([...out.matchAll(/"([^"]+)":/g)].map((m) => m[1]))].sort();
  const sTheirs = (await topo.exec(topo.serverNs, 'occtl', ['-s', debian.files.occtlSocketPath, '-j', 'show', 'sessions', 'all'])).stdout;
  const sOurs = (await occtl('-j', 'show', 'sessions', 'all')).stdout;
  t.same(sessionKeys(sOurs), sessionKeys(sTheirs));
  t.doesNotThrow(() => JSON.parse(sOurs), 'ours parses');
});

t.test('disconnect user ends the client within a second and frees its lease', async (t) => {
  const bob = live.find((s) => s.state.INTERNAL_IP4_ADDRESS === predicted('bob'))!;
  const r = await occtl('disconnect', 'user', 'bob');
  t.same(r, { code: 0, signal: null, stdout: "user 'bob' was disconnected\n", stderr: '' });
  t.ok(await exitedWithin(bob, 1000), 'openconnect exits within a second');
  t.match(bob.output(), /terminat/i, 'told that the server ended the session');
  await sleep(200);
  t.notMatch((await occtl('show', 'users')).stdout, /\bbob\b/);
  const tuns = (await topo.exec(topo.serverNs, 'ip', ['-4', '-o', 'addr', 'show'])).stdout;
  t.notMatch(tuns, new RegExp(`peer ${predicted('bob').replace(/\./g, '\\.')}/`), 'its tun is gone');
  t.same(await occtl('disconnect', 'user', 'bob'), { code: 1, signal: null, stdout: "could not disconnect user 'bob'\n", stderr: '' });
  const again = await connect('bob');
  t.equal(again.address, predicted('bob'), 'the freed address is bob\'s again');

  const [carol] = (await json('show', 'user', 'carol'));
  const carolSession = live.find((s) => s.address === predicted('carol'))!;
  t.equal((await occtl('disconnect', 'id', String(carol.ID))).stdout, `connection ID '${carol.ID}' was disconnected\n`);
  t.ok(await exitedWithin(carolSession, 1000), 'disconnect id ends that client too');
  t.same(await occtl('disconnect', 'id', '999'), { code: 1, signal: null, stdout: "could not disconnect ID '999'\n", stderr: '' });
});

t.test('terminate session: the client goes and its cookie with it', async (t) => {
  const dave = await connect('dave');
  const [d] = await json('show', 'user', 'dave');
  const sid = String(d.Session);
  t.equal((await occtl('terminate', 'session', sid)).stdout, `session '${sid}' was terminated\n`);
  t.ok(await exitedWithin(dave, 1000), 'openconnect exits');
  await sleep(200);
  t.equal((await occtl('show', 'session', sid)).code, 2, 'the session is gone from the list');
  t.equal((await occtl('terminate', 'session', sid)).code, 1, 'and cannot be terminated twice');
});

t.test('show events: connects and disconnects as they happen', async (t) => {
  const ev = topo.spawn(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, 'show', 'events'], { env: serverEnv() });
  t.teardown(() => { if (ev.exitCode === null) ev.kill('SIGKILL'); });
  for (let i = 0; i < 100 && !/Press 'q'/.test(ev.output()); i++) await sleep(50);
  t.match(ev.output(), new RegExp(`^${OCCTL_USERS_HEADER}\\n[\\s\\S]*\\nPress 'q' or CTRL\\+C to quit\\n\\n$`), 'the users now, then the prompt');
  const dave = await connect('dave');
  for (let i = 0; i < 40 && !/connected user 'dave'/.test(ev.output()); i++) await sleep(50);
  t.match(ev.output(), new RegExp(`default: connected user 'dave' \\(\\d+\\) from ${topo.clientIp.replace(/\./g, '\\.')} with IP ${predicted('dave').replace(/\./g, '\\.')}\\n`));
  await dave.disconnect();
  for (let i = 0; i < 40 && !/disconnect user 'dave'/.test(ev.output()); i++) await sleep(50);
  t.match(ev.output(), /default: disconnect user 'dave' \(\d+\) from .* with IP .* \(reason: user disconnected, time: +\d+s\)\n/);
  ev.stdin!.write('q');
  const end = await Promise.race([ev.exited, sleep(5000).then(() => ({ code: 'still running' }))]);
  t.equal(end.code, 0, "'q' quits");
});

t.test('bans: wrong passwords ban the address, it is refused, unban lets it back', async (t) => {
  let bans: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 5 && bans.length === 0; i++) {
    const r = await openconnectAuthenticate(topo, { url: server.url, user: 'carol', password: 'wrong', servercert: server.pin });
    t.notOk(r.webvpn, 'a wrong password gets no cookie');
    bans = await json('show', 'ip', 'bans');
  }
  t.equal(bans.length, 1, 'the client address is banned');
  t.match(bans[0], { IP: topo.clientIp, Score: Number, Since: /^\d{4}-\d\d-\d\d \d\d:\d\d$/, _Since: /^ ?[45]m:\d\ds$/ });
  t.ok(Number(bans[0].Score) >= 40);
  const text = await occtl('show', 'ip', 'bans');
  t.match(text.stdout, new RegExp(`^            IP          score                        expires\\n +${topo.clientIp.replace(/\./g, '\\.')} +\\d+ +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d \\( ?[45]m:\\d\\ds\\)\\n$`));
  t.match((await occtl('show', 'ip', 'ban', 'points')).stdout, new RegExp(`\\n +${topo.clientIp.replace(/\./g, '\\.')} +\\d+\\n`));
  const status = await occtl('show', 'status');
  t.match(status.stdout, /\tIPs in ban list: 1\n/);
  t.match(status.stdout, /\tTotal authentication failures: [1-9]\d*\n/);

  const refused = await openconnectAuthenticate(topo, { url: server.url, user: 'carol', password: pw.carol, servercert: server.pin, timeoutMs: 15_000 });
  t.not(refused.code, 0, 'even the right password gets nowhere while banned');
  t.match(server.output(), /rejected connection from banned IP/);

  t.same(await occtl('unban', 'ip', topo.clientIp), { code: 0, signal: null, stdout: `IP '${topo.clientIp}' was unbanned\n`, stderr: '' });
  t.same(await json('show', 'ip', 'bans'), []);
  const ok = await openconnectAuthenticate(topo, { url: server.url, user: 'carol', password: pw.carol, servercert: server.pin });
  t.ok(ok.webvpn, 'unbanned, the right password works again');
  t.same(await occtl('unban', 'ip', '192.0.2.55'), { code: 1, signal: null, stdout: "could not unban IP '192.0.2.55'\n", stderr: '' });
  const bad = await occtl('unban', 'ip', 'not-an-ip');
  t.equal(bad.code, 1);
  t.match(bad.stderr, 'Cannot parse IP: not-an-ip');
});

t.test('reload: new sessions get a changed route, old ones keep theirs; a bad file changes nothing', async (t) => {
  const conf = readFileSync(server.confPath, 'utf8');
  t.teardown(() => writeFileSync(server.confPath, conf));
  writeFileSync(server.confPath, `${conf}route = 10.99.0.0/255.255.0.0\n`);
  t.same(await occtl('reload'), { code: 0, signal: null, stdout: 'Server scheduled to reload\n', stderr: '' });
  const dave = await connect('dave');
  t.ok(dave.state.routes.includes('10.99.0.0/16'), 'openconnect got the new route', { routes: dave.state.routes });
  t.ok(((await json('show', 'user', 'dave'))[0].Routes as string[]).includes('10.99.0.0/255.255.0.0'));
  t.notOk(((await json('show', 'user', 'alice'))[0].Routes as string[]).includes('10.99.0.0/255.255.0.0'), 'alice keeps what she was given');
  await dave.disconnect();

  writeFileSync(server.confPath, `${conf}tcp-port = not-a-port\n`);
  const bad = await occtl('reload');
  t.equal(bad.code, 1);
  t.equal(bad.stdout, 'Error scheduling reload\n');
  t.match(bad.stderr, /tcp-port: 'not-a-port' is not a whole number/, 'the reason, with file and line');
  t.match((await occtl('show', 'status')).stdout, /Status: online/, 'the server carries on');
  const again = await connect('dave');
  t.ok(again.state.routes.includes('10.99.0.0/16'), 'with the last good configuration');
  await again.disconnect();
});

t.test('bad input: usage and a non-zero exit; a malformed control message closes that connection only', async (t) => {
  const unknown = await occtl('frobnicate', 'now');
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, /^unknown command: frobnicate now\n[\s\S]*Available Commands\n/);
  const noId = await occtl('disconnect', 'id', 'bob');
  t.equal(noId.code, 1);
  t.match(noId.stdout, /^ disconnect id \[ID\]\tDisconnect the specified ID\n$/);
  const extra = await occtl('show', 'status', 'please');
  t.equal(extra.code, 1);
  t.match(extra.stdout, /show status\tPrints the status/);
  const opt = await occtl('--bogus', 'show', 'status');
  t.equal(opt.code, 1);
  t.match(opt.stderr, /unknown option '--bogus'[\s\S]*Usage|occtl-ts: \[OPTIONS/);

  const fd = seqpacketConnect(server.files.occtlSocketPath);
  let closed = false;
  const io = new PacketIO(fd, { mode: 'msg', maxPacket: 65536, batch: 4 }, { onPackets: () => {}, onClose: () => { closed = true; } });
  io.start();
  io.write(pack(['ctl.disconnect.user', 1, 0, { name: { $gt: '' } }]));
  for (let i = 0; i < 100 && !closed; i++) await sleep(20);
  io.close();
  t.ok(closed, 'the server closed the hostile connection');
  t.match(server.output(), /invalid IPC message; closing the channel/);
  t.equal(server.proc.exitCode, null, 'main still runs');
  t.match((await occtl('show', 'users')).stdout, /alice/, 'and answers others; nobody was disconnected');
});

t.test('only root may use the socket; others are told why', async (t) => {
  const sock = server.files.occtlSocketPath;
  const run = async () => {
    const c = asNobody('bin/occtl-ts', ['-s', sock, 'show', 'users']);
    return topo.exec(topo.serverNs, c.cmd, c.args, { env: serverEnv(), timeoutMs: 20_000 });
  };
  const denied = await run();
  t.equal(denied.code, 1);
  t.match(denied.stderr, /Permission denied/);
  chmodSync(sock, 0o666);
  t.teardown(() => chmodSync(sock, 0o600));
  const refused = await run();
  t.equal(refused.code, 1);
  t.match(refused.stderr, "permission denied: only root may use this server's control socket");
  t.equal(refused.stdout, '', 'nothing about the users leaks');
  t.match(server.output(), /occtl connection refused: not root nor in occtl-group/);
});

t.test('interactive: a prompt that runs one command per line', async (t) => {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath],
    { env: serverEnv(), input: 'show users\nshow nonsense\nshow status\nexit\n', timeoutMs: 20_000 });
  t.equal(r.code, 0);
  t.match(r.stderr, /For help type \? or 'help'/);
  t.match(r.stdout, /^> /);
  t.match(r.stdout, new RegExp(`${OCCTL_USERS_HEADER}\\n`));
  t.match(r.stdout, /General info:\n\tStatus: online/);
  t.match(r.stderr, /unknown command: show nonsense/, 'a mistake does not end the session');
});

t.test('ocpasswd-ts writes files Debian\'s ocserv logs in with, and locks them out', async (t) => {
  const dir = topo.tempDir('pw');
  const file = join(dir, 'ocpasswd');
  execFileSync(process.execPath, [OCPASSWD, '-c', file, '-g', 'staff', 'erin'], { input: 'erin pw\n' });
  const debian = await startServer(topo, {
    kind: 'ocserv', port: 4445, users: [], extraConfig: `auth = "plain[passwd=${file}]"\nipv4-network = 198.19.2.0\nipv4-netmask = 255.255.255.0`,
  });
  t.teardown(() => debian.stop());
  const login = (password: string) => openconnectAuthenticate(topo, { url: debian.url, user: 'erin', password, servercert: debian.pin });
  t.ok((await login('erin pw')).webvpn, 'Debian ocserv accepts an ocpasswd-ts password');
  t.notOk((await login('wrong')).webvpn);
  execFileSync(process.execPath, [OCPASSWD, '-c', file, '-l', 'erin']);
  t.notOk((await login('erin pw')).webvpn, 'and refuses it once ocpasswd-ts locked the user');
  execFileSync('ocpasswd', ['-c', file, '-u', 'erin']);
  t.ok((await login('erin pw')).webvpn, 'Debian\'s ocpasswd unlocks what ocpasswd-ts locked');
});

t.test('stop now: the server ends its sessions and exits', async (t) => {
  const alice = live.find((s) => s.address === predicted('alice'))!;
  t.same(await occtl('stop', 'now'), { code: 0, signal: null, stdout: 'Server scheduled to stop\n', stderr: '' });
  const { code } = await Promise.race([server.proc.exited, sleep(10_000).then(() => ({ code: -1 }))]);
  t.equal(code, 0, 'main exited cleanly');
  t.ok(await exitedWithin(alice, 5000), 'openconnect was told to go');
  t.notOk(existsSync(server.files.occtlSocketPath), 'the control socket is removed');
  const offline = await occtl('show', 'status');
  t.equal(offline.code, 1);
  t.equal(offline.stdout, '\tStatus: offline\n');
});
