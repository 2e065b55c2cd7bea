/**
 * The PROXY protocol header main reads before handing a connection on (src/main/proxy-protocol.ts,
 * listen-proxy-proto). The bytes are read the way src/main/proxy-reader.ts does: as many as
 * proxyHeaderStep asks for, then asked again. Whatever is sent, the step function must
 * answer need/header/error without throwing, ask for at least one byte, never take a byte
 * past the header (those are the client's TLS handshake), and finish within v1's 107 bytes
 * or v2's declared length.
 */
import fc from 'fast-check';
import { proxyHeaderStep, proxyV1, proxyV2 } from '../../../src/main/proxy-protocol';
import { bytesOf, mix, textOf } from '../gen';
import { check, type FuzzTarget } from '../target';

const V2_SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export function fuzz(input: Buffer): void {
  let have = 0;
  for (let steps = 0; ; steps++) {
    check(steps <= 16 + 108, 'the header is read in a bounded number of steps');
    const r = proxyHeaderStep(input.subarray(0, have));
    if ('error' in r) {
      // a message quotes at most a bounded piece of the line (escaped for the log)
      check(typeof r.error === 'string' && r.error.length < 1000, 'an error says why, briefly');
      return;
    }
    if ('header' in r) {
      const h = r.header;
      check(h.length === have, 'the header is exactly the bytes read');
      check(h.version === 1 ? have <= 107 : have <= 16 + 0xffff, 'within the version\'s limit');
      if (h.command === 'proxy') {
        check(!!h.source && !!h.destination, 'a proxied connection names both ends');
        for (const e of [h.source!, h.destination!]) check(Number.isInteger(e.port) && e.port >= 0 && e.port <= 65535 && e.address.length > 0, 'endpoints are addresses and ports');
      }
      return;
    }
    check(Number.isInteger(r.need) && r.need >= 1, `asks for at least one byte (need ${r.need})`);
    if (have >= input.length) return; // the connection waits for more (the reader's timeout ends it)
    have = Math.min(input.length, have + r.need);
  }
}

// ---------- inputs ----------

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
const v6 = fc.constantFrom('::1', 'fe80::1', '::ffff:198.18.0.2', '2001:db8::1', '::');
const port = fc.oneof(fc.nat(65535), fc.constantFrom(0, 65535));
const tls = fc.constantFrom(Buffer.alloc(0), Buffer.from('160301020001', 'hex'), Buffer.from('\r\nPROXY '));
const v1Line = fc.oneof(
  fc.tuple(v4, v4, port, port, tls).map(([s, d, sp, dp, rest]) => Buffer.concat([proxyV1({ address: s, port: sp }, { address: d, port: dp }), rest])),
  fc.tuple(v6, v6, port, port, tls).map(([s, d, sp, dp, rest]) => Buffer.concat([proxyV1({ address: s, port: sp }, { address: d, port: dp }), rest])),
  fc.tuple(fc.constantFrom('TCP4', 'TCP6', 'UNKNOWN', 'UDP4', 'tcp4', ''), textOf('0123456789.:abcdef ', 60), fc.constantFrom('\r\n', '\n', '\r', '')).map(([p, rest, end]) => Buffer.from(`PROXY ${p} ${rest}${end}`, 'latin1')),
);
const v2Header = fc.oneof(
  fc.tuple(v4, v4, port, port, fc.array(fc.record({ type: fc.nat(255), value: bytesOf(0, 20) }), { maxLength: 3 }), tls)
    .map(([s, d, sp, dp, tlvs, rest]) => Buffer.concat([proxyV2({ address: s, port: sp }, { address: d, port: dp }, tlvs), rest])),
  fc.tuple(v6, v6, port, port, tls).map(([s, d, sp, dp, rest]) => Buffer.concat([proxyV2({ address: s, port: sp }, { address: d, port: dp }), rest])),
  tls.map((rest) => Buffer.concat([proxyV2(), rest])),
  // any version/command, family/transport and declared length
  fc.tuple(fc.nat(255), fc.nat(255), fc.oneof(fc.nat(300), fc.constantFrom(0xffff, 12, 36, 216)), bytesOf(0, 300))
    .map(([vc, ft, len, body]) => { const h = Buffer.alloc(16); V2_SIG.copy(h); h[12] = vc; h[13] = ft; h.writeUInt16BE(len, 14); return Buffer.concat([h, body]); }),
);

export const target: FuzzTarget = {
  name: 'proxy-protocol',
  surface: 'the first bytes of a connection with listen-proxy-proto: PROXY v1 lines and v2 binary headers',
  sources: ['main/proxy-protocol.js'],
  fuzz,
  inputs: mix(fc.oneof(v1Line, v2Header), 512),
};
