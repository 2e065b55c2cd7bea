/**
 * Faults under live openconnect sessions: a process is killed or a resource fails, and what
 * each user sees is checked. A dead worker costs only its own session, which comes back by
 * itself with its cookie and its address; a dead sec-mod is restarted (with a growing wait
 * when it keeps dying) while tunnels carry on; a failing tun refuses the one client and
 * leaves nothing behind; a worker's death is accounted as NAS-Error; SIGTERM to main tells
 * every client, sends the Stops and removes tun devices, pid file and sockets.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer, stopProcess,
  vpncScriptPath, type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { occtlUsers as occtlUsersOf, type OcctlUser } from '../helpers/occtl';
import { sleep, until } from '../helpers/wait';
import { startFreeradius, type FreeradiusHandle } from '../helpers/freeradius';
import { serverProcs } from '../helpers/server-procs';
import { Ipv4Pool } from '../../src/main/leases';

const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const USERS = NAMES.map((name) => ({ name, password: `${name} pw` }));
const SERVER_TUN = '198.19.0.1';

let topo: Topology;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await topo?.cleanup();
});


type User = OcctlUser;
const occtlUsers = (s: ServerHandle): Promise<User[]> => occtlUsersOf(topo, s);

async function connect(s: ServerHandle, name: string, extraArgs: string[] = []): Promise<VpnSession> {
  const v = await connectOpenconnect(topo, {
    url: s.url, user: name, password: `${name} pw`, servercert: s.pin, noDtls: true, interfaceName: `oc${name}`, extraArgs, timeoutMs: 30_000,
  });
  live.push(v);
  return v;
}

/** A ping that runs while the test does other things: `count` echo requests 0.2 s apart. */
function pingInBackground(iface: string, count: number) {
  return topo.exec(topo.clientNs, 'ping', ['-n', '-i', '0.2', '-c', String(count), '-W', '2', '-I', iface, SERVER_TUN], { timeoutMs: count * 400 + 15_000 })
    .then((r) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: r.stdout + r.stderr };
    });
}

async function tunsOnServer(): Promise<string[]> {
  const r = await topo.exec(topo.serverNs, 'ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').filter((l) => /: vpns\d+[:@]/.test(l));
}

const logLines = (s: ServerHandle, msg: string) => s.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('a worker killed under a live session: that session ends and comes back with its cookie and address; the other never notices', async (t) => {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, port: 4443 });
  t.teardown(() => server.stop());
  // openconnect reconnects by itself when the connection drops, for up to --reconnect-timeout seconds
  const alice = await connect(server, 'alice', ['--reconnect-timeout', '60']);
  const bob = await connect(server, 'bob');
  const before = await occtlUsers(server);
  const a = before.find((u) => u.Username === 'alice')!;
  const b = before.find((u) => u.Username === 'bob')!;
  t.not(a['Worker PID'], b['Worker PID'], 'the two clients are served by different workers');

  const bobPings = pingInBackground(bob.tundev, 50);
  await sleep(1500);
  process.kill(Number(a['Worker PID']), 'SIGKILL');

  const ended = await until('alice\'s session to end', () => logLines(server, 'session ended').find((l) => l.user === 'alice'), 20_000, () => server.output().slice(-3000));
  t.equal(ended.cause, 'nas-error', 'main ended it as a NAS error');
  t.equal(ended.vpnIp, alice.address, 'and freed her address');
  t.match(logLines(server, 'worker exited').find((l) => l.why === 'killed by SIGKILL'), { sessions: 1 }, 'the worker took one session with it');
  t.equal(server.proc.exitCode, null, 'main still runs');

  // the old session is gone; openconnect comes back on its own, on a new worker
  const back = await until('alice back in occtl', async () => {
    const u = (await occtlUsers(server)).find((x) => x.Username === 'alice');
    return u && u.ID !== a.ID && u;
  }, 60_000, () => alice.output().slice(-2000));
  t.ok(!(await occtlUsers(server)).some((u) => u.ID === a.ID), 'occtl no longer lists the killed session');
  t.equal(back.Session, a.Session, 'the same session (sid): openconnect reconnected with its cookie');
  t.equal(back.IPv4, a.IPv4, 'and got its address back');
  t.not(back['Worker PID'], a['Worker PID'], 'on another worker');
  const ip = await topo.exec(topo.clientNs, 'ip', ['-4', '-o', 'addr', 'show', 'dev', alice.tundev]);
  t.match(ip.stdout, new RegExp(`inet ${alice.address.replace(/\./g, '\\.')}[/ ]`), 'the client\'s tun still has its address');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 2, iface: alice.tundev })).ok, 'alice\'s traffic flows again');

  const p = await bobPings;
  t.equal(p.received, p.transmitted, `bob lost no ping while alice's worker died (${p.received}/${p.transmitted})`, { output: p.output });
  t.ok(p.transmitted >= 50, 'bob pinged throughout');
  t.equal((await occtlUsers(server)).find((u) => u.Username === 'bob')?.ID, b.ID, 'bob\'s session is the one he had');
});

