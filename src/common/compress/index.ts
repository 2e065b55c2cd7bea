/**
 * The stateless packet compression methods of AnyConnect/OpenConnect tunnels, by the names
 * clients offer in X-CSTP-Accept-Encoding / X-DTLS-Accept-Encoding. `compress` and
 * `decompress` work on one packet; neither writes past `dst`.
 */
import { lz4Compress, lz4Decompress } from './lz4';
import { lzsCompress, lzsDecompress } from './lzs';

export { DecompressError } from './errors';

export type CodecName = 'oc-lz4' | 'lzs';

export interface Codec {
  name: CodecName;
  /** bytes written, or -1 when the result does not fit in dst */
  compress(src: Uint8Array, dst: Uint8Array): number;
  /** bytes written; throws DecompressError */
  decompress(src: Uint8Array, dst: Uint8Array): number;
}

export const CODECS: Record<CodecName, Codec> = {
  'oc-lz4': { name: 'oc-lz4', compress: lz4Compress, decompress: lz4Decompress },
  'lzs': { name: 'lzs', compress: lzsCompress, decompress: lzsDecompress },
};

/** ocserv's preferences: the client's offer with the highest number is taken */
export const DEFAULT_PRIORITIES: Readonly<Record<CodecName, number>> = { 'oc-lz4': 90, 'lzs': 80 };

/** `lz4` as newer ocserv's sample configuration spells oc-lz4 */
function codecName(s: string): CodecName | undefined {
  const v = s.trim().toLowerCase();
  if (v === 'oc-lz4' || v === 'lz4') return 'oc-lz4';
  if (v === 'lzs') return 'lzs';
  return undefined;
}

/**
 * Applies the `compression-algo-priority` lines, in order, to ocserv's defaults. A line is
 * ocserv's NAME:PRIORITY (e.g. `lzs:100`; PRIORITY above 0), or a list of names in order of
 * preference (`lz4:lzs`, the form newer ocserv documents). Lines that are neither are
 * returned in `invalid` and change nothing, as ocserv warns and goes on.
 */
export function compressionPriorities(lines: string[]): { priorities: Record<CodecName, number>; invalid: string[] } {
  const priorities: Record<CodecName, number> = { ...DEFAULT_PRIORITIES };
  const invalid: string[] = [];
  for (const line of lines) {
    const parts = line.split(':');
    const named = parts.map(codecName);
    if (parts.length === 2 && named[0] && /^\s*\d+\s*$/.test(parts[1]) && Number(parts[1]) > 0) {
      priorities[named[0]] = Number(parts[1]);
    } else if (named.every((x) => x) && new Set(named).size === named.length) {
      // above every number written so far, first name highest
      const top = Math.max(...Object.values(priorities));
      named.forEach((name, k) => { priorities[name!] = top + named.length - k; });
    } else {
      invalid.push(line);
    }
  }
  return { priorities, invalid };
}

/** The method to use for an X-*-Accept-Encoding offer (comma-separated names), if any. */
export function chooseCodec(offer: string | undefined, priorities: Readonly<Record<CodecName, number>>): Codec | undefined {
  if (!offer) return undefined;
  let best: CodecName | undefined;
  for (const token of offer.split(',')) {
    // a q-value ("lzs;q=1.0") is no preference here: the server's priorities decide
    const t = token.split(';')[0]!.trim().toLowerCase();
    // only the names clients send ("lz4" is a configuration spelling, not a wire name)
    if (t !== 'oc-lz4' && t !== 'lzs') continue;
    if (!best || priorities[t] > priorities[best]) best = t;
  }
  return best ? CODECS[best] : undefined;
}
