/**
 * `npm run bench:load`: ocserv-ts under load with Debian's openconnect, in the harness's
 * namespaces (test/helpers/netns.ts). Three parts, each on a fresh server:
 *
 * - concurrent: --sessions openconnect sessions at once (each its own tun in the client
 *   namespace), every one pinging the server's tun address once a second for --minutes;
 *   reports sessions lost (ended on the server, or openconnect gone), ping loss, the fds
 *   and PSS of main, sec-mod and the workers at start, middle and end, and, once all have
 *   disconnected, the tun devices and sessions left and the idle figures against before.
 * - sequential: --logins logins one after the other (tunnel up, one ping, clean disconnect),
 *   with fds and PSS every --every logins.
 * - storm: --storm TLS connections opened at once by Node clients (handshake, a GET, close)
 *   while --storm-tunnels established tunnels ping 5 times a second; reports their loss.
 *
 *   node dist/bench/load.js [--parts concurrent,sequential,storm] [--sessions 100] [--minutes 5]
 *        [--logins 500] [--every 100] [--storm 200] [--storm-tunnels 5] [--dtls] [--out docs/RELIABILITY.md]
 *
 * The functions are exported for test/integration/load-short.test.ts, which runs small versions.
 */
import { readdirSync, readFileSync } from 'node:fs';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer, stopProcess,
  type ServerHandle, type Topology, type VpnSession,
} from '../test/helpers/netns';
import { serverProcs } from '../test/helpers/server-procs';
import { Ipv4Pool } from '../src/main/leases';
import { commandLine, machineInfo, parseFlags, positiveInt, sleep, summarize, writeSection } from './common';

const SERVER_TUN = '198.19.0.1';
const OCCTL = `${repoRoot()}/bin/occtl-ts`;

// ---------------------------------------------------------------- figures

export interface ProcFigures {
  main: { fds: number; pssMB: number };
  secmod: { fds: number; pssMB: number };
  workers: { count: number; fds: number; pssMB: number };
}

function fdCount(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0; // exited meanwhile
  }
}

function pssMB(pid: number): number {
  try {
    const kb = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    return kb / 1024;
  } catch {
    return 0;
  }
}

/** fds and PSS (proportional set size: shared pages split among their users) of every server process. */
export function figures(server: ServerHandle): ProcFigures {
  const p = serverProcs(server);
  const sum = (pids: number[], f: (pid: number) => number) => pids.reduce((a, pid) => a + f(pid), 0);
  return {
    main: { fds: fdCount(p.main), pssMB: pssMB(p.main) },
    secmod: { fds: sum(p.secmod, fdCount), pssMB: sum(p.secmod, pssMB) },
    workers: { count: p.workers.length, fds: sum(p.workers, fdCount), pssMB: sum(p.workers, pssMB) },
  };
}

export const totalPss = (f: ProcFigures) => f.main.pssMB + f.secmod.pssMB + f.workers.pssMB;

export function figuresRow(label: string, f: ProcFigures, extra = ''): string {
  return `| ${label} | ${f.main.fds} | ${f.secmod.fds} | ${f.workers.count} | ${f.workers.fds} | ${f.main.pssMB.toFixed(1)} | ${f.secmod.pssMB.toFixed(1)} | ${f.workers.pssMB.toFixed(1)} | ${totalPss(f).toFixed(1)} |${extra}`;
}
export const FIGURES_HEAD = '| when | main fds | sec-mod fds | workers | worker fds (all) | main PSS MB | sec-mod PSS MB | workers PSS MB | total PSS MB |';
export const FIGURES_RULE = '|---|---|---|---|---|---|---|---|---|';

export async function tunsOnServer(topo: Topology): Promise<number> {
  const r = await topo.exec(topo.serverNs, 'ip', ['-o', 'link', 'show']);
  return r.stdout.split('\n').filter((l) => /: vpns\d+[:@]/.test(l)).length;
}

export async function activeSessions(topo: Topology, server: ServerHandle): Promise<number> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', 'show', 'status'], { env: serverEnv() });
  return Number((JSON.parse(r.stdout || '{}') as Record<string, number>)['Active sessions'] ?? -1);
}

const endedSessions = (server: ServerHandle) => server.output().split('\n').filter((l) => l.includes('"msg":"session ended"')).length;

