/**
 * Throughput through the tunnel, Debian's ocserv and ocserv-ts side by side in one run.
 * See bench/README.md. Needs root (network namespaces).
 */
import {
  createTopology,
  startServer,
  connectOpenconnect,
  serverTunAddress,
  stopProcess,
  ManagedProcess,
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
  parseFlags,
  parseVariants,
  ratio,
  serverComplaints,
  sleep,
  summarize,
  waitFor,
  writeSection,
  preflight,
} from './common';
import { cpuDuring, cpuPerGB } from './cpu';

export type Mode = 'cstp' | 'dtls';
export type Direction = 'upload' | 'download';

interface Options {
  servers: Variant[];
  seconds: number;
  modes: Mode[];
  out?: string;
  port: number;
}

export interface Row {
  server: Variant;
  mode: Mode;
  direction: Direction;
  mbps?: number;
  /** received by the iperf3 receiver */
  bytes?: number;
  /** user + system CPU of all server processes while iperf3 ran */
  cpuS?: number;
  cipher?: string;
  error?: string;
  /** not measurable by design (DTLS that ocserv-ts does not offer yet): not a failure */
  na?: string;
}

/** openconnect's lines when the CONNECT reply carried no X-DTLS-* headers, i.e. the server offered no DTLS */
export const NO_DTLS = /No DTLS address|Set up UDP failed; using SSL instead/;
export const DTLS_UP = /Established DTLS connection.*Ciphersuite (\S+?)\.?$/m;

export const IPERF_PORT = 5201;

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error(
    'usage: node dist/bench/throughput.js [--servers ocserv,ocserv-ts,ocserv-ts:cpw8] [--modes cstp,dtls] [--seconds 5] [--port 4443] [--out docs/BENCHMARKS.md]',
  );
  console.error(`servers: ${VARIANT_HELP}`);
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { servers: parseVariants('ocserv,ocserv-ts', usage), seconds: 5, modes: ['cstp', 'dtls'], port: 4443 };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--servers':
        o.servers = parseVariants(val(), usage);
        return true;
      case '--modes':
        o.modes = val().split(',').map((s) => s.trim()).filter(Boolean) as Mode[];
        if (o.modes.some((m) => m !== 'cstp' && m !== 'dtls')) usage('--modes: cstp, dtls');
        return true;
      case '--seconds':
        o.seconds = Number(val());
        if (!(o.seconds >= 1)) usage('--seconds must be >= 1');
        return true;
      case '--port':
        o.port = Number(val());
        return true;
      case '--out':
        o.out = val();
        return true;
    }
    return false;
  });
  return o;
}

/**
 * `iperf3 -s -1` on each address and port, in the server namespace; resolves once all listen.
 * -1: one test then exit, so a stuck server cannot serve the next run's numbers.
 */
export async function startIperfServers(topo: Topology, targets: { addr: string; port: number }[]): Promise<ManagedProcess[]> {
  const procs = targets.map((t) => topo.spawn(topo.serverNs, 'iperf3', ['-s', '-1', '-B', t.addr, '-p', String(t.port)]));
  try {
    await waitFor(
      'iperf3 -s',
      async () => {
        const ss = (await topo.exec(topo.serverNs, 'ss', ['-Hltn'])).stdout;
        return targets.every((t) => ss.includes(`${t.addr}:${t.port} `));
      },
      10_000,
    );
  } catch (err) {
    await stopIperfServers(procs);
    throw err;
  }
  return procs;
}

export async function stopIperfServers(procs: ManagedProcess[]): Promise<void> {
  await Promise.all(procs.map((p) => stopProcess(p, 'SIGTERM', 2000)));
}

export interface IperfClient {
  addr: string;
  port: number;
  seconds: number;
  dir: Direction;
  /** several tunnels in one client namespace: leave through this tun (SO_BINDTODEVICE) from its address */
  bind?: { addr: string; dev: string };
}

