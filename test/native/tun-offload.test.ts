/**
 * A tun's offloads (src/native/tun_offload.h). Written: which of a client's TCP segments a
 * worker writes to its tun as one packet, and what that packet is: the rules of the
 * kernel's GRO, the 64 kB and 64 segments of one packet, checksums verified before a segment
 * joins, and a header the kernel finishes into exactly the packet a sender of the whole would
 * have made. Read: a GSO packet cut into the segments its sender would have sent, and a
 * checksum left partial finished. That the kernel takes and gives such packets through a
 * real tun is test/native/tun-vnet.test.ts.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { tcpCoalesce, tunFinishChecksum, tunSegment, type CoalescedTunWrite } from '../../src/native';
import {
  TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, onesSum, parseTcp, pseudoSum, tcpSegment, timestampOption, type SegmentSpec,
} from '../helpers/tcp-packets';

const V4 = { src: '198.18.0.2', dst: '198.18.252.1' };
const V6 = { src: '2001:2::2', dst: '2001:2::1' };
const ISN = 0xfffff000; // the sequence numbers wrap within the run

/** n segments of one flow, in order, `size` bytes each (sizes[i] instead where given) */
function flow(n: number, size: number, o: { v6?: boolean; sizes?: Record<number, number>; spec?: (i: number) => Partial<SegmentSpec> } = {}): Buffer[] {
  const out: Buffer[] = [];
  let seq = ISN;
  for (let i = 0; i < n; i++) {
    const len = o.sizes?.[i] ?? size;
    out.push(tcpSegment({
      ...(o.v6 ? V6 : V4), sport: 40000, dport: 5201, seq, ack: 77, window: 1000, options: timestampOption(1234, 99),
      payload: randomBytes(len), id: i, ...o.spec?.(i),
    }));
    seq = (seq + len) >>> 0;
  }
  return out;
}

const runs = (w: CoalescedTunWrite[]) => w.map((x) => x.packets);

function vnet(w: CoalescedTunWrite) {
  const b = w.vnet;
  return { flags: b[0], gsoType: b[1], hdrLen: b.readUInt16LE(2), gsoSize: b.readUInt16LE(4), csumStart: b.readUInt16LE(6), csumOffset: b.readUInt16LE(8) };
}

/** what the kernel does with VIRTIO_NET_HDR_F_NEEDS_CSUM: sum from csum_start, the field as the seed */
function finish(w: CoalescedTunWrite): Buffer {
  const h = vnet(w);
  const p = Buffer.from(w.packet);
  const at = h.csumStart + h.csumOffset;
  const sum = onesSum(p.subarray(h.csumStart));
  p.writeUInt16BE(~sum & 0xffff, at);
  return p;
}

