/**
 * `npm run bench`: every performance goal of ocserv-ts against Debian's ocserv, in one run and
 * one table. Both servers run side by side for the whole run (each in its own pair of
 * namespaces, same ocserv.conf, same kind of certificate) and take turns, measurement by
 * measurement — ocserv, ocserv-ts, ocserv, ocserv-ts, … — so that load from elsewhere on the
 * machine falls on both alike; each figure is the median of --runs such turns. The measurements
 * themselves are those of bench/throughput.ts, bench/aggregate.ts and bench/sessions.ts; CPU
 * per byte comes from bench/cpu.ts. See bench/README.md. Needs root.
 */
import * as path from 'node:path';
import { createTopology, repoRoot, startServer, ServerHandle, Topology } from '../test/helpers/netns';
import { measureAggregate } from './aggregate';
import {
  BENCH_USER,
  Variant,
  commandLine,
  machineInfo,
  median,
  parseFlags,
  parseVariant,
  positiveInt,
  serverComplaints,
  sleep,
  summarize,
  writeSection,
  preflight,
} from './common';
import { cpuPerGB } from './cpu';
import { mbPerSession, measureBurst, measureMemory, measureTunnelUp, serverMemory } from './sessions';
import { Direction, Mode, measureMode } from './throughput';

type Part = 'sessions' | 'memory' | 'throughput' | 'aggregate';
const PARTS: Part[] = ['sessions', 'memory', 'throughput', 'aggregate'];

interface Options {
  runs: number;
  /** iperf3 -t, single tunnel and aggregate */
  seconds: number;
  /** tunnels in the aggregate */
  tunnels: number;
  aggregateModes: Mode[];
  /** sequential connects per run for the time to tunnel up */
  connects: number;
  /** sessions in a burst, and idle sessions for memory */
  clients: number;
  /** sessions (tunnel up, burst, memory) with DTLS, openconnect's default; --cstp-sessions turns it off */
  sessionDtls: boolean;
  parts: Part[];
  port: number;
  quick: boolean;
  /** null: print only */
  out: string | null;
}

const DIRECTIONS: Direction[] = ['upload', 'download'];

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error(
    'usage: npm run bench -- [--runs 5] [--seconds 5] [--tunnels 20] [--aggregate-modes dtls,cstp] [--connects 10] [--clients 20]\n' +
      '                       [--cstp-sessions] [--parts sessions,memory,throughput,aggregate] [--port 4443] [--quick] [--out FILE | --no-out]\n' +
      '  --quick: 1 run, 2 s per iperf3 run, 3 connects, and nothing written unless --out is given (a smoke test)',
  );
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    runs: 5,
    seconds: 5,
    tunnels: 20,
    aggregateModes: ['dtls', 'cstp'],
    connects: 10,
    clients: 20,
    sessionDtls: true,
    parts: PARTS,
    port: 4443,
    quick: false,
    out: path.join(repoRoot(), 'docs', 'BENCHMARKS.md'),
  };
  // --quick sets defaults; explicit options win whatever their order
  if (argv.includes('--quick')) Object.assign(o, { quick: true, runs: 1, seconds: 2, connects: 3, out: null });
  const modes = (v: string, flag: string) => {
    const list = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (!list.length || list.some((m) => m !== 'cstp' && m !== 'dtls')) usage(`${flag}: cstp and/or dtls`);
    return list as Mode[];
  };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--quick': return true;
      case '--runs': o.runs = positiveInt(flag, val(), usage); return true;
      case '--seconds': o.seconds = positiveInt(flag, val(), usage); return true;
      case '--tunnels':
        o.tunnels = positiveInt(flag, val(), usage);
        if (o.tunnels > 60) usage('--tunnels: at most 60 (the harness config has max-clients = 64)');
        return true;
      case '--aggregate-modes': o.aggregateModes = modes(val(), flag); return true;
      case '--connects': o.connects = positiveInt(flag, val(), usage); return true;
      case '--clients':
        o.clients = positiveInt(flag, val(), usage);
        if (o.clients > 60) usage('--clients: at most 60 (the harness config has max-clients = 64)');
        return true;
      case '--cstp-sessions': o.sessionDtls = false; return true;
      case '--parts': {
        const list = val().split(',').map((s) => s.trim()).filter(Boolean);
        if (!list.length || list.some((p) => !PARTS.includes(p as Part))) usage(`--parts: some of ${PARTS.join(',')}`);
        o.parts = PARTS.filter((p) => list.includes(p));
        return true;
      }
      case '--port': o.port = positiveInt(flag, val(), usage); return true;
      case '--out': o.out = val(); return true;
      case '--no-out': o.out = null; return true;
      default: return false;
    }
  });
  return o;
}

