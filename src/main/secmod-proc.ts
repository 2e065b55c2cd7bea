import { spawn, type ChildProcess } from 'node:child_process';
import { Channel } from '../ipc/channel';
import type { MainToSecmod, SecmodToMain } from '../ipc/messages';
import { closeFd, seqpacketPair } from '../native';
import type { Logger } from '../common/log';

/** First wait before restarting a dead sec-mod; doubled with each death in a row, up to the most. */
const RESTART_FIRST_MS = 500;
const RESTART_MAX_MS = 30_000;
/** a sec-mod that ran this long was healthy: its death starts the backoff over */
const RESTART_STABLE_MS = 60_000;

/**
 * The sec-mod child. It stays root (PAM needs it) but holds no network socket; main talks
 * to it over one channel and hands it each worker's channel.
 */
export class SecmodProcess {
  proc?: ChildProcess;
  channel?: Channel<SecmodToMain, MainToSecmod>;
  private stopping = false;
  /** deaths in a row without a stable run in between: a sec-mod that cannot start is not restarted in a tight loop */
  private deaths = 0;
  private startedAt = 0;
  private restartTimer?: NodeJS.Timeout;
  private readonly channelSetups: Array<(ch: Channel<SecmodToMain, MainToSecmod>) => void> = [];

  constructor(
    private readonly script: string,
    private readonly configPath: string,
    private readonly log: Logger,
    private readonly onRestart: () => void,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  start(): Promise<void> {
    const [mine, theirs] = seqpacketPair();
    // OCSERV_TS_SECMOD_NODE_ARGS: extra node flags for sec-mod (profiling), as for workers
    const nodeArgs = (process.env.OCSERV_TS_SECMOD_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const proc = spawn(process.execPath, [...nodeArgs, this.script, this.configPath], {
      stdio: ['ignore', 'inherit', 'inherit', theirs],
      cwd: '/',
      env: this.env,
    });
    closeFd(theirs);
    this.proc = proc;
    this.startedAt = Date.now();
    const channel = new Channel<SecmodToMain, MainToSecmod>(mine, { name: 'main<-sec-mod', log: this.log });
    this.channel = channel;
    for (const setup of this.channelSetups) setup(channel);
    proc.on('exit', (code, signal) => {
      channel.close('sec-mod exited');
      if (this.stopping) return;
      if (Date.now() - this.startedAt >= RESTART_STABLE_MS) this.deaths = 0;
      const inMs = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** Math.min(this.deaths, 16));
      this.deaths++;
      this.log.error({ crash: true, secmodPid: proc.pid, code, signal, restartInMs: inMs, deathsInARow: this.deaths }, 'sec-mod died; restarting it');
      this.restartTimer = setTimeout(() => {
        if (this.stopping) return;
        this.start().then(this.onRestart, (err) => this.log.error({ err: err.message }, 'sec-mod restart failed'));
      }, inMs);
    });
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('sec-mod did not start within 15 s')), 15_000);
      channel.on('secmod.ready', () => { clearTimeout(t); resolve(); });
      proc.once('exit', () => { clearTimeout(t); reject(new Error('sec-mod exited during start-up')); });
    });
  }

  /** Handlers for sec-mod's notifications, set on this channel and on every channel to a restarted sec-mod. */
  onChannel(setup: (ch: Channel<SecmodToMain, MainToSecmod>) => void): void {
    this.channelSetups.push(setup);
    if (this.channel && !this.channel.isClosed) setup(this.channel);
  }

  /** From now on an exit of sec-mod is expected (shutdown has begun), not a crash to repair. */
  expectExit(): void { this.stopping = true; }

  stop(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.channel?.close('shutdown');
    this.proc?.kill('SIGTERM');
  }
}