export function users(n: number): { name: string; password: string }[] {
  return Array.from({ length: n }, (_, i) => ({ name: `load${String(i + 1).padStart(3, '0')}`, password: `pw-${i + 1}` }));
}

export async function loadServer(topo: Topology, n: number, port = 4443, extraConfig = ''): Promise<ServerHandle> {
  return startServer(topo, {
    kind: 'ocserv-ts', users: users(n), port, startTimeoutMs: 60_000,
    // the harness's defaults cap at 64 clients; the load needs room, and the log only what matters
    extraConfig: `max-clients = 0\nstats-report-time = 0\n${extraConfig}`,
  });
}

/** Connects `count` sessions, `batch` at a time; each its own user and tun. */
export async function connectMany(topo: Topology, server: ServerHandle, count: number, o: { dtls?: boolean; batch?: number; prefix?: string } = {}): Promise<VpnSession[]> {
  const u = users(count);
  const out: VpnSession[] = [];
  const batch = o.batch ?? 10;
  for (let i = 0; i < count; i += batch) {
    out.push(...await Promise.all(u.slice(i, i + batch).map((x, j) => connectOpenconnect(topo, {
      url: server.url, user: x.name, password: x.password, servercert: server.pin, noDtls: !o.dtls,
      interfaceName: `${o.prefix ?? 'ocl'}${i + j}`, timeoutMs: 90_000,
    }))));
  }
  return out;
}

/** A ping through one tunnel that runs in the background: `count` echo requests `interval` s apart. */
export function pingFor(topo: Topology, iface: string, count: number, interval: number): Promise<{ sent: number; received: number }> {
  return topo.exec(topo.clientNs, 'ping', ['-n', '-q', '-i', String(interval), '-c', String(count), '-W', '3', '-I', iface, SERVER_TUN], { timeoutMs: (count * interval + 30) * 1000 })
    .then((r) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      return { sent: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0) };
    });
}

async function disconnectAll(sessions: VpnSession[]): Promise<void> {
  for (let i = 0; i < sessions.length; i += 20) await Promise.all(sessions.slice(i, i + 20).map((s) => s.disconnect().catch(() => {})));
}

async function waitIdle(topo: Topology, server: ServerHandle, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = await activeSessions(topo, server);
  while (n !== 0 && Date.now() < end) {
    await sleep(500);
    n = await activeSessions(topo, server);
  }
  return n;
}

// ---------------------------------------------------------------- concurrent sessions

export interface ConcurrentResult {
  sessions: number;
  seconds: number;
  /** ended on the server or openconnect gone before the end */
  lost: number;
  pingsSent: number;
  pingsReceived: number;
  sessionsWithLoss: number;
  idleBefore: ProcFigures;
  samples: { label: string; f: ProcFigures }[];
  after: { f: ProcFigures; tuns: number; active: number; leaseBack: boolean };
  connectSeconds: number;
}

export async function concurrentRun(topo: Topology, server: ServerHandle, o: { sessions: number; seconds: number; dtls?: boolean; log?: (s: string) => void }): Promise<ConcurrentResult> {
  const log = o.log ?? (() => {});
  await sleep(2000);
  const idleBefore = figures(server);
  const t0 = Date.now();
  const sessions = await connectMany(topo, server, o.sessions, { dtls: o.dtls });
  const connectSeconds = (Date.now() - t0) / 1000;
  log(`${sessions.length} sessions up in ${connectSeconds.toFixed(1)} s`);
  const endedBefore = endedSessions(server);
  const samples: ConcurrentResult['samples'] = [{ label: 'start', f: figures(server) }];
  const pings = sessions.map((s) => pingFor(topo, s.tundev, o.seconds, 1));
  await sleep((o.seconds * 1000) / 2);
  samples.push({ label: 'middle', f: figures(server) });
  log('middle of the run');
  const results = await Promise.all(pings);
  samples.push({ label: 'end', f: figures(server) });
  const ended = endedSessions(server) - endedBefore;
  const gone = sessions.filter((s) => s.proc.exitCode !== null || s.proc.signalCode !== null).length;
  const stillListed = await activeSessions(topo, server);
  const lost = Math.max(ended, gone, o.sessions - stillListed);
  await disconnectAll(sessions);
  const active = await waitIdle(topo, server, 60_000);
  // shared workers that emptied retire (main holds a channel per worker): wait until as few are left as before
  for (let i = 0; i < 30 && figures(server).workers.count > idleBefore.workers.count; i++) await sleep(500);
  await sleep(1000);
  const tuns = await tunsOnServer(topo);
  // a freed lease is given back: the first user gets its predictable address again
  const u = users(1)[0]!;
  let leaseBack = false;
  try {
    const again = await connectOpenconnect(topo, { url: server.url, user: u.name, password: u.password, servercert: server.pin, noDtls: true, interfaceName: 'oclagain' });
    leaseBack = again.address === new Ipv4Pool('198.19.0.0', 24, true).allocate(u.name)!.remote;
    await again.disconnect();
    await waitIdle(topo, server, 20_000);
  } catch { /* leaseBack stays false */ }
  return {
    sessions: sessions.length, seconds: o.seconds, lost,
    pingsSent: results.reduce((a, r) => a + r.sent, 0), pingsReceived: results.reduce((a, r) => a + r.received, 0),
    sessionsWithLoss: results.filter((r) => r.received < r.sent || r.sent === 0).length,
    idleBefore, samples, after: { f: figures(server), tuns, active, leaseBack }, connectSeconds,
  };
}

