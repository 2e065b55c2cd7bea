/**
 * main's part in a cluster (session-store): its presence, the address claims, the ban
 * scores and the message bus, over two connections to the store (one only subscribes).
 * sec-mod keeps the sessions themselves (src/secmod/sessions-redis.ts).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../common/log';
import { connectStore, storeName } from '../../common/redis';
import type { SessionStoreConfig } from '../../common/session-store-config';
import type { BanList, BanSettings } from '../bans';
import { BanSync } from './ban-sync';
import { ClusterBus } from './bus';
import { RedisLeaseClaims, type LeaseClaims } from './lease-claims';
import { NodeRegistry } from './node-registry';

/** How long start() waits for the store before going on without it (it is reconnected later). */
const FIRST_CONNECT_MS = 3_000;

export class Cluster {
  readonly claims: LeaseClaims;
  readonly bus: ClusterBus;
  readonly registry: NodeRegistry;
  private bans?: BanSync;

  private constructor(private readonly redis: Redis, sub: Redis, readonly cfg: SessionStoreConfig, private readonly log: Logger) {
    this.registry = new NodeRegistry(redis, cfg.prefix, cfg.node, log);
    this.claims = new RedisLeaseClaims(redis, cfg.prefix, cfg.node, log);
    this.bus = new ClusterBus(redis, sub, cfg.prefix, cfg.node, () => this.registry.alive(), log);
  }

  get node(): string { return this.cfg.node; }

  /**
   * Connects and joins. A store that is down at start is not fatal (it may start after us);
   * logins fail until it is up. A name another living server uses is fatal.
   */
  static async start(cfg: SessionStoreConfig, log: Logger): Promise<Cluster> {
    const redis = connectStore(cfg, log, 'main');
    const sub = connectStore(cfg, log, 'main-bus', { subscriber: true });
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, FIRST_CONNECT_MS);
      redis.once('ready', () => { clearTimeout(t); resolve(); });
    });
    if (redis.status !== 'ready') log.error({ store: storeName(cfg) }, 'the session store is not reachable; logins fail until it is');
    const c = new Cluster(redis, sub, cfg, log);
    try {
      await c.registry.join();
    } catch (err) {
      await c.stop();
      throw err;
    }
    log.info({ store: storeName(cfg), node: cfg.node }, 'joined the cluster');
    return c;
  }

  shareBans(bans: BanList, settings: () => BanSettings): void {
    this.bans = new BanSync(this.redis, this.cfg.prefix, bans, settings, this.bus);
  }

  unban(ip: string): void { this.bans?.unban(ip); }

  async stop(): Promise<void> {
    this.claims.stop();
    await this.registry.stop();
    this.bus.close();
    this.redis.disconnect();
  }
}
