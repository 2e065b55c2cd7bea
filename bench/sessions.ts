/**
 * Session set-up cost, Debian's ocserv and ocserv-ts side by side in one run: time to tunnel up,
 * memory per idle session, sessions per second in a burst. See bench/README.md. Needs root.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createTopology,
  startServer,
  connectOpenconnect,
  ServerHandle,
  Topology,
  VpnSession,
} from '../test/helpers/netns';
import {
  BENCH_USER,
  Variant,
  VARIANT_HELP,
  WORKER_MODES_NOTE,
  commandLine,
  machineInfo,
  median,
  parseFlags,
  parseVariants,
  percentile,
  positiveInt,
  ratio,
  serverComplaints,
  sleep,
  summarize,
  waitFor,
  writeSection,
  preflight,
} from './common';
import { processTree } from './cpu';

interface Options {
  servers: Variant[];
  /** sequential connects for the time to tunnel up */
  connects: number;
  /** idle sessions for the memory figure, and the size of the burst */
  clients: number;
  /** bursts; the median rate is reported, since one burst on 2 busy cores swings a lot */
  bursts: number;
  port: number;
  dtls: boolean;
  out?: string;
}

export interface Memory {
  kB: number;
  procs: number;
}

interface Result {
  server: Variant;
  /** the server did not start */
  error?: string;
  connectMs: number[];
  /** the same connects, from openconnect's TCP connect to its "Configured as" */
  tcpMs: number[];
  failures: string[];
  idle?: Memory;
  loaded?: Memory;
  /** sessions that were up when `loaded` was taken */
  memSessions: number;
  /** once those sessions were gone: shows memory or processes the server does not give back */
  released?: Memory;
  /** per burst: sessions up, and ms until the last was up */
  bursts: { ok: number; ms: number }[];
}

/** between sequential connects, so ocserv-ts can replace the retired worker in its idle pool, as a real server would between logins */
const GAP_MS = 500;
/** after the last connect, before reading memory: lets lazily allocated per-session state appear */
const SETTLE_MS = 3000;

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error(
    'usage: node dist/bench/sessions.js [--servers ocserv,ocserv-ts,ocserv-ts:cpw8] [--connects 10] [--clients 20] [--bursts 3] [--dtls] [--port 4443] [--out docs/BENCHMARKS.md]',
  );
  console.error(`servers: ${VARIANT_HELP}`);
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { servers: parseVariants('ocserv,ocserv-ts', usage), connects: 10, clients: 20, bursts: 3, port: 4443, dtls: false };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--servers':
        o.servers = parseVariants(val(), usage);
        return true;
      case '--connects':
        o.connects = positiveInt(flag, val(), usage);
        return true;
      case '--clients':
        o.clients = positiveInt(flag, val(), usage);
        if (o.clients > 60) usage('--clients: at most 60 (the harness config has max-clients = 64)');
        return true;
      case '--bursts':
        o.bursts = positiveInt(flag, val(), usage);
        return true;
      case '--port':
        o.port = Number(val());
        return true;
      case '--dtls':
        o.dtls = true;
        return true;
      case '--out':
        o.out = val();
        return true;
    }
    return false;
  });
  return o;
}

// ---------------------------------------------------------------- memory

function pssKB(pid: number): number | null {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null; // exited meanwhile
  }
}

/**
 * Total PSS of the server: its main process and every descendant (sec-mod, workers; ocserv
 * execs ocserv-worker, ocserv-ts spawns node for each). Descent from the main pid rather than a
 * command-line match, so no other process can count; `ip netns exec` execs the server, so the
 * handle's pid is main's. PSS splits shared pages between their users, so N workers of one
 * binary are not charged N times.
 */
export function serverMemory(server: ServerHandle): Memory {
  let kB = 0;
  let procs = 0;
  for (const p of processTree(server.proc.pid!)) {
    const v = pssKB(p);
    if (v === null) continue;
    kB += v;
    procs++;
  }
  return { kB, procs };
}

