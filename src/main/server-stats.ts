import type { AuthFailure } from '../ipc/messages';

export interface LoginObserver {
  succeeded?(ms: number): void;
  /** `why` is absent when sec-mod did not say */
  failed?(why: AuthFailure | undefined): void;
}

/**
 * The counters behind `occtl show status`, kept in main. ocserv refreshes its figures at
 * stats intervals; these change the moment a session ends or a login fails, and main adds
 * the live sessions' traffic when it answers.
 */
export class ServerStats {
  readonly startedAt: number;
  lastReset: number;
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

  constructor(now = Date.now()) {
    this.startedAt = now;
    this.lastReset = now;
  }

  /** told of each login as it is counted (src/main/metrics.ts) */
  readonly observers = new Set<LoginObserver>();

  loginSucceeded(ms: number): void {
    for (const o of this.observers) o.succeeded?.(ms);
    this.authCount++;
    this.authMsTotal += ms;
    this.maxAuthMs = Math.max(this.maxAuthMs, ms);
  }

  loginFailed(why?: AuthFailure): void {
    for (const o of this.observers) o.failed?.(why);
    this.authFailures++;
  }

  sessionClosed(o: { reason: string; durationMs: number; rxBytes: number; txBytes: number; mtu: number }): void {
    this.sessionsClosed++;
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
    this.minMtu = this.minMtu === 0 ? mtu : Math.min(this.minMtu, mtu);
    this.maxMtu = Math.max(this.maxMtu, mtu);
  }

  get avgAuthMs(): number { return this.authCount ? this.authMsTotal / this.authCount : 0; }
  get avgSessionMs(): number { return this.sessionsClosed ? this.sessionMsTotal / this.sessionsClosed : 0; }
}
