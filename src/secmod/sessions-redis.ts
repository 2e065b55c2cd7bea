/**
 * Sessions in the cluster's Redis server (session-store): any server can take a client's
 * cookie, whichever server issued it. Redis holds a digest of each cookie, never the cookie,
 * so reading the store gives no way into a session.
 *
 * Keys (P = session-store-prefix):
 *   P s:<digest>      hash {v: version, j: the session as JSON}
 *   P sid:<sid>       the digest of the session with that id (occtl terminate session)
 *   P user:<name>     the digests of the user's sessions (max-same-clients)
 *   P exp             sorted set: digest -> when the cookie expires, +inf while a tunnel uses it
 * Changes are compare-and-set on the version, so servers never lose each other's changes;
 * ending a session is one atomic take, so exactly one server sends its accounting Stop.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../common/log';
import { connectStore, defineScript, liveNodes, storeCall, StoreUnavailableError, type StoreScript } from '../common/redis';
import type { SessionStoreConfig } from '../common/session-store-config';
import {
  leaveTunnel, newSession, useTunnel,
  type CookieSession, type IssueExtra, type SessionEndKind, type SessionStore,
} from './sessions';

/**
 * An idle session's keys expire with its cookie (cookie-timeout after its last tunnel) plus
 * this much, the time the servers' sweeps (every few seconds) have to send its Stop.
 */
const KEEP_AFTER_EXPIRY_MS = 60_000;
const SWEEP_BATCH = 200;
const CAS_TRIES = 20;

const ISSUE = `
redis.call('HSET', KEYS[1], 'j', ARGV[1], 'v', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[2])
return 1`;

// KEYS: record, exp, sid key. ARGV: expected version, json, digest, expiry score, ttl ms (0: keep)
const CAS = `
if redis.call('HGET', KEYS[1], 'v') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'j', ARGV[2], 'v', tostring(tonumber(ARGV[1]) + 1))
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
for _, k in ipairs({KEYS[1], KEYS[3]}) do
  if ARGV[5] == '0' then redis.call('PERSIST', k) else redis.call('PEXPIRE', k, ARGV[5]) end
end
return 1`;

// KEYS: record, exp. ARGV: digest, key prefix. The session's JSON if this call took it. The
// index keys are named from the record itself (a standalone Redis only: see docs/CLUSTER.md).
const TAKE = `
redis.call('ZREM', KEYS[2], ARGV[1])
local j = redis.call('HGET', KEYS[1], 'j')
if not j then return false end
local s = cjson.decode(j)
local sidKey = ARGV[2] .. 'sid:' .. s.sid
if redis.call('GET', sidKey) == ARGV[1] then redis.call('DEL', sidKey) end
redis.call('SREM', ARGV[2] .. 'user:' .. s.username, ARGV[1])
redis.call('DEL', KEYS[1])
return j`;

type Stored = Omit<CookieSession, 'cookie'>;

const digest = (cookie: string) => createHash('sha256').update(cookie).digest('base64url');

export interface RedisSessionOptions {
  /** A server of the cluster died with tunnels of `s` up: account for them as ended (a pure change). */
  orphaned?: (s: CookieSession, othersUp: boolean) => void;
}

export class RedisSessionStore implements SessionStore {
  onEnd?: (s: CookieSession, kind: SessionEndKind) => void;
  private readonly redis: Redis;
  private readonly p: string;
  private readonly node: string;
  private readonly issueScript: StoreScript;
  private readonly casScript: StoreScript;
  private readonly takeScript: StoreScript;

  constructor(cfg: SessionStoreConfig, private readonly log: Logger, private cookieTimeoutS: number,
    private readonly o: RedisSessionOptions = {}, private readonly now: () => number = Date.now) {
    this.redis = connectStore(cfg, log, 'sec-mod');
    this.p = cfg.prefix;
    this.node = cfg.node;
    this.issueScript = defineScript(this.redis, 'ocsIssue', 4, ISSUE);
    this.casScript = defineScript(this.redis, 'ocsCas', 3, CAS);
    this.takeScript = defineScript(this.redis, 'ocsTake', 2, TAKE);
  }

  async issue(username: string, groupname: string, remoteAddr: string, extra: IssueExtra = {}): Promise<CookieSession> {
    const s = newSession(username, groupname, remoteAddr, extra, this.now(), this.cookieTimeoutS);
    const d = digest(s.cookie);
    await this.call(() => this.issueScript(this.k('s', d), this.k('sid', s.sid), this.k('user', username), `${this.p}exp`,
      JSON.stringify(this.stored(s)), d, s.expiresAt, this.ttl(s)));
    return s;
  }

  async lookup(cookie: string): Promise<CookieSession | undefined> {
    return (await this.read(cookie))?.s;
  }

