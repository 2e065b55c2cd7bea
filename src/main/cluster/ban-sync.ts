/**
 * Ban scores across a cluster: every server adds the points it gives an address to one score
 * in the session store, with ocserv's rules (ban-reset-time, max-ban-score, min-reauth-time)
 * applied there atomically, and takes the summed score back. A server that sees an address
 * become banned tells the others, so the next connection is refused wherever it lands.
 * While the store is away each server scores on its own.
 */
import type { Redis } from 'ioredis';
import { defineScript, type StoreScript } from '../../common/redis';
import type { BanList, BanSettings } from '../bans';
import type { ClusterBus } from './bus';

// KEYS: ban. ARGV: points, max, reset ms, reauth ms, now. Returns score, lastReset, expires, newly banned.
const POINTS = `
local now = tonumber(ARGV[5])
local score = tonumber(redis.call('HGET', KEYS[1], 'score') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or ARGV[5])
local exp = tonumber(redis.call('HGET', KEYS[1], 'exp') or '0')
local max = tonumber(ARGV[2])
if now > last + tonumber(ARGV[3]) then score = 0; last = now end
local was = score >= max
if not was then exp = now + tonumber(ARGV[4]) end
score = score + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'score', score, 'last', last, 'exp', exp)
redis.call('PEXPIREAT', KEYS[1], math.max(exp, last + tonumber(ARGV[3])) + 1000)
local newly = 0
if score >= max and not was then newly = 1 end
return {score, last, exp, newly}`;

export class BanSync {
  private readonly points: StoreScript;

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly bans: BanList,
    private readonly settings: () => BanSettings, private readonly bus: ClusterBus) {
    this.points = defineScript(redis, 'ocsBan', 1, POINTS);
    bans.onPoints = (key, n) => void this.add(key, n);
    bus.on('ban', (m) => {
      if (m.ip !== undefined && m.score !== undefined && m.expires !== undefined) bans.adopt(m.ip, m.score, m.lastReset ?? Date.now(), m.expires);
    });
    bus.on('unban', (m) => { if (m.ip !== undefined) bans.unban(m.ip); });
  }

  /** occtl-ts unban ip: everywhere */
  unban(ip: string): void {
    this.redis.del(this.key(ip)).catch(() => undefined);
    this.bus.publish({ type: 'unban', ip });
  }

  private async add(key: string, n: number): Promise<void> {
    const s = this.settings();
    if (this.redis.status !== 'ready' || s.maxBanScore <= 0) return;
    try {
      const r = await this.points(this.key(key), n, s.maxBanScore, s.banResetTime * 1000, s.minReauthTime * 1000, Date.now()) as number[];
      const [score, lastReset, expires, newly] = r.map(Number) as [number, number, number, number];
      this.bans.adopt(key, score, lastReset, expires);
      if (newly === 1) this.bus.publish({ type: 'ban', ip: key, score, lastReset, expires });
    } catch {
      // scored locally only while the store is away
    }
  }

  private key(ip: string): string { return `${this.prefix}ban:${ip}`; }
}
