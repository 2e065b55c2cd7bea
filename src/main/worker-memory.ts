/**
 * worker-memory-limit: main samples each worker's resident memory and replaces a worker that
 * has grown past the bound (a leak, a pathological client), so that one worker's growth
 * costs its own clients a reconnection, not the machine's memory and the kernel OOM killer's
 * choice of victim, which may be main or sec-mod and with them every session.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from '../common/log';

export const MIB = 1024 * 1024;
/** how often the workers are measured: one read of /proc/PID/status each, so cheap */
export const SAMPLE_MS = 5000;

/**
 * The process's resident set (VmRSS: what ps and top show), or undefined once it is gone
 * (a zombie has no VmRSS line). RSS rather than PSS: it does not move when other workers
 * come and go, so a bound trips for this worker's own growth only.
 */
export async function residentBytes(pid: number): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'latin1');
  } catch {
    return undefined;
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) * 1024 : undefined;
}

/**
 * Node flags for a worker started under a bound: V8's old space may not outgrow it. A heap
 * that grows faster than the sampling can see is then stopped by V8 itself (the worker
 * aborts, which its clients see as a worker crash: they reconnect the same way). The whole
 * process always holds more than its heap, so the sampling acts first on slower growth.
 */
export function workerHeapArgs(limitMiB: number): string[] {
  return limitMiB > 0 ? [`--max-old-space-size=${limitMiB}`] : [];
}

/** A worker as the watcher sees it. */
export interface WatchedWorker {
  id: number;
  pid: number | undefined;
}

/** What a replaced worker was serving, for the log line. */
export interface ReplacedWorker {
  sessions: number;
  connections: number;
}

export interface WorkerMemoryOptions {
  log: Logger;
  /** the bound in MiB, 0 for none; read at every sample, so a reload applies at once */
  limitMiB(): number;
  /** the workers to measure (not those already on their way out) */
  workers(): Iterable<WatchedWorker>;
  /** ends a worker that is over the bound; undefined if it was already gone */
  replace(id: number): ReplacedWorker | undefined;
  periodMs?: number;
}

/**
 * Measures the workers every periodMs, one after the other and never two passes at once, so
 * that thousands of one-client workers cost main a trickle of small reads, not a burst.
 */
export class WorkerMemoryWatch {
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(private readonly o: WorkerMemoryOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.sample().catch((err: Error) => this.o.log.error({ err: err.message }, 'worker memory sampling failed'))
        .finally(() => this.schedule());
    }, this.o.periodMs ?? SAMPLE_MS);
    this.timer.unref();
  }

  /** One pass over the workers; resolves with the ids of those replaced. */
  async sample(): Promise<number[]> {
    const replaced: number[] = [];
    for (const w of [...this.o.workers()]) {
      // read again for each worker: a reload may have changed or lifted the bound meanwhile
      const limitMiB = this.o.limitMiB();
      if (limitMiB <= 0) break;
      if (w.pid === undefined) continue;
      const rss = await residentBytes(w.pid);
      if (rss === undefined || rss <= limitMiB * MIB) continue;
      const served = this.o.replace(w.id);
      if (!served) continue;
      replaced.push(w.id);
      this.o.log.warn({
        worker: w.id, workerPid: w.pid, rssMiB: Math.round(rss / MIB), limitMiB, ...served,
      }, 'worker over worker-memory-limit: replaced; its clients reconnect to another worker');
    }
    return replaced;
  }
}