// ---------------------------------------------------------------- sequential logins

export interface SequentialResult { logins: number; failures: string[]; samples: { label: string; f: ProcFigures }[]; seconds: number }

export async function sequentialLogins(topo: Topology, server: ServerHandle, o: { logins: number; every: number; log?: (s: string) => void }): Promise<SequentialResult> {
  const u = users(10);
  await sleep(2000);
  const samples: SequentialResult['samples'] = [{ label: '0', f: figures(server) }];
  const failures: string[] = [];
  const t0 = Date.now();
  for (let i = 1; i <= o.logins; i++) {
    const x = u[i % u.length]!;
    try {
      const s = await connectOpenconnect(topo, { url: server.url, user: x.name, password: x.password, servercert: server.pin, noDtls: true, interfaceName: 'ocseq', timeoutMs: 30_000 });
      const p = await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: s.tundev });
      if (!p.ok) failures.push(`login ${i}: no ping reply`);
      await s.disconnect();
    } catch (err) {
      failures.push(`login ${i}: ${summarize(err)}`);
    }
    if (i % o.every === 0) {
      await waitIdle(topo, server, 20_000);
      await sleep(1000);
      samples.push({ label: String(i), f: figures(server) });
      o.log?.(`${i} logins`);
    }
  }
  return { logins: o.logins, failures, samples, seconds: (Date.now() - t0) / 1000 };
}

// ---------------------------------------------------------------- connection storm

/** Node TLS clients, all at once: handshake, GET /, read the status line, close. Prints one JSON summary line. */
const STORM_CLIENT = `
const tls = require('tls');
const [host, port, n] = process.argv.slice(1);
const errors = {};
const t0 = Date.now();
Promise.all(Array.from({ length: Number(n) }, () => new Promise((resolve) => {
  const s = tls.connect({ host, port: Number(port), rejectUnauthorized: false }, () => s.write('GET / HTTP/1.1\\r\\nHost: vpn\\r\\n\\r\\n'));
  let buf = '';
  const done = (err) => { if (err) errors[err] = (errors[err] || 0) + 1; s.destroy(); resolve(!err); };
  s.setTimeout(60000, () => done('timeout'));
  s.on('data', (d) => { buf += d; if (buf.includes('\\r\\n')) done(/^HTTP\\/1\\.1 200/.test(buf) ? null : 'status ' + buf.split('\\r\\n')[0]); });
  s.on('error', (e) => done(e.code || e.message));
  s.on('close', () => done(buf ? null : 'closed'));
}))).then((r) => console.log(JSON.stringify({ ok: r.filter(Boolean).length, failed: r.filter((x) => !x).length, ms: Date.now() - t0, errors })));
`;

export interface StormResult { connections: number; ok: number; failed: number; ms: number; errors: Record<string, number>; tunnels: number; pingsSent: number; pingsReceived: number; before: ProcFigures; after: ProcFigures }

