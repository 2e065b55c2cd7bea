import type { SessionStats, TerminateCause, WorkerToMain } from '../ipc/messages';
import type { Lease } from './leases';
import type { Lease6 } from './leases6';
import type { DeferredCall } from '../common/deferred-call';

/**
 * How long a new session's bookkeeping (sec-mod's session.started, the log line, occtl's
 * snapshot) waits. After main's answer the client does its DTLS handshake, whose first
 * datagram main reads, then configures its tun (openconnect's vpnc-script): work no client
 * needs at once should not run meanwhile. At 5 ms it fell into the script's run, and with the
 * client on the same two cores, TCP connect to "Configured as" took 0.25 ms longer than at
 * 50 ms (medians of 80 and 50 connects, in alternation).
 */
export const BOOKKEEPING_DELAY_MS = 50;

export interface MainSession {
  sessionId: number;
  workerId: number;
  connId: number;
  cookie: string;
  sid: string;
  username: string;
  groupname: string;
  remoteAddr: string;
  /** absent: no IPv4 (an IPv6-only session) */
  lease?: Lease;
  /** absent: no IPv6 */
  lease6?: Lease6;
  tunName: string;
  /** main keeps its own tun fd so the device goes away when main says, whatever the worker does. */
  tunFd: number;
  startedAt: number;
  /** hex id the client's DTLS ClientHello carries (X-DTLS-App-ID / X-DTLS-Session-ID) */
  dtlsId: string;
  /** e.g. (DTLS1.2)-(PSK)-(AES-256-GCM), once DTLS is up */
  dtlsCipher?: string;
  /** what the client said about itself on CONNECT */
  client: NonNullable<WorkerToMain['session.open']['client']>;
  /** when the user logged in: session-timeout counts from there, across reconnections */
  loginAt: number;
  /** seconds; 0 = none. From the auth backend, else the configuration */
  idleTimeout: number;
  sessionTimeout: number;
  /** set when main ends the session; otherwise the worker's account decides */
  endCause?: TerminateCause;
  /** the new session's announcement (sec-mod, log), waiting BOOKKEEPING_DELAY_MS; flushed if the session ends first */
  announcement?: DeferredCall;
  /** for idle-timeout and the accounting reports (SessionTimers) */
  lastActivity: number;
  lastRxPackets: number;
  lastReport: number;
  /** seconds between accounting reports (Acct-Interim-Interval, else stats-report-time); 0 = none */
  reportEvery: number;
  /** what connect/disconnect scripts are told about this tunnel */
  script: import('./scripts').ScriptSession;
  /** what this session was given (configuration, per-user/group files, auth backend): occtl shows it, iroutes are undone from it */
  settings?: import('../common/session-config').EffectiveSession;
}

/** How a session ended, as far as main was told. */
export interface SessionEnd { reason: string; stats: SessionStats }

/** Observers of the table (occtl events, statistics); called synchronously, so they see the session as it is. */
export interface SessionListener {
  added?(s: MainSession): void;
  removed?(s: MainSession, end?: SessionEnd): void;
}

export class SessionTable {
  private readonly byId = new Map<number, MainSession>();
  private readonly byDtlsId = new Map<string, MainSession>();
  private readonly listeners = new Set<SessionListener>();
  private nextId = 1;

  newId(): number { return this.nextId++; }
  add(s: MainSession): void {
    this.byId.set(s.sessionId, s);
    this.byDtlsId.set(s.dtlsId, s);
    for (const l of this.listeners) l.added?.(s);
  }
  byDtls(id: string): MainSession | undefined { return this.byDtlsId.get(id); }
  get(id: number): MainSession | undefined { return this.byId.get(id); }
  remove(id: number, end?: SessionEnd): MainSession | undefined {
    const s = this.byId.get(id);
    this.byId.delete(id);
    if (s) this.byDtlsId.delete(s.dtlsId);
    if (s) for (const l of this.listeners) l.removed?.(s, end);
    return s;
  }
  ofWorker(workerId: number): MainSession[] { return [...this.byId.values()].filter((s) => s.workerId === workerId); }
  get size(): number { return this.byId.size; }
  all(): IterableIterator<MainSession> { return this.byId.values(); }

  /** Returns the function that stops listening. */
  listen(l: SessionListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
