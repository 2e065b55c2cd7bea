/**
 * TCP segments in IPv4 and IPv6 packets, built and read byte by byte as a client's stack
 * would put them into the tunnel (for the tun's TCP coalescing: src/native/tun_offload.h).
 */
import { isIPv6 } from 'node:net';

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;

/** The Internet checksum's sum, folded to 16 bits, not inverted. */
export function onesSum(buf: Uint8Array, init = 0): number {
  let sum = init;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (buf.length & 1) sum += buf[buf.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

function addressBytes(a: string): Buffer {
  if (!isIPv6(a)) return Buffer.from(a.split('.').map(Number));
  const [head, tail = ''] = a.split('::');
  const words = (s: string) => (s ? s.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const t = a.includes('::') ? words(tail) : [];
  const all = [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  const b = Buffer.alloc(16);
  all.forEach((w, i) => b.writeUInt16BE(w, 2 * i));
  return b;
}

/** The sum of the TCP pseudo-header for `tcpBytes` bytes of TCP header and data. */
export function pseudoSum(src: string, dst: string, tcpBytes: number): number {
  return addressesSum(Buffer.concat([addressBytes(src), addressBytes(dst)]), tcpBytes);
}

/** the same, from the source and destination addresses as they lie in the IP header */
function addressesSum(addresses: Uint8Array, tcpBytes: number): number {
  return onesSum(addresses, 6 + (tcpBytes & 0xffff) + Math.floor(tcpBytes / 0x10000));
}

export interface SegmentSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags?: number;
  window?: number;
  /** TCP options, a multiple of 4 bytes */
  options?: Uint8Array;
  payload?: Uint8Array;
  ttl?: number;
  tos?: number;
  /** IPv4: the DF bit (default set) and the identification */
  df?: boolean;
  id?: number;
  /** IPv4 more-fragments bit */
  mf?: boolean;
  /** spoil the TCP checksum */
  badChecksum?: boolean;
}

/** A whole IPv4 or IPv6 packet (by the addresses' family) carrying one TCP segment. */
export function tcpSegment(s: SegmentSpec): Buffer {
  const options = s.options ?? new Uint8Array(0);
  const payload = s.payload ?? new Uint8Array(0);
  const tcp = Buffer.alloc(20 + options.length + payload.length);
  tcp.writeUInt16BE(s.sport, 0);
  tcp.writeUInt16BE(s.dport, 2);
  tcp.writeUInt32BE(s.seq >>> 0, 4);
  tcp.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  tcp[12] = ((20 + options.length) / 4) << 4;
  tcp[13] = s.flags ?? TCP_ACK;
  tcp.writeUInt16BE(s.window ?? 502, 14);
  tcp.set(options, 20);
  tcp.set(payload, 20 + options.length);
  const sum = ~onesSum(tcp, pseudoSum(s.src, s.dst, tcp.length)) & 0xffff;
  tcp.writeUInt16BE(s.badChecksum ? sum ^ 0x5a5a : sum, 16);
  if (isIPv6(s.src)) {
    const ip = Buffer.alloc(40);
    ip.writeUInt32BE((6 << 28) | ((s.tos ?? 0) << 20), 0);
    ip.writeUInt16BE(tcp.length, 4);
    ip[6] = 6;
    ip[7] = s.ttl ?? 64;
    addressBytes(s.src).copy(ip, 8);
    addressBytes(s.dst).copy(ip, 24);
    return Buffer.concat([ip, tcp]);
  }
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip[1] = s.tos ?? 0;
  ip.writeUInt16BE(20 + tcp.length, 2);
  ip.writeUInt16BE(s.id ?? 0, 4);
  ip.writeUInt16BE((s.df ?? true ? 0x4000 : 0) | (s.mf ? 0x2000 : 0), 6);
  ip[8] = s.ttl ?? 64;
  ip[9] = 6;
  addressBytes(s.src).copy(ip, 12);
  addressBytes(s.dst).copy(ip, 16);
  ip.writeUInt16BE(~onesSum(ip) & 0xffff, 10);
  return Buffer.concat([ip, tcp]);
}

export interface ParsedSegment {
  v6: boolean;
  ipLength: number;
  tcpLength: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  payload: Buffer;
  /** the TCP checksum verifies */
  checksumOk: boolean;
  /** IPv4: the header checksum verifies (always true for IPv6) */
  ipChecksumOk: boolean;
}

/** A TCP segment in an IPv4 or IPv6 packet, or null for anything else. */
export function parseTcp(p: Buffer): ParsedSegment | null {
  const v6 = p[0] >> 4 === 6;
  const ipLength = v6 ? 40 : (p[0] & 0xf) * 4;
  if (p.length < ipLength + 20 || (v6 ? p[6] : p[9]) !== 6) return null;
  const tcp = p.subarray(ipLength);
  const addresses = v6 ? p.subarray(8, 40) : p.subarray(12, 20);
  const tcpLength = (tcp[12] >> 4) * 4;
  return {
    v6,
    ipLength,
    tcpLength,
    sport: tcp.readUInt16BE(0),
    dport: tcp.readUInt16BE(2),
    seq: tcp.readUInt32BE(4),
    ack: tcp.readUInt32BE(8),
    flags: tcp[13],
    window: tcp.readUInt16BE(14),
    payload: tcp.subarray(tcpLength),
    checksumOk: onesSum(tcp, addressesSum(addresses, tcp.length)) === 0xffff,
    ipChecksumOk: v6 || onesSum(p.subarray(0, ipLength)) === 0xffff,
  };
}

/** NOP, NOP, timestamps: what Linux puts on every segment of a connection */
export function timestampOption(value: number, echo = 0): Buffer {
  const o = Buffer.from([1, 1, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
  o.writeUInt32BE(value >>> 0, 4);
  o.writeUInt32BE(echo >>> 0, 8);
  return o;
}