for (const v6 of [false, true]) {
  const family = v6 ? 'IPv6' : 'IPv4';
  t.test(`${family}: a run of full segments and a shorter last one with PSH become one packet`, async (t) => {
    const segs = flow(6, 1000, { v6, sizes: { 5: 300 }, spec: (i) => (i === 5 ? { flags: TCP_ACK | TCP_PSH } : {}) });
    const copies = segs.map((s) => Buffer.from(s));
    const w = tcpCoalesce(segs);
    t.same(runs(w), [6]);
    const ipLen = v6 ? 40 : 20;
    const hdrLen = ipLen + 32;
    t.same(vnet(w[0]), { flags: 1, gsoType: v6 ? 4 : 1, hdrLen, gsoSize: 1000, csumStart: ipLen, csumOffset: 16 });
    t.equal(w[0].packet.length, hdrLen + 5300);
    const p = parseTcp(finish(w[0]))!;
    t.ok(p.checksumOk, 'the checksum the kernel completes is the right one for the whole');
    t.ok(p.ipChecksumOk, 'the IP header checksum is redone');
    t.equal(v6 ? w[0].packet.readUInt16BE(4) : w[0].packet.readUInt16BE(2), v6 ? 32 + 5300 : hdrLen + 5300, 'the IP length is the whole');
    t.equal(p.seq, ISN, 'the first segment\'s sequence number');
    t.equal(p.flags, TCP_ACK | TCP_PSH, 'the last segment\'s PSH');
    t.same(p.payload, Buffer.concat(segs.map((s) => parseTcp(s)!.payload)), 'the payloads in order');
    if (!v6) t.equal(w[0].packet.readUInt16BE(4), 0, 'the first segment\'s IP id');
    t.same(segs, copies, 'the segments given are left as they were');
    // the field holds the pseudo-header's sum, as the kernel's own senders leave it
    t.equal(w[0].packet.readUInt16BE(ipLen + 16), pseudoSum(v6 ? V6.src : V4.src, v6 ? V6.dst : V4.dst, 32 + 5300));
  });

  t.test(`${family}: what ends a run`, async (t) => {
    const cases: [string, (i: number) => Partial<SegmentSpec>, number[], Record<number, number>?][] = [
      ['another acknowledgement', (i) => (i >= 3 ? { ack: 78 } : {}), [3, 3]],
      ['another window', (i) => (i >= 3 ? { window: 2000 } : {}), [3, 3]],
      ['other timestamps', (i) => (i >= 3 ? { options: timestampOption(1235, 99) } : {}), [3, 3]],
      ['another flow', (i) => (i >= 3 ? { dport: 5202 } : {}), [3, 3]],
      ['another TTL', (i) => (i >= 3 ? { ttl: 63 } : {}), [3, 3]],
      ['another TOS', (i) => (i >= 3 ? { tos: 2 } : {}), [3, 3]],
      ['a PSH', (i) => (i === 2 ? { flags: TCP_ACK | TCP_PSH } : {}), [3, 3]],
      ['a shorter segment', () => ({}), [3, 3], { 2: 500 }],
      ['a bad checksum (the segment goes alone, as it came)', (i) => (i === 3 ? { badChecksum: true } : {}), [3, 1, 2]],
      ['a bad checksum in the first', (i) => (i === 0 ? { badChecksum: true } : {}), [1, 5]],
      ['FIN', (i) => (i === 3 ? { flags: TCP_ACK | TCP_FIN } : {}), [3, 1, 2]],
      ['SYN', (i) => (i === 3 ? { flags: TCP_ACK | TCP_SYN } : {}), [3, 1, 2]],
      ['RST', (i) => (i === 3 ? { flags: TCP_ACK | TCP_RST } : {}), [3, 1, 2]],
      ['URG', (i) => (i === 3 ? { flags: TCP_ACK | TCP_URG } : {}), [3, 1, 2]],
      ['no ACK', (i) => (i === 3 ? { flags: TCP_PSH } : {}), [3, 1, 2]],
    ];
    for (const [what, spec, want, sizes] of cases) {
      t.same(runs(tcpCoalesce(flow(6, 1000, { v6, spec, sizes }))), want, what);
    }
    const gap = flow(6, 1000, { v6 });
    gap.splice(3, 1);
    t.same(runs(tcpCoalesce(gap)), [3, 2], 'a missing segment');
    const swapped = flow(5, 1000, { v6 });
    [swapped[1], swapped[2]] = [swapped[2], swapped[1]];
    t.same(runs(tcpCoalesce(swapped)), [1, 1, 1, 2], 'segments out of order');
    t.same(runs(tcpCoalesce(flow(4, 0, { v6 }))), [1, 1, 1, 1], 'no payload: acknowledgements go as they are');
    t.same(runs(tcpCoalesce(flow(1, 1000, { v6 }))), [1], 'a lone segment');
    t.same(runs(tcpCoalesce(flow(70, 500, { v6 }))), [64, 6], 'at most 64 segments');
    // IPv4: 20 + 32 + 1400 k <= 65535; IPv6: 32 + 1400 k <= 65535 (the payload length field)
    t.same(runs(tcpCoalesce(flow(60, 1400, { v6 }))), [46, 14], 'at most one IP packet\'s 64 kB');
  });
}

