/**
 * `npm run fuzz`: every fuzz target (bench/fuzz/targets) for --runs inputs each, one child
 * process per target, so a hang (no progress for --hang-s) or a crash of the process is
 * caught and reported with the seed of the chunk it happened in. Prints inputs/s, heap
 * before and after (after a full GC: growth means memory kept across inputs), peak RSS,
 * and, with --coverage, how much of each parser the inputs reached (V8 block coverage).
 *
 *   node dist/bench/fuzz/run.js [--targets a,b] [--runs 1000000] [--seed 1] [--chunk 10000]
 *        [--jobs 1] [--slow-ms 2000] [--hang-s 120] [--coverage] [--out docs/RELIABILITY.md]
 *
 * Reproducing: a failure prints its seed and fast-check path, and the shrunk input as hex;
 * `node dist/bench/fuzz/run.js --targets T --seed S --chunk N --runs N` replays the chunk;
 * the hex goes into test/fuzz/regressions.test.ts once the bug is fixed.
 */
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runChunk, type FuzzFailure } from './engine';
import { TARGET_NAMES, loadTarget } from './targets';
import { commandLine, machineInfo, parseFlags, positiveInt, writeSection } from '../common';

interface Options { targets: string[]; runs: number; seed: number; chunk: number; jobs: number; slowMs: number; hangS: number; coverage: boolean; out?: string }

type ChildMsg =
  | { kind: 'progress'; runs: number; ms: number; chunkSeed: number; heapMB: number }
  | { kind: 'done'; runs: number; ms: number; heapStartMB: number; heapEndMB: number; maxRssMB: number; rssEndMB: number; failure?: FuzzFailure };

// ---------------------------------------------------------------- child: one target

function gcHeapMB(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

/** A turn of the event loop: native objects' finalizers run here, as they do between datagrams in a server. */
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

async function child(name: string, o: Options): Promise<void> {
  const t = loadTarget(name);
  let runs = 0;
  let ms = 0;
  let heapStartMB = 0;
  let failure: FuzzFailure | undefined;
  for (let i = 0; runs < o.runs && !failure; i++) {
    const chunkSeed = o.seed + i;
    process.send!({ kind: 'progress', runs, ms, chunkSeed, heapMB: process.memoryUsage().heapUsed / 2 ** 20 } satisfies ChildMsg);
    const r = runChunk(t, chunkSeed, Math.min(o.chunk, o.runs - runs), o.slowMs);
    runs += r.runs;
    ms += r.ms;
    failure = r.failure;
    // the first chunk warms up (JIT, lazily built tables): memory is measured from after it
    if (i === 0) heapStartMB = gcHeapMB();
    await yieldToLoop();
  }
  const heapEndMB = gcHeapMB();
  await yieldToLoop();
  gcHeapMB();
  const rssEndMB = process.memoryUsage().rss / 2 ** 20;
  const maxRssMB = process.resourceUsage().maxRSS / 1024;
  process.send!({ kind: 'done', runs, ms, heapStartMB, heapEndMB, maxRssMB, rssEndMB, failure } satisfies ChildMsg, () => process.exit(0));
}

// ---------------------------------------------------------------- parent

interface Result {
  target: string;
  runs: number;
  ms: number;
  heapStartMB?: number;
  heapEndMB?: number;
  maxRssMB?: number;
  rssEndMB?: number;
  failure?: FuzzFailure;
  /** a hang or a crash of the process */
  abnormal?: string;
  coverage?: string;
}

function runTarget(name: string, o: Options): Promise<Result> {
  const covDir = o.coverage ? fs.mkdtempSync(path.join(os.tmpdir(), 'ocs-fuzz-cov-')) : undefined;
  const args = ['--child', name, ...process.argv.slice(2).filter((a) => a !== '--coverage')];
  const proc = fork(__filename, args, {
    execArgv: ['--expose-gc', '--max-old-space-size=2048', '--stack-size=984'],
    env: { ...process.env, ...(covDir ? { NODE_V8_COVERAGE: covDir } : {}) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000); });
  return new Promise((resolve) => {
    let last: ChildMsg | undefined;
    let lastAt = Date.now();
    let done: Extract<ChildMsg, { kind: 'done' }> | undefined;
    let hung = false;
    let lastReport = 0;
    const watchdog = setInterval(() => {
      if (Date.now() - lastAt > o.hangS * 1000) {
        hung = true;
        proc.kill('SIGKILL');
      }
    }, 1000);
    proc.on('message', (m: ChildMsg) => {
      last = m;
      lastAt = Date.now();
      if (m.kind === 'done') done = m;
      else if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        const rate = m.ms > 0 ? Math.round(m.runs / (m.ms / 1000)) : 0;
        process.stderr.write(`  ${name}: ${m.runs.toLocaleString('en')} inputs, ${rate.toLocaleString('en')}/s, heap ${m.heapMB.toFixed(0)} MB\n`);
      }
    });
    proc.on('exit', (code, signal) => {
      clearInterval(watchdog);
      const chunkSeed = last && last.kind === 'progress' ? last.chunkSeed : undefined;
      const r: Result = { target: name, runs: done?.runs ?? (last?.runs ?? 0), ms: done?.ms ?? (last?.ms ?? 0) };
      if (done) Object.assign(r, { heapStartMB: done.heapStartMB, heapEndMB: done.heapEndMB, maxRssMB: done.maxRssMB, rssEndMB: done.rssEndMB, failure: done.failure });
      else if (hung) r.abnormal = `hang: no progress for ${o.hangS} s in the chunk with seed ${chunkSeed} (replay: --targets ${name} --seed ${chunkSeed} --runs ${o.chunk} --chunk ${o.chunk})`;
      else r.abnormal = `process ended (${signal ?? `exit code ${code}`}) in the chunk with seed ${chunkSeed}:\n${stderr.trim()}`;
      if (covDir) {
        try {
          r.coverage = coverageOf(covDir, loadTarget(name).sources);
        } catch (err) {
          r.coverage = `coverage unavailable: ${(err as Error).message}`;
        }
        fs.rmSync(covDir, { recursive: true, force: true });
      }
      resolve(r);
    });
  });
}

