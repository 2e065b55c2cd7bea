/**
 * Accounting of sessions (issue 6): one Start when a session's first tunnel is up, an
 * Interim-Update at each report main sends, one Stop when the session is over for good.
 * A session outlives its tunnels: a client that reconnects with its cookie continues the
 * same accounting session (same Acct-Session-Id, counters carried on); one that never comes
 * back is stopped when its cookie expires, with the cause its last tunnel ended with.
 *
 * The state lives in the session itself (CookieSession.acct), so that in a cluster the
 * server a client reconnects through continues the same accounting session. The methods
 * change that state and return what to send; the caller sends it (emit) once the session
 * store has saved the change, so that a retried change never sends twice.
 */
import type { SessionStats, TerminateCause } from '../ipc/messages';
import { zeroStats } from '../ipc/messages';
import type { CookieSession, SessionEndKind } from './sessions';

export interface AcctRecord {
  /** Acct-Session-Id */
  sid: string;
  username: string;
  groupname: string;
  /** the client's real address (Calling-Station-Id) */
  remoteAddr: string;
  /** the tunnel address (Framed-IP-Address) */
  ipv4?: string;
  /** the tunnel's IPv6 address and the length of the client's network (Framed-IPv6-Address, Framed-IPv6-Prefix) */
  ipv6?: { address: string; prefix: number };
  radiusClass?: string[];
  /** totals over all of the session's tunnels; rx = from the client (Acct-Input-*) */
  stats: SessionStats;
  /** seconds the session has had a tunnel up (Acct-Session-Time) */
  sessionTime: number;
  /** only in a Stop */
  cause?: TerminateCause;
}

/** Where records go (RADIUS today). Sinks queue and retry on their own; calls never block. */
export interface AcctSink {
  start(r: AcctRecord): void;
  interim(r: AcctRecord): void;
  stop(r: AcctRecord): void;
  /** send what is queued, within a bound; sec-mod is stopping */
  flush?(timeoutMs: number): Promise<void>;
}

/** The accounting of one session, saved with it. */
export interface AcctState {
  startedAt: number;
  /** totals of the tunnels that already ended */
  done: SessionStats;
  /** the live tunnel's counters so far (as of its last report) */
  current: SessionStats;
  ipv4?: string;
  ipv6?: { address: string; prefix: number };
  /** time spent with a tunnel up, by the tunnels that already ended */
  upMs: number;
  tunnelSince?: number;
  lastCause?: TerminateCause;
}

export interface AcctEvent { kind: 'start' | 'interim' | 'stop'; record: AcctRecord }

const add = (a: SessionStats, b: SessionStats): SessionStats => ({
  rxBytes: a.rxBytes + b.rxBytes, txBytes: a.txBytes + b.txBytes, rxPackets: a.rxPackets + b.rxPackets, txPackets: a.txPackets + b.txPackets,
});

export class Accounting {
  constructor(private readonly sink: AcctSink | undefined, private readonly now: () => number = Date.now) {}

  /** A tunnel of the session is up: a Start for the session's first one. */
  started(s: CookieSession, ipv4: string | undefined, ipv6?: { address: string; prefix: number }): AcctEvent | undefined {
    const first = !s.acct;
    const e: AcctState = s.acct ?? { startedAt: this.now(), done: zeroStats(), current: zeroStats(), upMs: 0 };
    s.acct = e;
    e.ipv4 = ipv4;
    e.ipv6 = ipv6;
    e.current = zeroStats();
    // a replacement tunnel continues the time of the one it replaced
    e.tunnelSince ??= this.now();
    return first ? { kind: 'start', record: this.record(s, e) } : undefined;
  }

  /** main's periodic report of the live tunnel: an Interim-Update. */
  report(s: CookieSession, stats: SessionStats): AcctEvent | undefined {
    const e = s.acct;
    if (!e) return undefined;
    e.current = stats;
    return { kind: 'interim', record: this.record(s, e) };
  }

  /**
   * One tunnel ended; the session may go on (reconnection) or be over (see ended).
   * `othersUp`: another tunnel of the session is up (this one was replaced).
   */
  tunnelClosed(s: CookieSession, stats: SessionStats, cause: TerminateCause, othersUp: boolean): void {
    const e = s.acct;
    if (!e) return;
    e.done = add(e.done, stats);
    e.current = zeroStats();
    if (e.tunnelSince !== undefined && !othersUp) {
      e.upMs += this.now() - e.tunnelSince;
      e.tunnelSince = undefined;
    }
    if (cause !== 'replaced') e.lastCause = cause;
  }

  /** The session is over: its Stop. */
  ended(s: CookieSession, kind: SessionEndKind): AcctEvent | undefined {
    const e = s.acct;
    if (!e) return undefined;
    const cause: TerminateCause = kind === 'dropped' ? 'admin-reset' : e.lastCause ?? 'lost-carrier';
    return { kind: 'stop', record: { ...this.record(s, e), cause } };
  }

  emit(ev: AcctEvent | undefined): void {
    if (!ev || !this.sink) return;
    if (ev.kind === 'start') this.sink.start(ev.record);
    else if (ev.kind === 'interim') this.sink.interim(ev.record);
    else this.sink.stop(ev.record);
  }

  async flush(timeoutMs: number): Promise<void> {
    await this.sink?.flush?.(timeoutMs);
  }

  private record(s: CookieSession, e: AcctState): AcctRecord {
    const upMs = e.upMs + (e.tunnelSince !== undefined ? this.now() - e.tunnelSince : 0);
    return {
      sid: s.sid,
      username: s.username,
      groupname: s.groupname,
      remoteAddr: s.remoteAddr,
      ipv4: e.ipv4,
      ...(e.ipv6 ? { ipv6: e.ipv6 } : {}),
      radiusClass: s.attrs.radiusClass,
      stats: add(e.done, e.current),
      sessionTime: Math.floor(upMs / 1000),
    };
  }
}
