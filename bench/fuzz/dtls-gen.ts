/**
 * Valid-looking DTLS datagrams with fields the fuzzer gets to choose: ClientHellos (version,
 * session id, cookie, suites, extensions, fragmentation) in records whose headers may lie.
 */
import fc from 'fast-check';
import { bytesOf, lengthish, rarely } from './gen';

export interface HelloFields {
  version: number;
  sid: Buffer;
  cookie: Buffer;
  suites: number[];
  compression: number[];
  extensions: { type: number; data: Buffer }[] | null;
}

export function helloBody(h: HelloFields): Buffer {
  const parts: Buffer[] = [
    Buffer.from([h.version >> 8, h.version & 0xff]), Buffer.alloc(32, 7),
    Buffer.from([h.sid.length & 0xff]), h.sid, Buffer.from([h.cookie.length & 0xff]), h.cookie,
  ];
  const suites = Buffer.alloc(2 + 2 * h.suites.length);
  suites.writeUInt16BE((2 * h.suites.length) & 0xffff);
  h.suites.forEach((s, i) => suites.writeUInt16BE(s, 2 + 2 * i));
  parts.push(suites, Buffer.from([h.compression.length, ...h.compression]));
  if (h.extensions) {
    const ext = Buffer.concat(h.extensions.map((e) => {
      const x = Buffer.alloc(4);
      x.writeUInt16BE(e.type);
      x.writeUInt16BE(e.data.length & 0xffff, 2);
      return Buffer.concat([x, e.data]);
    }));
    const l = Buffer.alloc(2);
    l.writeUInt16BE(ext.length & 0xffff);
    parts.push(l, ext);
  }
  return Buffer.concat(parts);
}

export function hsHeader(type: number, length: number, seq: number, fragOff: number, fragLen: number): Buffer {
  const h = Buffer.alloc(12);
  h[0] = type;
  h.writeUIntBE(length & 0xffffff, 1, 3);
  h.writeUInt16BE(seq & 0xffff, 4);
  h.writeUIntBE(fragOff & 0xffffff, 6, 3);
  h.writeUIntBE(fragLen & 0xffffff, 9, 3);
  return h;
}

export function recHeader(type: number, version: number, epoch: number, seq: number, length: number): Buffer {
  const h = Buffer.alloc(13);
  h[0] = type;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(epoch & 0xffff, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(length & 0xffff, 11);
  return h;
}

export const DTLS_VERSIONS = [0xfefd, 0xfeff, 0x0100, 0xfefc, 0x0303, 0];
/** PSK and legacy suites the server knows, the renegotiation SCSV, and others */
export const SUITE_IDS = [0x00a8, 0x00a9, 0xccab, 0xc0a4, 0xc0a5, 0x009d, 0x009c, 0x0035, 0x002f, 0x00ff, 0xc030, 0x1301, 0];

export const helloFields: fc.Arbitrary<HelloFields> = fc.record({
  version: fc.constantFrom(...DTLS_VERSIONS),
  sid: fc.oneof(bytesOf(32, 32), bytesOf(0, 40)),
  cookie: bytesOf(0, 40),
  suites: fc.array(fc.oneof(fc.constantFrom(...SUITE_IDS), fc.integer({ min: 0, max: 0xffff })), { maxLength: 20 }),
  compression: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 0, maxLength: 3 }),
  extensions: fc.option(fc.array(fc.record({ type: fc.constantFrom(0xff01, 0, 10, 13, 0x0017, 0xffff), data: bytesOf(0, 24) }), { maxLength: 5 })),
});

/**
 * A ClientHello in one or more records, each record's header and each fragment's
 * offsets drawn from honest values or lies.
 */
export const clientHelloDatagram: fc.Arbitrary<Buffer> = fc.record({
  hello: helloFields,
  epoch: fc.constantFrom(0, 0, 0, 1),
  seq: fc.constantFrom(0, 0, 1, 5),
  fragments: fc.integer({ min: 1, max: 3 }),
  lieLength: rarely(lengthish(0xffffff)),
  lieRecord: rarely(lengthish(0xffff)),
  recVersion: fc.constantFrom(0xfefd, 0xfeff, 0x0100),
}).map((g) => {
  const body = helloBody(g.hello);
  const recs: Buffer[] = [];
  const per = Math.ceil(body.length / g.fragments);
  for (let off = 0, i = 0; off < body.length || i === 0; off += per, i++) {
    const part = body.subarray(off, off + per);
    const hs = Buffer.concat([hsHeader(1, g.lieLength ?? body.length, g.seq, off, part.length), part]);
    recs.push(recHeader(22, g.recVersion, g.epoch, i, g.lieRecord ?? hs.length), hs);
  }
  return Buffer.concat(recs);
});
