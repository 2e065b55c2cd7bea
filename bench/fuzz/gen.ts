/**
 * Generators shared by the fuzz targets: raw bytes, byte-level mutations of a structured
 * input (flips, overwrites, insertions, deletions, truncation, duplication), and the
 * integers that break length fields.
 */
import fc from 'fast-check';

export const toBuffer = (u: Uint8Array): Buffer => Buffer.from(u.buffer, u.byteOffset, u.length);

export function rawBytes(maxLength = 2048): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ maxLength }).map(toBuffer);
}

export function bytesOf(minLength: number, maxLength: number): fc.Arbitrary<Buffer> {
  return fc.uint8Array({ minLength, maxLength }).map(toBuffer);
}

/** Values at the edges of 8-, 16- and 24-bit length fields, and anything else. */
export function lengthish(max: number): fc.Arbitrary<number> {
  const edges = [0, 1, 2, 3, 7, 8, 12, 13, 31, 32, 33, 0x7f, 0x80, 0xff, 0x100, 0x3fff, 0x4000, 0x7fff, 0x8000, 0xffff, 0x10000, 0xffffff]
    .filter((n) => n <= max);
  return fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max }));
}

type Mutation = { kind: number; at: number; byte: number; len: number };

const mutation: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.integer({ min: 0, max: 6 }),
  at: fc.nat(),
  byte: fc.integer({ min: 0, max: 255 }),
  len: fc.integer({ min: 1, max: 64 }),
});

function applyMutation(b: Buffer, m: Mutation): Buffer {
  const at = b.length === 0 ? 0 : m.at % (b.length + 1);
  switch (m.kind) {
    case 0: { // flip a bit
      if (at >= b.length) return b;
      const c = Buffer.from(b);
      c[at] ^= 1 << (m.byte & 7);
      return c;
    }
    case 1: { // overwrite a byte
      if (at >= b.length) return b;
      const c = Buffer.from(b);
      c[at] = m.byte;
      return c;
    }
    case 2: // insert bytes
      return Buffer.concat([b.subarray(0, at), Buffer.alloc(m.len, m.byte), b.subarray(at)]);
    case 3: // delete bytes
      return Buffer.concat([b.subarray(0, at), b.subarray(at + m.len)]);
    case 4: // truncate
      return b.subarray(0, at);
    case 5: // duplicate a run
      return Buffer.concat([b.subarray(0, at + m.len), b.subarray(at)]);
    default: { // set a 16-bit field to an edge value
      if (at + 1 >= b.length) return b;
      const c = Buffer.from(b);
      c.writeUInt16BE([0, 1, 0x7fff, 0x8000, 0xffff][m.byte % 5]!, at);
      return c;
    }
  }
}

/** A structured input with up to `max` byte-level mutations applied. */
export function mutated(base: fc.Arbitrary<Buffer>, max = 4): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(mutation, { minLength: 1, maxLength: max }))
    .map(([b, ms]) => ms.reduce(applyMutation, b));
}

/** The usual mix: mostly structure-aware inputs, their mutations, and some raw bytes. */
export function mix(structured: fc.Arbitrary<Buffer>, rawMax = 2048): fc.Arbitrary<Buffer> {
  return fc.oneof(
    { arbitrary: structured, weight: 4 },
    { arbitrary: mutated(structured), weight: 4 },
    { arbitrary: rawBytes(rawMax), weight: 2 },
  );
}

/** Text from a small alphabet of characters that matter to a parser, plus any code point. */
export function textOf(alphabet: string, maxLength = 40): fc.Arbitrary<string> {
  const chars = [...alphabet];
  return fc.array(fc.oneof({ arbitrary: fc.constantFrom(...chars), weight: 5 }, { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 1 }), { maxLength })
    .map((a) => a.join(''));
}

/** Sequence of 16-bit-length-prefixed chunks: how targets that take several datagrams or reads frame them in one Buffer. */
export function framed(parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p) => {
    const h = Buffer.alloc(2);
    h.writeUInt16BE(Math.min(p.length, 0xffff));
    return [h, p.subarray(0, 0xffff)];
  }));
}

/** The inverse of `framed`, lenient: a short last chunk is taken as it is. */
export function unframe(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + 2 <= b.length) {
    const n = b.readUInt16BE(off);
    out.push(b.subarray(off + 2, off + 2 + n));
    off += 2 + n;
  }
  return out;
}

/** null most of the time, a value from `arb` now and then (1 in `1 + of`): for fields that should usually be honest. */
export function rarely<T>(arb: fc.Arbitrary<T>, of = 4): fc.Arbitrary<T | null> {
  return fc.oneof({ arbitrary: fc.constant(null), weight: of }, { arbitrary: arb, weight: 1 });
}
