import { spawn, type ChildProcess } from 'node:child_process';
import { Channel } from '../ipc/channel';
import type { MainToSecmod, SecmodToMain } from '../ipc/messages';
import { closeFd, seqpacketPair } from '../native';
import type { Logger } from '../common/log';

/**
 * The sec-mod child. It stays root (PAM needs it) but holds no network socket; main talks
 * to it over one channel and hands it each worker's channel.
 */
export class SecmodProcess {
  proc?: ChildProcess;
  channel?: Channel<SecmodToMain, MainToSecmod>;
  private stopping = false;
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
    const proc = spawn(process.execPath, [this.script, this.configPath], {
      stdio: ['ignore', 'inherit', 'inherit', theirs],
      cwd: '/',
      env: this.env,
    });
    closeFd(theirs);
    this.proc = proc;
    const channel = new Channel<SecmodToMain, MainToSecmod>(mine, { name: 'main<-sec-mod', log: this.log });
    this.channel = channel;
    for (const setup of this.channelSetups) setup(channel);
    proc.on('exit', (code, signal) => {
      channel.close('sec-mod exited');
      if (this.stopping) return;
      this.log.error({ code, signal }, 'sec-mod died; restarting it');
      setTimeout(() => this.start().then(this.onRestart, (err) => this.log.error({ err: err.message }, 'sec-mod restart failed')), 500);
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
    this.channel?.close('shutdown');
    this.proc?.kill('SIGTERM');
  }
}
