import { spawn, type ChildProcess } from 'node:child_process';
import { Channel } from '../ipc/channel';
import { workerToMain, type MainToWorker, type WorkerConfig, type WorkerToMain } from '../ipc/messages';
import { closeFd, seqpacketPair } from '../native';
import type { Logger } from '../common/log';
import type { RunAs } from './privileges';
import { WorkerMemoryWatch, workerHeapArgs, type ReplacedWorker } from './worker-memory';
import { niceFor, ownNice, setNice } from './worker-weight';

export interface WorkerProc {
  id: number;
  proc: ChildProcess;
  channel: Channel<WorkerToMain, MainToWorker>;
  conns: Set<number>;
  /** connections this worker has been given over its life */
  served: number;
  /** asked to exit: gets no new connections */
  retiring: boolean;
  /** started with certificates a reload replaced: serves its clients, gets no new ones */
  stale?: boolean;
  /** why main is ending it (worker-memory-limit): its exit is no crash */
  replaced?: string;
  /** its nice value: main's at start, then the one main gave it for its clients (src/main/worker-weight.ts) */
  nice: number;
}

export interface WorkerPoolOptions {
  script: string;
  runAs: RunAs;
  clientsPerWorker: number;
  /** idle pre-started workers kept ready, so a new client never waits for a process start */
  idle: number;
  log: Logger;
  init: MainToWorker['worker.init'] extends infer T ? Omit<T, 'workerId'> : never;
  /** hands sec-mod its end of the new worker's channel */
  attachToSecmod(workerId: number, fd: number): void;
  setup(w: WorkerProc): void;
  onExit(w: WorkerProc, why: string): void;
  env?: NodeJS.ProcessEnv;
  /** worker-memory-limit in MiB (0: none), read when used so a reload applies */
  memoryLimitMiB?(): number;
  /** sessions a worker carries, for the log line when it is replaced */
  sessionsOf?(w: WorkerProc): number;
}

/**
 * Starts, feeds and reaps worker processes. With clients-per-worker = 1 (ocserv's model)
 * each client gets a process of its own that exits when its connection ends, and `idle`
 * pre-started processes hide the start-up. With more per worker (the default), clients
 * are spread over at least `idle` workers, least loaded first, so every core carries
 * traffic; a new worker starts only when all are full.
 */
export class WorkerPool {
  private readonly workers = new Map<number, WorkerProc>();
  private nextId = 1;
  private stopping = false;
  /** setpriority failed once (no CAP_SYS_NICE): workers keep the default weight */
  private unweighted = false;
  /** main's nice value, which workers inherit and their weight counts from */
  private readonly baseNice = ownNice();
  private readonly memoryWatch?: WorkerMemoryWatch;
  /** workers main ended, by reason (metrics) */
  readonly replacements = new Map<string, number>();

  constructor(private readonly o: WorkerPoolOptions) {
    const limit = o.memoryLimitMiB;
    if (limit) {
      this.memoryWatch = new WorkerMemoryWatch({
        log: o.log,
        limitMiB: limit,
        workers: () => [...this.workers.values()].filter((w) => !w.replaced && !w.retiring).map((w) => ({ id: w.id, pid: w.proc.pid })),
        replace: (id) => this.replace(id, 'memory'),
      });
    }
  }

  start(): void {
    this.topUp();
    this.memoryWatch?.start();
  }

  get size(): number { return this.workers.size; }

  /**
   * Reloaded certificates: workers started from now on get them; running ones keep their
   * clients and take no new connection, and go when their last client does.
   */
  renewTls(tls: WorkerPoolOptions['init']['tls']): void {
    this.o.init = { ...this.o.init, tls };
    this.staleAll();
  }

  /**
   * A reloaded configuration: workers read theirs once, at start, so when it changed the
   * running ones make way for fresh ones the same way (shared workers live long).
   */
  reconfigure(config: Partial<WorkerConfig>): void {
    const next = { ...this.o.init.config, ...config };
    if (JSON.stringify(next) === JSON.stringify(this.o.init.config)) return;
    this.o.init = { ...this.o.init, config: next };
    this.staleAll();
  }

  private staleAll(): void {
    for (const w of this.workers.values()) {
      w.stale = true;
      if (w.conns.size === 0 && !w.retiring) this.retire(w);
    }
    this.topUp();
  }

  all(): IterableIterator<WorkerProc> { return this.workers.values(); }
  get(id: number): WorkerProc | undefined { return this.workers.get(id); }

  /** Gives an accepted TCP connection to a worker with room; the caller still owns (and closes) fd. */
  assign(fd: number, info: MainToWorker['conn.new']): WorkerProc {
    const w = this.pick() ?? this.spawnWorker();
    w.conns.add(info.connId);
    w.served++;
    w.channel.send('conn.new', info, [fd]);
    this.weigh(w);
    this.topUp();
    return w;
  }

  connClosed(w: WorkerProc, connId: number): void {
    if (!w.conns.delete(connId)) return;
    this.weigh(w);
    // One client per process: once its connection is gone the process is retired, so no
    // memory of one user's session can leak into another's.
    if (w.conns.size > 0) return;
    if (this.o.clientsPerWorker === 1 || w.stale) this.retire(w);
    // An empty shared worker beyond the ones kept ready goes, so memory follows the load.
    else if (this.withRoom() > this.o.idle) this.retire(w);
  }

