import { randomBytes } from 'node:crypto';
import type { SessionAttributes } from './auth/backend';
import type { AcctState } from './accounting';

export interface CookieSession {
  cookie: string;
  /** Session id shown to administrators and RADIUS (Acct-Session-Id). */
  sid: string;
  username: string;
  groupname: string;
  remoteAddr: string;
  userAgent: string;
  createdAt: number;
  /** While a tunnel uses the cookie it never expires; afterwards it lives cookie-timeout seconds. */
  inUse: boolean;
  /** a tunnel has used it at least once */
  activated: boolean;
  expiresAt: number;
  /** per-session settings from the auth backend (RADIUS Framed-IP-Address, routes...) */
  attrs: SessionAttributes;
  /** tunnels using the cookie right now (a reconnecting client briefly has two) */
  tunnels: number;
  /** in a cluster: the tunnels per server (cluster-node-name), so a server that died stops counting */
  nodes?: Record<string, number>;
  /** the tunnel address it had last, given back when it reconnects */
  lastIpv4?: string;
  /** the last tunnel's IPv6 address and network length, given back on reconnection */
  lastIpv6?: { address: string; prefix: number };
  /** the accounting session (src/secmod/accounting.ts): it lives with the cookie, so any server of a cluster continues it */
  acct?: AcctState;
}

/** Why a session (not just one of its tunnels) is over. */
export type SessionEndKind = 'logout' | 'expired' | 'dropped';

export interface IssueExtra { sid?: string; userAgent?: string; attrs?: SessionAttributes }

/**
 * Where sec-mod keeps the sessions it issued cookies for: in its memory (one server), or in
 * a Redis server that a cluster shares (sessions-redis.ts). Every method is asynchronous
 * for the latter's sake; a store that cannot be reached rejects with StoreUnavailableError.
 */
export interface SessionStore {
  /** told exactly once, on exactly one server, when a session that had a tunnel is gone for good (accounting's Stop) */
  onEnd?: (s: CookieSession, kind: SessionEndKind) => void;
  issue(username: string, groupname: string, remoteAddr: string, extra?: IssueExtra): Promise<CookieSession>;
  /** The session behind a cookie, if it is still valid. */
  lookup(cookie: string): Promise<CookieSession | undefined>;
  /**
   * Applies `change` to the session and saves it. `change` may run more than once (another
   * server changed the session meanwhile), so it must only compute; act on its result.
   */
  update<R>(cookie: string, change: (s: CookieSession) => R): Promise<{ s: CookieSession; result: R } | undefined>;
  /** A tunnel starts using the cookie. */
  markInUse(cookie: string): Promise<CookieSession | undefined>;
  /** A tunnel ended: a logout invalidates the cookie, anything else leaves it for a reconnect. */
  release(cookie: string, logout: boolean): Promise<CookieSession | undefined>;
  /** sessions of the user with a tunnel up (max-same-clients) */
  countForUser(username: string): Promise<number>;
  /** ends the sessions whose cookie has expired */
  expire(): Promise<void>;
  /** Valid sessions, oldest first (what `occtl show sessions` lists). */
  list(): Promise<CookieSession[]>;
  /** Forgets the sessions with this sid (occtl terminate session): their cookies stop working. */
  dropSid(sid: string): Promise<CookieSession[]>;
  setTimeout(cookieTimeoutS: number): void;
  close(): Promise<void>;
}

/** A new session id: shown by occtl (its first 6 characters as `Session`) and logged. */
export function newSid(): string {
  return randomBytes(9).toString('base64url');
}

export function newSession(username: string, groupname: string, remoteAddr: string, extra: IssueExtra, now: number, cookieTimeoutS: number): CookieSession {
  return {
    cookie: randomBytes(32).toString('base64url'),
    sid: extra.sid ?? newSid(),
    username,
    groupname,
    remoteAddr,
    userAgent: extra.userAgent ?? '',
    createdAt: now,
    inUse: false,
    activated: false,
    expiresAt: now + cookieTimeoutS * 1000,
    attrs: extra.attrs ?? {},
    tunnels: 0,
  };
}