// ---------------------------------------------------------------- figures

/** per figure, per server label: one value per run (pooled connects for the tunnel-up time) */
class Samples {
  readonly values = new Map<string, Map<string, number[]>>();
  readonly errors = new Map<string, Map<string, string[]>>();
  readonly notes = new Map<string, Map<string, string>>();

  private slot<T>(m: Map<string, Map<string, T>>, key: string, label: string, init: () => T): T {
    let byLabel = m.get(key);
    if (!byLabel) m.set(key, (byLabel = new Map()));
    let v = byLabel.get(label);
    if (v === undefined) byLabel.set(label, (v = init()));
    return v;
  }

  add(key: string, label: string, ...v: number[]): void {
    this.slot(this.values, key, label, () => [] as number[]).push(...v.filter(Number.isFinite));
  }

  fail(key: string, label: string, msg: string): void {
    this.slot(this.errors, key, label, () => [] as string[]).push(msg);
  }

  /** a reason there is no figure that is not a failure (e.g. no DTLS offered) */
  note(key: string, label: string, msg: string): void {
    this.slot(this.notes, key, label, () => msg);
  }

  get(key: string, label: string): number[] {
    return this.values.get(key)?.get(label) ?? [];
  }
  failures(key: string, label: string): string[] {
    return this.errors.get(key)?.get(label) ?? [];
  }
  noteOf(key: string, label: string): string | undefined {
    return this.notes.get(key)?.get(label);
  }
}

interface RowDef {
  key: string;
  what: string;
  /** ratio ocserv-ts / ocserv that meets the goal; none: reported only */
  goal?: { better: 'higher' | 'lower'; ratio: number };
  digits: number;
  /** the ocserv-ts variant this row compares (memory with clients-per-worker = 1) */
  ts?: string;
  /** values are pooled samples, not one per run: the per-run column shows each run's median (key + '/run') */
  pooled?: boolean;
}

function rowDefs(o: Options): RowDef[] {
  const rows: RowDef[] = [];
  const sess = o.sessionDtls ? 'DTLS' : 'CSTP only';
  const has = (p: Part) => o.parts.includes(p);
  if (has('throughput')) {
    for (const mode of ['cstp', 'dtls'] as const) {
      for (const dir of DIRECTIONS) {
        rows.push({ key: `tput:${mode}:${dir}`, what: `1 tunnel, ${mode.toUpperCase()} ${dir}, Mbit/s`, goal: { better: 'higher', ratio: 1.0 }, digits: 0 });
      }
    }
  }
  if (has('aggregate')) {
    for (const mode of o.aggregateModes) {
      for (const dir of DIRECTIONS) {
        rows.push({
          key: `agg:${mode}:${dir}`,
          what: `${o.tunnels} tunnels at once, ${mode.toUpperCase()} ${dir}, total Mbit/s`,
          goal: { better: 'higher', ratio: 1.0 },
          digits: 0,
        });
      }
    }
  }
  if (has('sessions')) {
    rows.push({ key: 'up:tcp', what: `TCP connect → tunnel up ("Configured as"), median ms (${sess})`, goal: { better: 'lower', ratio: 1.2 }, digits: 0, pooled: true });
    rows.push({ key: 'burst', what: `sessions/s, ${o.clients} clients at once (${sess})`, goal: { better: 'higher', ratio: 1.0 }, digits: 1 });
  }
  if (has('memory')) {
    rows.push({ key: 'mem', what: `added PSS per idle session, MB (default clients-per-worker, ${sess})`, goal: { better: 'lower', ratio: 2.0 }, digits: 2 });
    rows.push({ key: 'mem', what: `added PSS per idle session, MB (clients-per-worker = 1, ${sess})`, digits: 2, ts: CPW1.label });
  }
  if (has('throughput')) {
    for (const mode of ['cstp', 'dtls'] as const) {
      rows.push({ key: `cpu:tput:${mode}`, what: `server CPU s per GB carried, 1 tunnel, ${mode.toUpperCase()} (up + down)`, digits: 2 });
    }
  }
  if (has('aggregate')) {
    for (const mode of o.aggregateModes) {
      rows.push({ key: `cpu:agg:${mode}`, what: `server CPU s per GB carried, ${o.tunnels} tunnels, ${mode.toUpperCase()} (up + down)`, digits: 2 });
    }
  }
  return rows;
}