  async update<R>(cookie: string, change: (s: CookieSession) => R): Promise<{ s: CookieSession; result: R } | undefined> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const cur = await this.read(cookie);
      if (!cur) return undefined;
      const result = change(cur.s);
      if (await this.save(digest(cookie), cur.v, cur.s)) return { s: cur.s, result };
    }
    throw new StoreUnavailableError(`session ${cookie.slice(0, 6)}… kept changing under us`);
  }

  async markInUse(cookie: string): Promise<CookieSession | undefined> {
    return (await this.update(cookie, (s) => useTunnel(s, this.node)))?.s;
  }

  async release(cookie: string, logout: boolean): Promise<CookieSession | undefined> {
    const r = await this.update(cookie, (s) => leaveTunnel(s, this.now(), this.cookieTimeoutS, this.node));
    if (!r) return undefined;
    if (logout) await this.take(digest(cookie), 'logout', cookie);
    return r.s;
  }

  async countForUser(username: string): Promise<number> {
    const all = await this.call(() => this.redis.smembers(this.k('user', username)));
    const found = await this.records(all);
    return found.filter((s) => s.inUse).length;
  }

  async expire(): Promise<void> {
    const now = this.now();
    const due = await this.call(() => this.redis.zrangebyscore(`${this.p}exp`, '-inf', now, 'LIMIT', 0, SWEEP_BATCH));
    for (const d of due) await this.take(d, 'expired');
    await this.adoptOrphans();
  }

  async list(): Promise<CookieSession[]> {
    const all = await this.call(() => this.redis.zrange(`${this.p}exp`, 0, -1));
    const now = this.now();
    return (await this.records(all)).filter((s) => s.inUse || s.expiresAt > now).sort((a, b) => a.createdAt - b.createdAt);
  }

  async dropSid(sid: string): Promise<CookieSession[]> {
    const d = await this.call(() => this.redis.get(this.k('sid', sid)));
    if (!d) return [];
    const s = await this.take(d, 'dropped');
    return s ? [s] : [];
  }

  setTimeout(cookieTimeoutS: number): void { this.cookieTimeoutS = cookieTimeoutS; }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  // ---------- internals ----------

  private k(kind: 's' | 'sid' | 'user', id: string): string { return `${this.p}${kind}:${id}`; }

  private call<T>(what: () => Promise<T>): Promise<T> { return storeCall(this.redis, what); }

  private stored(s: CookieSession): Stored {
    const { cookie: _c, ...rest } = s;
    return rest;
  }

  /** an idle session's record goes some time after its expiry; one in use stays */
  private ttl(s: CookieSession): number {
    return s.inUse ? 0 : Math.max(1, s.expiresAt - this.now() + KEEP_AFTER_EXPIRY_MS);
  }

  private async save(d: string, version: string, s: CookieSession): Promise<boolean> {
    const ok = await this.call(() => this.casScript(this.k('s', d), `${this.p}exp`, this.k('sid', s.sid), version, JSON.stringify(this.stored(s)), d,
      s.inUse ? '+inf' : s.expiresAt, this.ttl(s)));
    return ok === 1;
  }

  /** The valid session behind a cookie and its version; an expired one is ended here. */
  private async read(cookie: string): Promise<{ s: CookieSession; v: string } | undefined> {
    const d = digest(cookie);
    const h = await this.call(() => this.redis.hgetall(this.k('s', d)));
    if (!h.j || !h.v) return undefined;
    const s: CookieSession = { ...(JSON.parse(h.j) as Stored), cookie };
    if (!s.inUse && s.expiresAt <= this.now()) {
      await this.take(d, 'expired', cookie);
      return undefined;
    }
    return { s, v: h.v };
  }

  private async records(digests: string[]): Promise<CookieSession[]> {
    if (digests.length === 0) return [];
    const js = await this.call(() => {
      const pipe = this.redis.pipeline();
      for (const d of digests) pipe.hget(this.k('s', d), 'j');
      return pipe.exec();
    });
    const out: CookieSession[] = [];
    for (const [err, j] of js ?? []) {
      if (!err && typeof j === 'string') out.push({ ...(JSON.parse(j) as Stored), cookie: '' });
    }
    return out;
  }

  /** Ends a session for good; only the server whose take succeeds tells onEnd. */
  private async take(d: string, kind: SessionEndKind, cookie = ''): Promise<CookieSession | undefined> {
    const j = await this.call(() => this.takeScript(this.k('s', d), `${this.p}exp`, d, this.p));
    if (typeof j !== 'string') return undefined;
    const s: CookieSession = { ...(JSON.parse(j) as Stored), cookie };
    if (s.activated) this.onEnd?.(s, kind);
    return s;
  }

  /**
   * Sessions whose tunnels were on a server that is gone (its heartbeat stopped): those
   * tunnels are over, and a session left with none starts to age like any other.
   */
  private async adoptOrphans(): Promise<void> {
    const inUse = await this.call(() => this.redis.zrangebyscore(`${this.p}exp`, '+inf', '+inf', 'LIMIT', 0, SWEEP_BATCH * 10));
    if (inUse.length === 0) return;
    const alive = await this.call(() => liveNodes(this.redis, this.p));
    alive.add(this.node);
    const js = await this.records(inUse);
    for (let i = 0; i < js.length; i++) {
      const dead = Object.keys(js[i]!.nodes ?? {}).filter((n) => !alive.has(n));
      if (dead.length === 0) continue;
      await this.adopt(inUse[i]!, alive);
    }
  }

  private async adopt(d: string, alive: Set<string>): Promise<void> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const h = await this.call(() => this.redis.hgetall(this.k('s', d)));
      if (!h.j || !h.v) return;
      const s: CookieSession = { ...(JSON.parse(h.j) as Stored), cookie: '' };
      const dead = Object.entries(s.nodes ?? {}).filter(([n]) => !alive.has(n));
      if (dead.length === 0) return;
      for (const [n, count] of dead) {
        for (let c = 0; c < count; c++) {
          leaveTunnel(s, this.now(), this.cookieTimeoutS, n);
          this.o.orphaned?.(s, s.tunnels > 0);
        }
      }
      if (await this.save(d, h.v, s)) {
        this.log.warn({ user: s.username, sid: s.sid, servers: dead.map(([n]) => n) }, 'tunnels of a session ended with the server that carried them');
        return;
      }
    }
  }
}