// ---------------------------------------------------------------- coverage

interface V8Range { startOffset: number; endOffset: number; count: number }
interface V8Script { url: string; functions: { ranges: V8Range[] }[] }

/** Per source file: the share of its code blocks (V8's block ranges) that ran, and of its lines that ran at all. */
function coverageOf(dir: string, sources: string[]): string {
  const scripts: V8Script[] = [];
  for (const f of fs.readdirSync(dir)) scripts.push(...(JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')).result as V8Script[]));
  return sources.map((src) => {
    const s = scripts.find((x) => x.url.endsWith(`/dist/src/${src}`));
    if (!s) return `${src}: not loaded`;
    const file = new URL(s.url).pathname;
    const text = fs.readFileSync(file, 'utf8');
    const ranges = s.functions.flatMap((f) => f.ranges).sort((a, b) => a.startOffset - b.startOffset || b.endOffset - a.endOffset);
    const count = new Float64Array(text.length);
    for (const r of ranges) count.fill(r.count, r.startOffset, Math.min(r.endOffset, text.length));
    const blocks = ranges.filter((r) => r.endOffset - r.startOffset > 1);
    const blocksRun = blocks.filter((r) => r.count > 0).length;
    let lines = 0;
    let linesRun = 0;
    let off = 0;
    for (const line of text.split('\n')) {
      const code = line.trim();
      const isCode = code !== '' && !/^(\/\/|\/\*|\*|}|\)|];?$|\/\/# sourceMappingURL)/.test(code) && !/^[{}();,\s]*$/.test(code);
      if (isCode) {
        lines++;
        let ran = false;
        for (let i = off; i < off + line.length && !ran; i++) if (!/\s/.test(text[i]!) && count[i]! > 0) ran = true;
        if (ran) linesRun++;
      }
      off += line.length + 1;
    }
    const pct = (a: number, b: number) => (b ? `${Math.round((100 * a) / b)} %` : '—');
    return `${src}: lines ${pct(linesRun, lines)} (${linesRun}/${lines}), blocks ${pct(blocksRun, blocks.length)} (${blocksRun}/${blocks.length})`;
  }).join('; ');
}

// ---------------------------------------------------------------- report

