/**
 * Datagrams arriving on sec-mod's RADIUS socket (src/secmod/radius/client.ts): the
 * client's own checks (source, length, identifier, Response Authenticator,
 * Message-Authenticator, codes, attribute framing incl. vendor attributes), then what the
 * RADIUS auth backend reads from an Access-Accept (src/secmod/auth/radius.ts
 * sessionAttributes, groupsFromClass). The socket handler must drop anything bad with a log
 * line and nothing may throw; the checks are driven directly (RadiusClient.onMessage with a
 * request registered as waiting), not through a socket, so millions of replies fit a run.
 *
 * Input: byte 0 bit 0: sign the reply correctly (Response Authenticator and any
 * Message-Authenticator of 16 bytes) so it gets past the authenticators; bit 1: it answers
 * an Accounting-Request instead of an Access-Request; bit 2: set the length field to the
 * datagram's size; bit 3: set the identifier to the waiting request's. The rest is the datagram.
 */
import fc from 'fast-check';
import { createHash, createHmac } from 'node:crypto';
import pino from 'pino';
import { ATTR, RadiusClient, type RadiusReply } from '../../../src/secmod/radius/client';
import type { RadcliConfig } from '../../../src/secmod/radius/radcli-config';
import { groupsFromClass, sessionAttributes } from '../../../src/secmod/auth/radius';
import { bytesOf, mix, rarely, textOf } from '../gen';
import { check, type FuzzTarget } from '../target';

const radius = require('radius') as { encode(a: object): Buffer };

const SECRET = 'fuzz-secret';
const ID = 7;
const SERVER = { address: '127.0.0.1', port: 1812 };
const log = pino({ level: 'silent' });
const cfg: RadcliConfig = {
  file: 'fuzz', authServers: [{ host: SERVER.address, port: SERVER.port, secret: SECRET, line: 1 }], acctServers: [], serverSecrets: [],
  timeout: 1, retries: 1, deadtime: 0, requireMessageAuthenticator: true,
};
const REQUESTS = {
  'Access-Request': radius.encode({ code: 'Access-Request', secret: SECRET, identifier: ID, attributes: [['User-Name', 'alice'], ['User-Password', 'pw']], add_message_authenticator: true }),
  'Accounting-Request': radius.encode({ code: 'Accounting-Request', secret: SECRET, identifier: ID, attributes: [['User-Name', 'alice'], ['Acct-Status-Type', 'Start']] }),
} as const;

/** Signs `pkt` (a copy) as the server with the secret would: Message-Authenticator first, then the Response Authenticator. */
function sign(pkt: Buffer, request: Buffer): Buffer {
  const out = Buffer.from(pkt);
  if (out.length < 20) return out;
  // what the receiver authenticates: the packet up to its length field (the rest is padding)
  const p = out.subarray(0, Math.min(Math.max(out.readUInt16BE(2), 20), out.length));
  request.copy(p, 4, 4, 20);
  for (let off = 20; off + 2 <= p.length;) {
    const len = p[off + 1]!;
    if (len < 2) break;
    if (p[off] === ATTR.MESSAGE_AUTHENTICATOR && len === 18 && off + 18 <= p.length) {
      p.fill(0, off + 2, off + 18);
      createHmac('md5', SECRET).update(p).digest().copy(p, off + 2);
    }
    off += len;
  }
  createHash('md5').update(p.subarray(0, 4)).update(request.subarray(4, 20)).update(p.subarray(20)).update(SECRET).digest().copy(p, 4);
  return out;
}

interface Internals {
  peers: Set<string>;
  pending: Map<string, { target: object; code: string; packet: Buffer; settle(r: RadiusReply | null): void }>;
  onMessage(msg: Buffer, rinfo: object): void;
}

export function fuzz(input: Buffer): void {
  if (input.length === 0) return;
  const flags = input[0]!;
  const code = flags & 2 ? 'Accounting-Request' : 'Access-Request';
  const request = REQUESTS[code];
  let pkt: Buffer = Buffer.from(input.subarray(1));
  if (flags & 4 && pkt.length >= 4) pkt.writeUInt16BE(Math.min(pkt.length, 0xffff), 2);
  if (flags & 8 && pkt.length >= 2) pkt[1] = ID;
  if (flags & 1) pkt = sign(pkt, request);

  const client = new RadiusClient(cfg, log) as unknown as Internals;
  let reply: RadiusReply | null | undefined;
  client.peers.add(`${SERVER.address}|${SERVER.port}`);
  client.pending.set(`${SERVER.address}|${SERVER.port}|${ID}`, {
    target: { spec: cfg.authServers[0], label: 'fuzz', address: SERVER.address, family: 4, secret: SECRET },
    code, packet: request, settle: (r) => { reply = r; },
  });
  client.onMessage(pkt, { ...SERVER, family: 'IPv4', size: pkt.length });
  if (!reply) return;

  check(['Access-Accept', 'Access-Reject', 'Access-Challenge', 'Accounting-Response'].includes(reply.code), `reply code ${reply.code}`);
  let total = 0;
  for (const a of reply.attributes) total += 2 + a.value.length;
  check(total <= pkt.length - 20, 'attributes lie inside the packet');
  const attrs = sessionAttributes(reply);
  if (attrs.ipv4 !== undefined) check(/^\d+\.\d+\.\d+\.\d+$/.test(attrs.ipv4), 'Framed-IP-Address is an IPv4 address');
  for (const r of attrs.routes ?? []) check(/\/\d+$/.test(r), 'routes are CIDR');
  const groups = groupsFromClass(reply.all(ATTR.CLASS));
  for (const g of groups) check(typeof g === 'string' && g.length > 0, 'groups are non-empty strings');
  reply.vendor(311, 28);
  reply.first(ATTR.STATE);
}

