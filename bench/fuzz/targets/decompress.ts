/**
 * The LZS and LZ4 decoders (src/common/compress) on what a logged-in client sends as
 * compressed CSTP or DTLS packets with compression = true: any bytes, and real compressed
 * packets damaged. Byte 0 picks the method and the output bound (an MTU), the rest is the
 * packet. The decoder must return at most the bound or throw its own DecompressError, and
 * never write past its output.
 */
import fc from 'fast-check';
import { CODECS, DecompressError } from '../../../src/common/compress';
import { bytesOf, mix } from '../gen';
import { check, type FuzzTarget } from '../target';

const codecs = [CODECS.lzs, CODECS['oc-lz4']];
const BOUNDS = [0, 1, 64, 576, 1280, 1434, 1500, 9000];
const GUARD = 32;

export function fuzz(input: Buffer): void {
  const sel = input[0] ?? 0;
  const codec = codecs[sel & 1]!;
  const bound = BOUNDS[(sel >> 1) % BOUNDS.length]!;
  const out = Buffer.alloc(bound + GUARD, 0xa5);
  try {
    const n = codec.decompress(input.subarray(1), out.subarray(0, bound));
    check(Number.isInteger(n) && n >= 0 && n <= bound, `${codec.name}: length ${n} within 0..${bound}`);
  } catch (err) {
    if (!(err instanceof DecompressError)) throw err;
  }
  check(out.subarray(bound).every((b) => b === 0xa5), `${codec.name}: nothing written past the bound`);
}

// ---------- inputs ----------

/** packets that compress: runs and repeats, as real traffic has */
const packet = fc.array(fc.oneof(
  bytesOf(1, 24),
  fc.tuple(fc.nat(255), fc.integer({ min: 1, max: 400 })).map(([b, n]) => Buffer.alloc(n, b)),
), { maxLength: 20 }).map((parts) => Buffer.concat(parts));

const compressed = fc.tuple(fc.nat(255), packet).map(([sel, p]) => {
  const z = Buffer.alloc(p.length * 2 + 16);
  const n = codecs[sel & 1]!.compress(p, z);
  return Buffer.concat([Buffer.from([sel]), z.subarray(0, Math.max(n, 0))]);
});

export const target: FuzzTarget = {
  name: 'decompress',
  surface: 'compressed CSTP/DTLS packets from a logged-in client (compression = true): LZS and LZ4 decoding into an MTU-sized buffer',
  sources: ['common/compress/lzs.js', 'common/compress/lz4.js'],
  fuzz,
  inputs: mix(compressed, 2048),
};