function table(results: Result[], o: Options): string {
  const rows = results.map((r) => {
    const rate = r.ms > 0 ? Math.round(r.runs / (r.ms / 1000)).toLocaleString('en') : '—';
    const heap = r.heapStartMB !== undefined ? `${r.heapStartMB.toFixed(1)} → ${r.heapEndMB!.toFixed(1)}` : '—';
    const outcome = r.abnormal ? `**${r.abnormal.split('\n')[0]}**` : r.failure ? `**failure** (seed ${r.failure.seed}, path ${r.failure.path})` : 'no failure';
    const rss = r.maxRssMB !== undefined ? `${r.maxRssMB.toFixed(0)} / ${r.rssEndMB!.toFixed(0)}` : '—';
    return `| ${r.target} | ${r.runs.toLocaleString('en')} | ${rate} | ${heap} | ${rss} | ${outcome} |`;
  });
  const lines = [
    `Command: \`${commandLine()}\``,
    '',
    `Machine: ${machineInfo()}`,
    '',
    `Base seed ${o.seed}, ${o.chunk.toLocaleString('en')} inputs per chunk (chunk i uses seed ${o.seed} + i), slow-input limit ${o.slowMs} ms.`,
    '',
    '| target | inputs | inputs/s | heap after GC, MB (after chunk 1 → end) | RSS, MB (peak / end, after GC) | outcome |',
    '|---|---|---|---|---|---|',
    ...rows,
  ];
  const cov = results.filter((r) => r.coverage);
  if (cov.length) {
    lines.push('', 'Coverage of the compiled parser files by the same inputs (V8 block coverage; lines: share of code lines of which any part ran):', '');
    for (const r of cov) lines.push(`- **${r.target}**: ${r.coverage}`);
  }
  const failures = results.filter((r) => r.failure || r.abnormal);
  for (const r of failures) {
    lines.push('', `### ${r.target}`, '', '```', r.abnormal ?? '', ...(r.failure ? [`seed ${r.failure.seed} path ${r.failure.path}`, `input (hex): ${r.failure.inputHex.slice(0, 2000)}`, r.failure.error] : []), '```');
  }
  return lines.join('\n');
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`${msg}\n`);
  process.stderr.write(`usage: node dist/bench/fuzz/run.js [--targets ${TARGET_NAMES.join(',')}] [--runs N] [--seed S] [--chunk N] [--jobs J] [--slow-ms MS] [--hang-s S] [--coverage] [--out FILE]\n`);
  process.exit(msg ? 2 : 0);
}

function options(argv: string[]): Options & { child?: string } {
  const o: Options & { child?: string } = { targets: [...TARGET_NAMES], runs: 1_000_000, seed: 1, chunk: 10_000, jobs: 1, slowMs: 2000, hangS: 120, coverage: false };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--targets': o.targets = val().split(',').filter(Boolean); break;
      case '--runs': o.runs = positiveInt(flag, val(), usage); break;
      case '--seed': o.seed = Number(val()); if (!Number.isInteger(o.seed)) usage('--seed must be an integer'); break;
      case '--chunk': o.chunk = positiveInt(flag, val(), usage); break;
      case '--jobs': o.jobs = positiveInt(flag, val(), usage); break;
      case '--slow-ms': o.slowMs = positiveInt(flag, val(), usage); break;
      case '--hang-s': o.hangS = positiveInt(flag, val(), usage); break;
      case '--coverage': o.coverage = true; break;
      case '--out': o.out = val(); break;
      case '--child': o.child = val(); break;
      default: return false;
    }
    return true;
  });
  for (const n of o.targets) if (!(TARGET_NAMES as readonly string[]).includes(n)) usage(`unknown target ${n}`);
  return o;
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  if (o.child) return child(o.child, o);
  const queue = [...o.targets];
  const results: Result[] = [];
  const worker = async () => {
    for (let name = queue.shift(); name; name = queue.shift()) {
      process.stderr.write(`${name}: ${o.runs.toLocaleString('en')} inputs\n`);
      const r = await runTarget(name, o);
      process.stderr.write(`${name}: ${r.abnormal ? r.abnormal.split('\n')[0] : r.failure ? `FAILURE seed ${r.failure.seed} path ${r.failure.path}\n${r.failure.error}\ninput: ${r.failure.inputHex.slice(0, 400)}` : 'ok'}\n`);
      results.push(r);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.jobs, o.targets.length) }, worker));
  results.sort((a, b) => o.targets.indexOf(a.target) - o.targets.indexOf(b.target));
  const section = `### Figures of the last run\n\n${table(results, o)}\n`;
  process.stdout.write(section);
  if (o.out) writeSection(o.out, 'fuzz', section);
  process.exitCode = results.some((r) => r.failure || r.abnormal) ? 1 : 0;
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(2);
});