// ---------------------------------------------------------------- servers

const OCSERV = parseVariant('ocserv')!;
const OCSERV_TS = parseVariant('ocserv-ts')!;
const CPW1 = parseVariant('ocserv-ts:cpw1')!;

interface Running {
  v: Variant;
  topo: Topology;
  server: ServerHandle | null;
  error?: string;
}

/**
 * One server in its own namespaces. rate-limit-ms = 0: ocserv would otherwise space out
 * accepts and cap the burst (ocserv-ts accepts the option and does not limit).
 */
async function start(v: Variant, o: Options): Promise<Running> {
  const topo = await createTopology();
  try {
    const server = await startServer(topo, { kind: v.kind, port: o.port, users: [BENCH_USER], extraConfig: `rate-limit-ms = 0\n${v.extraConfig}` });
    return { v, topo, server };
  } catch (err) {
    console.error(`[${v.label}] ${err instanceof Error ? err.message : err}`);
    return { v, topo, server: null, error: summarize(err) };
  }
}

async function stop(r: Running): Promise<string[]> {
  let complaints: string[] = [];
  if (r.server) {
    await r.server.stop();
    complaints = serverComplaints(r.server.output());
    for (const c of complaints) console.error(`[${r.v.label}] server log: ${c}`);
  }
  await r.topo.cleanup();
  return complaints;
}

// ---------------------------------------------------------------- measurements

/** Each measurement: run it for every server in turn, --runs times, with errors as cells. */
async function alternate(
  o: Options,
  servers: Running[],
  keys: string[],
  what: string,
  fn: (r: Running & { server: ServerHandle }, log: (m: string) => void, run: number) => Promise<void>,
): Promise<void> {
  for (let run = 0; run < o.runs; run++) {
    for (const r of servers) {
      const log = (m: string) => console.error(`[${r.v.label}] ${m}`);
      if (!r.server) {
        for (const k of keys) if (run === 0) S.fail(k, r.v.label, `server did not start: ${r.error}`);
        continue;
      }
      log(`${what}, run ${run + 1}/${o.runs}`);
      try {
        await fn(r as Running & { server: ServerHandle }, log, run);
      } catch (err) {
        log(`${what} failed: ${err instanceof Error ? err.stack : err}`);
        for (const k of keys) S.fail(k, r.v.label, summarize(err));
      }
    }
  }
}

const S = new Samples();
const ciphers = new Map<string, string>();

