/**
 * The CSTP framer (src/worker/cstp.ts) on a logged-in client's TLS stream, cut into reads at
 * arbitrary points, and the packet filter (src/worker/packet-filter.ts) that judges every
 * data packet of a session with restrict-user-to-routes/ports.
 * Input: byte 0 picks the read sizes, the rest is the stream.
 */
import fc from 'fast-check';
import { CSTP_HEADER, CstpParser, CstpProtocolError, frame, type CstpType } from '../../../src/worker/cstp';
import { PacketFilter } from '../../../src/worker/packet-filter';
import { bytesOf, mix } from '../gen';
import { check, type FuzzTarget } from '../target';

// an allow-list with restrict-user-to-routes, and a deny-list without it
const filters = [
  new PacketFilter({
    routes: [{ network: '198.19.0.0', prefix: 24 }, { network: '10.0.0.0', prefix: 8 }],
    noRoutes: [{ network: '10.9.0.0', prefix: 16 }],
    dns: ['198.19.0.53'],
    local: '198.19.0.1',
    restrictToRoutes: true,
    ports: { deny: false, rules: [{ proto: 'tcp', port: 443 }, { proto: 'udp' }, { proto: 'icmp' }] },
  }),
  new PacketFilter({
    routes: [], noRoutes: [{ network: '0.0.0.0', prefix: 0 }], dns: ['198.19.0.53', 'x'], local: '198.19.0.1',
    ports: { deny: true, rules: [{ proto: 'tcp', port: 22 }, { proto: 'sctp' }, { proto: 'esp' }, { proto: 'icmpv6' }] },
  }),
];
const VERDICTS = new Set([null, 'route', 'port', 'malformed']);

export function fuzz(input: Buffer): void {
  const step = (input[0] ?? 0) % 32;
  const stream = input.subarray(1);
  // the tunnel's limit: a CSTP payload is at most the session's MTU plus headroom
  const parser = new CstpParser(step % 2 ? 1500 + 256 : undefined);
  let framedBytes = 0;
  let off = 0;
  let i = 0;
  try {
    while (off < stream.length) {
      // 1-byte reads, whole stream, and sizes that straddle headers
      const n = step === 0 ? stream.length : step === 1 ? 1 : 1 + ((stream[(off + i) % stream.length]! * step + i) % (4 * step + 13));
      i++;
      parser.push(stream.subarray(off, off + n), (type, payload) => {
        framedBytes += CSTP_HEADER + payload.length;
        check(type >= 0 && type <= 255, 'frame type is a byte');
        if (type === 0) {
          for (const f of filters) {
            const v = f.check(payload);
            check(VERDICTS.has(v), `packet filter verdict ${String(v)}`);
          }
        }
      });
      off += n;
    }
  } catch (err) {
    if (err instanceof CstpProtocolError) return; // the tunnel closes with a log line
    throw err;
  }
  check(framedBytes <= stream.length, 'frames cover no more than the stream');
  check(stream.length - framedBytes < CSTP_HEADER + 0x10000, 'bytes left over fit one frame');
}

// ---------- inputs ----------

const ipPacket = fc.oneof(
  // IPv4 with a variable IHL, protocol, fragment offset and destination
  fc.record({
    ihl: fc.integer({ min: 0, max: 15 }), proto: fc.constantFrom(1, 6, 17, 132, 50, 0, 255), frag: fc.constantFrom(0, 0x2000, 0x0001, 0x1fff),
    dst: fc.constantFrom('198.19.0.1', '198.19.0.53', '10.9.1.1', '10.1.1.1', '8.8.8.8'), dport: fc.constantFrom(53, 443, 80, 0, 65535),
    len: fc.integer({ min: 0, max: 80 }),
  }).map((p) => {
    const b = Buffer.alloc(Math.max(p.len, 1));
    const full = Buffer.alloc(60);
    full[0] = 0x40 | p.ihl;
    full[9] = p.proto;
    full.writeUInt16BE(p.frag, 6);
    p.dst.split('.').forEach((o, i) => { full[16 + i] = Number(o); });
    const l4 = p.ihl * 4;
    if (l4 + 4 <= full.length) full.writeUInt16BE(p.dport, l4 + 2);
    full.copy(b, 0, 0, b.length);
    return b;
  }),
  // IPv6, any next header
  fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 60 })).map(([nh, len]) => {
    const b = Buffer.alloc(len);
    if (len > 0) b[0] = 0x60;
    if (len > 6) b[6] = nh;
    return b;
  }),
  bytesOf(0, 200),
);

const cstpFrame = fc.oneof(
  fc.tuple(fc.constant(0 as CstpType), ipPacket).map(([t, p]) => frame(t, p)),
  fc.tuple(fc.constantFrom(3, 4, 5, 7, 8, 9, 1, 0xff) as fc.Arbitrary<CstpType>, bytesOf(0, 16)).map(([t, p]) => frame(t, p)),
  // a header that claims more than follows, or more than allowed
  fc.tuple(fc.integer({ min: 0, max: 0xffff }), bytesOf(0, 32)).map(([len, p]) => {
    const f = frame(0 as CstpType, p);
    f.writeUInt16BE(len, 4);
    return f;
  }),
);

const stream = fc.tuple(fc.integer({ min: 0, max: 255 }), fc.array(cstpFrame, { maxLength: 12 }))
  .map(([step, frames]) => Buffer.concat([Buffer.from([step]), ...frames]));

export const target: FuzzTarget = {
  name: 'cstp',
  surface: 'CSTP frames on a logged-in TLS stream, cut at any read boundary; data packets through the restrict-user-to-routes/ports filter',
  sources: ['worker/cstp.js', 'worker/packet-filter.js'],
  fuzz,
  inputs: mix(stream, 4096),
};
