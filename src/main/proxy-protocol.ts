/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a load
 * balancer puts in front of the client's bytes when listen-proxy-proto is on. Pure: the
 * caller reads bytes off the socket and asks `proxyHeaderStep` how many more it may take.
 *
 * The header must be consumed exactly, not a byte more: whatever follows is the client's
 * TLS handshake, which the worker reads from the same socket. So the step function only ever
 * asks for bytes that are certainly still part of the header.
 */
import ipaddr from 'ipaddr.js';

export interface ProxyEndpoint { address: string; port: number }

export interface ProxyHeader {
  version: 1 | 2;
  /**
   * 'proxy': the connection was relayed for `source` (the client) to `destination` (the
   * address the client connected to). 'local': the proxy's own connection (a health check),
   * or one whose addresses the proxy could not tell (v1 UNKNOWN, v2 AF_UNSPEC/AF_UNIX): the
   * socket's own endpoints stand.
   */
  command: 'proxy' | 'local';
  source?: ProxyEndpoint;
  destination?: ProxyEndpoint;
  /** v2 type-length-value extensions, as sent (none is acted on) */
  tlvs: { type: number; value: Buffer }[];
  /** bytes of the header, all of which were consumed */
  length: number;
}

export type ProxyStep =
  /** read at most this many more bytes (all certainly header), then call again */
  | { need: number }
  | { header: ProxyHeader }
  | { error: string };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** the shortest header of either version ("PROXY UNKNOWN\r\n"): safe to read before knowing which */
const MIN_HEADER = 15;
/** v1's limit, CRLF included */
const V1_MAX = 107;
const V2_FIXED = 16;

function startsLike(buf: Buffer, sig: Buffer): boolean {
  const n = Math.min(buf.length, sig.length);
  return buf.subarray(0, n).equals(sig.subarray(0, n));
}

/**
 * Given the bytes read so far (from the start of the connection), says how many more may be
 * read, or the parsed header once complete, or why these bytes cannot be a PROXY header.
 */
export function proxyHeaderStep(buf: Buffer): ProxyStep {
  const v1 = startsLike(buf, V1_PREFIX);
  const v2 = startsLike(buf, V2_SIGNATURE);
  if (!v1 && !v2) return { error: 'not a PROXY protocol header' };
  if (buf.length < MIN_HEADER) return { need: MIN_HEADER - buf.length };
  return v1 ? v1Step(buf) : v2Step(buf);
}

// ---------- version 1: one text line ----------

function v1Step(buf: Buffer): ProxyStep {
  const lf = buf.indexOf(0x0a);
  if (lf < 0) {
    if (buf.length >= V1_MAX) return { error: `v1 header longer than ${V1_MAX} bytes` };
    // the line may end at any byte: one at a time, so nothing after it is taken
    return { need: 1 };
  }
  if (lf !== buf.length - 1) return { error: 'v1 header read past its end' };
  if (buf[lf - 1] !== 0x0d) return { error: 'v1 header line does not end in CRLF' };
  const line = buf.subarray(V1_PREFIX.length, lf - 1).toString('latin1');
  const parsed = parseV1Line(line);
  if ('error' in parsed) return parsed;
  return { header: { version: 1, ...parsed, tlvs: [], length: buf.length } };
}

const PORT_RE = /^(0|[1-9]\d{0,4})$/;

function parseV1Line(line: string): { error: string } | Pick<ProxyHeader, 'command' | 'source' | 'destination'> {
  // "UNKNOWN" may be followed by anything, which is to be ignored
  if (line === 'UNKNOWN' || line.startsWith('UNKNOWN ')) return { command: 'local' };
  const parts = line.split(' ');
  if (parts.length !== 5) return { error: `v1 header: expected "TCP4|TCP6 SRC DST SPORT DPORT", got ${JSON.stringify(line.slice(0, 60))}` };
  const [proto, src, dst, sport, dport] = parts;
  const kind = proto === 'TCP4' ? 'ipv4' : proto === 'TCP6' ? 'ipv6' : undefined;
  if (!kind) return { error: `v1 header: unknown protocol ${JSON.stringify(proto.slice(0, 16))}` };
  const source = v1Endpoint(src, sport, kind);
  const destination = v1Endpoint(dst, dport, kind);
  if (!source || !destination) return { error: `v1 header: bad ${proto} address or port in ${JSON.stringify(line.slice(0, 100))}` };
  return { command: 'proxy', source, destination };
}

function v1Endpoint(addr: string, port: string, kind: 'ipv4' | 'ipv6'): ProxyEndpoint | undefined {
  if (!PORT_RE.test(port) || Number(port) > 65535) return undefined;
  if (kind === 'ipv4' ? !ipaddr.IPv4.isValidFourPartDecimal(addr) : !ipaddr.IPv6.isValid(addr)) return undefined;
  return { address: normalize(ipaddr.parse(addr)), port: Number(port) };
}

