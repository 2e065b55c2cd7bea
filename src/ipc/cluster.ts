/**
 * What the servers of a cluster tell each other over the session store's publish/subscribe
 * channel (src/main/cluster/bus.ts): msgpack like every other message, and checked on
 * receipt, since anything that can write to the Redis server can publish.
 */
import { Packr } from 'msgpackr';
import type { UserInfo } from './control';
import { array, obj, oneOf, optional, str, uint, ValidationError, type Infer, type Validator } from './validate';

const node = str(63);
const ip = str(64);

/** the methods one server can ask of all others */
export const CLUSTER_METHODS = ['users', 'disconnect-user', 'terminate-sid'] as const;
export type ClusterMethod = (typeof CLUSTER_METHODS)[number];

/** A user row from another server: as occtl's UserInfo, checked loosely (its many fields are only printed). */
const userRow: Validator<UserInfo> = (v, path) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValidationError(`${path}: not an object`);
  const u = v as Record<string, unknown>;
  if (typeof u.username !== 'string' || typeof u.id !== 'number') throw new ValidationError(`${path}: not a user`);
  return u as unknown as UserInfo;
};

export const clusterMessage = obj({
  type: oneOf('replace', 'ban', 'unban', 'rpc', 'rpc-reply'),
  from: node,
  /** replace: the session whose other tunnels give way; terminate-sid's argument */
  sid: optional(str(64)),
  /** ban / unban */
  ip: optional(ip),
  score: optional(uint()),
  expires: optional(uint()),
  lastReset: optional(uint()),
  /** rpc */
  id: optional(uint()),
  method: optional(oneOf(...CLUSTER_METHODS)),
  name: optional(str(256)),
  /** rpc-reply */
  count: optional(uint()),
  users: optional(array(userRow, 100_000)),
});
export type ClusterMessage = Infer<typeof clusterMessage>;

// the IPC codec's settings: plain maps and arrays, nothing a sender could make us instantiate
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

/** A cluster message larger than this is dropped unread (a user list of thousands fits). */
export const MAX_CLUSTER_MESSAGE = 16 * 1024 * 1024;

export class ClusterDecodeError extends Error { override name = 'ClusterDecodeError'; }

export function encodeCluster(m: ClusterMessage): Buffer {
  return packr.pack(m);
}

/** Throws ClusterDecodeError or ValidationError on anything that is not a well-formed cluster message. */
export function decodeCluster(buf: Buffer): ClusterMessage {
  if (buf.length > MAX_CLUSTER_MESSAGE) throw new ClusterDecodeError(`message of ${buf.length} bytes is above ${MAX_CLUSTER_MESSAGE}`);
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch (err) {
    throw new ClusterDecodeError(`not msgpack: ${(err as Error).message}`);
  }
  return clusterMessage(v, 'cluster');
}
