/**
 * TLS handshakes per second with key isolation on (sec-mod signs every handshake for the
 * worker) and off (the worker holds the key), ECDSA P-256 and RSA-2048, TLS 1.3. Clients
 * in a namespace run full handshakes (no resumption) in a loop, several at a time; the
 * server serves them from shared workers (clients-per-worker), so the figure is the cost
 * of the handshake and its private-key operation, not of starting a Node process per
 * client. See bench/README.md. Needs root.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { createTopology, startServer, type KeyKind, type ServerHandle, type Topology } from '../test/helpers/netns';
import type { LoopSummary } from '../test/helpers/tls-handshake-loop';
import { serverProcs } from '../test/helpers/server-procs';
import { commandLine, machineInfo, parseFlags, positiveInt, preflight, serverComplaints, summarize, writeSection } from './common';

interface Options {
  keys: KeyKind[];
  seconds: number;
  /** handshakes in flight at once */
  concurrency: number;
  clientsPerWorker: number;
  rounds: number;
  port: number;
  out?: string;
}

interface Row {
  key: KeyKind;
  isolation: boolean;
  /** per round */
  rates: number[];
  failed: number;
  p50?: number;
  p99?: number;
  /** CPU time per handshake, µs, over all rounds */
  cpu: { worker: number; secmod: number; main: number; handshakes: number };
  error?: string;
}

/** /proc/PID/stat fields after the command name: [11] utime, [12] stime, [13] cutime, [14] cstime, in 10 ms ticks. */
function statTimes(pid: number): number[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  } catch {
    return undefined;
  }
}

interface CpuSnapshot { workers: Map<number, number>; secmod: number; main: number; reaped: number }

/**
 * CPU of the server's processes in µs. Workers come and go (a spare that empties is
 * retired), so a worker's time is taken while it lives and, once main has reaped it,
 * from main's children's time.
 */
function cpuNow(s: ServerHandle): CpuSnapshot {
  const p = serverProcs(s);
  const us = (t?: number[]) => (t ? (t[0] + t[1]) * 10_000 : 0);
  const m = statTimes(p.main);
  const workers = new Map<number, number>();
  for (const w of p.workers) { const t = statTimes(w); if (t) workers.set(w, us(t)); }
  return { workers, secmod: p.secmod.reduce((a, pid) => a + us(statTimes(pid)), 0), main: us(m), reaped: m ? (m[2] + m[3]) * 10_000 : 0 };
}

/** Worker CPU between two snapshots: live ones' growth, plus whatever main reaped minus what those had before. */
function workerCpu(before: CpuSnapshot, after: CpuSnapshot): number {
  let us = after.reaped - before.reaped;
  for (const [pid, t] of after.workers) us += t - (before.workers.get(pid) ?? 0);
  for (const [pid, t] of before.workers) if (!after.workers.has(pid)) us -= t;
  return us;
}

const USER = { name: 'bench', password: 'bench-password' };