async function sessionsPart(o: Options, servers: Running[]): Promise<void> {
  const dtls = o.sessionDtls;
  await alternate(o, servers, ['up:tcp'], 'tunnel up', async (r, log) => {
    const up = await measureTunnelUp(r.topo, r.server, { connects: o.connects, dtls, log });
    S.add('up:tcp', r.v.label, ...up.tcpMs);
    const m = median(up.tcpMs);
    if (m !== undefined) S.add('up:tcp/run', r.v.label, m);
    for (const f of up.failures) S.fail('up:tcp', r.v.label, f);
    if (up.tcpMs.length < up.ms.length) S.fail('up:tcp', r.v.label, `${up.ms.length - up.tcpMs.length} connects without openconnect's timing lines`);
    log(`TCP connect → configured: ${up.tcpMs.map((m) => m.toFixed(0)).join(' ')} ms`);
  });
  await alternate(o, servers, ['burst'], 'burst', async (r, log) => {
    // back to the idle process count between bursts, so bursts are alike
    const procs = serverMemory(r.server).procs;
    const b = await measureBurst(r.topo, r.server, { clients: o.clients, dtls, procs, log });
    if (b.ok && b.ms > 0) S.add('burst', r.v.label, b.ok / (b.ms / 1000));
    for (const f of b.failures) S.fail('burst', r.v.label, f);
    log(`burst: ${b.ok}/${o.clients} sessions in ${b.ms} ms`);
  });
}

async function memoryPart(o: Options, servers: Running[]): Promise<string[]> {
  let complaints: string[];
  // clients-per-worker = 1, for its per-session figure only: a third server, for this part
  const cpw1 = await start(CPW1, o);
  try {
    // the others have served clients by now; warm this one up alike (lazy loading, JIT)
    if (cpw1.server) await measureTunnelUp(cpw1.topo, cpw1.server, { connects: 2, dtls: o.sessionDtls });
    await alternate(o, [...servers, cpw1], ['mem'], 'memory', async (r, log) => {
      const m = await measureMemory(r.topo, r.server, { clients: o.clients, dtls: o.sessionDtls, log });
      const per = mbPerSession(m);
      if (per !== undefined) S.add('mem', r.v.label, per);
      for (const f of m.failures) S.fail('mem', r.v.label, f);
      log(
        `PSS ${(m.idle.kB / 1024).toFixed(1)} MB (${m.idle.procs} procs) idle, ${(m.loaded.kB / 1024).toFixed(1)} MB ` +
          `(${m.loaded.procs} procs) with ${m.sessions} sessions: ${per?.toFixed(2)} MB each`,
      );
    });
  } finally {
    complaints = await stop(cpw1);
  }
  return complaints;
}

async function throughputPart(o: Options, servers: Running[]): Promise<void> {
  for (const mode of ['cstp', 'dtls'] as const) {
    const keys = [...DIRECTIONS.map((d) => `tput:${mode}:${d}`), `cpu:tput:${mode}`];
    await alternate(o, servers, keys, `1 tunnel ${mode}`, async (r) => {
      const rows = await measureMode(r.topo, r.server, r.v, mode, o.seconds);
      let cpuS = 0;
      let bytes = 0;
      for (const row of rows) {
        const key = `tput:${mode}:${row.direction}`;
        if (row.na) S.note(key, r.v.label, row.na);
        else if (row.error !== undefined) S.fail(key, r.v.label, row.error);
        else if (row.mbps !== undefined) S.add(key, r.v.label, row.mbps);
        if (row.cipher) ciphers.set(`${r.v.label} ${mode}`, row.cipher);
        cpuS += row.cpuS ?? NaN;
        bytes += row.bytes ?? NaN;
      }
      const per = cpuPerGB(cpuS, bytes);
      if (per !== undefined && Number.isFinite(per)) S.add(`cpu:tput:${mode}`, r.v.label, per);
      else if (rows.some((x) => x.na)) S.note(`cpu:tput:${mode}`, r.v.label, rows.find((x) => x.na)!.na!);
    });
  }
}