// ---------------------------------------------------------------- connects

/** the harness's temp dirs for openconnect's state file (`Topology.tempDir('oc')`) */
function stateDirs(topo: Topology): Set<string> {
  return new Set(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith(`ocs-${topo.id}-oc-`)));
}

/** openconnect's output as it arrived: the text, and where each chunk read ended and when */
interface Timeline {
  text: string;
  chunks: { end: number; at: number }[];
}
const timelines = new WeakMap<ChildProcess, Timeline>();
const stamped = new WeakSet<Topology>();

/**
 * Timestamp openconnect's output as it arrives, for every openconnect this topology starts from
 * now on. connectOpenconnect hands back the process only once the tunnel is up, too late to
 * listen, so the topology's spawn is wrapped to attach a listener at once. openconnect prints
 * each progress line as it happens, so arrival times are those of the events (to within the
 * event loop's delay, a millisecond or so here).
 */
export function stampOpenconnect(topo: Topology): void {
  if (stamped.has(topo)) return;
  stamped.add(topo);
  const spawn = topo.spawn.bind(topo);
  topo.spawn = (ns, cmd, args, opts) => {
    const p = spawn(ns, cmd, args, opts);
    if (cmd === 'openconnect') {
      const t: Timeline = { text: '', chunks: [] };
      const add = (d: Buffer) => {
        t.text += d.toString('utf8');
        t.chunks.push({ end: t.text.length, at: performance.timeOrigin + performance.now() });
      };
      p.stdout?.on('data', add);
      p.stderr?.on('data', add);
      timelines.set(p, t);
    }
    return p;
  };
}

/** when the output line matching re arrived (stdout and stderr are interleaved as read) */
function arrival(proc: ChildProcess, re: RegExp): number | undefined {
  const t = timelines.get(proc);
  const m = t && re.exec(t.text);
  if (!t || !m) return undefined;
  const end = m.index + m[0].length;
  return t.chunks.find((c) => c.end >= end)?.at;
}

/** openconnect's first "Connected to <ip>:<port>" (TCP up) to "Configured as" (tun configured by the script) */
export function tcpToConfigured(session: VpnSession): number | undefined {
  const tcp = arrival(session.proc, /^Connected to (?!HTTPS)\S+$/m);
  const up = arrival(session.proc, /^Configured as /m);
  return tcp !== undefined && up !== undefined ? up - tcp : undefined;
}

export interface ConnectTimes {
  session: VpnSession;
  /** spawning openconnect → tunnel configured */
  ms: number;
  /** TCP connect → "Configured as", when stampOpenconnect(topo) was called before */
  tcpMs?: number;
}

/**
 * Spawn openconnect and wait for the tunnel; ms from spawn to tunnel up. connectOpenconnect
 * polls for vpnc-script.sh's state file every 50 ms, too coarse next to the 40–80 ms a connect takes here, so
 * the end point is the state file's mtime (written once the tun is configured) when it can be
 * found, else the moment connectOpenconnect returned.
 */
export async function timedConnect(
  topo: Topology,
  server: ServerHandle,
  o: { dtls: boolean },
  interfaceName: string,
  timeoutMs: number,
): Promise<ConnectTimes> {
  const before = stateDirs(topo);
  const t0 = Date.now();
  const session = await connectOpenconnect(topo, {
    url: server.url,
    user: BENCH_USER.name,
    password: BENCH_USER.password,
    servercert: server.pin,
    interfaceName,
    noDtls: !o.dtls,
    timeoutMs,
  });
  let t1 = Date.now();
  const fresh = [...stateDirs(topo)].filter((d) => !before.has(d));
  if (fresh.length === 1) {
    try {
      t1 = fs.statSync(path.join(os.tmpdir(), fresh[0], 'state.json')).mtimeMs;
    } catch {
      /* keep the coarse figure */
    }
  }
  // "Configured as" follows the script's run, so it may still be on its way
  await session.waitForOutput(/^Configured as /m, 2000).catch(() => {});
  return { session, ms: t1 - t0, tcpMs: tcpToConfigured(session) };
}