/** One iperf3 client run in the client namespace: the receiver's rate and bytes, i.e. what made it through. */
export async function iperfClient(topo: Topology, c: IperfClient): Promise<{ mbps: number; bytes: number }> {
  const args = ['-c', c.addr, '-p', String(c.port), '-t', String(c.seconds), '-J'];
  if (c.bind) args.push('-B', c.bind.addr, '--bind-dev', c.bind.dev);
  if (c.dir === 'download') args.push('-R');
  const r = await topo.exec(topo.clientNs, 'iperf3', args, { timeoutMs: (c.seconds + 30) * 1000 });
  let j: any;
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3 client (${r.code ?? r.signal}): ${(r.stderr || r.stdout).slice(-500)}`);
  }
  if (j.error) throw new Error(`iperf3: ${j.error}`);
  return { mbps: j.end.sum_received.bits_per_second / 1e6, bytes: j.end.sum_received.bytes };
}

/** One direction through one tunnel; with `server`, also the CPU its processes used while the data flowed. */
export async function iperf(
  topo: Topology,
  addr: string,
  seconds: number,
  dir: Direction,
  server?: ServerHandle,
): Promise<{ mbps: number; bytes: number; cpuS?: number }> {
  const [srv] = await startIperfServers(topo, [{ addr, port: IPERF_PORT }]);
  try {
    const run = () => iperfClient(topo, { addr, port: IPERF_PORT, seconds, dir });
    if (!server) return await run();
    const { value, cpuS } = await cpuDuring(server.proc.pid!, run);
    return { ...value, cpuS };
  } finally {
    await stopIperfServers([srv]);
  }
}

/** A connected session in a mode, or why there is none: `na` when the server offers no DTLS by design. */
export type ModeSession = { session: VpnSession; cipher?: string } | { na: string };

/**
 * Connect openconnect for a mode (`cstp`: --no-dtls; `dtls`: wait until DTLS is established),
 * returning the cipher suite openconnect reported. Throws on failure, after disconnecting.
 */
export async function connectMode(
  topo: Topology,
  server: ServerHandle,
  mode: Mode,
  o: { interfaceName?: string; timeoutMs?: number } = {},
): Promise<ModeSession> {
  const s = await connectOpenconnect(topo, {
    url: server.url,
    user: BENCH_USER.name,
    password: BENCH_USER.password,
    servercert: server.pin,
    noDtls: mode === 'cstp',
    interfaceName: o.interfaceName,
    timeoutMs: o.timeoutMs,
  });
  try {
    let cipher = /Connected to HTTPS on \S+ with ciphersuite (\S+)/.exec(s.output())?.[1];
    if (mode === 'dtls') {
      // CSTP comes up first; then either DTLS is established or openconnect says at once that
      // the server offered none — no need to sit out a timeout for that
      const m = await s.waitForOutput(new RegExp(`${DTLS_UP.source}|${NO_DTLS.source}`, 'm'), 10_000).catch(() => {
        throw new Error('DTLS not established within 10 s');
      });
      if (NO_DTLS.test(m[0])) {
        if (server.kind !== 'ocserv-ts') throw new Error(`no DTLS: openconnect says "${m[0]}"`);
        await s.disconnect();
        return { na: 'n/a (not implemented)' };
      }
      cipher = m[1];
    }
    return { session: s, cipher };
  } catch (err) {
    await s.disconnect();
    throw err;
  }
}

/** Upload and download through one tunnel in one mode, with the CPU the server used for each. */
export async function measureMode(topo: Topology, server: ServerHandle, v: Variant, mode: Mode, seconds: number): Promise<Row[]> {
  const rows: Row[] = [];
  const both = (r: Omit<Row, 'server' | 'mode' | 'direction'>) => {
    for (const direction of ['upload', 'download'] as const) rows.push({ server: v, mode, direction, ...r });
  };
  let session: VpnSession | null = null;
  try {
    const c = await connectMode(topo, server, mode);
    if ('na' in c) {
      both({ na: c.na });
      console.error(`[${v.label}] ${mode}: server offered no DTLS, skipped`);
      return rows;
    }
    session = c.session;
    if (mode === 'dtls') await sleep(500); // let openconnect's DTLS MTU probing settle
    const addr = (await serverTunAddress(topo, session.address)) ?? '198.19.0.1';
    for (const direction of ['upload', 'download'] as const) {
      try {
        const r = await iperf(topo, addr, seconds, direction, server);
        rows.push({ server: v, mode, direction, ...r, cipher: c.cipher });
        console.error(`[${v.label}] ${mode} ${direction}: ${r.mbps.toFixed(1)} Mbit/s, server CPU ${r.cpuS?.toFixed(2)} s`);
      } catch (err) {
        rows.push({ server: v, mode, direction, error: summarize(err), cipher: c.cipher });
      }
    }
  } catch (err) {
    console.error(`[${v.label}] ${mode}: ${(err as Error).message}`);
    both({ error: summarize(err) });
  } finally {
    await session?.disconnect();
  }
  return rows;
}

async function benchServer(v: Variant, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const topo = await createTopology();
  try {
    const server = await startServer(topo, { kind: v.kind, port: o.port, users: [BENCH_USER], extraConfig: v.extraConfig }).catch((err) => {
      for (const mode of o.modes) {
        for (const direction of ['upload', 'download'] as const) rows.push({ server: v, mode, direction, error: summarize(err) });
      }
      console.error(`[${v.label}] ${err instanceof Error ? err.message : err}`);
      return null;
    });
    if (!server) return rows;
    for (const mode of o.modes) rows.push(...(await measureMode(topo, server, v, mode, o.seconds)));
    await server.stop();
    for (const c of serverComplaints(server.output())) console.error(`[${v.label}] server log: ${c}`);
  } finally {
    await topo.cleanup();
  }
  return rows;
}

function table(rows: Row[]): string {
  const ref = (r: Row) => rows.find((x) => x.server.kind === 'ocserv' && x.mode === r.mode && x.direction === r.direction);
  const lines = [
    '| server | mode | direction | Mbit/s | ratio to ocserv | server CPU s/GB | ratio | cipher |',
    '|---|---|---|---:|---:|---:|---:|---|',
  ];
  const perGB = (r?: Row) => (r?.cpuS !== undefined && r.bytes !== undefined ? cpuPerGB(r.cpuS, r.bytes) : undefined);
  for (const r of rows) {
    const val = r.mbps !== undefined ? r.mbps.toFixed(1) : r.na ?? `error: ${r.error ?? ''}`;
    const cpu = perGB(r);
    lines.push(
      `| ${r.server.label} | ${r.mode} | ${r.direction} | ${val} | ${ratio(r.mbps, ref(r)?.mbps, r.server.kind)} | ` +
        `${cpu?.toFixed(2) ?? '—'} | ${ratio(cpu, perGB(ref(r)), r.server.kind)} | ${r.cipher ?? ''} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  preflight(usage);
  const machine = machineInfo();

  const rows: Row[] = [];
  // one server at a time: on 2 cores a concurrent run would measure the scheduler
  for (const v of o.servers) rows.push(...(await benchServer(v, o)));

  const section = [
    '## Throughput: iperf3 TCP through the tunnel',
    '',
    `${new Date().toISOString()} — \`${commandLine()}\``,
    '',
    `Machine: ${machine}.`,
    `openconnect → server in network namespaces on this machine, ${o.seconds} s per run, receiver-side rate;`,
    'upload = client → server, download = server → client (`-R`). Ratios are against ocserv in the same run.',
    'Server CPU s/GB: user + system time of all server processes (main, sec-mod, workers) while iperf3 ran, per 10^9 bytes received (lower is better).',
    WORKER_MODES_NOTE,
    '',
    table(rows),
    '',
  ].join('\n');
  console.log(section);
  if (o.out) {
    writeSection(o.out, 'throughput', section);
    console.error(`wrote ${o.out}`);
  }
  if (rows.some((r) => r.error !== undefined)) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
}
