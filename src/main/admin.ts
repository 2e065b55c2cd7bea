import { loadConfig, type Config, type ConfigWarning } from '../common/config';
import type { Logger } from '../common/log';
import { BanList, banSettingsOf } from './bans';
import { ControlServer } from './control-server';
import { clientFacing } from './client-facing';
import { ControlService } from './control-service';
import type { SecmodProcess } from './secmod-proc';
import { ServerStats } from './server-stats';
import type { SessionTable } from './sessions';
import type { SecmodToMain } from '../ipc/messages';
import type { WorkerPool } from './workers';
import type { Cluster } from './cluster/cluster';

/** What the administrator's side of main needs from MainServer. */
export interface AdminHooks {
  log: Logger;
  config(): Config;
  /** the configuration new sessions get from now on */
  setConfig(c: Config): void;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
  secmod: SecmodProcess;
  /** session-store: the cluster this server is part of */
  cluster(): Cluster | undefined;
  /** throws when the certificates and keys of a new configuration cannot be used */
  checkTls(c: Config): void;
  /** hands new workers the certificates of `c`; keyBase from sec-mod's reload */
  renewTls(c: Config, keyBase: number | undefined): void;
}

/**
 * Options bound at start (sockets, addresses, processes): a reload keeps their
 * running values and says that they need a restart, as ocserv does for its own.
 */
const RESTART_ONLY: Array<keyof Config> = [
  'listenHost', 'tcpPort', 'udpPort', 'runAsUser', 'runAsGroup', 'socketFile', 'pidFile', 'useOcctl', 'occtlSocketFile',
  'occtlGroup', 'ipv4', 'device', 'clientsPerWorker', 'predictableIps', 'udpListenHost', 'tlsPriorities', 'dhParams',
  'metricsListen', 'statusListen', 'sessionStore', 'listenNetns', 'chrootDir',
  // ocserv reads these once (its permanent configuration)
  'logLevel', 'serverStatsResetTime',
];

const BAN_CLEANUP_MS = 60_000;

/**
 * main's administrator side: the ban list, the statistics, the occtl control socket and
 * configuration reload (occtl reload or SIGHUP).
 */
export class Admin {
  readonly bans: BanList;
  readonly stats = new ServerStats();
  private readonly service: ControlService;
  private server?: ControlServer;
  private cleanup?: NodeJS.Timeout;
  private readonly onHup = () => { void this.reload(); };

  constructor(private readonly h: AdminHooks) {
    this.bans = new BanList(banSettingsOf(h.config()), h.log);
    this.stats.resetAfterS = h.config().serverStatsResetTime;
    this.service = new ControlService({
      log: h.log,
      config: h.config,
      sessions: h.sessions,
      workers: h.workers,
      secmod: h.secmod,
      cluster: h.cluster,
      bans: this.bans,
      stats: this.stats,
      reload: () => this.reload(),
      // the same path as a SIGTERM: index.ts stops the server and exits
      stop: () => process.kill(process.pid, 'SIGTERM'),
    });
  }

  start(): void {
    const c = this.h.config();
    if (c.useOcctl) {
      this.server = new ControlServer({ path: c.occtlSocketFile, group: c.occtlGroup, log: this.h.log, register: (ch) => this.service.register(ch) });
      this.server.start();
    } else {
      this.h.log.info('not using the occtl control socket (use-occtl is not set)');
    }
    this.cleanup = setInterval(() => this.bans.cleanup(), BAN_CLEANUP_MS);
    this.cleanup.unref();
    process.on('SIGHUP', this.onHup);
  }

  stop(): void {
    process.off('SIGHUP', this.onHup);
    clearInterval(this.cleanup);
    this.service.close();
    this.server?.stop();
  }

  /** true: refuse this new connection (its address is banned). */
  refuse(ip: string): boolean {
    return this.bans.refuseConnection(ip);
  }

  private refused(message: string): { ok: false; message: string } {
    this.h.log.error({ err: message }, 'reload failed; the configuration in use is unchanged');
    return { ok: false, message };
  }

  async reload(): Promise<{ ok: boolean; message?: string }> {
    const current = this.h.config();
    const warnings: ConfigWarning[] = [];
    let next: Config;
    try {
      next = loadConfig(current.file, warnings);
    } catch (err) {
      return this.refused((err as Error).message);
    }
    for (const w of warnings.filter((x) => !x.notYet)) this.h.log.warn({ file: w.file, line: w.line }, w.message);
    const kept: string[] = [];
    const merged = { ...next } as Record<keyof Config, unknown>;
    for (const k of RESTART_ONLY) {
      if (JSON.stringify(current[k]) !== JSON.stringify(next[k])) kept.push(k);
      merged[k] = current[k];
    }
    if (kept.length) this.h.log.warn({ options: kept }, 'changed options take effect only after a restart');
    next = merged as unknown as Config;
    try {
      this.h.checkTls(next);
    } catch (err) {
      return this.refused(`certificates: ${(err as Error).message}`);
    }
    let facing: ReturnType<typeof clientFacing>;
    try {
      facing = clientFacing(next, this.h.log);
    } catch (err) {
      return this.refused((err as Error).message);
    }
    // sec-mod next: if it cannot take the new file (keys, auth backends), nothing changes
    let keyBase: number | undefined;
    const ch = this.h.secmod.channel;
    if (ch && !ch.isClosed) {
      try {
        const r = await ch.request<'config.reload', SecmodToMain['config.reload.reply']>('config.reload', {}, undefined, 5000);
        if (!r.body.ok) return this.refused(`sec-mod: ${r.body.message ?? 'reload failed'}`);
        keyBase = r.body.keyBase;
      } catch (err) {
        return this.refused(`sec-mod: ${(err as Error).message}`);
      }
    }
    try {
      this.h.renewTls(next, keyBase);
    } catch (err) {
      // (a file changed again since checkTls) workers keep the certificates they have
      return this.refused(`certificates: ${(err as Error).message}`);
    }
    this.h.setConfig(next);
    this.bans.configure(banSettingsOf(next));
    this.h.workers()?.reconfigure({
      authTimeout: next.authTimeout,
      cookieTimeout: next.cookieTimeout,
      keepalive: next.keepalive,
      dpd: next.dpd,
      mobileDpd: next.mobileDpd,
      banner: next.banner,
      tunnel: next.tunnel,
      ...facing,
    });
    this.h.log.info({ config: current.file }, 'configuration reloaded; new sessions use it');
    return { ok: true };
  }
}
