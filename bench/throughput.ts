/**
 * Throughput through the tunnel, Debian's ocserv and ocserv-ts side by side in one run.
 * See bench/README.md. Needs root (network namespaces).
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
  serverTunAddress,
  stopProcess,
  ServerKind,
  Topology,
  VpnSession,
} from '../test/helpers/netns';

type Mode = 'cstp' | 'dtls';
type Direction = 'upload' | 'download';

interface Options {
  servers: ServerKind[];
  seconds: number;
  modes: Mode[];
  out?: string;
  port: number;
}

interface Row {
  server: ServerKind;
  mode: Mode;
  direction: Direction;
  mbps?: number;
  cipher?: string;
  error?: string;
}

const USER = { name: 'bench', password: 'bench-password' };
const IPERF_PORT = 5201;

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error('usage: node dist/bench/throughput.js [--servers ocserv,ocserv-ts] [--seconds 5] [--modes cstp,dtls] [--out docs/BENCHMARKS.md]');
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { servers: ['ocserv', 'ocserv-ts'], seconds: 5, modes: ['cstp', 'dtls'], port: 4443 };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const val = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    const list = () => val().split(',').map((s) => s.trim()).filter(Boolean);
    switch (flag) {
      case '--servers':
        o.servers = list() as ServerKind[];
        if (o.servers.some((s) => s !== 'ocserv' && s !== 'ocserv-ts')) usage('--servers: ocserv, ocserv-ts');
        break;
      case '--modes':
        o.modes = list() as Mode[];
        if (o.modes.some((m) => m !== 'cstp' && m !== 'dtls')) usage('--modes: cstp, dtls');
        break;
      case '--seconds':
        o.seconds = Number(val());
        if (!(o.seconds >= 1)) usage('--seconds must be >= 1');
        break;
      case '--port':
        o.port = Number(val());
        break;
      case '--out':
        o.out = val();
        break;
      case '-h':
      case '--help':
        usage();
      default:
        usage(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
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

/** One table cell: the error's headline plus the first line of the quoted output that names a failure. */
function summarize(err: unknown): string {
  const [head, ...rest] = (err instanceof Error ? err.message : String(err)).split('\n');
  const detail = rest.find((l) => /error|fail|cannot|refused|denied/i.test(l))?.trim();
  return (detail ? `${head.replace(/:$/, '')}: ${detail}` : head).slice(0, 160);
}

async function benchServer(kind: ServerKind, o: Options): Promise<Row[]> {
  const rows: Row[] = [];
  const fail = (modes: Mode[], err: unknown) => {
    const msg = summarize(err);
    for (const mode of modes) for (const direction of ['upload', 'download'] as const) rows.push({ server: kind, mode, direction, error: msg });
  };
  const topo = await createTopology();
  try {
    const server = await startServer(topo, { kind, port: o.port, users: [USER] }).catch((err) => {
      fail(o.modes, err);
      console.error(`[${kind}] ${err instanceof Error ? err.message : err}`);
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
          // CSTP comes up first; wait for DTLS, or report that the server did not offer it
          const m = await s.waitForOutput(/Established DTLS connection.*Ciphersuite (\S+?)\.?$/m, 10_000).catch(() => {
            throw new Error('DTLS not established within 10 s');
          });
          cipher = m[1];
          await sleep(500); // let openconnect's DTLS MTU probing settle
        }
        const addr = (await serverTunAddress(topo, s.address)) ?? '198.19.0.1';
        for (const direction of ['upload', 'download'] as const) {
          try {
            const mbps = await iperf(topo, addr, o.seconds, direction);
            rows.push({ server: kind, mode, direction, mbps, cipher });
            console.error(`[${kind}] ${mode} ${direction}: ${mbps.toFixed(1)} Mbit/s`);
          } catch (err) {
            rows.push({ server: kind, mode, direction, error: summarize(err), cipher });
          }
        }
      } catch (err) {
        console.error(`[${kind}] ${mode}: ${(err as Error).message}`);
        fail([mode], err);
      } finally {
        await session?.disconnect();
      }
    }
    await server.stop();
  } finally {
    await topo.cleanup();
  }
  return rows;
}

function firstLine(cmd: string, args: string[]): string {
  // some tools (ocserv) print their version on stderr
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find(Boolean) ?? `${cmd}: ?`;
}

function machineInfo(): string {
  return [
    `nproc ${firstLine('nproc', [])}`,
    os.cpus()[0]?.model ?? 'unknown CPU',
    `Linux ${os.release()}`,
    `Node ${process.version}`,
    firstLine('ocserv', ['--version']),
    firstLine('openconnect', ['--version']),
    firstLine('iperf3', ['--version']),
  ].join(', ');
}

function table(rows: Row[]): string {
  const ref = (r: Row) => rows.find((x) => x.server === 'ocserv' && x.mode === r.mode && x.direction === r.direction);
  const lines = [
    '| server | mode | direction | Mbit/s | ocserv-ts/ocserv | cipher |',
    '|---|---|---|---:|---:|---|',
  ];
  for (const r of rows) {
    const base = ref(r)?.mbps;
    const ratio = r.server === 'ocserv-ts' && r.mbps !== undefined && base ? (r.mbps / base).toFixed(2) : '—';
    const val = r.mbps !== undefined ? r.mbps.toFixed(1) : `error: ${(r.error ?? '').replace(/\|/g, '\\|')}`;
    lines.push(`| ${r.server} | ${r.mode} | ${r.direction} | ${val} | ${ratio} | ${r.cipher ?? ''} |`);
  }
  return lines.join('\n');
}

const BEGIN = '<!-- bench/throughput: begin -->';
const END = '<!-- bench/throughput: end -->';

/** Replace our section of the file (between the markers), or append it. */
function writeOut(file: string, section: string): void {
  const block = `${BEGIN}\n${section}\n${END}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = text.replace(/\n*$/, '\n\n') + block + '\n';
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
  const stale = removeStaleNamespaces();
  if (stale.removed.length) console.error(`removed stale namespaces: ${stale.removed.join(' ')}`);

  const rows: Row[] = [];
  // one server at a time: on 2 cores a concurrent run would measure the scheduler
  for (const kind of o.servers) rows.push(...(await benchServer(kind, o)));

  const command = ['node', path.relative(process.cwd(), process.argv[1]), ...process.argv.slice(2)]
    .map((a) => (/^[\w./,=:-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`))
    .join(' ');
  const section = [
    '## Throughput: iperf3 TCP through the tunnel',
    '',
    `${new Date().toISOString()} — \`${command}\``,
    '',
    `Machine: ${machineInfo()}.`,
    `openconnect → server in network namespaces on this machine, ${o.seconds} s per run, receiver-side rate;`,
    'upload = client → server, download = server → client (`-R`). Compare ratios, not absolute figures.',
    '',
    table(rows),
    '',
  ].join('\n');
  console.log(section);
  if (o.out) {
    writeOut(o.out, section);
    console.error(`wrote ${o.out}`);
  }
  if (rows.some((r) => r.mbps === undefined)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