async function aggregatePart(o: Options, servers: Running[]): Promise<void> {
  for (const mode of o.aggregateModes) {
    const keys = [...DIRECTIONS.map((d) => `agg:${mode}:${d}`), `cpu:agg:${mode}`];
    await alternate(o, servers, keys, `${o.tunnels} tunnels ${mode}`, async (r, log) => {
      const a = await measureAggregate(r.topo, r.server, { tunnels: o.tunnels, mode, seconds: o.seconds, directions: DIRECTIONS, log });
      if (a.na) {
        for (const k of keys) S.note(k, r.v.label, a.na);
        return;
      }
      for (const f of a.failures) for (const k of keys) S.fail(k, r.v.label, f);
      let cpuS = 0;
      let bytes = 0;
      for (const run of a.runs) {
        const key = `agg:${mode}:${run.direction}`;
        // a missing stream would understate the total: an error, not a smaller figure
        if (run.errors.length || run.streams < o.tunnels) {
          S.fail(key, r.v.label, `${run.streams}/${o.tunnels} streams${run.errors.length ? `: ${run.errors[0]}` : ''}`);
        } else if (run.partial) {
          S.fail(key, r.v.label, `not all ${o.tunnels} streams under way in time`);
        } else S.add(key, r.v.label, run.mbps);
        cpuS += run.cpuS;
        bytes += run.bytes;
      }
      const per = cpuPerGB(cpuS, bytes);
      if (per !== undefined) S.add(`cpu:agg:${mode}`, r.v.label, per);
      await sleep(1000); // let 20 openconnects' teardown finish before the other server's turn
    });
  }
}

// ---------------------------------------------------------------- report

function table(o: Options): { text: string; met: number; goals: number; failed: boolean } {
  const lines = [
    '| figure | goal (ocserv-ts / ocserv) | ocserv | ocserv-ts | ratio | met? | per run: ocserv; ocserv-ts |',
    '|---|---|---:|---:|---:|---|---|',
  ];
  let met = 0;
  let goals = 0;
  let failed = false;
  for (const d of rowDefs(o)) {
    const tsLabel = d.ts ?? OCSERV_TS.label;
    const base = S.get(d.key, OCSERV.label);
    const mine = S.get(d.key, tsLabel);
    const errs = [...S.failures(d.key, OCSERV.label), ...S.failures(d.key, tsLabel)];
    if (errs.length) failed = true;
    const cell = (label: string, xs: number[]) => {
      const m = median(xs);
      if (m !== undefined) return m.toFixed(d.digits);
      const note = S.noteOf(d.key, label);
      if (note) return note;
      const e = S.failures(d.key, label);
      return e.length ? `error: ${e[0]}` : '—';
    };
    const mb = median(base);
    const mt = median(mine);
    const r = mb !== undefined && mt !== undefined && mb > 0 ? mt / mb : undefined;
    const goal = d.goal ? `${d.goal.better === 'higher' ? '≥' : '≤'} ${d.goal.ratio.toFixed(1)}× (${d.goal.better} is better)` : 'reported (lower is better)';
    let verdict = '—';
    if (d.goal) {
      goals++;
      if (r === undefined) verdict = 'no figure';
      else if (d.goal.better === 'higher' ? r >= d.goal.ratio : r <= d.goal.ratio) {
        verdict = 'met';
        met++;
      } else verdict = '**not met**';
      // a figure whose runs partly failed is not a clean result: say so beside the verdict
      if (errs.length && r !== undefined) verdict += ` (${errs.length} failure${errs.length > 1 ? 's' : ''})`;
    }
    const per = (label: string, xs: number[]) => {
      const shown = d.pooled ? S.get(`${d.key}/run`, label) : xs;
      return shown.map((x) => x.toFixed(d.digits)).join(', ') || '—';
    };
    const what = d.ts ? `${d.what} [${d.ts}]` : d.what;
    lines.push(
      `| ${what} | ${goal} | ${cell(OCSERV.label, base)} | ${cell(tsLabel, mine)} | ${r === undefined ? '—' : `${r.toFixed(2)}×`} | ${verdict} | ${per(OCSERV.label, base)}; ${per(tsLabel, mine)} |`,
    );
  }
  return { text: lines.join('\n'), met, goals, failed };
}

