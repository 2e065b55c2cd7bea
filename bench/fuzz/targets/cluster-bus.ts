/**
 * What a server of a cluster reads from the session store's publish/subscribe channel
 * (src/ipc/cluster.ts decodeCluster, as src/main/cluster/bus.ts receives it): anything that
 * can write to the Redis server can publish there. A message is refused (ClusterDecodeError,
 * ValidationError) or comes out as exactly the declared fields, as plain data; nothing else
 * may escape and Object.prototype must stay clean.
 */
import fc from 'fast-check';
import { ClusterDecodeError, decodeCluster, encodeCluster, type ClusterMessage } from '../../../src/ipc/cluster';
import { ValidationError } from '../../../src/ipc/validate';
import { mix } from '../gen';
import { check, type FuzzTarget } from '../target';

const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).length;
const FIELDS = new Set(['type', 'from', 'sid', 'ip', 'score', 'expires', 'lastReset', 'id', 'method', 'name', 'count', 'users']);

export function fuzz(input: Buffer): void {
  let m: ClusterMessage;
  try {
    m = decodeCluster(input);
  } catch (err) {
    if (err instanceof ClusterDecodeError || err instanceof ValidationError) return;
    throw err;
  }
  check(Object.getOwnPropertyNames(Object.prototype).length === PROTO_KEYS && ({} as Record<string, unknown>).polluted === undefined, 'Object.prototype untouched');
  check(Object.keys(m).every((k) => FIELDS.has(k)), 'only declared fields');
  check(typeof m.type === 'string' && typeof m.from === 'string' && m.from.length <= 63, 'a type and a sender');
}

const message = fc.record({
  type: fc.constantFrom('replace', 'ban', 'unban', 'rpc', 'rpc-reply', 'other'),
  from: fc.string({ maxLength: 70 }),
  sid: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }),
  ip: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }),
  score: fc.option(fc.oneof(fc.nat(), fc.integer({ min: -5, max: 5 }), fc.double()), { nil: undefined }),
  id: fc.option(fc.nat(), { nil: undefined }),
  method: fc.option(fc.constantFrom('users', 'disconnect-user', 'terminate-sid', 'stop'), { nil: undefined }),
  name: fc.option(fc.string({ maxLength: 300 }), { nil: undefined }),
  users: fc.option(fc.array(fc.oneof(
    fc.record({ id: fc.nat(), username: fc.string({ maxLength: 20 }) }),
    fc.constant({ __proto__: { polluted: 1 } }),
    fc.anything({ maxDepth: 2 }),
  ), { maxLength: 4 }), { nil: undefined }),
}, { requiredKeys: ['type', 'from'] }).map((m) => encodeCluster(m as unknown as ClusterMessage));

export const target: FuzzTarget = {
  name: 'cluster-bus',
  surface: 'messages between the servers of a cluster, read from the session store\'s publish/subscribe channel',
  sources: ['ipc/cluster.js'],
  fuzz,
  inputs: mix(message, 512),
};
