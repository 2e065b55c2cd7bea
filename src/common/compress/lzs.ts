/**
 * LZS (ANSI X3.241, as in RFC 1974/2395), the "lzs" encoding of AnyConnect/OpenConnect
 * tunnels: each packet compressed on its own (no history between packets), ending with the
 * end marker. The bit stream, most significant bit first:
 *   0 + 8 bits                         a literal byte
 *   1 1 + 7 bits (1..127)              a match at that distance, then its length
 *   1 0 + 11 bits (1..2047)            the same with a longer distance
 *   1 1 0000000                        end of the packet; zero bits pad to a byte
 * Lengths: 00=2 01=3 10=4 1100=5 1101=6 1110=7; 1111 then 4-bit groups adding to 8, each
 * 1111 group adding 15 more and the first group below 15 ending the length.
 */
import { DecompressError } from './errors';

const MAX_OFFSET = 2047;
const MIN_MATCH = 2;
/** candidates tried per position: enough for packet-sized input, bounded for a worst case */
const MAX_CHAIN = 16;

// Match finder state, reused across calls (compression is synchronous). Positions are stored
// plus `base`, so entries of earlier packets read as negative and need no clearing.
const head = new Int32Array(1 << 16);
let prev = new Int32Array(2048);
let base = 1;

/**
 * Compresses `src` into `dst`. Returns the number of bytes written, or -1 when the result
 * would not fit in `dst` (size `dst` below the input's length to keep only real gains).
 */
export function lzsCompress(src: Uint8Array, dst: Uint8Array): number {
  const n = src.length;
  if (base > 0x3fffffff - n) {
    head.fill(0);
    base = 1;
  }
  if (prev.length < n) prev = new Int32Array(n);
  const b = base;
  base += n + 1;
  const cap = dst.length;
  let out = 0;
  let acc = 0;
  let nacc = 0;
  // false once `dst` is full
  const put = (bits: number, value: number): boolean => {
    acc = (acc << bits) | value;
    nacc += bits;
    while (nacc >= 8) {
      if (out >= cap) return false;
      nacc -= 8;
      dst[out++] = (acc >>> nacc) & 0xff;
    }
    acc &= (1 << nacc) - 1;
    return true;
  };
  const insert = (i: number): void => {
    if (i + 1 >= n) return;
    const key = (src[i] << 8) | src[i + 1];
    prev[i] = head[key];
    head[key] = i + b;
  };

  let i = 0;
  while (i < n) {
    let bestLen = 0;
    let bestDist = 0;
    if (i + MIN_MATCH <= n) {
      let cand = head[(src[i] << 8) | src[i + 1]] - b;
      for (let depth = 0; cand >= 0 && i - cand <= MAX_OFFSET && depth < MAX_CHAIN; depth++) {
        let len = MIN_MATCH;
        while (i + len < n && src[cand + len] === src[i + len]) len++;
        if (len > bestLen) {
          bestLen = len;
          bestDist = i - cand;
          if (i + len === n) break;
        }
        cand = prev[cand] - b;
      }
    }
    if (bestLen < MIN_MATCH) {
      if (!put(9, src[i])) return -1;
      insert(i);
      i++;
      continue;
    }
    const ok = bestDist < 128 ? put(9, 0x180 | bestDist) : put(13, 0x1000 | bestDist);
    if (!ok || !putLength(put, bestLen)) return -1;
    for (let k = 0; k < bestLen; k++) insert(i + k);
    i += bestLen;
  }
  // end marker, then pad the last byte with zeros
  if (!put(9, 0x180)) return -1;
  if (nacc > 0 && !put(8 - nacc, 0)) return -1;
  return out;
}

function putLength(put: (bits: number, value: number) => boolean, len: number): boolean {
  if (len <= 4) return put(2, len - 2);
  if (len <= 7) return put(4, 0b1100 | (len - 5));
  if (!put(4, 0b1111)) return false;
  let rest = len - 8;
  while (rest >= 15) {
    if (!put(4, 15)) return false;
    rest -= 15;
  }
  return put(4, rest);
}

/**
 * Decompresses one packet into `dst`, never writing past its end. Returns the length;
 * throws DecompressError for input that is cut short, refers before its start, or would
 * not fit.
 */
export function lzsDecompress(src: Uint8Array, dst: Uint8Array): number {
  const end = src.length;
  const cap = dst.length;
  let pos = 0;
  let used = 0; // bits of src[pos] already read
  const read = (bits: number): number => {
    if ((end - pos) * 8 - used < bits) throw new DecompressError('LZS: input ends inside a token (no end marker)');
    let v = 0;
    while (bits > 0) {
      const avail = 8 - used;
      const take = avail < bits ? avail : bits;
      v = (v << take) | ((src[pos] >> (avail - take)) & ((1 << take) - 1));
      used += take;
      bits -= take;
      if (used === 8) {
        used = 0;
        pos++;
      }
    }
    return v;
  };

  let out = 0;
  for (;;) {
    if (read(1) === 0) {
      if (out >= cap) throw new DecompressError(`LZS: output exceeds ${cap} bytes`);
      dst[out++] = read(8);
      continue;
    }
    let dist: number;
    if (read(1) === 1) {
      dist = read(7);
      if (dist === 0) return out; // end marker
    } else {
      dist = read(11);
      if (dist === 0) throw new DecompressError('LZS: match at distance 0');
    }
    let len = read(2);
    if (len < 3) len += 2;
    else {
      len = read(2);
      if (len < 3) len += 5;
      else {
        len = 8;
        for (;;) {
          const g = read(4);
          len += g;
          if (g < 15) break;
          if (len > cap) throw new DecompressError(`LZS: output exceeds ${cap} bytes`);
        }
      }
    }
    if (dist > out) throw new DecompressError(`LZS: match ${dist} bytes back with only ${out} decoded`);
    if (out + len > cap) throw new DecompressError(`LZS: output exceeds ${cap} bytes`);
    for (let k = 0; k < len; k++, out++) dst[out] = dst[out - dist];
  }
}
