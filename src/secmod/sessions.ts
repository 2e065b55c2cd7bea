import { randomBytes } from 'node:crypto';

export interface CookieSession {
  cookie: string;
  /** Session id shown to administrators and RADIUS (Acct-Session-Id). */
  sid: string;
  username: string;
  groupname: string;
  remoteAddr: string;
  createdAt: number;
  /** While a tunnel uses the cookie it never expires; afterwards it lives cookie-timeout seconds. */
  inUse: boolean;
  expiresAt: number;
}

/** The session cookies sec-mod has issued. Only sec-mod ever holds them. */
export class CookieStore {
  private readonly byCookie = new Map<string, CookieSession>();

  constructor(private cookieTimeoutS: number, private readonly now: () => number = Date.now) {}

  issue(username: string, groupname: string, remoteAddr: string): CookieSession {
    const s: CookieSession = {
      cookie: randomBytes(32).toString('base64url'),
      sid: randomBytes(9).toString('base64url'),
      username,
      groupname,
      remoteAddr,
      createdAt: this.now(),
      inUse: false,
      expiresAt: this.now() + this.cookieTimeoutS * 1000,
    };
    this.byCookie.set(s.cookie, s);
    return s;
  }

  /** The session behind a cookie, if it is still valid. */
  lookup(cookie: string): CookieSession | undefined {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    if (!s.inUse && s.expiresAt <= this.now()) {
      this.byCookie.delete(cookie);
      return undefined;
    }
    return s;
  }

  markInUse(s: CookieSession): void { s.inUse = true; }

  /** A tunnel ended: a logout invalidates the cookie, anything else leaves it for a reconnect. */
  release(cookie: string, logout: boolean): CookieSession | undefined {
    const s = this.byCookie.get(cookie);
    if (!s) return undefined;
    if (logout) this.byCookie.delete(cookie);
    else { s.inUse = false; s.expiresAt = this.now() + this.cookieTimeoutS * 1000; }
    return s;
  }

  countForUser(username: string): number {
    let n = 0;
    for (const s of this.byCookie.values()) if (s.username === username && s.inUse) n++;
    return n;
  }

  expire(): void {
    const now = this.now();
    for (const [c, s] of this.byCookie) if (!s.inUse && s.expiresAt <= now) this.byCookie.delete(c);
  }

  get size(): number { return this.byCookie.size; }
}
