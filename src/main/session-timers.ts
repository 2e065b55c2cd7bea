import type { Logger } from '../common/log';
import type { SessionStats, TerminateCause } from '../ipc/messages';
import type { MainSession, SessionTable } from './sessions';
import { tunCounters } from './tun-stats';

/** How often sessions are looked at; timeouts and reports are this precise. */
const TICK_MS = 1000;

export interface SessionTimerContext {
  log: Logger;
  sessions: SessionTable;
  terminate(s: MainSession, reason: string, cause: TerminateCause): void;
  report(s: MainSession, stats: SessionStats): void;
}

/**
 * session-timeout, idle-timeout (mobile-idle-timeout for phones) and the periodic traffic
 * reports accounting needs. Activity is read from the kernel's counters of each session's
 * tun (packets the client sent), so no per-packet work happens anywhere for this.
 */
export class SessionTimers {
  private timer?: NodeJS.Timeout;

  constructor(private readonly c: SessionTimerContext, private readonly now: () => number = Date.now) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  tick(): void {
    const now = this.now();
    for (const s of [...this.c.sessions.all()]) {
      if (s.endCause) continue;
      if (s.sessionTimeout > 0 && now - s.loginAt >= s.sessionTimeout * 1000) {
        this.c.log.info({ user: s.username, sid: s.sid, limit: s.sessionTimeout }, 'session timeout');
        this.c.terminate(s, 'session timeout', 'session-timeout');
        continue;
      }
      const reportDue = s.reportEvery > 0 && now - s.lastReport >= s.reportEvery * 1000;
      // sysfs is read only for a session that needs its counters now: main looks at every
      // session every second, and most have no idle-timeout and no report due
      if (s.idleTimeout === 0 && !reportDue) continue;
      const stats = tunCounters(s.tunName);
      if (stats && stats.rxPackets !== s.lastRxPackets) {
        s.lastRxPackets = stats.rxPackets;
        s.lastActivity = now;
      }
      if (s.idleTimeout > 0 && now - s.lastActivity >= s.idleTimeout * 1000) {
        this.c.log.info({ user: s.username, sid: s.sid, limit: s.idleTimeout }, 'idle timeout');
        this.c.terminate(s, 'idle timeout', 'idle-timeout');
        continue;
      }
      if (reportDue && stats) {
        s.lastReport = now;
        this.c.report(s, stats);
      }
    }
  }

}
