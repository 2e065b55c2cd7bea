/**
 * What main serves to administrators besides occtl: the Prometheus endpoint
 * (metrics-listen) and the status page (status-listen). Both optional; neither costs
 * anything when not configured.
 */
import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import type { Admin } from './admin';
import { Metrics } from './metrics';
import type { SecmodProcess } from './secmod-proc';
import type { SessionTable } from './sessions';
import { StatusPage } from './status-page';
import { TrafficBook, TrafficHistory } from './traffic';
import type { WorkerPool } from './workers';

export interface OperationsSources {
  config: Config;
  log: Logger;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
  secmod: SecmodProcess;
  admin: Admin;
  version: string;
}

export interface Operations { stop(): void }

/** Rejects when an endpoint cannot listen (the address is taken): main then does not start. */
export async function startOperations(o: OperationsSources): Promise<Operations> {
  const { metricsListen, statusListen } = o.config;
  if (!metricsListen && !statusListen) return { stop: () => {} };
  const traffic = new TrafficBook(o.sessions);
  const parts: Array<{ stop(): void }> = [traffic];
  const stopAll = () => { for (const p of parts.reverse()) p.stop(); };
  try {
    if (metricsListen) {
      const metrics = new Metrics({
        log: o.log, sessions: o.sessions, workers: o.workers, secmod: o.secmod, bans: o.admin.bans, stats: o.admin.stats, traffic,
      }, metricsListen);
      parts.push(metrics);
      await metrics.start();
    }
    if (statusListen) {
      const page = new StatusPage({
        log: o.log, sessions: o.sessions, workers: o.workers, traffic,
        history: new TrafficHistory(traffic, o.sessions), startedAt: o.admin.stats.startedAt, version: o.version,
      }, statusListen);
      parts.push(page);
      await page.start();
    }
  } catch (err) {
    stopAll();
    throw err;
  }
  return { stop: stopAll };
}