/** The cookie's first tunnel, or another one (a reconnection), on server `node`. */
export function useTunnel(s: CookieSession, node?: string): void {
  s.tunnels++;
  if (node !== undefined) s.nodes = { ...s.nodes, [node]: (s.nodes?.[node] ?? 0) + 1 };
  s.inUse = true;
  s.activated = true;
}

/** One of its tunnels on server `node` ended; with none left the cookie starts to age. */
export function leaveTunnel(s: CookieSession, now: number, cookieTimeoutS: number, node?: string): void {
  s.tunnels = Math.max(0, s.tunnels - 1);
  if (node !== undefined && s.nodes) {
    const left = (s.nodes[node] ?? 0) - 1;
    const { [node]: _gone, ...rest } = s.nodes;
    s.nodes = left > 0 ? { ...rest, [node]: left } : rest;
  }
  s.inUse = s.tunnels > 0;
  if (!s.inUse) s.expiresAt = now + cookieTimeoutS * 1000;
}

/** The session issued cookies, kept in sec-mod's memory: a server on its own. */
export class MemorySessionStore implements SessionStore {
  private readonly byCookie = new Map<string, CookieSession>();

  onEnd?: (s: CookieSession, kind: SessionEndKind) => void;

  constructor(private cookieTimeoutS: number, private readonly now: () => number = Date.now) {}

  async issue(username: string, groupname: string, remoteAddr: string, extra: IssueExtra = {}): Promise<CookieSession> {
    const s = newSession(username, groupname, remoteAddr, extra, this.now(), this.cookieTimeoutS);
    this.byCookie.set(s.cookie, s);
    return s;
  }

  async lookup(cookie: string): Promise<CookieSession | undefined> {
    return this.valid(cookie);
  }

  async update<R>(cookie: string, change: (s: CookieSession) => R): Promise<{ s: CookieSession; result: R } | undefined> {
    const s = this.valid(cookie);
    return s && { s, result: change(s) };
  }

  async markInUse(cookie: string): Promise<CookieSession | undefined> {
    return (await this.update(cookie, (s) => useTunnel(s)))?.s;
  }

  async release(cookie: string, logout: boolean): Promise<CookieSession | undefined> {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    leaveTunnel(s, this.now(), this.cookieTimeoutS);
    if (logout) this.remove(s, 'logout');
    return s;
  }

  async countForUser(username: string): Promise<number> {
    let n = 0;
    for (const s of this.byCookie.values()) if (s.username === username && s.inUse) n++;
    return n;
  }

  async expire(): Promise<void> {
    const now = this.now();
    for (const s of [...this.byCookie.values()]) if (!s.inUse && s.expiresAt <= now) this.remove(s, 'expired');
  }

  async list(): Promise<CookieSession[]> {
    const now = this.now();
    return [...this.byCookie.values()].filter((s) => s.inUse || s.expiresAt > now);
  }

  async dropSid(sid: string): Promise<CookieSession[]> {
    const dropped: CookieSession[] = [];
    for (const s of [...this.byCookie.values()]) {
      if (s.sid === sid) {
        this.remove(s, 'dropped');
        dropped.push(s);
      }
    }
    return dropped;
  }

  setTimeout(cookieTimeoutS: number): void { this.cookieTimeoutS = cookieTimeoutS; }

  get size(): number { return this.byCookie.size; }

  async close(): Promise<void> {}

  private valid(cookie: string): CookieSession | undefined {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    if (!s.inUse && s.expiresAt <= this.now()) {
      this.remove(s, 'expired');
      return undefined;
    }
    return s;
  }

  private remove(s: CookieSession, kind: SessionEndKind): void {
    if (!this.byCookie.delete(s.cookie)) return;
    if (s.activated) this.onEnd?.(s, kind);
  }
}