t.test('sec-mod killed again and again: restarted each time with a growing wait, tunnels carry on, logins come back', async (t) => {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, port: 4444 });
  t.teardown(() => server.stop());
  const carol = await connect(server, 'carol');
  const ready = () => logLines(server, 'sec-mod ready');
  const pings = pingInBackground(carol.tundev, 60);
  for (let kill = 1; kill <= 3; kill++) {
    const pid = Number(ready().at(-1)!.pid);
    process.kill(pid, 'SIGKILL');
    await until(`sec-mod restart #${kill}`, () => ready().length === kill + 1, 20_000, () => server.output().slice(-2000));
  }
  const deaths = logLines(server, 'sec-mod died; restarting it');
  t.same(deaths.map((d) => d.restartInMs), [500, 1000, 2000], 'each death in a row doubles the wait before the restart');
  t.same(deaths.map((d) => d.signal), ['SIGKILL', 'SIGKILL', 'SIGKILL']);
  t.equal(serverProcs(server).secmod.length, 1, 'one sec-mod runs');

  const p = await pings;
  t.equal(p.received, p.transmitted, `the tunnel carried every ping through three sec-mod deaths (${p.received}/${p.transmitted})`, { output: p.output });
  const auth = await until('a login to work again', async () => {
    const r = await openconnectAuthenticate(topo, { url: server.url, user: 'dave', password: 'dave pw', servercert: server.pin, timeoutMs: 20_000 });
    return r.webvpn ? r : undefined;
  }, 30_000);
  t.ok(auth.webvpn, 'a new login gets a cookie');
  const dave = await connect(server, 'dave');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: dave.tundev })).ok, 'and a tunnel');
  await dave.disconnect();
  await carol.disconnect();
});

t.test('tun creation fails: the client is refused, nothing leaks; once it works again the address is free', async (t) => {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, port: 4445 });
  t.teardown(() => server.stop());
  const mainPid = server.proc.pid!;
  // /dev/null over /dev/net/tun, in the server's mount namespace only (ip netns exec gave it its own)
  const nsenter = (...args: string[]) => topo.exec(topo.serverNs, 'nsenter', ['-t', String(mainPid), '-m', '--', ...args], { check: true });
  await nsenter('mount', '--bind', '/dev/null', '/dev/net/tun');
  let mounted = true;
  t.teardown(async () => { if (mounted) await nsenter('umount', '/dev/net/tun').catch(() => {}); });
  t.ok(existsSync('/dev/net/tun') && readFileSync('/proc/self/mountinfo', 'utf8').split('\n').every((l) => !l.includes(' /dev/net/tun ')), 'the host still has its tun device');

  const r = await topo.exec(topo.clientNs, 'openconnect', [
    '--protocol=anyconnect', '--non-inter', '--passwd-on-stdin', '-u', 'erin', '--servercert', server.pin, '--no-dtls',
    '--reconnect-timeout', '5', '--script', vpncScriptPath(), '-i', 'ocerin', server.url,
  ], { input: 'erin pw\n', timeoutMs: 60_000 });
  const out = r.stdout + r.stderr;
  t.not(r.code, 0, 'openconnect gives up', { output: out.slice(-2000) });
  t.match(out, /CONNECT response: HTTP\/1\.1 401 cannot create tun device/, 'openconnect prints the server\'s refusal, which names the tun', { output: out });
  t.match(server.output(), /"msg":"cannot create the tun device"/, 'main logs why');
  t.same(await tunsOnServer(), [], 'no tun device on the server');
  t.same(await occtlUsers(server), [], 'occtl lists no session');
  t.equal(server.proc.exitCode, null, 'main still runs');

  await nsenter('umount', '/dev/net/tun');
  mounted = false;
  const erin = await connect(server, 'erin');
  t.equal(erin.address, new Ipv4Pool('198.19.0.0', 24, true).allocate('erin')!.remote, 'erin gets her usual address: the failed attempt left no lease behind');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: erin.tundev })).ok, 'and a working tunnel');
  await erin.disconnect();
});

