/**
 * LZS and LZ4 (src/common/compress): round trips, fast-check properties, bounded
 * decompression of malformed and hostile input, LZ4 blocks exchanged with the lz4 tool
 * (liblz4, the library openconnect uses), and the negotiation of a method.
 */
import t from 'tap';
import fc from 'fast-check';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODECS, DEFAULT_PRIORITIES, DecompressError, chooseCodec, compressionPriorities, type Codec } from '../../../src/common/compress';

const SEED = 8675309;
const codecs = Object.values(CODECS);

/** room for any input: LZS spends at most 9 bits a byte, LZ4 a byte per 255 plus a token */
const worstCase = (n: number) => n + Math.ceil(n / 7) + 16;

function roundTrip(c: Codec, input: Uint8Array): Buffer {
  const z = Buffer.alloc(worstCase(input.length));
  const n = c.compress(input, z);
  if (n < 0) throw new Error(`${c.name}: worst-case room was not enough for ${input.length} bytes`);
  const out = Buffer.alloc(input.length);
  const m = c.decompress(z.subarray(0, n), out);
  return out.subarray(0, m);
}

/** a packet-like input that repeats: ping's -p pattern, an HTTP header, zeros */
const samples: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([0x42])],
  ['two bytes', Buffer.from('ab')],
  ['twelve bytes', Buffer.from('abcabcabcabc')],
  ['1500 zeros', Buffer.alloc(1500)],
  ['1400 random', randomBytes(1400)],
  ['ping -p ff pattern', Buffer.alloc(1400, 0xff)],
  ['sequential bytes', Buffer.from(Array.from({ length: 1500 }, (_, i) => i & 0xff))],
  ['text', Buffer.from('GET /index.html HTTP/1.1\r\nHost: 198.19.0.1\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n'.repeat(12))],
  ['64 KiB mixed', Buffer.concat([randomBytes(20000), Buffer.alloc(20000, 7), randomBytes(5000), Buffer.alloc(20535, 9)])],
  ['long match lengths', Buffer.concat([Buffer.from('x'), Buffer.alloc(4000, 1), randomBytes(30), Buffer.alloc(300, 2)])],
];

for (const c of codecs) {
  t.test(`${c.name}: round trips`, async (t) => {
    for (const [name, input] of samples) t.same(roundTrip(c, input), input, name);
  });

  t.test(`${c.name}: repetitive packets shrink, random ones do not fit below their size`, async (t) => {
    const pattern = Buffer.alloc(1400, 0xff);
    const z = Buffer.alloc(pattern.length - 1);
    const n = c.compress(pattern, z);
    t.ok(n > 0 && n < 100, `1400 equal bytes -> ${n} bytes`);
    const random = randomBytes(1400);
    t.equal(c.compress(random, Buffer.alloc(random.length - 1)), -1, 'random data: -1 (sent uncompressed)');
    t.equal(c.compress(pattern, Buffer.alloc(0)), -1, 'no room at all: -1');
  });

  t.test(`${c.name}: property: decompress(compress(x)) = x`, async (t) => {
    const repetitive = fc.array(fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 40 }),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 300 })).map(([b, n]) => new Uint8Array(n).fill(b)),
    ), { maxLength: 30 }).map((parts) => Buffer.concat(parts));
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), repetitive), (x) => {
      const back = roundTrip(c, x);
      return Buffer.compare(back, Buffer.from(x)) === 0;
    }), { seed: SEED, numRuns: 1500 });
    t.pass('1500 inputs');
  });

  t.test(`${c.name}: property: compress never writes past dst and answers -1 or a fitting length`, async (t) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), fc.integer({ min: 0, max: 2100 }), (x, room) => {
      const big = Buffer.alloc(room + 64, 0xa5);
      const n = c.compress(x, big.subarray(0, room));
      if (n !== -1 && (n < 0 || n > room)) return false;
      return big.subarray(room).every((v) => v === 0xa5);
    }), { seed: SEED, numRuns: 1000 });
    t.pass('1000 inputs');
  });

  t.test(`${c.name}: property: any bytes decompress within the bound or throw DecompressError`, async (t) => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 1600 }), (x, cap) => {
      const big = Buffer.alloc(cap + 64, 0x5a);
      try {
        const n = c.decompress(x, big.subarray(0, cap));
        if (n < 0 || n > cap) return false;
      } catch (err) {
        if (!(err instanceof DecompressError)) throw err;
      }
      return big.subarray(cap).every((v) => v === 0x5a);
    }), { seed: SEED, numRuns: 5000 });
    t.pass('5000 inputs');
  });

  t.test(`${c.name}: property: damaged compressed packets are refused or decode within the bound`, async (t) => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 1500 }), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (x, at, byte, cut) => {
      const z = Buffer.alloc(worstCase(x.length));
      const n = c.compress(x, z);
      let bad = Buffer.from(z.subarray(0, n));
      if (cut) bad = bad.subarray(0, at % bad.length);
      else bad[at % bad.length] ^= byte | 1;
      const out = Buffer.alloc(x.length + 64, 0x5a);
      try {
        const m = c.decompress(bad, out.subarray(0, x.length));
        if (m > x.length) return false;
      } catch (err) {
        if (!(err instanceof DecompressError)) throw err;
      }
      return out.subarray(x.length).every((v) => v === 0x5a);
    }), { seed: SEED, numRuns: 2000 });
    t.pass('2000 damaged packets');
  });

  t.test(`${c.name}: output bound: a packet that decodes to more than the MTU is refused`, async (t) => {
    const big = Buffer.alloc(9000, 3);
    const z = Buffer.alloc(worstCase(big.length));
    const n = c.compress(big, z);
    const out = Buffer.alloc(1500 + 16, 0x77);
    t.throws(() => c.decompress(z.subarray(0, n), out.subarray(0, 1500)), DecompressError);
    t.ok(out.subarray(1500).every((v) => v === 0x77), 'nothing written past the bound');
    t.equal(c.decompress(z.subarray(0, n), Buffer.alloc(9000)), 9000, 'the same packet with room for it decodes');
  });
}

