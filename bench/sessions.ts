/**
 * Session set-up cost, Debian's ocserv and ocserv-ts side by side in one run: time to tunnel up,
 * memory per idle session, sessions per second in a burst. See bench/README.md. Needs root.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  createTopology,
  removeStaleNamespaces,
  startServer,
  connectOpenconnect,
  ServerHandle,
  Topology,
  VpnSession,
} from '../test/helpers/netns';
import {
  Variant,
  VARIANT_HELP,
  commandLine,
  machineInfo,
  parseFlags,
  parseVariants,
  positiveInt,
  ratio,
  serverComplaints,
  sleep,
  summarize,
  waitFor,
  writeSection,
} from './common';

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

interface Memory {
  kB: number;
  procs: number;
}

interface Result {
  server: Variant;
  /** the server did not start */
  error?: string;
  connectMs: number[];
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

const USER = { name: 'bench', password: 'bench-password' };
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

function ppidOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parens; the fields after the last ')' are fixed
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

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
 * execs ocserv-worker, ocserv-ts spawns node for each) inside the server namespace. Descent from
 * the main pid rather than a command-line match, so no other process in the namespace can count.
 * PSS splits shared pages between their users, so N workers of one binary are not charged N times.
 */
function serverMemory(topo: Topology, server: ServerHandle): Memory {
  const root = server.proc.pid!; // `ip netns exec` execs the server: same pid
  const r = spawnSync('ip', ['netns', 'pids', topo.serverNs], { encoding: 'utf8' });
  const pids = (r.stdout || '').split(/\s+/).filter(Boolean).map(Number);
  const parent = new Map(pids.map((p) => [p, ppidOf(p)]));
  const mine = (p: number) => {
    for (let q = p; q; q = parent.get(q) ?? 0) if (q === root) return true;
    return false;
  };
  let kB = 0;
  let procs = 0;
  for (const p of pids.filter(mine)) {
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

/**
 * Spawn openconnect and wait for the tunnel; ms from spawn to tunnel up. connectOpenconnect
 * polls for vpnc-script.sh's state file every 50 ms, too coarse next to the 40–80 ms a connect takes here, so
 * the end point is the state file's mtime (written once the tun is configured) when it can be
 * found, else the moment connectOpenconnect returned.
 */
async function timedConnect(
  topo: Topology,
  server: ServerHandle,
  o: Options,
  interfaceName: string,
  timeoutMs: number,
): Promise<{ session: VpnSession; ms: number }> {
  const before = stateDirs(topo);
  const t0 = Date.now();
  const session = await connectOpenconnect(topo, {
    url: server.url,
    user: USER.name,
    password: USER.password,
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
  return { session, ms: t1 - t0 };
}

async function disconnectAll(sessions: VpnSession[]): Promise<void> {
  await Promise.all(sessions.map((s) => s.disconnect()));
}

/**
 * Wait (at most 10 s) until the server is down to `procs` processes again. With
 * clients-per-worker = 1 every worker must exit with its client; with more, ocserv-ts may keep
 * emptied workers, which the "after" figure then shows.
 */
async function afterDisconnect(topo: Topology, server: ServerHandle, procs: number): Promise<Memory> {
  await waitFor('process count', () => serverMemory(topo, server).procs <= procs, 10_000).catch(() => {});
  await sleep(1000);
  return serverMemory(topo, server);
}

async function benchServer(v: Variant, o: Options): Promise<Result> {
  const r: Result = { server: v, connectMs: [], failures: [], memSessions: 0, bursts: [] };
  const log = (msg: string) => console.error(`[${v.label}] ${msg}`);
  const failed = (what: string, err: unknown) => {
    r.failures.push(`${what}: ${summarize(err)}`);
    log(`${what} failed: ${err instanceof Error ? err.message : err}`);
  };
  const topo = await createTopology();
  try {
    // rate-limit-ms: ocserv would otherwise space out accepts and cap the burst; ocserv-ts
    // accepts the option (with a warning) and does not limit
    const server = await startServer(topo, {
      kind: v.kind,
      port: o.port,
      users: [USER],
      extraConfig: `rate-limit-ms = 0\n${v.extraConfig}`,
    }).catch((err) => {
      r.error = summarize(err);
      log(err instanceof Error ? err.message : String(err));
      return null;
    });
    if (!server) return r;

    // (a) time to tunnel up, one client at a time; the first connect warms caches and is not counted
    for (let i = 0; i <= o.connects; i++) {
      try {
        const { session, ms } = await timedConnect(topo, server, o, 'ocss0', 30_000);
        if (i > 0) r.connectMs.push(ms);
        await session.disconnect();
      } catch (err) {
        failed(`connect ${i}`, err);
      }
      await sleep(GAP_MS);
    }
    log(`tunnel up in ${r.connectMs.map((m) => m.toFixed(0)).join(' ')} ms`);

    // (b) memory per idle session: measured on a server that has already served clients, so
    // one-time costs (lazy loading, JIT) are in the baseline and not charged to sessions
    await sleep(SETTLE_MS);
    const idle = serverMemory(topo, server);
    r.idle = idle;
    const sessions: VpnSession[] = [];
    for (let i = 0; i < o.clients; i++) {
      try {
        sessions.push((await timedConnect(topo, server, o, `ocsm${i}`, 30_000)).session);
      } catch (err) {
        failed(`idle session ${i}`, err);
      }
    }
    await sleep(SETTLE_MS);
    r.loaded = serverMemory(topo, server);
    r.memSessions = sessions.filter((s) => s.proc.exitCode === null && s.proc.signalCode === null).length;
    log(`PSS ${(idle.kB / 1024).toFixed(1)} MB (${idle.procs} procs) idle, ${(r.loaded.kB / 1024).toFixed(1)} MB (${r.loaded.procs} procs) with ${r.memSessions} sessions`);
    await disconnectAll(sessions);
    r.released = await afterDisconnect(topo, server, idle.procs);
    log(`PSS ${(r.released.kB / 1024).toFixed(1)} MB (${r.released.procs} procs) after they disconnected`);

    // (c) bursts: all clients at once; rate = sessions up / time until the last came up
    for (let n = 0; n < o.bursts; n++) {
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
      burst.forEach((b, i) => b.status === 'rejected' && failed(`burst ${n} session ${i}`, b.reason));
      r.bursts.push({ ok: up.length, ms: last - t0 });
      log(`burst ${n}: ${up.length}/${o.clients} sessions in ${last - t0} ms`);
      await disconnectAll(up);
      // back to the state before the first burst, so bursts are alike
      await afterDisconnect(topo, server, r.released.procs);
    }

    await server.stop();
    for (const c of serverComplaints(server.output())) log(`server log: ${c}`);
  } finally {
    await topo.cleanup();
  }
  return r;
}

// ---------------------------------------------------------------- report

function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** nearest-rank percentile */
function percentile(xs: number[], p: number): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

interface Figures {
  median?: number;
  p90?: number;
  mbPerSession?: number;
  perSecond?: number;
}

function figures(r: Result): Figures {
  const mem = r.idle && r.loaded && r.memSessions ? (r.loaded.kB - r.idle.kB) / 1024 / r.memSessions : undefined;
  return {
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
    '| server | tunnel up, median ms | p90 ms | ratio (median) | MB per session | ratio | sessions/s | ratio |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const detail = [
    `| server | connects ok | server PSS idle, MB (processes) | with ${o.clients} sessions | after they disconnected | bursts: up / elapsed | failures |`,
    '|---|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results) {
    const k = r.server.kind;
    if (r.error) {
      main.push(`| ${r.server.label} | error: ${r.error} | | | | | | |`);
      continue;
    }
    const f = figures(r);
    main.push(
      `| ${r.server.label} | ${fmt(f.median, 0)} | ${fmt(f.p90, 0)} | ${ratio(f.median, b.median, k)} | ` +
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
  if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
  const stale = removeStaleNamespaces();
  if (stale.removed.length) console.error(`removed stale namespaces: ${stale.removed.join(' ')}`);
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
    'configured the tun — includes openconnect\'s own start-up, the same for every server.',
    `MB per session: growth of the summed PSS of all server processes with ${o.clients} idle sessions, divided by ${o.clients}.`,
    `Sessions/s: ${o.clients} openconnects started at once, sessions up / time until the last was up; median of ${o.bursts} bursts.`,
    'Ratios are against ocserv in the same run (for ms and MB lower is better, for sessions/s higher).',
    '`ocserv-ts` runs with its default `clients-per-worker = 32` (shared workers, one per core at least), `ocserv-ts:cpwN` with `clients-per-worker = N` (cpw1: a process per client, as ocserv).',
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

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