t.test('with RADIUS accounting: a worker\'s death is a NAS-Error Stop; SIGTERM tells every client, stops every session and cleans up', async (t) => {
  const frDir = topo.tempDir('freeradius');
  const fr: FreeradiusHandle = await startFreeradius({ users: USERS, topo, ns: topo.serverNs, dir: frDir, secret: 'ocs-faults' });
  t.teardown(() => fr.stop());
  const radcli = fr.writeRadcliConfig(join(topo.tempDir('radcli'), 'radiusclient.conf'), 'nas-identifier ocs-faults\n');
  const server = await startServer(topo, {
    kind: 'ocserv-ts', users: USERS, udp: false, port: 4446,
    extraConfig: `acct = "radius[config=${radcli}]"\nstats-report-time = 60\ncookie-timeout = 5`,
  });
  t.teardown(() => server.stop());
  const detail = () => (existsSync(fr.detailPath) ? readFileSync(fr.detailPath, 'utf8') : '').split(/\n\s*\n/).filter((b) => b.trim()).map((block) => {
    const rec: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const m = /^\s+([\w-]+) = (.*)$/.exec(line);
      if (m) rec[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
    return rec;
  });
  const recs = (user: string, type: string) => detail().filter((r) => r['User-Name'] === user && r['Acct-Status-Type'] === type);

  // the worker dies while the client cannot come back (stopped, then gone): the session ends for good
  const dave = await connect(server, 'dave');
  await until('dave\'s Start', () => recs('dave', 'Start').length === 1);
  const worker = Number((await occtlUsers(server)).find((u) => u.Username === 'dave')!['Worker PID']);
  dave.proc.kill('SIGSTOP');
  process.kill(worker, 'SIGKILL');
  await until('main to end dave\'s session', () => logLines(server, 'session ended').some((l) => l.user === 'dave'));
  await stopProcess(dave.proc, 'SIGKILL');
  // sec-mod stops the session when its cookie expires (cookie-timeout, checked every 30 s)
  const [stop] = await until('dave\'s Stop', () => { const s = recs('dave', 'Stop'); return s.length ? s : undefined; }, 90_000, () => server.output().slice(-2000));
  t.equal(stop!['Acct-Terminate-Cause'], 'NAS-Error', 'the Stop says NAS-Error');
  t.equal(stop!['Acct-Session-Id'], recs('dave', 'Start')[0]!['Acct-Session-Id'], 'for the session that started');

  // SIGTERM to main with two clients connected
  const erin = await connect(server, 'erin');
  const frank = await connect(server, 'frank');
  await until('two Starts', () => recs('erin', 'Start').length === 1 && recs('frank', 'Start').length === 1);
  t.equal((await tunsOnServer()).length, 2, 'two tun devices on the server');
  t.ok(existsSync(server.files.pidPath), 'the pid file exists while main runs');
  t.ok(existsSync(server.files.occtlSocketPath), 'and the control socket');
  server.proc.kill('SIGTERM');
  const exit = await Promise.race([server.proc.exited, sleep(30_000).then(() => undefined)]);
  t.match(exit, { code: 0 }, 'main exits cleanly');
  for (const [name, v] of [['erin', erin], ['frank', frank]] as const) {
    const gone = await Promise.race([v.proc.exited.then(() => true), sleep(15_000).then(() => false)]);
    t.ok(gone, `${name}'s openconnect ends instead of reconnecting`);
    t.match(v.output(), /terminat/i, `${name} was told the server terminated the session`, { output: v.output().slice(-1500) });
  }
  t.same(await tunsOnServer(), [], 'no tun device is left in the server namespace');
  t.notOk(existsSync(server.files.pidPath), 'the pid file is removed');
  t.notOk(existsSync(server.files.occtlSocketPath), 'the control socket is removed');
  t.notOk(existsSync(server.files.socketPath), 'nothing at socket-file');
  for (const name of ['erin', 'frank']) {
    const [s] = await until(`${name}'s Stop`, () => { const x = recs(name, 'Stop'); return x.length ? x : undefined; }, 30_000);
    t.equal(s!['Acct-Terminate-Cause'], 'Admin-Reboot', `${name}'s Stop was sent before sec-mod went, as Admin-Reboot`);
  }
});
