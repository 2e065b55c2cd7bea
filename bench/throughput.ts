/**
 * Throughput through the tunnel, Debian's ocserv and ocserv-ts side by side in one run.
 * See bench/README.md. Needs root (network namespaces).
 */
import {
  createTopology,
  removeStaleNamespaces,
  startServer,
  connectOpenconnect,
  serverTunAddress,
  stopProcess,
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
  ratio,
  serverComplaints,
  sleep,
  summarize,
  waitFor,
  writeSection,
} from './common';

type Mode = 'cstp' | 'dtls';
type Direction = 'upload' | 'download';

interface Options {
  servers: Variant[];
  seconds: number;
  modes: Mode[];
  out?: string;
  port: number;
}

interface Row {
  server: Variant;
  mode: Mode;
  direction: Direction;
  mbps?: number;
  cipher?: string;
  error?: string;
  /** not measurable by design (DTLS that ocserv-ts does not offer yet): not a failure */
  na?: string;
}

/** openconnect's lines when the CONNECT reply carried no X-DTLS-* headers, i.e. the server offered no DTLS */
const NO_DTLS = /No DTLS address|Set up UDP failed; using SSL instead/;
const DTLS_UP = /Established DTLS connection.*Ciphersuite (\S+?)\.?$/m;

const USER = { name: 'bench', password: 'bench-password' };
const IPERF_PORT = 5201;

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

async function iperf(topo: Topology, addr: string, seconds: number, dir: Direction): Promise<number> {
  // -1: one test then exit, so a stuck server cannot serve the next run's numbers
  const srv = topo.spawn(topo.serverNs, 'iperf3', ['-s', '-1', '-B', addr, '-p', String(IPERF_PORT)]);
  try {
    await waitFor(
      'iperf3 -s',
      async () => (await topo.exec(topo.serverNs, 'ss', ['-Hltn', `src ${addr}:${IPERF_PORT}`])).stdout.trim() !== '',
      5000,
    );
    const args = ['-c', addr, '-p', String(IPERF_PORT), '-t', String(seconds), '-J', ...(dir === 'download' ? ['-R'] : [])];
    const r = await topo.exec(topo.clientNs, 'iperf3', args, { timeoutMs: (seconds + 30) * 1000 });
    let j: any;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      throw new Error(`iperf3 client (${r.code ?? r.signal}): ${(r.stderr || r.stdout).slice(-500)}`);
    }
    if (j.error) throw new Error(`iperf3: ${j.error}`);
    // the receiver's figure: what actually made it through the tunnel
    return j.end.sum_received.bits_per_second / 1e6;
  } finally {
    await stopProcess(srv, 'SIGTERM', 2000);
  }
}

async function benchServer(v: Variant, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const both = (mode: Mode, r: Omit<Row, 'server' | 'mode' | 'direction'>) => {
    for (const direction of ['upload', 'download'] as const) rows.push({ server: v, mode, direction, ...r });
  };
  const topo = await createTopology();
  try {
    const server = await startServer(topo, { kind: v.kind, port: o.port, users: [USER], extraConfig: v.extraConfig }).catch((err) => {
      for (const mode of o.modes) both(mode, { error: summarize(err) });
      console.error(`[${v.label}] ${err instanceof Error ? err.message : err}`);
      return null;
    });
    if (!server) return rows;
    for (const mode of o.modes) {
      let session: VpnSession | null = null;
      try {
        session = await connectOpenconnect(topo, {
          url: server.url,
          user: USER.name,
          password: USER.password,
          servercert: server.pin,
          noDtls: mode === 'cstp',
        });
        const s = session;
        let cipher = /Connected to HTTPS on \S+ with ciphersuite (\S+)/.exec(s.output())?.[1];
        if (mode === 'dtls') {
          // CSTP comes up first; then either DTLS is established or openconnect says at once that
          // the server offered none (ocserv-ts today) — no need to sit out a timeout for that
          const m = await s.waitForOutput(new RegExp(`${DTLS_UP.source}|${NO_DTLS.source}`, 'm'), 10_000).catch(() => {
            throw new Error('DTLS not established within 10 s');
          });
          if (NO_DTLS.test(m[0])) {
            if (v.kind !== 'ocserv-ts') throw new Error(`no DTLS: openconnect says "${m[0]}"`);
            both(mode, { na: 'n/a (not implemented)' });
            console.error(`[${v.label}] dtls: server offered no DTLS, skipped`);
            continue;
          }
          cipher = m[1];
          await sleep(500); // let openconnect's DTLS MTU probing settle
        }
        const addr = (await serverTunAddress(topo, s.address)) ?? '198.19.0.1';
        for (const direction of ['upload', 'download'] as const) {
          try {
            const mbps = await iperf(topo, addr, o.seconds, direction);
            rows.push({ server: v, mode, direction, mbps, cipher });
            console.error(`[${v.label}] ${mode} ${direction}: ${mbps.toFixed(1)} Mbit/s`);
          } catch (err) {
            rows.push({ server: v, mode, direction, error: summarize(err), cipher });
          }
        }
      } catch (err) {
        console.error(`[${v.label}] ${mode}: ${(err as Error).message}`);
        both(mode, { error: summarize(err) });
      } finally {
        await session?.disconnect();
      }
    }
    await server.stop();
    for (const c of serverComplaints(server.output())) console.error(`[${v.label}] server log: ${c}`);
  } finally {
    await topo.cleanup();
  }
  return rows;
}

function table(rows: Row[]): string {
  const ref = (r: Row) => rows.find((x) => x.server.kind === 'ocserv' && x.mode === r.mode && x.direction === r.direction);
  const lines = ['| server | mode | direction | Mbit/s | ratio to ocserv | cipher |', '|---|---|---|---:|---:|---|'];
  for (const r of rows) {
    const val = r.mbps !== undefined ? r.mbps.toFixed(1) : r.na ?? `error: ${r.error ?? ''}`;
    lines.push(`| ${r.server.label} | ${r.mode} | ${r.direction} | ${val} | ${ratio(r.mbps, ref(r)?.mbps, r.server.kind)} | ${r.cipher ?? ''} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
  const stale = removeStaleNamespaces();
  if (stale.removed.length) console.error(`removed stale namespaces: ${stale.removed.join(' ')}`);
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
    '`ocserv-ts` runs with its default `clients-per-worker = 32` (shared workers, one per core at least), `ocserv-ts:cpwN` with `clients-per-worker = N` (cpw1: a process per client, as ocserv).',
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

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