export async function stormRun(topo: Topology, server: ServerHandle, o: { connections: number; tunnels: number }): Promise<StormResult> {
  const tunnels = await connectMany(topo, server, o.tunnels, { prefix: 'ocst' });
  await sleep(1000);
  const before = figures(server);
  // 5 pings a second for 20 s per tunnel; the storm starts after 2 s
  const pings = tunnels.map((s) => pingFor(topo, s.tundev, 100, 0.2));
  await sleep(2000);
  const r = await topo.exec(topo.clientNs, process.execPath, ['-e', STORM_CLIENT, topo.serverIp, String(server.files.port), String(o.connections)], { timeoutMs: 120_000 });
  const storm = JSON.parse(r.stdout.trim().split('\n').pop() || '{}') as { ok: number; failed: number; ms: number; errors: Record<string, number> };
  const results = await Promise.all(pings);
  const after = figures(server);
  await disconnectAll(tunnels);
  return {
    connections: o.connections, ok: storm.ok ?? 0, failed: storm.failed ?? o.connections, ms: storm.ms ?? 0, errors: storm.errors ?? { [r.stderr.slice(0, 100)]: 1 },
    tunnels: tunnels.length, pingsSent: results.reduce((a, x) => a + x.sent, 0), pingsReceived: results.reduce((a, x) => a + x.received, 0), before, after,
  };
}

// ---------------------------------------------------------------- command line

interface Options { parts: string[]; sessions: number; minutes: number; logins: number; every: number; storm: number; stormTunnels: number; dtls: boolean; out?: string }

function usage(msg?: string): never {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write('usage: node dist/bench/load.js [--parts concurrent,sequential,storm] [--sessions 100] [--minutes 5] [--logins 500] [--every 100] [--storm 200] [--storm-tunnels 5] [--dtls] [--out FILE]\n');
  process.exit(msg ? 2 : 0);
}

function options(argv: string[]): Options {
  const o: Options = { parts: ['concurrent', 'sequential', 'storm'], sessions: 100, minutes: 5, logins: 500, every: 100, storm: 200, stormTunnels: 5, dtls: false };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--parts': o.parts = val().split(',').filter(Boolean); break;
      case '--sessions': o.sessions = positiveInt(flag, val(), usage); break;
      case '--minutes': o.minutes = Number(val()); if (!(o.minutes > 0)) usage('--minutes must be positive'); break;
      case '--logins': o.logins = positiveInt(flag, val(), usage); break;
      case '--every': o.every = positiveInt(flag, val(), usage); break;
      case '--storm': o.storm = positiveInt(flag, val(), usage); break;
      case '--storm-tunnels': o.stormTunnels = positiveInt(flag, val(), usage); break;
      case '--dtls': o.dtls = true; break;
      case '--out': o.out = val(); break;
      default: return false;
    }
    return true;
  });
  for (const p of o.parts) if (!['concurrent', 'sequential', 'storm'].includes(p)) usage(`unknown part ${p}`);
  if (o.sessions > 250) usage('--sessions: at most 250 (one /24 of addresses)');
  return o;
}

async function withServer<T>(n: number, run: (topo: Topology, server: ServerHandle) => Promise<T>): Promise<{ value?: T; error?: string; complaints: string }> {
  const topo = await createTopology();
  let server: ServerHandle | undefined;
  try {
    server = await loadServer(topo, n);
    const value = await run(topo, server);
    return { value, complaints: complaintsOf(server) };
  } catch (err) {
    return { error: summarize(err), complaints: server ? complaintsOf(server) : '' };
  } finally {
    if (server) await stopProcess(server.proc, 'SIGTERM', 10_000);
    await topo.cleanup();
  }
}

