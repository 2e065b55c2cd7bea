import { randomBytes } from 'node:crypto';
import type { SessionAttributes } from './auth/backend';

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
  /** the tunnel address it had last, given back when it reconnects */
  lastIpv4?: string;
  /** the last tunnel's IPv6 address and network length, given back on reconnection */
  lastIpv6?: { address: string; prefix: number };
}

/** Why a session (not just one of its tunnels) is over. */
export type SessionEndKind = 'logout' | 'expired' | 'dropped';

/** A new session id: shown by occtl (its first 6 characters as `Session`) and logged. */
export function newSid(): string {
  return randomBytes(9).toString('base64url');
}

/** The session cookies sec-mod has issued. Only sec-mod ever holds them. */
export class CookieStore {
  private readonly byCookie = new Map<string, CookieSession>();

  /** told once when a session is gone for good (accounting's Stop) */
  onEnd?: (s: CookieSession, kind: SessionEndKind) => void;

  constructor(private cookieTimeoutS: number, private readonly now: () => number = Date.now) {}

  /** `sid` and `userAgent` carry over from the login that earned the cookie. */
  issue(username: string, groupname: string, remoteAddr: string, extra: { sid?: string; userAgent?: string; attrs?: SessionAttributes } = {}): CookieSession {
    const s: CookieSession = {
      cookie: randomBytes(32).toString('base64url'),
      sid: extra.sid ?? newSid(),
      username,
      groupname,
      remoteAddr,
      userAgent: extra.userAgent ?? '',
      createdAt: this.now(),
      inUse: false,
      activated: false,
      expiresAt: this.now() + this.cookieTimeoutS * 1000,
      attrs: extra.attrs ?? {},
      tunnels: 0,
    };
    this.byCookie.set(s.cookie, s);
    return s;
  }

  /** The session behind a cookie, if it is still valid. */
  lookup(cookie: string): CookieSession | undefined {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    if (!s.inUse && s.expiresAt <= this.now()) {
      this.remove(s, 'expired');
      return undefined;
    }
    return s;
  }

  markInUse(s: CookieSession): void {
    s.tunnels++;
    s.inUse = true;
    s.activated = true;
  }

  /** A tunnel ended: a logout invalidates the cookie, anything else leaves it for a reconnect. */
  release(cookie: string, logout: boolean): CookieSession | undefined {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    s.tunnels = Math.max(0, s.tunnels - 1);
    s.inUse = s.tunnels > 0;
    if (logout) this.remove(s, 'logout');
    else if (!s.inUse) s.expiresAt = this.now() + this.cookieTimeoutS * 1000;
    return s;
  }

  private remove(s: CookieSession, kind: SessionEndKind): void {
    if (!this.byCookie.delete(s.cookie)) return;
    if (s.activated) this.onEnd?.(s, kind);
  }

  countForUser(username: string): number {
    let n = 0;
    for (const s of this.byCookie.values()) if (s.username === username && s.inUse) n++;
    return n;
  }

  expire(): void {
    const now = this.now();
    for (const s of [...this.byCookie.values()]) if (!s.inUse && s.expiresAt <= now) this.remove(s, 'expired');
  }

  get size(): number { return this.byCookie.size; }

  /** Valid sessions, oldest first (what `occtl show sessions` lists). */
  list(): CookieSession[] {
    const now = this.now();
    return [...this.byCookie.values()].filter((s) => s.inUse || s.expiresAt > now);
  }

  /** Forgets the sessions with this sid (occtl terminate session): their cookies stop working. */
  dropSid(sid: string): CookieSession[] {
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
}
