/**
 * This server's presence in the cluster: a key with a short lifetime that main renews. The
 * others read it to know which servers are alive: sec-mod ends the tunnels a dead server
 * carried, an RPC waits only for living servers. Two running servers may not share a name.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from '../../common/log';
import { defineScript, liveNodes, type StoreScript } from '../../common/redis';

export const HEARTBEAT_MS = 5_000;
export const HEARTBEAT_TTL_MS = 15_000;

// KEYS: node key, nodes set. ARGV: token, value, ttl, name. 0: another living server has the name.
const BEAT = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
return 1`;

const LEAVE = `
local cur = redis.call('GET', KEYS[1])
if cur and string.sub(cur, 1, #ARGV[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

export class NameTakenError extends Error {
  override name = 'NameTakenError';
}

export class NodeRegistry {
  /** tells this run of the server apart from another server with the same name */
  private readonly token = randomBytes(8).toString('hex');
  private timer?: NodeJS.Timeout;
  private readonly beat: StoreScript;
  private readonly leave: StoreScript;

  constructor(private readonly redis: Redis, private readonly prefix: string, readonly name: string, private readonly log: Logger) {
    this.beat = defineScript(redis, 'ocsBeat', 2, BEAT);
    this.leave = defineScript(redis, 'ocsLeave', 1, LEAVE);
  }

  /** Registers at once (throws NameTakenError if a living server has the name), then keeps the heartbeat. */
  async join(): Promise<void> {
    if (this.redis.status === 'ready' && !(await this.renew())) {
      throw new NameTakenError(`another running server is already called ${this.name} in this cluster (set cluster-node-name)`);
    }
    this.timer = setInterval(() => {
      this.renew().then((ok) => {
        if (!ok) this.log.error({ node: this.name }, 'another server of the cluster took this server\'s name (cluster-node-name)');
      }, () => { /* the store is away; its client logs that */ });
    }, HEARTBEAT_MS);
    this.timer.unref();
  }

  async alive(): Promise<Set<string>> {
    return liveNodes(this.redis, this.prefix);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.leave(this.key(), this.token).catch(() => undefined);
  }

  private async renew(): Promise<boolean> {
    const value = `${this.token} ${JSON.stringify({ host: hostname(), pid: process.pid })}`;
    return (await this.beat(this.key(), `${this.prefix}nodes`, this.token, value, HEARTBEAT_TTL_MS, this.name)) === 1;
  }

  private key(): string { return `${this.prefix}node:${this.name}`; }
}