t.test('lzs: malformed streams', async (t) => {
  const dst = Buffer.alloc(100);
  // bits: literal 'A' (0 01000001), end marker (1 1 0000000), padding
  t.equal(CODECS.lzs.decompress(Buffer.from([0b00100000, 0b11100000, 0b00000000]), dst), 1, 'a literal and the end marker');
  t.equal(dst[0], 0x41);
  t.throws(() => CODECS.lzs.decompress(Buffer.from([0b00100000, 0b1]), dst), /no end marker/, 'cut before the end marker');
  t.throws(() => CODECS.lzs.decompress(Buffer.alloc(0), dst), DecompressError, 'empty input');
  // literal 'A' then a 7-bit match 5 back (1 1 0000101) of length 2 (00): only 1 byte decoded
  t.throws(() => CODECS.lzs.decompress(Buffer.from([0b00100000, 0b11100001, 0b01001100, 0b00000000]), dst), /5 bytes back/, 'match before the start');
  // an 11-bit distance of 0 (1 0 00000000000)
  t.throws(() => CODECS.lzs.decompress(Buffer.from([0b00100000, 0b11000000, 0b00000000]), dst), /distance 0/, 'distance 0');
  // a match length of 8 + 15 x 15 + ... nibbles that never end: refused, not looped
  t.throws(() => CODECS.lzs.decompress(Buffer.concat([Buffer.from([0b00100000, 0b11110000, 0b11111111]), Buffer.alloc(400, 0xff)]), dst), DecompressError);
});

t.test('oc-lz4: malformed blocks', async (t) => {
  const dst = Buffer.alloc(100);
  const lz4 = CODECS['oc-lz4'];
  t.equal(lz4.decompress(Buffer.from([0x30, 0x61, 0x62, 0x63]), dst), 3, 'three literals');
  t.throws(() => lz4.decompress(Buffer.alloc(0), dst), /empty block/);
  t.throws(() => lz4.decompress(Buffer.from([0x50, 0x61]), dst), /past the end/, 'literals cut short');
  t.throws(() => lz4.decompress(Buffer.from([0x10, 0x61, 0x00, 0x00]), dst), /0 bytes back/, 'distance 0');
  t.throws(() => lz4.decompress(Buffer.from([0x10, 0x61, 0x05, 0x00, 0x00]), dst), /5 bytes back/, 'distance before the start');
  t.throws(() => lz4.decompress(Buffer.from([0x10, 0x61, 0x01]), dst), /inside a distance/);
  t.throws(() => lz4.decompress(Buffer.from([0x1f, 0x61, 0x01, 0x00, 0xff]), dst), /inside a length/);
  t.throws(() => lz4.decompress(Buffer.from([0x10, 0x61, 0x01, 0x00]), dst), /last sequence must be literals/);
  // a 16 MB match from a 66 KB block: refused at the bound, quickly
  const bomb = Buffer.concat([Buffer.from([0x1f, 0x61, 0x01, 0x00]), Buffer.alloc(66000, 0xff), Buffer.from([0x00, 0x00])]);
  t.throws(() => lz4.decompress(bomb, Buffer.alloc(1500)), /exceeds 1500/);
});