// ---------- version 2: binary ----------

const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const PROTO_UNSPEC = 0x0;
const PROTO_STREAM = 0x1;

function v2Step(buf: Buffer): ProxyStep {
  if (buf.length < V2_FIXED) return { need: V2_FIXED - buf.length };
  const total = V2_FIXED + buf.readUInt16BE(14);
  if (buf.length < total) return { need: total - buf.length };
  if (buf.length > total) return { error: 'v2 header read past its end' };
  const version = buf[12] >> 4;
  const command = buf[12] & 0x0f;
  if (version !== 2) return { error: `v2 header: version ${version} is not 2` };
  if (command !== 0 && command !== 1) return { error: `v2 header: unknown command ${command}` };
  const family = buf[13] >> 4;
  const transport = buf[13] & 0x0f;
  const body = buf.subarray(V2_FIXED, total);
  const local: ProxyHeader = { version: 2, command: 'local', tlvs: [], length: total };
  // LOCAL: the proxy speaking for itself; whatever address block follows is to be ignored
  if (command === 0) return { header: { ...local, tlvs: readTlvs(body, addressBlockSize(family)) } };
  if (family === AF_UNSPEC || (family !== AF_INET && family !== AF_INET6)) {
    // AF_UNIX or unspecified: no client address to learn; the connection's own stands
    return { header: { ...local, tlvs: readTlvs(body, addressBlockSize(family)) } };
  }
  if (transport !== PROTO_STREAM && transport !== PROTO_UNSPEC) return { error: `v2 header: transport ${transport} is not a stream` };
  const need = addressBlockSize(family);
  if (body.length < need) return { error: `v2 header: ${body.length} bytes cannot hold the ${family === AF_INET ? 'IPv4' : 'IPv6'} addresses` };
  const alen = family === AF_INET ? 4 : 16;
  const addr = (off: number) => normalize(ipaddr.fromByteArray([...body.subarray(off, off + alen)]));
  const source = { address: addr(0), port: body.readUInt16BE(2 * alen) };
  const destination = { address: addr(alen), port: body.readUInt16BE(2 * alen + 2) };
  return { header: { version: 2, command: 'proxy', source, destination, tlvs: readTlvs(body, need), length: total } };
}

function addressBlockSize(family: number): number {
  if (family === AF_INET) return 12;
  if (family === AF_INET6) return 36;
  if (family === 0x3) return 216; // AF_UNIX: two 108-byte paths
  return 0;
}

/** TLVs after the address block; malformed framing ends the list (they are informational only) */
function readTlvs(body: Buffer, from: number): { type: number; value: Buffer }[] {
  const out: { type: number; value: Buffer }[] = [];
  let off = from;
  while (off + 3 <= body.length) {
    const len = body.readUInt16BE(off + 1);
    if (off + 3 + len > body.length) break;
    out.push({ type: body[off], value: Buffer.from(body.subarray(off + 3, off + 3 + len)) });
    off += 3 + len;
  }
  return out;
}

/** as main writes client addresses everywhere: IPv4 in dotted form even when v4-mapped */
function normalize(a: ipaddr.IPv4 | ipaddr.IPv6): string {
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) return (a as ipaddr.IPv6).toIPv4Address().toString();
  return a.toString();
}

// ---------- building headers (tests, and a relay in front of a server) ----------

/** A v1 line for a TCP connection from `source` to `destination`. */
export function proxyV1(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const proto = source.address.includes(':') ? 'TCP6' : 'TCP4';
  return Buffer.from(`PROXY ${proto} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, 'latin1');
}

/** A v2 header; without endpoints it is a LOCAL command. */
export function proxyV2(source?: ProxyEndpoint, destination?: ProxyEndpoint, tlvs: { type: number; value: Buffer }[] = []): Buffer {
  const tlvBytes = Buffer.concat(tlvs.map((t) => {
    const h = Buffer.alloc(3);
    h[0] = t.type;
    h.writeUInt16BE(t.value.length, 1);
    return Buffer.concat([h, t.value]);
  }));
  let verCmd = 0x20;
  let fam = 0x00;
  let addrs = Buffer.alloc(0);
  if (source && destination) {
    verCmd = 0x21;
    const v6 = source.address.includes(':');
    fam = (v6 ? AF_INET6 : AF_INET) << 4 | PROTO_STREAM;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(source.port, 0);
    ports.writeUInt16BE(destination.port, 2);
    addrs = Buffer.concat([
      Buffer.from(ipaddr.parse(source.address).toByteArray()),
      Buffer.from(ipaddr.parse(destination.address).toByteArray()),
      ports,
    ]);
  }
  const head = Buffer.alloc(V2_FIXED);
  V2_SIGNATURE.copy(head);
  head[12] = verCmd;
  head[13] = fam;
  head.writeUInt16BE(addrs.length + tlvBytes.length, 14);
  return Buffer.concat([head, addrs, tlvBytes]);
}