export async function disconnectAll(sessions: VpnSession[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.disconnect()));
}

/**
 * Wait (at most 10 s) until the server is down to `procs` processes again. With
 * clients-per-worker = 1 every worker must exit with its client; with more, ocserv-ts may keep
 * emptied workers, which the "after" figure then shows.
 */
export async function afterDisconnect(server: ServerHandle, procs: number): Promise<Memory> {
  await waitFor('process count', () => serverMemory(server).procs <= procs, 10_000).catch(() => {});
  await sleep(1000);
  return serverMemory(server);
}

export interface StepOptions {
  dtls: boolean;
  /** failures are reported here as well as returned */
  log?: (msg: string) => void;
}

/**
 * Time to tunnel up, one client at a time, `connects` times after a warm-up connect that is
 * not counted (it warms caches), GAP_MS apart.
 */
export async function measureTunnelUp(
  topo: Topology,
  server: ServerHandle,
  o: StepOptions & { connects: number },
): Promise<{ ms: number[]; tcpMs: number[]; failures: string[] }> {
  stampOpenconnect(topo);
  const r = { ms: [] as number[], tcpMs: [] as number[], failures: [] as string[] };
  for (let i = 0; i <= o.connects; i++) {
    try {
      const c = await timedConnect(topo, server, o, 'ocss0', 30_000);
      if (i > 0) {
        r.ms.push(c.ms);
        if (c.tcpMs !== undefined) r.tcpMs.push(c.tcpMs);
      }
      await c.session.disconnect();
    } catch (err) {
      r.failures.push(`connect ${i}: ${summarize(err)}`);
      o.log?.(`connect ${i} failed: ${err instanceof Error ? err.message : err}`);
    }
    await sleep(GAP_MS);
  }
  return r;
}

export interface MemoryResult {
  idle: Memory;
  loaded: Memory;
  /** sessions that were up when `loaded` was taken */
  sessions: number;
  /** once those sessions were gone: shows memory or processes the server does not give back */
  released: Memory;
  failures: string[];
}

/**
 * Memory per idle session: summed PSS before and with `clients` sessions connected one by one.
 * Take it on a server that has already served clients, so one-time costs (lazy loading, JIT)
 * are in the baseline and not charged to sessions.
 */
export async function measureMemory(topo: Topology, server: ServerHandle, o: StepOptions & { clients: number }): Promise<MemoryResult> {
  const failures: string[] = [];
  await sleep(SETTLE_MS);
  const idle = serverMemory(server);
  const sessions: VpnSession[] = [];
  for (let i = 0; i < o.clients; i++) {
    try {
      sessions.push((await timedConnect(topo, server, o, `ocsm${i}`, 30_000)).session);
    } catch (err) {
      failures.push(`idle session ${i}: ${summarize(err)}`);
      o.log?.(`idle session ${i} failed: ${err instanceof Error ? err.message : err}`);
    }
  }
  await sleep(SETTLE_MS);
  const loaded = serverMemory(server);
  const up = sessions.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).length;
  await disconnectAll(sessions);
  const released = await afterDisconnect(server, idle.procs);
  return { idle, loaded, sessions: up, released, failures };
}

/** MB of PSS each idle session added */
export const mbPerSession = (m: MemoryResult) => (m.sessions ? (m.loaded.kB - m.idle.kB) / 1024 / m.sessions : undefined);

/**
 * `clients` openconnects started at once; sessions up and ms until the last was up. Afterwards
 * all are disconnected and the server is let go back to `procs` processes, so bursts are alike.
 */
