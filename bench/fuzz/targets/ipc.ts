/**
 * What main and sec-mod accept from a worker, which they treat as possibly compromised: one
 * SEQPACKET message is decoded (src/ipc/codec.ts, DecodeError) and checked by the validator
 * of its type (src/ipc/messages.ts workerToMain, workerToSecmod, src/ipc/key-messages.ts;
 * ValidationError), exactly as src/ipc/channel.ts does. Either may refuse; nothing else may
 * escape, Object.prototype must stay clean, and what passes has only the declared fields.
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decode, DecodeError, encode, MAX_MESSAGE } from '../../../src/ipc/codec';
import { workerToMain, workerToSecmod } from '../../../src/ipc/messages';
import { keyToSecmod } from '../../../src/ipc/key-messages';
import { ValidationError, type Validator } from '../../../src/ipc/validate';
import { mix } from '../gen';
import { check, type FuzzTarget } from '../target';

const RECEIVERS: Array<Record<string, Validator<unknown>>> = [workerToMain, workerToSecmod, keyToSecmod];
const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).length;

function cleanPrototype(): boolean {
  return Object.getOwnPropertyNames(Object.prototype).length === PROTO_KEYS && ({} as Record<string, unknown>).polluted === undefined
    && ({} as Record<string, unknown>).isAdmin === undefined;
}

function onlyPlainData(v: unknown, depth = 0): boolean {
  if (depth > 8) return false;
  if (v === null || ['string', 'number', 'boolean', 'undefined'].includes(typeof v)) return true;
  if (v instanceof Uint8Array) return true;
  if (Array.isArray(v)) return v.every((x) => onlyPlainData(x, depth + 1));
  if (typeof v === 'object') {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return false;
    return Object.values(v as object).every((x) => onlyPlainData(x, depth + 1));
  }
  return false;
}

export function fuzz(input: Buffer): void {
  let env;
  try {
    env = decode(input);
  } catch (err) {
    if (err instanceof DecodeError) return;
    throw err;
  }
  check(cleanPrototype(), 'decoding left Object.prototype alone');
  for (const receiver of RECEIVERS) {
    const validator = Object.prototype.hasOwnProperty.call(receiver, env.type) ? receiver[env.type] : undefined;
    if (!validator) continue; // the channel closes: unknown message type
    let body: unknown;
    try {
      body = validator(env.body, env.type);
    } catch (err) {
      if (err instanceof ValidationError) continue;
      throw err;
    }
    check(cleanPrototype(), 'validation left Object.prototype alone');
    check(onlyPlainData(body), `${env.type}: a validated body is plain data`);
  }
}

// ---------- inputs ----------

// A second encoder with every feature on, so the decoder meets records, extensions, dates, bigints
const rich = new Packr({ useRecords: true, moreTypes: true, structuredClone: true });
const plain = (env: [string, number, number, unknown]) => encode({ type: env[0], id: env[1], re: env[2], body: env[3] });

const weird = fc.oneof(
  fc.constantFrom<unknown>(null, undefined, true, -1, 1.5, 2 ** 53, -(2 ** 53), NaN, Infinity, '', 'x'.repeat(600), [], {}, new Uint8Array(2000)),
  fc.string({ maxLength: 80 }),
  fc.integer(),
  fc.uint8Array({ maxLength: 64 }),
  fc.constantFrom<unknown>({ __proto__: { polluted: 1 } }, JSON.parse('{"__proto__":{"polluted":1}}'), { constructor: { prototype: { isAdmin: true } } }),
);

/** A body shaped like the message's, with some fields swapped for weird values or extra keys added. */
function bodyFor(type: string): fc.Arbitrary<unknown> {
  const conn = { connId: 7, cookie: 'Zm9vYmFy', mtu: 1400 };
  const proof = { connId: 7, remoteAddr: '198.18.0.2', cert: 'none', mac: 'A'.repeat(44) };
  const stats = { rxBytes: 1, txBytes: 2, rxPackets: 3, txPackets: 4 };
  const samples: Record<string, unknown> = {
    'worker.ready': { pid: 100 },
    'conn.closed': { connId: 3 },
    'session.open': { ...conn, client: { userAgent: 'OpenConnect', hostname: 'h', deviceType: 'linux', platform: 'linux-64', mobile: false } },
    'session.dtls': { sessionId: 1, cipher: '(DTLS1.2)-(PSK)-(AES-256-GCM)' },
    'session.closed': { sessionId: 1, reason: 'client disconnected', logout: true, stats },
    'session.info.reply': { sessions: [{ sessionId: 1, stats, userAgent: 'x', hostname: 'h', tlsCipher: 'c', localAddr: '1.2.3.4' }] },
    'auth.init': { remoteAddr: '198.18.0.2', proof, userAgent: 'OpenConnect', username: 'alice', groupname: 'g', cert: { username: 'a', groups: ['x'] } },
    'auth.cont': { authId: 'abc', answers: { username: 'alice', password: 'pw' } },
    'key.sign': { key: 0, op: 'ecdsa', data: new Uint8Array(32) },
  };
  const base = Object.prototype.hasOwnProperty.call(samples, type) ? samples[type] : {};
  const keys = Object.keys(base as object);
  return fc.tuple(
    fc.array(fc.tuple(fc.constantFrom(...keys, 'extra', '__proto__', 'constructor'), weird), { maxLength: 3 }),
    fc.array(fc.constantFrom(...keys, 'none'), { maxLength: 2 }),
  ).map(([sets, deletes]) => {
    const b: Record<string, unknown> = JSON.parse(JSON.stringify(base, (_k, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
    if (type === 'key.sign') b.data = new Uint8Array(32);
    for (const [k, v] of sets) Object.defineProperty(b, k, { value: v, enumerable: true, writable: true, configurable: true });
    for (const k of deletes) delete b[k];
    return b;
  });
}

const TYPES = [...Object.keys(workerToMain), ...Object.keys(workerToSecmod), ...Object.keys(keyToSecmod)];
const envelope = fc.constantFrom(...TYPES, 'secmod.attach', 'toString', '__proto__', 'hasOwnProperty')
  .chain((type) => fc.tuple(fc.constant(type), fc.constantFrom(0, 1, 0x7fffffff, -1, 1.5), fc.constantFrom(0, 0, 2, -3), bodyFor(type)))
  .map(([type, id, re, body]) => {
    try {
      return plain([type, id, re, body]);
    } catch {
      return Buffer.from(rich.pack([type, id, re, body]));
    }
  });
const richEnvelope = fc.tuple(fc.constantFrom(...TYPES), weird, fc.anything({ maxDepth: 3, withMap: true, withSet: true, withDate: true, withBigInt: true, withTypedArray: true, withNullPrototype: true }))
  .map(([type, id, body]) => Buffer.from(rich.pack([type, id, 0, body])));
const deep = fc.integer({ min: 1, max: 20000 }).map((n) => Buffer.concat([Buffer.from([0x94, 0xa4, 0x61, 0x75, 0x74, 0x68, 0, 0]), Buffer.alloc(n, 0x91), Buffer.from([0xc0])]));
const large = fc.integer({ min: MAX_MESSAGE - 8, max: MAX_MESSAGE + 8 }).map((n) => Buffer.alloc(n, 0xc0));

export const target: FuzzTarget = {
  name: 'ipc',
  surface: 'a message from a (compromised) worker to main, to sec-mod, or on the key channel: msgpack envelope, then the type\'s validator',
  sources: ['ipc/codec.js', 'ipc/validate.js', 'ipc/messages.js', 'ipc/peer-proof.js'],
  fuzz,
  inputs: mix(fc.oneof({ arbitrary: envelope, weight: 6 }, { arbitrary: richEnvelope, weight: 2 }, { arbitrary: deep, weight: 1 }, { arbitrary: large, weight: 1 }), 512),
};