function failureList(): string[] {
  const out: string[] = [];
  for (const [key, byLabel] of S.errors) {
    for (const [label, errs] of byLabel) {
      const uniq = [...new Set(errs)];
      out.push(`- ${label}, ${key}: ${uniq.slice(0, 3).join('; ')}${uniq.length > 3 ? ` (+${uniq.length - 3} more)` : ''}`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  preflight(usage);
  const machine = machineInfo();
  const t0 = Date.now();

  const servers = [await start(OCSERV, o), await start(OCSERV_TS, o)];
  const complaints = new Map<string, string[]>();
  try {
    if (o.parts.includes('sessions')) await sessionsPart(o, servers);
    if (o.parts.includes('memory')) complaints.set(CPW1.label, await memoryPart(o, servers));
    if (o.parts.includes('throughput')) await throughputPart(o, servers);
    if (o.parts.includes('aggregate')) await aggregatePart(o, servers);
  } finally {
    for (const r of servers) complaints.set(r.v.label, await stop(r));
  }

  const t = table(o);
  const minutes = ((Date.now() - t0) / 60_000).toFixed(1);
  const sess = o.sessionDtls ? 'with DTLS (openconnect\'s default)' : 'CSTP only (`--no-dtls`)';
  const cipherLine = [...ciphers].map(([k, c]) => `${k}: ${c}`).join('; ');
  const failures = failureList();
  const logLines = [...complaints].filter(([, c]) => c.length).map(([l, c]) => `- ${l}: ${c.slice(0, 5).join('; ')}${c.length > 5 ? ` (+${c.length - 5} more)` : ''}`);
  const section = [
    '## All goals: ocserv-ts against ocserv, side by side',
    '',
    `${new Date().toISOString()} — \`${commandLine()}\` (${minutes} min)${o.quick ? ' — **quick smoke run (--quick): short and few runs; not a result**' : ''}`,
    '',
    `Machine: ${machine}.`,
    '',
    `Both servers run for the whole benchmark, each in its own network namespaces with the same ocserv.conf (harness defaults plus`,
    '`rate-limit-ms = 0`), and take turns measurement by measurement — ocserv, ocserv-ts, ocserv, ocserv-ts, … — so load from',
    `elsewhere falls on both; each figure is the median of ${o.runs} run${o.runs > 1 ? 's' : ''} (the time to tunnel up: of all ${o.runs * o.connects} connects).`,
    `\`ocserv-ts\` runs with its default \`clients-per-worker\` (shared workers); \`ocserv-ts:cpw1\`, with a process per client as`,
    'ocserv, is started for the memory figure only. Clients: Debian\'s openconnect and iperf3 in the client namespace.',
    `- 1 tunnel: iperf3 TCP for ${o.seconds} s each way through one tunnel (CSTP: \`--no-dtls\`; DTLS: once established), receiver-side rate.`,
    `- ${o.tunnels} tunnels at once: ${o.tunnels} openconnects, each with its own iperf3 client (bound to its tun) and iperf3 server, all`,
    `  started together for ${o.seconds} s; the total is the bytes through the server's tuns per second while every stream ran.`,
    `- Tunnel up: ${o.connects} sequential connects per run after a warm-up, from openconnect's "Connected to" line (TCP up) to its`,
    `  "Configured as" line (tun configured), sessions ${sess}. Sessions/s: ${o.clients} openconnects started at once, sessions up /`,
    '  time until the last was up.',
    `- Memory: growth of the summed PSS of all server processes when ${o.clients} idle sessions connect, per session.`,
    '- CPU per GB: user + system time of every server process (main, sec-mod, workers; exited ones through their parent\'s',
    '  cutime/cstime) while iperf3 ran, divided by the bytes the receivers got (aggregate: in the same window, bytes through the',
    '  server\'s tuns), both directions together.',
    '',
    t.text,
    '',
    `Goals met: ${t.met} of ${t.goals}.${cipherLine ? ` Ciphers: ${cipherLine}.` : ''}`,
    ...(failures.length ? ['', 'Failures:', ...failures] : []),
    ...(logLines.length ? ['', 'Server warnings/errors logged:', ...logLines] : []),
    '',
  ].join('\n');
  console.log(section);
  if (o.out) {
    writeSection(o.out, 'all', section);
    console.error(`wrote ${o.out}`);
  }
  if (t.failed || servers.some((r) => r.error)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