/** LZ4 frame around one block, as the lz4 tool writes it (-BD, no checksums, 64 KB blocks) */
const FRAME_HEADER = Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82]);

t.test('oc-lz4: blocks are the ones liblz4 reads and writes (lz4 tool)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-lz4-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lz4 = CODECS['oc-lz4'];
  for (const [name, input] of samples.filter(([, b]) => b.length > 0 && b.length <= 65536)) {
    // ours -> liblz4
    const z = Buffer.alloc(worstCase(input.length));
    const n = lz4.compress(input, z);
    const size = Buffer.alloc(4);
    size.writeUInt32LE(n);
    writeFileSync(join(dir, 'ours.lz4'), Buffer.concat([FRAME_HEADER, size, z.subarray(0, n), Buffer.alloc(4)]));
    execFileSync('lz4', ['-d', '-f', '-q', join(dir, 'ours.lz4'), join(dir, 'ours.out')]);
    t.same(readFileSync(join(dir, 'ours.out')), input, `${name}: lz4 -d reads our block`);
    // liblz4 -> ours (a block stored uncompressed has the high bit set: then there is nothing to decode)
    writeFileSync(join(dir, 'in'), input);
    execFileSync('lz4', ['-f', '-q', '-B4', '-BD', '--no-frame-crc', join(dir, 'in'), join(dir, 'theirs.lz4')]);
    const frame = readFileSync(join(dir, 'theirs.lz4'));
    t.same(frame.subarray(0, 7), FRAME_HEADER, 'frame header as expected');
    const blockSize = frame.readUInt32LE(7);
    if (blockSize & 0x80000000) continue;
    const out = Buffer.alloc(input.length);
    const m = lz4.decompress(frame.subarray(11, 11 + blockSize), out);
    t.same(out.subarray(0, m), input, `${name}: we read liblz4's block`);
  }
});

t.test('negotiation: the client\'s offer with the highest priority wins', async (t) => {
  t.equal(chooseCodec('oc-lz4,lzs', DEFAULT_PRIORITIES)?.name, 'oc-lz4', 'ocserv prefers LZ4');
  t.equal(chooseCodec('lzs', DEFAULT_PRIORITIES)?.name, 'lzs');
  t.equal(chooseCodec('oc-lz4,lzs,deflate', DEFAULT_PRIORITIES)?.name, 'oc-lz4', 'deflate (stateful) is not offered back');
  t.equal(chooseCodec('deflate', DEFAULT_PRIORITIES), undefined);
  t.equal(chooseCodec(' LZS , identity', DEFAULT_PRIORITIES)?.name, 'lzs', 'case and spaces');
  t.equal(chooseCodec('deflate;q=1.0,lzs;q=0.5', DEFAULT_PRIORITIES)?.name, 'lzs', 'q-values as AnyConnect writes them');
  t.equal(chooseCodec(undefined, DEFAULT_PRIORITIES), undefined);
  t.equal(chooseCodec('lz4', DEFAULT_PRIORITIES), undefined, '"lz4" is no wire name');
  const lzsFirst = compressionPriorities(['lzs:100']);
  t.same(lzsFirst, { priorities: { 'oc-lz4': 90, 'lzs': 100 }, invalid: [] }, 'ocserv\'s NAME:PRIORITY');
  t.equal(chooseCodec('oc-lz4,lzs', lzsFirst.priorities)?.name, 'lzs');
  t.equal(chooseCodec('oc-lz4,lzs', compressionPriorities(['lzs:lz4']).priorities)?.name, 'lzs', 'a list in order of preference');
  t.equal(chooseCodec('lzs,oc-lz4', compressionPriorities(['lz4:lzs']).priorities)?.name, 'oc-lz4');
  t.same(compressionPriorities(['lzs:0', 'zstd:5', 'lzs', 'lzs:lzs', 'oc-lz4:x']).invalid, ['lzs:0', 'zstd:5', 'lzs:lzs', 'oc-lz4:x'],
    'zero, unknown names and repeats are invalid (a single name is a list of one)');
});
