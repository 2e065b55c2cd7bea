import { Packr } from 'msgpackr';

/**
 * Wire form of one IPC message: a msgpack array [type, id, re, body].
 * `id` is non-zero on a request, `re` names the request a reply answers.
 */
export interface Envelope { type: string; id: number; re: number; body: unknown }

/** A SEQPACKET message larger than this is refused on both ends. */
export const MAX_MESSAGE = 64 * 1024;

// Plain maps and arrays only: records/structured clones would let a peer instantiate types.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

export class DecodeError extends Error { override name = 'DecodeError'; }

export function encode(env: Envelope): Buffer {
  const buf = packr.pack([env.type, env.id, env.re, env.body]);
  if (buf.length > MAX_MESSAGE) throw new Error(`IPC message ${env.type} is ${buf.length} bytes, above ${MAX_MESSAGE}`);
  return buf;
}

export function decode(buf: Uint8Array): Envelope {
  if (buf.length > MAX_MESSAGE) throw new DecodeError(`message of ${buf.length} bytes is above ${MAX_MESSAGE}`);
  let v: unknown;
  try {
    v = packr.unpack(buf);
  } catch (err) {
    throw new DecodeError(`not msgpack: ${(err as Error).message}`);
  }
  if (!Array.isArray(v) || v.length !== 4) throw new DecodeError('not an envelope');
  const [type, id, re, body] = v as unknown[];
  if (typeof type !== 'string' || type.length > 64) throw new DecodeError('bad message type');
  if (!Number.isInteger(id) || (id as number) < 0 || !Number.isInteger(re) || (re as number) < 0) {
    throw new DecodeError('bad message id');
  }
  return { type, id: id as number, re: re as number, body };
}
