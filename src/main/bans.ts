import ipaddr from 'ipaddr.js';
import type { Logger } from '../common/log';
import type { BanInfo } from '../ipc/control';

/** ocserv's ban options, in seconds and points. */
export interface BanSettings {
  maxBanScore: number;
  banResetTime: number;
  banPointsWrongPassword: number;
  banPointsConnection: number;
  minReauthTime: number;
}

interface Entry { ip: string; score: number; lastReset: number; expires: number }

/**
 * Ban scores per client address, kept in main as ocserv does: points for each connection
 * and each failed login; an address whose score reaches max-ban-score is refused at accept
 * for min-reauth-time seconds. Scores start over after ban-reset-time. An IPv6 client is
 * scored by its /64, since one host can pick any address in it.
 */
export class BanList {
  private readonly entries = new Map<string, Entry>();
  /** told of each address that becomes banned (the metrics count bans) */
  onBan?: (ip: string) => void;
  /** told of the points each address earns (a cluster adds them up in its store: cluster/ban-sync.ts) */
  onPoints?: (key: string, points: number) => void;

  constructor(private settings: BanSettings, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  configure(settings: BanSettings): void { this.settings = settings; }

  get enabled(): boolean { return this.settings.maxBanScore > 0; }

  /** Adds points; true when the address is (now) banned. */
  addPoints(ip: string, points: number): boolean {
    if (!this.enabled) return false;
    const key = banKey(ip);
    if (!key) return false;
    const now = this.now();
    const s = this.settings;
    let e = this.entries.get(key);
    if (!e) {
      e = { ip: key, score: 0, lastReset: now, expires: 0 };
      this.entries.set(key, e);
    } else if (now > e.lastReset + s.banResetTime * 1000) {
      e.score = 0;
      e.lastReset = now;
    }
    // An address already banned keeps its expiry: polling must not extend the ban forever.
    const wasBanned = e.score >= s.maxBanScore;
    if (!wasBanned) e.expires = now + s.minReauthTime * 1000;
    e.score += points;
    const banned = e.score >= s.maxBanScore;
    this.onPoints?.(key, points);
    if (banned && !wasBanned) {
      this.log.info({ ip: key, score: e.score, until: new Date(e.expires).toISOString() }, 'IP added to the ban list');
      this.onBan?.(key);
    }
    return banned;
  }

  /** A new connection: scores it, then tells whether to refuse it. */
  refuseConnection(ip: string): boolean {
    if (!this.enabled) return false;
    this.addPoints(ip, this.settings.banPointsConnection);
    const e = this.entries.get(banKey(ip) ?? '');
    if (!e || this.now() > e.expires || e.score < this.settings.maxBanScore) return false;
    this.log.info({ ip }, 'rejected connection from banned IP');
    return true;
  }

  /** The cluster's view of an address (its score summed over all servers), taken over as ours. */
  adopt(key: string, score: number, lastReset: number, expires: number): void {
    const e = this.entries.get(key);
    const wasBanned = e !== undefined && e.score >= this.settings.maxBanScore && e.expires > this.now();
    this.entries.set(key, { ip: key, score, lastReset, expires });
    if (!wasBanned && this.enabled && score >= this.settings.maxBanScore && expires > this.now()) {
      this.log.info({ ip: key, score, until: new Date(expires).toISOString() }, 'IP added to the ban list (its score summed over the cluster)');
      this.onBan?.(key);
    }
  }

  unban(ip: string): boolean {
    const e = this.entries.get(banKey(ip) ?? '');
    if (!e) return false;
    e.score = 0;
    e.expires = 0;
    this.log.info({ ip: e.ip }, 'IP unbanned');
    return true;
  }

  bannedCount(): number {
    if (!this.enabled) return 0;
    const now = this.now();
    let n = 0;
    for (const e of this.entries.values()) if (e.expires > now && e.score >= this.settings.maxBanScore) n++;
    return n;
  }

  list(): BanInfo[] {
    return [...this.entries.values()].map((e) => {
      const b: BanInfo = { ip: e.ip, score: e.score };
      if (this.enabled && e.score >= this.settings.maxBanScore) b.expiresAt = e.expires;
      return b;
    });
  }

  /** Forgets addresses whose ban is over and whose score has aged out. */
  cleanup(): void {
    const now = this.now();
    for (const [k, e] of this.entries) {
      if (now >= e.expires && now > e.lastReset + this.settings.banResetTime * 1000) this.entries.delete(k);
    }
  }
}

/** The canonical text of an address, IPv6 reduced to its /64; undefined if not an address. */
export function banKey(ip: string): string | undefined {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.process(ip);
  } catch {
    return undefined;
  }
  if (addr.kind() === 'ipv4') return addr.toString();
  const bytes = addr.toByteArray().slice(0, 8).concat([0, 0, 0, 0, 0, 0, 0, 0]);
  return ipaddr.fromByteArray(bytes).toString();
}

export function banSettingsOf(c: BanSettings): BanSettings {
  return {
    maxBanScore: c.maxBanScore,
    banResetTime: c.banResetTime,
    banPointsWrongPassword: c.banPointsWrongPassword,
    banPointsConnection: c.banPointsConnection,
    minReauthTime: c.minReauthTime,
  };
}
