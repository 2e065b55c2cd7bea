/**
 * Connections to the cluster's Redis server (session-store), for main and sec-mod alike.
 * Commands fail at once while Redis is unreachable instead of waiting in a queue: a login
 * then gets a clear "session store unavailable" and running tunnels, which never touch
 * Redis, carry on. The client reconnects by itself; the log says when the store goes and
 * when it is back, once each.
 */
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import type { Logger } from './log';
import type { SessionStoreConfig } from './session-store-config';

export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(why: string) {
    super(`session store unavailable: ${why}`);
  }
}

/** Where the store is, for log lines (never the password). */
export const storeName = (c: SessionStoreConfig) => `${c.tls ? 'rediss' : 'redis'}://${c.host}:${c.port}/${c.db}`;

function credentials(c: SessionStoreConfig): { username?: string; password?: string } {
  if (!c.passwordFile) return { username: c.username, password: c.password };
  const line = readFileSync(c.passwordFile, 'utf8').split('\n')[0]!.trim();
  const colon = line.indexOf(':');
  return colon > 0 ? { username: line.slice(0, colon), password: line.slice(colon + 1) } : { username: c.username, password: line };
}

/**
 * A client of the store. `role` names it in the log. Throws when the password or CA file
 * cannot be read: that is a setup error the server refuses to start with.
 */
export function connectStore(c: SessionStoreConfig, log: Logger, role: string, o: { subscriber?: boolean } = {}): Redis {
  const { username, password } = credentials(c);
  const redis = new Redis({
    host: c.host,
    port: c.port,
    db: c.db,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(c.tls ? { tls: c.caCert ? { ca: readFileSync(c.caCert), servername: c.host } : { servername: c.host } } : {}),
    // a subscriber only subscribes; it may queue that until connected, and must not be sent
    // the ready check's INFO once subscribed
    enableOfflineQueue: o.subscriber === true,
    enableReadyCheck: o.subscriber !== true,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    commandTimeout: 3000,
    // a steady, short retry: the store is back in the servers' hands within 2 s of returning
    retryStrategy: (times: number) => Math.min(100 * times, 2000),
    connectionName: `ocserv-ts-${role}`,
  });
  let up: boolean | undefined;
  redis.on('ready', () => {
    if (up === false) log.info({ store: storeName(c), role }, 'session store reachable again');
    else log.info({ store: storeName(c), role }, 'connected to the session store');
    up = true;
  });
  redis.on('error', (err: Error) => {
    if (up === false) return;
    up = false;
    log.error({ store: storeName(c), role, err: err.message }, 'session store unavailable; new logins fail until it is back, running tunnels go on');
  });
  return redis;
}

/** Runs a store command, turning a connection failure into StoreUnavailableError. */
export async function storeCall<T>(redis: Redis, what: () => Promise<T>): Promise<T> {
  if (redis.status !== 'ready') throw new StoreUnavailableError(`not connected (${redis.status})`);
  try {
    return await what();
  } catch (err) {
    const e = err as Error;
    // errors Redis itself answered (a script's error) are bugs, not outages
    if (e.name === 'ReplyError') throw e;
    throw new StoreUnavailableError(e.message);
  }
}

export type StoreScript = (...keysThenArgs: (string | number)[]) => Promise<unknown>;

/** A Lua script run atomically by Redis (sent once, then called by its hash). */
export function defineScript(redis: Redis, name: string, numberOfKeys: number, lua: string): StoreScript {
  redis.defineCommand(name, { numberOfKeys, lua });
  const fn = (redis as unknown as Record<string, StoreScript>)[name]!;
  return (...a) => fn.apply(redis, a);
}

/** The names of cluster nodes whose heartbeat is current (main writes it; see src/main/cluster/node-registry.ts). */
export async function liveNodes(redis: Redis, prefix: string): Promise<Set<string>> {
  const names = await redis.smembers(`${prefix}nodes`);
  if (names.length === 0) return new Set();
  const beats = await redis.mget(names.map((n) => `${prefix}node:${n}`));
  return new Set(names.filter((_n, i) => beats[i] !== null));
}
