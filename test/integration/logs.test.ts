/**
 * The log as a log shipper reads it: ocserv-ts with --log-format json, an openconnect session,
 * a reload, failed logins up to a ban, and a crashed sec-mod and worker. Every line the
 * server writes must parse as JSON and carry the process kind and pid; each event carries
 * what an administrator looks for (user, client address, session id, reason, byte counts).
 * Then the readable format: one line per event, colour only on a terminal.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, serverTunAddress, type Topology,
} from '../helpers/netns';
import { startOpsServer, until, type OpsServer } from '../helpers/ops-server';
import { serverProcs } from '../helpers/server-procs';
import type { ServerHandle } from '../helpers/netns';

const ALICE = { name: 'alice', password: 'alice pw', group: 'staff' };
const BOB = { name: 'bob', password: 'bob pw' };
// two wrong passwords: 1 + 10 for each connection and failure = 22 of 20
const BAN_CONFIG = 'max-ban-score = 20\nban-points-wrong-password = 10\nban-points-connection = 1\nmin-reauth-time = 300\nban-reset-time = 300';

let topo: Topology;
let server: OpsServer;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startOpsServer(topo, { users: [ALICE, BOB], args: ['--log-format', 'json', '-d', '1'], extraConfig: BAN_CONFIG });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

type Line = Record<string, unknown>;
const events = (msg: string | RegExp): Line[] => server.logLines().filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(String(l.msg))));
const procs = () => serverProcs({ proc: server.proc } as unknown as ServerHandle);

t.test('connect and disconnect: user, client address, session id, reason and byte counts', async (t) => {
  const vpn = await connectOpenconnect(topo, { url: server.url, user: ALICE.name, password: ALICE.password, servercert: server.pin, timeoutMs: 30_000 });
  const gw = await serverTunAddress(topo, vpn.address);
  t.ok((await ping(topo, topo.clientNs, gw!, { count: 3, size: 500 })).ok, 'traffic through the tunnel');
  await vpn.disconnect();
  const ended = await until('the session to end', () => events('session ended').find((l) => l.proc === 'main'), 20_000, () => server.output().slice(-3000));
  const opened = events('session opened')[0]!;
  t.match(events('session ended').find((l) => l.proc === 'sec-mod'), { user: ALICE.name, ip: topo.clientIp, sid: opened.sid }, 'sec-mod\'s end of the cookie too');
  t.match(opened, { proc: 'main', pid: server.proc.pid, user: ALICE.name, ip: topo.clientIp, sid: String, vpnIp: vpn.address, tun: String });
  t.match(ended, { proc: 'main', user: ALICE.name, ip: topo.clientIp, sid: opened.sid, reason: String, cause: String });
  t.ok(Number(ended.rxBytes) > 1500 && Number(ended.txBytes) > 1500, `byte counts of the pings (in ${ended.rxBytes}, out ${ended.txBytes})`);
  t.ok(Number(ended.rxPackets) >= 3 && Number(ended.txPackets) >= 3, 'packet counts');
  t.match(events('user logged in')[0], { proc: 'sec-mod', user: ALICE.name, group: ALICE.group, ip: topo.clientIp });
});

t.test('reload', async (t) => {
  process.kill(server.proc.pid!, 'SIGHUP');
  const line = await until('the reload line', () => events('configuration reloaded; new sessions use it')[0]);
  t.match(line, { proc: 'main', level: 30, config: server.files.confPath });
});

t.test('failed logins, then a ban', async (t) => {
  for (const pw of ['wrong', 'wrong again']) {
    const r = await openconnectAuthenticate(topo, { url: server.url, user: BOB.name, password: pw, servercert: server.pin });
    t.notOk(r.webvpn, `${pw}: no cookie`);
  }
  const failed = await until('two failed logins', () => events('failed login').length >= 2 && events('failed login'));
  for (const l of failed) t.match(l, { proc: 'sec-mod', level: 40, user: BOB.name, ip: topo.clientIp, method: 'plain', reason: String });
  const ban = await until('the ban', () => events('IP added to the ban list')[0]);
  t.match(ban, { proc: 'main', ip: topo.clientIp, score: Number, until: String });
  t.ok(Number(ban.score) >= 20, `score ${ban.score} reached max-ban-score`);
});

t.test('crashes: sec-mod and a worker die; main says so and carries on', async (t) => {
  const before = procs();
  t.ok(before.secmod.length === 1 && before.workers.length > 0, 'sec-mod and workers are running');
  process.kill(before.secmod[0]!, 'SIGKILL');
  const secmod = await until('the sec-mod crash line', () => events('sec-mod died; restarting it')[0]);
  t.match(secmod, { proc: 'main', level: 50, crash: true, secmodPid: before.secmod[0], signal: 'SIGKILL' });
  const worker = before.workers[0]!;
  process.kill(worker, 'SIGKILL');
  const w = await until('the worker crash line', () => events('worker exited').find((l) => l.workerPid === worker));
  t.match(w, { proc: 'main', level: 50, crash: true, why: 'killed by SIGKILL', sessions: 0 });
  await until('sec-mod to be back', () => events(/sec-mod restarted/)[0], 20_000);
});

t.test('every line is one JSON object with the process kind and pid', async (t) => {
  const lines = server.output().split('\n').filter((l) => l.trim() !== '');
  const bad = lines.filter((l) => { try { JSON.parse(l); return false; } catch { return true; } });
  t.same(bad, [], 'nothing but JSON lines');
  const parsed = lines.map((l) => JSON.parse(l) as Line);
  const kinds = new Set(parsed.map((l) => l.proc));
  t.same([...kinds].filter((k) => !['main', 'sec-mod', 'worker'].includes(String(k))), [], 'proc is main, sec-mod or worker');
  t.ok(kinds.has('main') && kinds.has('sec-mod'), 'main and sec-mod both log');
  t.same(parsed.filter((l) => typeof l.pid !== 'number' || typeof l.time !== 'string' || typeof l.msg !== 'string' || typeof l.level !== 'number'), [],
    'each has pid, time, level and msg');
});

t.test('the readable format: one line per event, colour only on a terminal', async (t) => {
  const script = `const l = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'common', 'log.js'))}).createLogger('main', 'info');
l.info({ user: 'alice', ip: '198.18.0.2', sid: 'abc' }, 'session opened'); l.warn('second event');`;
  const env = { PATH: process.env.PATH, OCSERV_TS_LOG_FORMAT: 'text' };
  const plain = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
  const lines = plain.stderr.trim().split('\n');
  t.equal(lines.length, 2, 'two events, two lines');
  t.match(lines[0], /^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] INFO: main\[\d+\]: session opened \{"user":"alice","ip":"198\.18\.0\.2","sid":"abc"\}$/);
  t.match(lines[1], /WARN: main\[\d+\]: second event$/);
  t.notMatch(plain.stderr, /\x1b\[/, 'no colour codes when stderr is not a terminal');

  // on a terminal (util-linux script gives the child a pty): colour, and text without being asked
  const tty = spawnSync('script', ['-qec', `${process.execPath} -e "${script.replace(/"/g, '\\"')}"`, '/dev/null'], {
    encoding: 'utf8', env: { PATH: process.env.PATH },
  });
  t.equal(tty.status, 0, tty.stderr);
  t.match(tty.stdout, /\x1b\[3\dmINFO/, 'coloured level on a terminal');
  t.match(tty.stdout, /main\[\d+\]: session opened/);

  const json = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  t.match(JSON.parse(json.stderr.split('\n')[0]!), { proc: 'main', msg: 'session opened', user: 'alice' }, 'JSON when not a terminal and not asked');
});
