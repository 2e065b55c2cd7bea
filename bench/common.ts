/**
 * What the bench/ scripts share: server variants, medians, the machine line, the command line
 * as run, and writing a generated section into docs/BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { removeStaleNamespaces, repoRoot, type ServerKind } from '../test/helpers/netns';

/** One server configuration to measure: `ocserv`, `ocserv-ts` or `ocserv-ts:cpw<N>`. */
export interface Variant {
  /** as given on the command line; the table's "server" column */
  label: string;
  kind: ServerKind;
  /** ocserv.conf lines on top of the harness defaults */
  extraConfig: string;
}

/** The one account every benchmark logs in with. */
export const BENCH_USER = { name: 'bench', password: 'bench-password' };

/** What the variants' worker modes are, under each table that has them. */
export const WORKER_MODES_NOTE =
  '`ocserv-ts` runs with its default `clients-per-worker = 32` (shared workers, two per core, 4 to 8), `ocserv-ts:cpwN` with `clients-per-worker = N` (cpw1: a process per client, as ocserv).';

export const VARIANT_HELP = 'ocserv, ocserv-ts, ocserv-ts:cpw<N> (ocserv-ts with clients-per-worker = N)';

export function parseVariant(spec: string): Variant | null {
  if (spec === 'ocserv' || spec === 'ocserv-ts') return { label: spec, kind: spec, extraConfig: '' };
  const m = /^ocserv-ts:cpw(\d+)$/.exec(spec);
  if (!m || Number(m[1]) < 1) return null;
  return { label: spec, kind: 'ocserv-ts', extraConfig: `clients-per-worker = ${Number(m[1])}` };
}

export function median(xs: number[]): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** nearest-rank percentile */
export function percentile(xs: number[], p: number): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)];
}

/** `ratio` of a value to ocserv's from the same run, or a dash when there is nothing to compare. */
export function ratio(v: number | undefined, base: number | undefined, kind: ServerKind): string {
  return kind !== 'ocserv' && v !== undefined && base ? (v / base).toFixed(2) : '—';
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One table cell: the error's headline plus the first line of the quoted output that names a failure. */
export function summarize(err: unknown): string {
  const [head, ...rest] = (err instanceof Error ? err.message : String(err)).split('\n');
  const detail = rest.find((l) => /error|fail|cannot|refused|denied/i.test(l))?.trim();
  return (detail ? `${head.replace(/:$/, '')}: ${detail}` : head).slice(0, 160).replace(/\|/g, '\\|');
}

/**
 * ocserv-ts logs JSON lines (pino); warnings and errors (level >= 40) are worth a look after a
 * run, since a benchmark that "works" can still hide failed sessions. Unique messages, with counts.
 */
export function serverComplaints(output: string): string[] {
  const counts = new Map<string, number>();
  let stopping = false; // complaints while the server shuts down are less alarming: say so
  for (const line of output.split('\n')) {
    if (/"msg":"shutting down"/.test(line)) stopping = true;
    if (!/^\{.*"level":\s*[4-6]0\b/.test(line)) continue;
    let key = line;
    try {
      const j = JSON.parse(line) as { level: number; proc?: string; msg?: string; err?: { message?: string }; reason?: string };
      key = `${j.level >= 50 ? 'error' : 'warn'} ${j.proc ?? ''}: ${j.msg ?? ''}${j.err?.message ? ` (${j.err.message})` : j.reason ? ` (${j.reason})` : ''}`;
    } catch {
      /* keep the raw line */
    }
    if (stopping) key += ' [during shutdown]';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([k, n]) => (n > 1 ? `${n}× ${k}` : k));
}

function firstLine(cmd: string, args: string[]): string {
  // some tools (ocserv) print their version on stderr
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').map((l) => l.trim()).find(Boolean) ?? `${cmd}: ?`;
}

/** What was measured: ocserv-ts is whatever the checkout holds, so name the commit and say if src/ differs from it. */
function ocservTsRevision(): string {
  const root = repoRoot();
  const git = (args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git(['rev-parse', '--short', 'HEAD']) || 'unknown commit';
  const dirty = git(['status', '--porcelain', '--', 'src', 'bin', 'binding.gyp']) !== '';
  return `ocserv-ts ${commit}${dirty ? ' + uncommitted changes' : ''}`;
}

export function machineInfo(): string {
  return [
    `nproc ${firstLine('nproc', [])}`,
    os.cpus()[0]?.model ?? 'unknown CPU',
    `${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`,
    `Linux ${os.release()}`,
    `Node ${process.version}`,
    ocservTsRevision(),
    firstLine('ocserv', ['--version']),
    firstLine('openconnect', ['--version']),
    firstLine('iperf3', ['--version']),
    // other work on the machine skews absolute figures; this shows whether there was any (call before the run)
    `1-min load average ${os.loadavg()[0].toFixed(2)} before the run`,
  ].join(', ');
}

const shellQuote = (a: string) => (/^[\w./,=:-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

/**
 * The command as typed (relative script path, shell-quoted where needed), for the generated
 * section; `npm run <script> -- args` when npm started it, since that is what to type again.
 */
export function commandLine(): string {
  const args = process.argv.slice(2).map(shellQuote);
  const script = process.env.npm_lifecycle_event;
  if (script && process.env.npm_lifecycle_script?.includes(path.relative(process.cwd(), process.argv[1]))) {
    return ['npm', 'run', script, ...(args.length ? ['--', ...args] : [])].join(' ');
  }
  return ['node', path.relative(process.cwd(), process.argv[1]), ...args].join(' ');
}

/**
 * Replace the section between `<!-- bench/<name>: begin -->` and `<!-- … end -->` in file,
 * or append it, so each script only ever rewrites its own part of docs/BENCHMARKS.md.
 */
export function writeSection(file: string, name: string, section: string): void {
  const begin = `<!-- bench/${name}: begin -->`;
  const end = `<!-- bench/${name}: end -->`;
  const block = `${begin}\n${section.trimEnd()}\n${end}`;
  let text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a >= 0 && b > a) text = text.slice(0, a) + block + text.slice(b + end.length);
  else text = text.replace(/\n*$/, '\n\n') + block + '\n';
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, text);
}

/** Shared `--flag value` / `--flag=value` parsing; `handle` returns false for an unknown flag. */
export function parseFlags(argv: string[], usage: (msg?: string) => never, handle: (flag: string, val: () => string) => boolean): void {
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split(/=(.*)/s, 2);
    const val = () => inline ?? argv[++i] ?? usage(`${flag} needs a value`);
    if (flag === '-h' || flag === '--help') usage();
    if (!handle(flag, val)) usage(`unknown option ${argv[i]}`);
  }
}

export function parseVariants(list: string, usage: (msg?: string) => never): Variant[] {
  const specs = list.split(',').map((s) => s.trim()).filter(Boolean);
  const out = specs.map((s) => parseVariant(s) ?? usage(`--servers: unknown server ${s}; use ${VARIANT_HELP}`));
  if (new Set(specs).size !== specs.length) usage('--servers: a server is listed twice');
  return out;
}

export function positiveInt(flag: string, v: string, usage: (msg?: string) => never): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) usage(`${flag} must be a positive integer`);
  return n;
}

/** Every benchmark's start: root (network namespaces need it), and the namespaces of an earlier run that died removed. */
export function preflight(usage: (msg?: string) => never): void {
  if (process.getuid?.() !== 0) usage('needs root (network namespaces)');
  const stale = removeStaleNamespaces();
  if (stale.removed.length) console.error(`removed stale namespaces: ${stale.removed.join(' ')}`);
}