export async function measureBurst(
  topo: Topology,
  server: ServerHandle,
  o: StepOptions & { clients: number; procs: number },
): Promise<{ ok: number; ms: number; failures: string[] }> {
  const failures: string[] = [];
  const t0 = Date.now();
  let last = t0;
  const burst = await Promise.allSettled(
    Array.from({ length: o.clients }, (_, i) =>
      timedConnect(topo, server, o, `ocsb${i}`, 60_000).then((c) => {
        last = Math.max(last, t0 + c.ms);
        return c.session;
      }),
    ),
  );
  const up = burst.flatMap((b) => (b.status === 'fulfilled' ? [b.value] : []));
  burst.forEach((b, i) => {
    if (b.status !== 'rejected') return;
    failures.push(`burst session ${i}: ${summarize(b.reason)}`);
    o.log?.(`burst session ${i} failed: ${b.reason instanceof Error ? b.reason.message : b.reason}`);
  });
  await disconnectAll(up);
  await afterDisconnect(server, o.procs);
  return { ok: up.length, ms: last - t0, failures };
}

async function benchServer(v: Variant, o: Options): Promise<Result> {
  const r: Result = { server: v, connectMs: [], tcpMs: [], failures: [], memSessions: 0, bursts: [] };
  const log = (msg: string) => console.error(`[${v.label}] ${msg}`);
  const topo = await createTopology();
  try {
    // rate-limit-ms: ocserv would otherwise space out accepts and cap the burst; ocserv-ts
    // accepts the option (with a warning) and does not limit
    const server = await startServer(topo, {
      kind: v.kind,
      port: o.port,
      users: [BENCH_USER],
      extraConfig: `rate-limit-ms = 0\n${v.extraConfig}`,
    }).catch((err) => {
      r.error = summarize(err);
      log(err instanceof Error ? err.message : String(err));
      return null;
    });
    if (!server) return r;

    // (a) time to tunnel up, one client at a time
    const up = await measureTunnelUp(topo, server, { connects: o.connects, dtls: o.dtls, log });
    r.connectMs = up.ms;
    r.tcpMs = up.tcpMs;
    r.failures.push(...up.failures);
    log(`tunnel up in ${r.connectMs.map((m) => m.toFixed(0)).join(' ')} ms (TCP connect → configured: ${r.tcpMs.map((m) => m.toFixed(0)).join(' ')})`);

    // (b) memory per idle session
    const mem = await measureMemory(topo, server, { clients: o.clients, dtls: o.dtls, log });
    Object.assign(r, { idle: mem.idle, loaded: mem.loaded, memSessions: mem.sessions, released: mem.released });
    r.failures.push(...mem.failures);
    log(`PSS ${(mem.idle.kB / 1024).toFixed(1)} MB (${mem.idle.procs} procs) idle, ${(mem.loaded.kB / 1024).toFixed(1)} MB (${mem.loaded.procs} procs) with ${mem.sessions} sessions`);
    log(`PSS ${(mem.released.kB / 1024).toFixed(1)} MB (${mem.released.procs} procs) after they disconnected`);

    // (c) bursts: all clients at once; rate = sessions up / time until the last came up
    for (let n = 0; n < o.bursts; n++) {
      const b = await measureBurst(topo, server, { clients: o.clients, dtls: o.dtls, procs: mem.released.procs, log });
      r.bursts.push({ ok: b.ok, ms: b.ms });
      r.failures.push(...b.failures.map((f) => `burst ${n} ${f.replace(/^burst /, '')}`));
      log(`burst ${n}: ${b.ok}/${o.clients} sessions in ${b.ms} ms`);
    }

    await server.stop();
    for (const c of serverComplaints(server.output())) log(`server log: ${c}`);
  } finally {
    await topo.cleanup();
  }
  return r;
}

// ---------------------------------------------------------------- report

interface Figures {
  tcpMedian?: number;
  median?: number;
  p90?: number;
  mbPerSession?: number;
  perSecond?: number;
}