t.test('IPv4 only: fragments, no DF, IP options; other protocols', async (t) => {
  t.same(runs(tcpCoalesce(flow(6, 1000, { spec: (i) => (i === 3 ? { df: false } : {}) }))), [3, 1, 2], 'no DF');
  t.same(runs(tcpCoalesce(flow(6, 1000, { spec: (i) => (i === 3 ? { mf: true } : {}) }))), [3, 1, 2], 'a fragment');
  const opts = flow(6, 1000);
  const withOption = Buffer.concat([opts[3].subarray(0, 20), Buffer.from([1, 1, 1, 0]), opts[3].subarray(20)]);
  withOption[0] = 0x46;
  withOption.writeUInt16BE(withOption.length, 2);
  withOption.writeUInt16BE(0, 10);
  withOption.writeUInt16BE(~onesSum(withOption.subarray(0, 24)) & 0xffff, 10);
  opts[3] = withOption;
  t.same(runs(tcpCoalesce(opts)), [3, 1, 2], 'IP options');
  const badIp = flow(6, 1000);
  badIp[3][10] ^= 0xff;
  t.same(runs(tcpCoalesce(badIp)), [3, 1, 2], 'a bad IP header checksum');
  const udp = flow(6, 1000);
  udp[3] = Buffer.from(udp[3]);
  udp[3][9] = 17;
  t.same(runs(tcpCoalesce(udp)), [3, 1, 2], 'not TCP');
  const mixed = [...flow(3, 1000), ...flow(3, 1000, { v6: true })];
  t.same(runs(tcpCoalesce(mixed)), [3, 3], 'IPv4 then IPv6');
  const short = flow(3, 1000);
  short[1] = Buffer.concat([short[1], Buffer.alloc(4)]);
  t.same(runs(tcpCoalesce(short)), [1, 1, 1], 'a packet longer than its IP length says');
  t.same(runs(tcpCoalesce([Buffer.alloc(0), Buffer.from([0x45]), ...flow(2, 100)])), [1, 1, 2], 'scraps');
});

/** a GSO packet as the kernel hands it over with TSO: one header, the whole payload, the pseudo-header sum in the checksum */
function gsoPacket(v6: boolean, payload: Buffer, mss: number, flags = TCP_ACK | TCP_PSH): { vnet: Buffer; packet: Buffer } {
  const a = v6 ? V6 : V4;
  const packet = tcpSegment({ ...a, sport: 5201, dport: 40000, seq: ISN, ack: 5, flags, window: 900, options: timestampOption(7, 8), payload, id: 0xfffe });
  const ipLen = v6 ? 40 : 20;
  packet.writeUInt16BE(pseudoSum(a.src, a.dst, packet.length - ipLen), ipLen + 16);
  const vnet = Buffer.alloc(10);
  vnet[0] = 1;
  vnet[1] = v6 ? 4 : 1;
  vnet.writeUInt16LE(ipLen + 32, 2);
  vnet.writeUInt16LE(mss, 4);
  vnet.writeUInt16LE(ipLen, 6);
  vnet.writeUInt16LE(16, 8);
  return { vnet, packet };
}