// ---------- inputs ----------

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b; };
const attrValue = fc.oneof(
  fc.tuple(fc.constantFrom(ATTR.FRAMED_IP_ADDRESS, ATTR.FRAMED_IP_NETMASK), fc.oneof(bytesOf(4, 4), bytesOf(0, 8), fc.constantFrom(u32(0xffffffff), u32(0xfffffffe)))),
  fc.tuple(fc.constantFrom(ATTR.SESSION_TIMEOUT, ATTR.IDLE_TIMEOUT, ATTR.ACCT_INTERIM_INTERVAL, ATTR.SERVICE_TYPE), fc.oneof(fc.integer({ min: 0, max: 0xffffffff }).map(u32), bytesOf(0, 6))),
  fc.tuple(fc.constantFrom(ATTR.FRAMED_ROUTE, ATTR.FRAMED_IPV6_ROUTE), fc.oneof(
    fc.constantFrom('10.0.0.0/8', '10.0.0.0/8 10.0.0.1 1', '198.19.1.0/33', '::/0', 'fd00::/8 :: 1', '1.2.3.4', '', ' ', 'x/y'), textOf('0123456789./: ', 30)).map((s) => Buffer.from(s))),
  fc.tuple(fc.constantFrom(ATTR.FRAMED_IPV6_ADDRESS, ATTR.DNS_SERVER_IPV6_ADDRESS), fc.oneof(bytesOf(16, 16), bytesOf(0, 20))),
  fc.tuple(fc.constantFrom(ATTR.FRAMED_IPV6_PREFIX, ATTR.DELEGATED_IPV6_PREFIX), fc.tuple(fc.integer({ min: 0, max: 255 }), bytesOf(0, 18)).map(([len, b]) => Buffer.concat([Buffer.from([0, len]), b]))),
  fc.tuple(fc.constant(ATTR.CLASS), fc.oneof(fc.constantFrom('OU=admins;users', 'OU=a;OU=b;', 'OU=', 'staff', '\x00bin', 'OU=;;;'), textOf('OU=;ab \u00e9', 40)).map((s) => Buffer.from(s))),
  fc.tuple(fc.constant(ATTR.VENDOR_SPECIFIC), fc.tuple(fc.constantFrom(311, 9, 0), fc.array(fc.tuple(fc.constantFrom(28, 29, 0, 255), bytesOf(0, 6), rarely(fc.integer({ min: 0, max: 255 }))), { maxLength: 3 }))
    .map(([vendor, subs]) => Buffer.concat([u32(vendor), ...subs.map(([t, v, lie]) => Buffer.concat([Buffer.from([t, lie ?? v.length + 2]), v]))]))),
  fc.tuple(fc.constantFrom(ATTR.STATE, ATTR.REPLY_MESSAGE, 0, 255), bytesOf(0, 40)),
);
const attribute = fc.tuple(attrValue, rarely(fc.integer({ min: 0, max: 255 }), 12))
  .map(([[type, value], lie]) => Buffer.concat([Buffer.from([type, lie ?? Math.min(value.length + 2, 255)]), value.subarray(0, 253)]));
const reply = fc.record({
  // mostly signed, with the length and identifier right and a code that answers the request: these reach the attributes
  head: fc.oneof(
    { arbitrary: fc.tuple(fc.constant(0b1101), fc.constantFrom(2, 2, 2, 3, 11, 11)), weight: 6 },
    { arbitrary: fc.tuple(fc.constant(0b1111), fc.constant(5)), weight: 1 },
    { arbitrary: fc.tuple(fc.constantFrom(0b1100, 0b0101, 0b1001, 0b1111, 0), fc.constantFrom(2, 3, 11, 5, 1, 4, 0, 255)), weight: 2 },
  ),
  attrs: fc.array(attribute, { maxLength: 10 }),
  // Access-* replies need one (require-message-authenticator); signing fills it in
  ma: fc.constantFrom('good', 'good', 'good', 'good', 'none', 'short', 'two'),
  padding: rarely(bytesOf(1, 8)),
}).map((r) => {
  const ma = Buffer.concat([Buffer.from([ATTR.MESSAGE_AUTHENTICATOR, 18]), Buffer.alloc(16)]);
  const mas = { good: [ma], none: [], short: [Buffer.from([ATTR.MESSAGE_AUTHENTICATOR, 6, 0, 0, 0, 0])], two: [ma, ma] }[r.ma];
  const body = Buffer.concat([...r.attrs, ...mas]);
  const head = Buffer.alloc(20);
  head[0] = r.head[1];
  head[1] = ID;
  head.writeUInt16BE(20 + body.length, 2);
  return Buffer.concat([Buffer.from([r.head[0]]), head, body, r.padding ?? Buffer.alloc(0)]);
});

export const target: FuzzTarget = {
  name: 'radius',
  surface: 'a datagram on sec-mod\'s RADIUS socket: header checks, authenticators, attributes and vendor attributes, then the Access-Accept settings',
  sources: ['secmod/radius/client.js', 'secmod/auth/radius.js'],
  fuzz,
  inputs: mix(reply, 600),
};