function figures(r: Result): Figures {
  const mem = r.idle && r.loaded && r.memSessions ? (r.loaded.kB - r.idle.kB) / 1024 / r.memSessions : undefined;
  return {
    tcpMedian: median(r.tcpMs),
    median: median(r.connectMs),
    p90: percentile(r.connectMs, 90),
    mbPerSession: mem,
    perSecond: median(r.bursts.filter((b) => b.ok && b.ms > 0).map((b) => b.ok / (b.ms / 1000))),
  };
}

const fmt = (v: number | undefined, digits: number) => (v === undefined ? '—' : v.toFixed(digits));
const mb = (m: Memory | undefined) => (m ? `${(m.kB / 1024).toFixed(1)} (${m.procs})` : '—');

function tables(results: Result[], o: Options): string {
  const base = results.find((r) => r.server.kind === 'ocserv');
  const b = base ? figures(base) : {};
  const main = [
    '| server | tunnel up, median ms | p90 ms | ratio (median) | TCP connect → configured, median ms | ratio | MB per session | ratio | sessions/s | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const detail = [
    `| server | connects ok | server PSS idle, MB (processes) | with ${o.clients} sessions | after they disconnected | bursts: up / elapsed | failures |`,
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const k = r.server.kind;
    if (r.error) {
      main.push(`| ${r.server.label} | error: ${r.error} | | | | | | | | |`);
      continue;
    }
    const f = figures(r);
    main.push(
      `| ${r.server.label} | ${fmt(f.median, 0)} | ${fmt(f.p90, 0)} | ${ratio(f.median, b.median, k)} | ` +
        `${fmt(f.tcpMedian, 0)} | ${ratio(f.tcpMedian, b.tcpMedian, k)} | ` +
        `${fmt(f.mbPerSession, 2)} | ${ratio(f.mbPerSession, b.mbPerSession, k)} | ${fmt(f.perSecond, 1)} | ${ratio(f.perSecond, b.perSecond, k)} |`,
    );
    const problems = r.failures;
    detail.push(
      `| ${r.server.label} | ${r.connectMs.length}/${o.connects} | ${mb(r.idle)} | ${mb(r.loaded)} | ${mb(r.released)} | ` +
        `${r.bursts.map((b) => `${b.ok}/${o.clients} in ${(b.ms / 1000).toFixed(2)} s`).join(', ') || '—'} | ` +
        `${problems.length ? problems.slice(0, 3).join('; ') + (problems.length > 3 ? ` (+${problems.length - 3} more)` : '') : 'none'} |`,
    );
  }
  return [...main, '', ...detail].join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  preflight(usage);
  const machine = machineInfo();

  const results: Result[] = [];
  // one server at a time: on 2 cores a concurrent run would measure the scheduler
  for (const v of o.servers) results.push(await benchServer(v, o));

  const section = [
    '## Sessions: time to tunnel up, memory per session, sessions per second',
    '',
    `${new Date().toISOString()} — \`${commandLine()}\``,
    '',
    `Machine: ${machine}.`,
    `openconnect → server in network namespaces on this machine, ${o.dtls ? 'DTLS where offered' : 'CSTP only (`--no-dtls`)'}.`,
    `Tunnel up: ${o.connects} sequential connects (after one warm-up), from spawning openconnect until vpnc-script has`,
    'configured the tun — includes openconnect\'s own start-up, the same for every server; TCP connect → configured: from',
    'openconnect\'s "Connected to" line (TCP up) to its "Configured as" line (tun configured), the server\'s part of it.',
    `MB per session: growth of the summed PSS of all server processes with ${o.clients} idle sessions, divided by ${o.clients}.`,
    `Sessions/s: ${o.clients} openconnects started at once, sessions up / time until the last was up; median of ${o.bursts} bursts.`,
    'Ratios are against ocserv in the same run (for ms and MB lower is better, for sessions/s higher).',
    WORKER_MODES_NOTE,
    '',
    tables(results, o),
    '',
  ].join('\n');
  console.log(section);
  if (o.out) {
    writeSection(o.out, 'sessions', section);
    console.error(`wrote ${o.out}`);
  }
  if (results.some((r) => r.error || r.failures.length)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