function usage(msg?: string): never {
  if (msg) console.error(msg);
  console.error('usage: node dist/bench/handshakes.js [--keys ecdsa,rsa] [--seconds 3] [--concurrency 8] [--clients-per-worker 32] [--rounds 6] [--port 4443] [--out docs/BENCHMARKS.md]');
  process.exit(msg ? 2 : 0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { keys: ['ecdsa', 'rsa'], seconds: 3, concurrency: 8, clientsPerWorker: 32, rounds: 6, port: 4443 };
  parseFlags(argv, usage, (flag, val) => {
    switch (flag) {
      case '--keys': {
        const keys = val().split(',').map((k) => k.trim());
        if (!keys.every((k) => k === 'ecdsa' || k === 'rsa')) usage('--keys: ecdsa and/or rsa');
        o.keys = keys as KeyKind[];
        return true;
      }
      case '--seconds': o.seconds = positiveInt(flag, val(), usage); return true;
      case '--concurrency': o.concurrency = positiveInt(flag, val(), usage); return true;
      case '--clients-per-worker': o.clientsPerWorker = positiveInt(flag, val(), usage); return true;
      case '--rounds': o.rounds = positiveInt(flag, val(), usage); return true;
      case '--port': o.port = positiveInt(flag, val(), usage); return true;
      case '--out': o.out = val(); return true;
      default: return false;
    }
  });
  return o;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

async function loop(topo: Topology, s: ServerHandle, o: Options): Promise<{ summary: LoopSummary; ms: number[] }> {
  const script = path.join(__dirname, '..', 'test', 'helpers', 'tls-handshake-loop.js');
  const r = await topo.exec(topo.clientNs, process.execPath,
    [script, topo.serverIp, String(s.files.port), String(o.concurrency), String(o.seconds), 'TLSv1.3'],
    { env: { ...process.env, OCS_LOOP_EVENTS: '1' }, timeoutMs: (o.seconds + 60) * 1000 });
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { summary?: LoopSummary; ok?: boolean; ms?: number });
  const summary = lines.find((l) => l.summary)?.summary;
  if (!summary) throw new Error(`handshake loop: no summary (exit ${r.code}): ${r.stderr.slice(-500)}`);
  return { summary, ms: lines.filter((l) => l.ok).map((l) => l.ms!) };
}

/**
 * Both servers (isolation on and off) run side by side and take turns, round by round in
 * alternating order, so that load from elsewhere on the machine falls on both alike.
 */
async function measurePair(key: KeyKind, o: Options): Promise<Row[]> {
  const rows: Row[] = [true, false].map((isolation) => ({ key, isolation, rates: [], failed: 0, cpu: { worker: 0, secmod: 0, main: 0, handshakes: 0 } }));
  const topo = await createTopology();
  const servers: ServerHandle[] = [];
  try {
    for (const [i, row] of rows.entries()) {
      servers.push(await startServer(topo, {
        kind: 'ocserv-ts', users: [USER], keys: [key], port: o.port + i, udp: false,
        extraConfig: `clients-per-worker = ${o.clientsPerWorker}\nkey-isolation = ${row.isolation}`,
      }));
    }
    for (const s of servers) await loop(topo, s, { ...o, seconds: 1 }); // warm-up: workers started, code compiled
    const ms: number[][] = [[], []];
    for (let round = 0; round < o.rounds; round++) {
      for (const i of round % 2 ? [1, 0] : [0, 1]) {
        const before = cpuNow(servers[i]);
        const r = await loop(topo, servers[i], o);
        const after = cpuNow(servers[i]);
        const cpu = rows[i].cpu;
        cpu.worker += workerCpu(before, after);
        cpu.secmod += after.secmod - before.secmod;
        cpu.main += after.main - before.main;
        cpu.handshakes += r.summary.ok;
        rows[i].rates.push(r.summary.perSecond);
        rows[i].failed += r.summary.failed;
        ms[i].push(...r.ms);
        console.error(`${key} isolation=${rows[i].isolation} round ${round + 1}: ${r.summary.perSecond.toFixed(0)}/s, ${r.summary.failed} failed`);
      }
    }
    rows.forEach((row, i) => { row.p50 = percentile(ms[i], 0.5); row.p99 = percentile(ms[i], 0.99); });
    for (const s of servers) for (const c of serverComplaints(s.output())) if (!/key-isolation = false/.test(c)) console.error(`  server: ${c}`);
  } catch (err) {
    for (const row of rows) row.error = summarize(err);
  } finally {
    for (const s of servers) await s.stop();
    await topo.cleanup();
  }
  return rows;
}

function section(rows: Row[], o: Options, machine: string): string {
  const out: string[] = [];
  out.push('## TLS handshakes per second: key isolation on and off', '');
  out.push(`${new Date().toISOString()} — \`${commandLine()}\``, '');
  out.push(`Machine: ${machine}.`);
  out.push(`Clients in a network namespace on this machine run full TLS 1.3 handshakes (new TCP connection, no resumption), ${o.concurrency} at a time, `
    + `for ${o.seconds} s per round. The two servers of a key type (isolation on and off) run side by side and take turns, ${o.rounds} rounds each in alternating order `
    + 'after a 1 s warm-up, so load from elsewhere falls on both alike; the median round is reported, and the ratio is that of the medians. The servers run with '
    + `\`clients-per-worker = ${o.clientsPerWorker}\`, so handshakes share warm workers (with the default 1, every handshake would also pay for a Node process start). `
    + `With key isolation each handshake's signature is a round trip worker → sec-mod → worker on a Unix socket, during which that worker's event loop waits; `
    + 'the ratio is isolation on / off for the same key. Handshake ms are client-side, connect to finished.', '');
  out.push('CPU µs per handshake: utime + stime of the server\'s processes over all rounds, divided by the handshakes (the work each handshake costs '
    + 'the worker, sec-mod and main, whether or not the client loop, which shares the 2 cores, was the limit).', '');
  out.push('| server key | key-isolation | handshakes/s (median) | rounds | ratio on/off | worker CPU µs/handshake | sec-mod CPU µs/handshake | main CPU µs/handshake | median ms | p99 ms | failed |');
  out.push('|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    if (r.error) { out.push(`| ${r.key} | ${r.isolation ? 'on' : 'off'} | error: ${r.error} | | | | | | | | |`); continue; }
    const per = (us: number) => (r.cpu.handshakes ? (us / r.cpu.handshakes).toFixed(0) : '—');
    const off = rows.find((x) => x.key === r.key && !x.isolation && !x.error);
    const ratio = r.isolation && off ? (median(r.rates) / median(off.rates)).toFixed(2) : '—';
    out.push(`| ${r.key === 'ecdsa' ? 'ECDSA P-256' : 'RSA-2048'} | ${r.isolation ? 'on (default)' : 'off'} | ${median(r.rates).toFixed(0)} | `
      + `${r.rates.map((x) => x.toFixed(0)).join(', ')} | ${ratio} | ${per(r.cpu.worker)} | ${per(r.cpu.secmod)} | ${per(r.cpu.main)} | ${r.p50} | ${r.p99} | ${r.failed} |`);
  }
  return out.join('\n') + '\n';
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  preflight(usage);
  const machine = machineInfo();
  const rows: Row[] = [];
  for (const key of o.keys) rows.push(...(await measurePair(key, o)));
  const text = section(rows, o, machine);
  process.stdout.write(text);
  if (o.out) writeSection(o.out, 'handshakes', text);
  if (rows.some((r) => r.error || r.failed)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