function complaintsOf(server: ServerHandle): string {
  const counts = new Map<string, number>();
  for (const l of server.output().split('\n')) {
    if (!/"level":[45]0/.test(l)) continue;
    const m = /"msg":"([^"]*)"/.exec(l)?.[1] ?? l.slice(0, 80);
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  return [...counts].map(([m, n]) => `${n}× ${m}`).join('; ') || 'none';
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  removeStaleNamespaces();
  const info = machineInfo();
  const say = (s: string) => process.stderr.write(`${s}\n`);
  const out: string[] = ['### Figures of the last run', '', `Command: \`${commandLine()}\``, '', `Machine: ${info}`, ''];
  let failed = false;

  if (o.parts.includes('concurrent')) {
    say(`concurrent: ${o.sessions} sessions for ${o.minutes} min`);
    const r = await withServer(o.sessions, (topo, server) => concurrentRun(topo, server, { sessions: o.sessions, seconds: Math.round(o.minutes * 60), dtls: o.dtls, log: say }));
    out.push(`#### ${o.sessions} concurrent sessions, ${o.minutes} min, ${o.dtls ? 'DTLS' : 'CSTP (--no-dtls)'}, each pinging once a second`, '');
    if (r.value) {
      const v = r.value;
      failed ||= v.lost > 0 || v.after.tuns > 0 || v.after.active !== 0 || !v.after.leaseBack;
      out.push(
        `- sessions up: ${v.sessions} (connected 10 at a time in ${v.connectSeconds.toFixed(0)} s); **sessions lost: ${v.lost}**`,
        `- pings: ${v.pingsReceived} of ${v.pingsSent} answered (${(100 * (1 - v.pingsReceived / Math.max(1, v.pingsSent))).toFixed(3)} % lost); sessions with any loss: ${v.sessionsWithLoss}`,
        `- after all disconnected: ${v.after.active} sessions in occtl, ${v.after.tuns} tun devices on the server, the first user got its predictable address back: ${v.after.leaseBack ? 'yes' : '**no**'}`,
        `- total PSS start → end of the run: ${totalPss(v.samples[0]!.f).toFixed(1)} → ${totalPss(v.samples[2]!.f).toFixed(1)} MB; idle before → after: ${totalPss(v.idleBefore).toFixed(1)} → ${totalPss(v.after.f).toFixed(1)} MB`,
        '', FIGURES_HEAD, FIGURES_RULE,
        figuresRow('idle, before', v.idleBefore),
        ...v.samples.map((s) => figuresRow(`${s.label} of the run`, s.f)),
        figuresRow('idle, after', v.after.f), '',
      );
    } else {
      failed = true;
      out.push(`error: ${r.error}`, '');
    }
    out.push(`Server warnings/errors: ${r.complaints}`, '');
  }

  if (o.parts.includes('sequential')) {
    say(`sequential: ${o.logins} logins`);
    const r = await withServer(10, (topo, server) => sequentialLogins(topo, server, { logins: o.logins, every: o.every, log: say }));
    out.push(`#### ${o.logins} sequential logins (tunnel up, one ping, disconnect)`, '');
    if (r.value) {
      const v = r.value;
      failed ||= v.failures.length > 0;
      out.push(`- ${v.logins - v.failures.length} of ${v.logins} worked, in ${v.seconds.toFixed(0)} s${v.failures.length ? `; failures: ${v.failures.slice(0, 5).join('; ')}` : ''}`,
        '', FIGURES_HEAD, FIGURES_RULE, ...v.samples.map((s) => figuresRow(`after ${s.label} logins (idle)`, s.f)), '');
    } else {
      failed = true;
      out.push(`error: ${r.error}`, '');
    }
    out.push(`Server warnings/errors: ${r.complaints}`, '');
  }

  if (o.parts.includes('storm')) {
    say(`storm: ${o.storm} TLS connects with ${o.stormTunnels} tunnels pinging`);
    const r = await withServer(o.stormTunnels, (topo, server) => stormRun(topo, server, { connections: o.storm, tunnels: o.stormTunnels }));
    out.push(`#### A storm of ${o.storm} simultaneous TLS connects while ${o.stormTunnels} tunnels ping (5 per second each)`, '');
    if (r.value) {
      const v = r.value;
      failed ||= v.pingsReceived < v.pingsSent;
      out.push(`- storm: ${v.ok} of ${v.connections} connections got their login page, in ${(v.ms / 1000).toFixed(1)} s${v.failed ? `; failed: ${JSON.stringify(v.errors)}` : ''}`,
        `- **tunnel pings during the storm: ${v.pingsReceived} of ${v.pingsSent} answered**`,
        '', FIGURES_HEAD, FIGURES_RULE, figuresRow('before the storm', v.before), figuresRow('after the storm', v.after), '');
    } else {
      failed = true;
      out.push(`error: ${r.error}`, '');
    }
    out.push(`Server warnings/errors: ${r.complaints}`, '');
  }

  const section = out.join('\n');
  process.stdout.write(`${section}\n`);
  if (o.out) writeSection(o.out, 'load', section);
  process.exitCode = failed ? 1 : 0;
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(2);
  });
}