for (const v6 of [false, true]) {
  const family = v6 ? 'IPv6' : 'IPv4';
  t.test(`${family}: a GSO packet read from the tun is cut into the segments a sender would have sent`, async (t) => {
    const payload = randomBytes(10 * 1400 + 321);
    const { vnet, packet } = gsoPacket(v6, payload, 1400, TCP_ACK | TCP_PSH | TCP_FIN | 0x80);
    const segs = tunSegment(vnet, packet, 1500)!;
    t.equal(segs.length, 11);
    const parsed = segs.map((s) => parseTcp(s)!);
    t.ok(parsed.every((p) => p.checksumOk && p.ipChecksumOk), 'every segment\'s checksums verify');
    t.same(parsed.map((p) => p.payload.length), [...Array(10).fill(1400), 321], 'MSS-sized, the rest in the last');
    t.same(Buffer.concat(parsed.map((p) => p.payload)), payload, 'the payload, in order');
    t.same(parsed.map((p) => p.seq), parsed.map((_, k) => (ISN + 1400 * k) >>> 0), 'sequence numbers on from the first (wrapping)');
    t.same(parsed.map((p) => p.flags), [TCP_ACK | 0x80, ...Array(9).fill(TCP_ACK), TCP_ACK | TCP_PSH | TCP_FIN], 'CWR on the first, PSH and FIN on the last');
    t.same(parsed.map((p) => p.window), Array(11).fill(900));
    if (!v6) t.same(segs.map((s) => s.readUInt16BE(4)), segs.map((_, k) => (0xfffe + k) & 0xffff), 'IPv4 ids counting on from the first');
    t.same(segs.map((s) => (v6 ? s.readUInt16BE(4) + 40 : s.readUInt16BE(2))), segs.map((s) => s.length), 'IP lengths');
  });
}

t.test('GSO packets that are dropped rather than cut', async (t) => {
  const ok = gsoPacket(false, randomBytes(3000), 1400);
  t.equal(tunSegment(ok.vnet, ok.packet, 1500)?.length, 3, 'the packet as it should be');
  t.equal(tunSegment(ok.vnet, ok.packet, 1400), null, 'segments larger than a slot');
  const zero = Buffer.from(ok.vnet);
  zero.writeUInt16LE(0, 4);
  t.equal(tunSegment(zero, ok.packet, 1500), null, 'a segment size of 0');
  const udp = Buffer.from(ok.vnet);
  udp[1] = 5; // VIRTIO_NET_HDR_GSO_UDP_L4
  t.equal(tunSegment(udp, ok.packet, 1500), null, 'not TCP segmentation');
  t.equal(tunSegment(ok.vnet, ok.packet.subarray(0, 2000), 1500), null, 'shorter than its IP length');
  const v6 = gsoPacket(true, randomBytes(3000), 1400);
  const ext = Buffer.from(v6.packet);
  ext[6] = 0; // hop-by-hop options first
  t.equal(tunSegment(v6.vnet, ext, 1500), null, 'IPv6 extension headers');
  t.equal(tunSegment(v6.vnet, ok.packet, 1500), null, 'an IPv4 packet called IPv6');
});

t.test('a partial checksum the kernel leaves is finished', async (t) => {
  const seg = flow(1, 700)[0];
  const want = Buffer.from(seg);
  seg.writeUInt16BE(pseudoSum(V4.src, V4.dst, seg.length - 20), 36);
  const vnet = Buffer.from([1, 0, 0, 0, 0, 0, 20, 0, 16, 0]);
  t.same(tunFinishChecksum(vnet, seg), want, 'TCP: the checksum the sender would have put there');
  const udp = Buffer.alloc(28);
  udp[0] = 0x45;
  udp.writeUInt16BE(28, 2);
  udp[9] = 17;
  udp.writeUInt16BE(8, 24);
  // a sum that folds to 0xffff: the checksum would be 0, which UDP sends as 0xffff
  udp.writeUInt16BE(0xffff - 8, 20);
  const uvnet = Buffer.from([1, 0, 0, 0, 0, 0, 20, 0, 6, 0]);
  t.equal(tunFinishChecksum(uvnet, udp)!.readUInt16BE(26), 0xffff, 'UDP: never 0');
  const out = Buffer.from(vnet);
  out.writeUInt16LE(seg.length - 10, 6);
  t.equal(tunFinishChecksum(out, seg), null, 'a checksum place beyond the packet');
});
