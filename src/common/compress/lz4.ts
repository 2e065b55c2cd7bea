/**
 * The LZ4 block format (lz4's doc/lz4_Block_format.md), the "oc-lz4" encoding of
 * OpenConnect tunnels: each packet one block, no frame header. A block is a run of
 * sequences: a token (high 4 bits: literal count, low 4 bits: match length - 4; 15 means
 * more bytes follow, each adding up to 255), the literals, a 2-byte little-endian distance
 * and the match length's extra bytes. The last sequence has literals only.
 */
import { DecompressError } from './errors';

const MIN_MATCH = 4;
/** the format's end rules: the last 5 bytes are literals, no match starts in the last 12 */
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
const MAX_DISTANCE = 65535;
const HASH_BITS = 12;

// Positions plus `base` (see lzs.ts): no clearing between packets.
const table = new Int32Array(1 << HASH_BITS);
let base = 1;

const read32 = (a: Uint8Array, i: number): number => a[i] | (a[i + 1] << 8) | (a[i + 2] << 16) | (a[i + 3] << 24);
const hash = (v: number): number => Math.imul(v, 2654435761) >>> (32 - HASH_BITS);

/**
 * Compresses `src` into `dst` as one block. Returns the bytes written, or -1 when the block
 * would not fit in `dst` (size `dst` below the input's length to keep only real gains).
 */
export function lz4Compress(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  if (base > 0x3fffffff - n) {
    table.fill(0);
    base = 1;
  }
  const b = base;
  base += n + 1;
  const cap = dst.length;
  let out = 0;
  let anchor = 0; // first literal not yet written

  // writes the literals src[anchor..end) and, when dist > 0, a match; false once dst is full
  const sequence = (end: number, dist: number, matchLen: number): boolean => {
    const lit = end - anchor;
    const ml = matchLen - MIN_MATCH;
    const need = 1 + lit + ((lit + 240) / 255 | 0) + (dist ? 2 + ((ml + 240) / 255 | 0) : 0);
    if (out + need > cap) return false;
    const token = out++;
    dst[token] = (lit >= 15 ? 15 : lit) << 4;
    if (lit >= 15) out = putExtra(dst, out, lit - 15);
    dst.set(src.subarray(anchor, end), out);
    out += lit;
    if (dist) {
      dst[out++] = dist & 0xff;
      dst[out++] = dist >> 8;
      dst[token] |= ml >= 15 ? 15 : ml;
      if (ml >= 15) out = putExtra(dst, out, ml - 15);
    }
    return true;
  };

  const matchLimit = n - LAST_LITERALS;
  let i = 0;
  while (i + MF_LIMIT < n) {
    const h = hash(read32(src, i));
    const cand = table[h] - b;
    table[h] = i + b;
    if (cand < 0 || i - cand > MAX_DISTANCE || read32(src, cand) !== read32(src, i)) {
      i++;
      continue;
    }
    let len = MIN_MATCH;
    while (i + len < matchLimit && src[cand + len] === src[i + len]) len++;
    if (!sequence(i, i - cand, len)) return -1;
    i += len;
    anchor = i;
  }
  if (!sequence(n, 0, 0)) return -1;
  return out;
}

function putExtra(dst: Uint8Array, out: number, rest: number): number {
  while (rest >= 255) {
    dst[out++] = 255;
    rest -= 255;
  }
  dst[out++] = rest;
  return out;
}

/**
 * Decompresses one block into `dst`, never writing past its end. Returns the length; throws
 * DecompressError for a block that is cut short, refers before its start, or would not fit.
 */
export function lz4Decompress(src: Uint8Array, dst: Uint8Array): number {
  const end = src.length;
  const cap = dst.length;
  let ip = 0;
  let out = 0;
  const extra = (len: number): number => {
    for (;;) {
      if (ip >= end) throw new DecompressError('LZ4: block ends inside a length');
      const v = src[ip++];
      len += v;
      if (v !== 255) return len;
    }
  };
  if (end === 0) throw new DecompressError('LZ4: empty block');
  for (;;) {
    const token = src[ip++];
    let lit = token >> 4;
    if (lit === 15) lit = extra(lit);
    if (lit > end - ip) throw new DecompressError('LZ4: literals run past the end of the block');
    if (lit > cap - out) throw new DecompressError(`LZ4: output exceeds ${cap} bytes`);
    dst.set(src.subarray(ip, ip + lit), out);
    ip += lit;
    out += lit;
    if (ip === end) return out; // the last sequence: literals only
    if (end - ip < 2) throw new DecompressError('LZ4: block ends inside a distance');
    const dist = src[ip] | (src[ip + 1] << 8);
    ip += 2;
    if (dist === 0 || dist > out) throw new DecompressError(`LZ4: match ${dist} bytes back with ${out} decoded`);
    let len = token & 15;
    if (len === 15) len = extra(len);
    len += MIN_MATCH;
    if (len > cap - out) throw new DecompressError(`LZ4: output exceeds ${cap} bytes`);
    if (dist >= len) {
      dst.copyWithin(out, out - dist, out - dist + len);
      out += len;
    } else {
      for (let k = 0; k < len; k++, out++) dst[out] = dst[out - dist];
    }
    if (ip >= end) throw new DecompressError('LZ4: block ends after a match (the last sequence must be literals)');
  }
}
