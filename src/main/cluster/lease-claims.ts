/**
 * IP leases across a cluster. Each server picks addresses from its own copy of the pools
 * (src/main/pools.ts) as a lone server does; before an address is used it is claimed in the
 * session store, which says no if another session of any server holds it. A claim belongs to
 * the session (its sid), so the session's next tunnel, through whichever server, may take
 * the same address over. Claims live a minute and the holder renews them; a server that
 * dies loses its addresses within that time.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../common/log';
import { defineScript, storeCall, type StoreScript } from '../../common/redis';

export const LEASE_TTL_MS = 60_000;
const RENEW_MS = 20_000;

// KEYS: lease. ARGV: sid, node, ttl. Returns '' if the address was free, the previous
// holder ("sid node") if it was this session's, or false when another session holds it.
const CLAIM = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1] + 1) ~= ARGV[1] .. ' ' then return false end
redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'PX', ARGV[3])
return cur or ''`;

// renewal never takes an address back from the session's newer tunnel on another server
const RENEW = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export interface ClaimResult {
  ok: boolean;
  /** the server that held it for the same session (its old tunnel) */
  previousNode?: string;
}

/** What the server needs of claims; a lone server's claims always succeed. */
export interface LeaseClaims {
  claim(address: string, sid: string): Promise<ClaimResult>;
  release(address: string, sid: string): void;
  stop(): void;
}

export const LOCAL_CLAIMS: LeaseClaims = {
  claim: async () => ({ ok: true }),
  release: () => {},
  stop: () => {},
};

export class RedisLeaseClaims implements LeaseClaims {
  /** address -> sid, for renewal */
  private readonly held = new Map<string, string>();
  /** releases that could not reach the store; done when it is back */
  private readonly pendingRelease = new Map<string, string>();
  private readonly claimScript: StoreScript;
  private readonly releaseScript: StoreScript;
  private readonly renewScript: StoreScript;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly redis: Redis, private readonly prefix: string, private readonly node: string, private readonly log: Logger) {
    this.claimScript = defineScript(redis, 'ocsClaim', 1, CLAIM);
    this.releaseScript = defineScript(redis, 'ocsRelease', 1, RELEASE);
    this.renewScript = defineScript(redis, 'ocsRenew', 1, RENEW);
    this.timer = setInterval(() => void this.renew(), RENEW_MS);
    this.timer.unref();
    // after an outage the claims may have lapsed: take them again before anyone else can
    redis.on('ready', () => void this.renew());
  }

  async claim(address: string, sid: string): Promise<ClaimResult> {
    const r = await storeCall(this.redis, () => this.claimScript(this.key(address), sid, this.node, LEASE_TTL_MS));
    if (r === null) return { ok: false };
    this.held.set(address, sid);
    this.pendingRelease.delete(address);
    const previousNode = typeof r === 'string' && r !== '' ? r.slice(r.indexOf(' ') + 1) : undefined;
    return previousNode && previousNode !== this.node ? { ok: true, previousNode } : { ok: true };
  }

  release(address: string, sid: string): void {
    if (this.held.get(address) !== sid) return;
    this.held.delete(address);
    this.releaseScript(this.key(address), `${sid} ${this.node}`).catch(() => this.pendingRelease.set(address, sid));
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async renew(): Promise<void> {
    if (this.redis.status !== 'ready') return;
    for (const [address, sid] of [...this.pendingRelease]) {
      if (this.held.has(address)) continue;
      await this.releaseScript(this.key(address), `${sid} ${this.node}`).then(() => this.pendingRelease.delete(address), () => undefined);
    }
    for (const [address, sid] of [...this.held]) {
      try {
        const r = await this.renewScript(this.key(address), `${sid} ${this.node}`, LEASE_TTL_MS);
        if (r === 0 && this.held.get(address) === sid) {
          // the session's tunnel moved to another server, or (after an outage) someone else has it
          this.held.delete(address);
          this.log.warn({ address, sid }, 'this server no longer holds the address in the cluster');
        }
      } catch {
        return; // the store went away again
      }
    }
  }

  private key(address: string): string { return `${this.prefix}lease:${address}`; }
}