  /**
   * Ends a worker at once, as a crash would: no new client goes to it and its clients'
   * connections drop, so openconnect reconnects with its cookie (to another worker) and
   * gets its address back. Not SIGTERM: that is the shutdown path, where the worker tells
   * every client the server terminated the session, which spends the cookie and makes
   * openconnect give up.
   */
  replace(id: number, reason: string): ReplacedWorker | undefined {
    const w = this.workers.get(id);
    if (this.stopping || !w || w.replaced || w.proc.exitCode !== null || w.proc.signalCode !== null) return undefined;
    const served = { sessions: this.o.sessionsOf?.(w) ?? 0, connections: w.conns.size };
    w.replaced = reason;
    w.stale = true;
    this.replacements.set(reason, (this.replacements.get(reason) ?? 0) + 1);
    w.proc.kill('SIGKILL');
    this.topUp();
    return served;
  }

  stop(): void {
    this.stopping = true;
    this.memoryWatch?.stop();
    for (const w of this.workers.values()) w.proc.kill('SIGTERM');
  }

  private hasRoom(w: WorkerProc): boolean {
    if (w.retiring || w.stale || w.conns.size >= this.o.clientsPerWorker) return false;
    return this.o.clientsPerWorker > 1 || w.served === 0;
  }

  /**
   * The least loaded worker with room: spreads clients (and their crypto) over the cores.
   * Among equals, the one that served fewest: logins one at a time then take turns rather
   * than all landing on the first worker, so every worker has run (and compiled) the login
   * code before a burst comes; a cold worker spent twice the CPU per login.
   */
  private pick(): WorkerProc | undefined {
    let best: WorkerProc | undefined;
    for (const w of this.workers.values()) {
      if (!this.hasRoom(w)) continue;
      if (!best || w.conns.size < best.conns.size || (w.conns.size === best.conns.size && w.served < best.served)) best = w;
    }
    return best;
  }

  /** A shared worker gets the CPU weight of the clients it serves (one client: main's). */
  private weigh(w: WorkerProc): void {
    const pid = w.proc.pid;
    const nice = niceFor(w.conns.size, this.baseNice);
    if (nice === w.nice || this.unweighted || pid === undefined || w.retiring) return;
    try {
      setNice(pid, nice);
      w.nice = nice;
    } catch (err) {
      if ((err as { info?: { code?: string } }).info?.code === 'ESRCH') return; // exited; its exit event is on the way
      this.unweighted = true;
      this.o.log.warn({ err: (err as Error).message }, 'cannot set the CPU weight of shared workers (setpriority); they run at the default weight');
    }
  }

  /** workers that can take a client now (for clients-per-worker = 1: the unused ones) */
  private withRoom(): number {
    let n = 0;
    for (const w of this.workers.values()) if (this.hasRoom(w)) n++;
    return n;
  }

  private topUp(): void {
    if (this.stopping) return;
    for (let n = this.withRoom(); n < this.o.idle; n++) this.spawnWorker();
  }

  private retire(w: WorkerProc): void {
    w.retiring = true;
    w.channel.close('retired');
    w.proc.kill('SIGTERM');
  }

  private spawnWorker(): WorkerProc {
    const id = this.nextId++;
    const [mainEnd, workerMainEnd] = seqpacketPair();
    const [secmodEnd, workerSecmodEnd] = seqpacketPair();
    // OCSERV_TS_WORKER_NODE_ARGS: extra node flags for workers (profiling: --cpu-prof ...)
    const nodeArgs = (process.env.OCSERV_TS_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const heap = workerHeapArgs(this.o.memoryLimitMiB?.() ?? 0);
    const proc = spawn(process.execPath, [...heap, ...nodeArgs, this.o.script], {
      stdio: ['ignore', 'inherit', 'inherit', workerMainEnd, workerSecmodEnd],
      uid: this.o.runAs.uid,
      gid: this.o.runAs.gid,
      cwd: '/',
      env: { ...(this.o.env ?? process.env), OCSERV_TS_WORKER_ID: String(id) },
    });
    closeFd(workerMainEnd);
    closeFd(workerSecmodEnd);
    this.o.attachToSecmod(id, secmodEnd);
    closeFd(secmodEnd);
    const channel = new Channel<WorkerToMain, MainToWorker>(mainEnd, {
      name: `main<-worker${id}`,
      log: this.o.log,
      validators: workerToMain,
    });
    const w: WorkerProc = { id, proc, channel, conns: new Set(), served: 0, retiring: false, nice: this.baseNice };
    this.workers.set(id, w);
    // A worker that sends anything malformed is treated as compromised.
    channel.onClose((reason) => {
      if (reason !== 'retired' && proc.exitCode === null) proc.kill('SIGKILL');
    });
    let gone = false;
    const onGone = (why: string) => {
      if (gone) return;
      gone = true;
      this.workers.delete(id);
      channel.close('worker exited');
      this.o.onExit(w, why);
      // A worker that dies before serving anyone points at a start-up fault: retry slowly, not in a loop.
      if (w.served === 0) setTimeout(() => this.topUp(), 1000).unref();
      else this.topUp();
    };
    proc.on('exit', (code, signal) => onGone(w.replaced ? `replaced for ${w.replaced}` : signal ? `killed by ${signal}` : `exit code ${code}`));
    proc.on('error', (err) => {
      this.o.log.error({ err: err.message }, 'cannot start worker');
      onGone(`spawn error: ${err.message}`);
    });
    this.o.setup(w);
    channel.send('worker.init', { ...this.o.init, workerId: id });
    return w;
  }
}
