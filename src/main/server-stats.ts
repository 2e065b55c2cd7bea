import type { AuthFailure } from '../ipc/messages';

export interface LoginObserver {
  succeeded?(ms: number): void;
  /** `why` is absent when sec-mod did not say */
  failed?(why: AuthFailure | undefined): void;
}

/** ocserv's default server-stats-reset-time: weekly */
export const DEFAULT_STATS_RESET_S = 7 * 24 * 3600;

/**
 * The counters behind `occtl show status`, kept in main. ocserv refreshes its figures at
 * stats intervals; these change the moment a session ends or a login fails, and main adds
 * the live sessions' traffic when it answers.
 *
 * As in ocserv, the figures of the current period (sessions handled, timeouts, errors,
 * authentication failures, auth and session times, traffic) restart from zero once
 * server-stats-reset-time has passed since `lastReset`; the totals, the MTUs seen and the
 * start time do not.
 * The period is checked whenever a figure changes or is read, so no timer is needed.
 */
export class ServerStats {
  readonly startedAt: number;
  lastReset: number;
  /** server-stats-reset-time in seconds; 0: never */
  resetAfterS = DEFAULT_STATS_RESET_S;
  // totals since start
  totalSessionsClosed = 0;
  totalAuthFailures = 0;
  // the current period
  sessionsClosed = 0;
  timedOut = 0;
  idleTimedOut = 0;
  closedByError = 0;
  authFailures = 0;
  rxBytes = 0;
  txBytes = 0;
  minMtu = 0;
  maxMtu = 0;
  private authCount = 0;
  private authMsTotal = 0;
  maxAuthMs = 0;
  private sessionMsTotal = 0;
  maxSessionMs = 0;

  constructor(now = Date.now(), private readonly clock: () => number = Date.now) {
    this.startedAt = now;
    this.lastReset = now;
  }

  /** told of each login as it is counted (src/main/metrics.ts) */
  readonly observers = new Set<LoginObserver>();

  /** Starts a new period if server-stats-reset-time has passed; returns this (read the figures after). */
  current(now = this.clock()): this {
    if (this.resetAfterS > 0 && now - this.lastReset > this.resetAfterS * 1000) this.reset(now);
    return this;
  }

  private reset(now: number): void {
    this.lastReset = now;
    this.sessionsClosed = 0;
    this.timedOut = 0;
    this.idleTimedOut = 0;
    this.closedByError = 0;
    this.authFailures = 0;
    this.rxBytes = 0;
    this.txBytes = 0;
    this.authCount = 0;
    this.authMsTotal = 0;
    this.maxAuthMs = 0;
    this.sessionMsTotal = 0;
    this.maxSessionMs = 0;
  }

  loginSucceeded(ms: number): void {
    for (const o of this.observers) o.succeeded?.(ms);
    this.current();
    this.authCount++;
    this.authMsTotal += ms;
    this.maxAuthMs = Math.max(this.maxAuthMs, ms);
  }

  loginFailed(why?: AuthFailure): void {
    for (const o of this.observers) o.failed?.(why);
    this.current();
    this.authFailures++;
    this.totalAuthFailures++;
  }

  sessionClosed(o: { reason: string; durationMs: number; rxBytes: number; txBytes: number; mtu: number }): void {
    this.current();
    this.sessionsClosed++;
    this.totalSessionsClosed++;
    this.sessionMsTotal += o.durationMs;
    this.maxSessionMs = Math.max(this.maxSessionMs, o.durationMs);
    this.rxBytes += o.rxBytes;
    this.txBytes += o.txBytes;
    this.noteMtu(o.mtu);
    const r = o.reason.toLowerCase();
    if (r.includes('idle')) this.idleTimedOut++;
    else if (r.includes('session timeout')) this.timedOut++;
    else if (r.includes('error')) this.closedByError++;
  }

  noteMtu(mtu: number): void {
    if (mtu <= 0) return;
    this.current();
    this.minMtu = this.minMtu === 0 ? mtu : Math.min(this.minMtu, mtu);
    this.maxMtu = Math.max(this.maxMtu, mtu);
  }

  get avgAuthMs(): number { return this.authCount ? this.authMsTotal / this.authCount : 0; }
  get avgSessionMs(): number { return this.sessionsClosed ? this.sessionMsTotal / this.sessionsClosed : 0; }
}
