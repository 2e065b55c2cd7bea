/**
 * A RADIUS client over UDP (RFC 2865/2866, Message-Authenticator per RFC 3579/BlastRADIUS):
 * one request at a time per caller, many in flight, retransmission and failover the way
 * radcli does it. Authentication and accounting share it: `request(code, attrs, 'auth'|'acct')`.
 *
 * What arrives on the socket is untrusted until it matches a request we sent (source
 * address and port, identifier) and carries the right authenticators; anything else is
 * dropped with a log line and the request keeps waiting. Nothing thrown from a datagram
 * can leave the socket handler.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import type { Logger } from '../../common/log';
import type { RadcliConfig, RadiusServerSpec } from './radcli-config';

// The package has no type declarations; this is the part we use.
interface RadiusLib {
  encode(args: { code: string; secret: string; identifier: number; attributes: unknown[]; add_message_authenticator?: boolean }): Buffer;
}
const radius = require('radius') as RadiusLib;

/** An attribute as the `radius` package encodes it: [name or number, value] or ['Vendor-Specific', vendor, [[...]]]. */
export type Attribute = [string | number, ...unknown[]];

export type RequestCode = 'Access-Request' | 'Accounting-Request';
export type ServerKind = 'auth' | 'acct';

export const CODES: Record<number, string> = {
  1: 'Access-Request', 2: 'Access-Accept', 3: 'Access-Reject', 4: 'Accounting-Request', 5: 'Accounting-Response', 11: 'Access-Challenge',
};
const ANSWERS: Record<RequestCode, number[]> = {
  'Access-Request': [2, 3, 11],
  'Accounting-Request': [5],
};

export const ATTR = {
  USER_NAME: 1, USER_PASSWORD: 2, NAS_IP_ADDRESS: 4, SERVICE_TYPE: 6, FRAMED_PROTOCOL: 7, FRAMED_IP_ADDRESS: 8, FRAMED_IP_NETMASK: 9,
  REPLY_MESSAGE: 18, FRAMED_ROUTE: 22, STATE: 24, CLASS: 25, VENDOR_SPECIFIC: 26, SESSION_TIMEOUT: 27, IDLE_TIMEOUT: 28,
  CALLED_STATION_ID: 30, CALLING_STATION_ID: 31, NAS_IDENTIFIER: 32, NAS_PORT_TYPE: 61, CONNECT_INFO: 77, MESSAGE_AUTHENTICATOR: 80,
  ACCT_INTERIM_INTERVAL: 85, NAS_IPV6_ADDRESS: 95, FRAMED_IPV6_PREFIX: 97, FRAMED_IPV6_ROUTE: 99, DELEGATED_IPV6_PREFIX: 123,
  FRAMED_IPV6_ADDRESS: 168, DNS_SERVER_IPV6_ADDRESS: 169,
} as const;

/** values both Access- and Accounting-Requests describe a VPN session with */
export const SERVICE_FRAMED = 2;
export const PROTOCOL_PPP = 1;
export const PORT_TYPE_VIRTUAL = 5;

const HEADER = 20;
const MAX_PACKET = 4096;

export interface RawAttribute { type: number; value: Buffer }

/** A verified answer from a server. */
export class RadiusReply {
  constructor(
    readonly code: string,
    readonly identifier: number,
    /** `host:port` as configured */
    readonly server: string,
    readonly attributes: RawAttribute[],
  ) {}

  all(type: number): Buffer[] {
    return this.attributes.filter((a) => a.type === type).map((a) => a.value);
  }

  first(type: number): Buffer | undefined {
    return this.attributes.find((a) => a.type === type)?.value;
  }

  /** Every vendor attribute `type` of `vendor` inside Vendor-Specific attributes (RFC 2865 5.26 layout). */
  vendor(vendor: number, type: number): Buffer[] {
    const out: Buffer[] = [];
    for (const vsa of this.all(ATTR.VENDOR_SPECIFIC)) {
      if (vsa.length < 4 || vsa.readUInt32BE(0) !== vendor) continue;
      // a malformed vendor part is skipped whole: its attributes cannot be told apart
      const sub = splitAttributes(vsa.subarray(4), false);
      if (sub) for (const a of sub) if (a.type === type) out.push(a.value);
    }
    return out;
  }
}

/** No configured server answered in time. */
export class RadiusUnreachableError extends Error {
  override name = 'RadiusUnreachableError';
}

/**
 * The attributes of a packet, or null when their lengths do not add up (an attribute
 * shorter than its header or running past the end), which is a malformed packet.
 */
export function splitAttributes(data: Buffer, rejectTypeZero = true): RawAttribute[] | null {
  const out: RawAttribute[] = [];
  let off = 0;
  while (off < data.length) {
    if (data.length - off < 2) return null;
    const type = data[off]!;
    const len = data[off + 1]!;
    if (len < 2 || off + len > data.length || (rejectTypeZero && type === 0)) return null;
    out.push({ type, value: Buffer.from(data.subarray(off + 2, off + len)) });
    off += len;
  }
  return out;
}

interface Target {
  spec: RadiusServerSpec;
  label: string;
  address: string;
  family: 4 | 6;
  secret: string;
}

interface Pending {
  target: Target;
  code: RequestCode;
  packet: Buffer;
  settle: (r: RadiusReply | null) => void;
}

function normalize(addr: string): string {
  try {
    return ipaddr.process(addr).toString();
  } catch {
    return addr;
  }
}

export class RadiusClient {
  private readonly sockets = new Map<4 | 6, Promise<Socket>>();
  /** in-flight requests by `address|port|identifier` */
  private readonly pending = new Map<string, Pending>();
  /** `address|port` of every server we have sent to: anything else on our sockets is a stranger */
  private readonly peers = new Set<string>();
  private readonly nextId = new Map<string, number>();
  /** until when (ms) a server that did not answer is tried last (radius_deadtime) */
  private readonly deadUntil = new Map<string, number>();
  private closed = false;

  constructor(private readonly cfg: RadcliConfig, private readonly log: Logger) {}

  /**
   * Sends `code` with `attributes` to the auth or acct servers in order, each tried
   * `radius_retries` times with `radius_timeout` seconds per try, and resolves with the
   * first verified answer. Rejects with RadiusUnreachableError when none answers, so the
   * wait is bounded by servers × retries × timeout.
   */
  async request(code: RequestCode, attributes: Attribute[], kind: ServerKind): Promise<RadiusReply> {
    const servers = kind === 'auth' ? this.cfg.authServers : this.cfg.acctServers;
    if (servers.length === 0) throw new RadiusUnreachableError(`no ${kind}server configured in ${this.cfg.file}`);
    const now = Date.now();
    const order = [...servers].sort((a, b) => Number((this.deadUntil.get(labelOf(a)) ?? 0) > now) - Number((this.deadUntil.get(labelOf(b)) ?? 0) > now));
    const failed: string[] = [];
    for (const spec of order) {
      if (this.closed) break;
      const label = labelOf(spec);
      let target: Target;
      try {
        target = await this.resolve(spec);
      } catch (err) {
        this.log.error({ server: label, err: (err as Error).message }, 'RADIUS server skipped');
        failed.push(`${label} (${(err as Error).message})`);
        continue;
      }
      const reply = await this.exchange(target, code, attributes);
      if (reply) {
        this.deadUntil.delete(label);
        return reply;
      }
      failed.push(label);
      if (this.cfg.deadtime > 0) this.deadUntil.set(label, Date.now() + this.cfg.deadtime * 1000);
      this.log.warn({ server: label, code, tries: this.cfg.retries, timeout: this.cfg.timeout }, 'RADIUS server did not answer');
    }
    throw new RadiusUnreachableError(
      `RADIUS server(s) ${failed.join(', ')} did not answer (${this.cfg.retries} tries of ${this.cfg.timeout} s each)`,
    );
  }

  close(): void {
    this.closed = true;
    for (const p of [...this.pending.values()]) p.settle(null);
    for (const s of this.sockets.values()) void s.then((sock) => sock.close(), () => {});
    this.sockets.clear();
  }

  /** A host name is looked up per request, so a changed DNS entry needs no restart. */
  private async resolve(spec: RadiusServerSpec): Promise<Target> {
    const label = labelOf(spec);
    const address = ipaddr.isValid(spec.host) ? normalize(spec.host) : normalize((await lookup(spec.host)).address);
    const family = ipaddr.parse(address).kind() === 'ipv6' ? 6 : 4;
    const secret = spec.secret ?? (await this.secretByAddress(address));
    if (secret === undefined) throw new Error(`no secret for ${spec.host} in ${this.cfg.serversFile}`);
    return { spec, label, address, family, secret };
  }

  /** radcli matches the servers file by address: an entry may name the server differently. */
  private async secretByAddress(address: string): Promise<string | undefined> {
    for (const e of this.cfg.serverSecrets) {
      try {
        const addrs = ipaddr.isValid(e.host) ? [e.host] : (await lookup(e.host, { all: true })).map((a) => a.address);
        if (addrs.some((a) => normalize(a) === address)) return e.secret;
      } catch {
        // an entry whose name does not resolve matches nothing
      }
    }
    return undefined;
  }

  private socket(family: 4 | 6): Promise<Socket> {
    let s = this.sockets.get(family);
    if (!s) {
      s = new Promise<Socket>((resolveSock, reject) => {
        const sock = createSocket(family === 6 ? 'udp6' : 'udp4');
        sock.on('message', (msg, rinfo) => {
          try {
            this.onMessage(msg, rinfo);
          } catch (err) {
            this.log.error({ err: (err as Error).message, from: rinfo.address }, 'RADIUS reply dropped: internal error');
          }
        });
        sock.once('error', reject);
        const bind = this.cfg.bindAddr && (ipaddr.parse(this.cfg.bindAddr).kind() === 'ipv6') === (family === 6) ? this.cfg.bindAddr : undefined;
        sock.bind({ address: bind, port: 0 }, () => {
          sock.off('error', reject);
          sock.on('error', (err) => this.log.error({ err: err.message }, 'RADIUS socket error'));
          // a client waiting for nothing must not hold the process open
          sock.unref();
          resolveSock(sock);
        });
      });
      this.sockets.set(family, s);
      s.catch(() => this.sockets.delete(family));
    }
    return s;
  }

  private allocateId(peer: string): number {
    const start = this.nextId.get(peer) ?? Math.floor(Math.random() * 256);
    for (let i = 0; i < 256; i++) {
      const id = (start + i) & 0xff;
      if (!this.pending.has(`${peer}|${id}`)) {
        this.nextId.set(peer, (id + 1) & 0xff);
        return id;
      }
    }
    throw new Error(`256 requests already waiting for ${peer}`);
  }

  /** One server: send, resend the same bytes on each timeout (RFC 5080 2.2.1), null after the last try. */
  private async exchange(target: Target, code: RequestCode, attributes: Attribute[]): Promise<RadiusReply | null> {
    let sock: Socket;
    try {
      sock = await this.socket(target.family);
    } catch (err) {
      this.log.error({ server: target.label, err: (err as Error).message }, 'cannot open a RADIUS socket');
      return null;
    }
    const peer = `${target.address}|${target.spec.port}`;
    this.peers.add(peer);
    const id = this.allocateId(peer);
    // the package appends Message-Authenticator to the list it is given: hand it a copy
    const packet = radius.encode({
      code, secret: target.secret, identifier: id, attributes: attributes.map((a) => [...a]), add_message_authenticator: code === 'Access-Request',
    });
    const key = `${peer}|${id}`;
    return new Promise<RadiusReply | null>((settleOuter) => {
      let tries = 0;
      let timer: NodeJS.Timeout | undefined;
      const settle = (r: RadiusReply | null) => {
        if (timer) clearTimeout(timer);
        this.pending.delete(key);
        settleOuter(r);
      };
      const send = () => {
        if (this.closed) return settle(null);
        tries++;
        sock.send(packet, target.spec.port, target.address, (err) => {
          if (err) this.log.warn({ server: target.label, err: err.message }, 'RADIUS send failed');
        });
        timer = setTimeout(() => (tries < this.cfg.retries ? send() : settle(null)), this.cfg.timeout * 1000);
      };
      this.pending.set(key, { target, code, packet, settle });
      send();
    });
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    const from = `${rinfo.address}:${rinfo.port}`;
    const drop = (why: string, extra: Record<string, unknown> = {}) => this.log.warn({ from, ...extra }, `RADIUS reply dropped: ${why}`);
    const peer = `${normalize(rinfo.address)}|${rinfo.port}`;
    if (!this.peers.has(peer)) return drop('from an unknown address');
    if (msg.length < HEADER) return drop('shorter than a RADIUS header', { bytes: msg.length });
    const length = msg.readUInt16BE(2);
    if (length < HEADER || length > MAX_PACKET) return drop('impossible length field', { length });
    if (length > msg.length) return drop('truncated', { length, bytes: msg.length });
    // octets past the length field are padding (RFC 2865 3)
    const pkt = msg.subarray(0, length);
    const id = pkt[1]!;
    const p = this.pending.get(`${peer}|${id}`);
    if (!p) return drop('no request waiting with this identifier', { id });
    const code = pkt[0]!;
    if (!expectedResponseAuthenticator(pkt, p.packet, p.target.secret).equals(pkt.subarray(4, HEADER))) {
      return drop('wrong response authenticator (shared secret mismatch?)', { id });
    }
    if (!ANSWERS[p.code].includes(code)) return drop(`code ${code} does not answer ${p.code}`, { id });
    const attrs = splitAttributes(pkt.subarray(HEADER));
    if (!attrs) return drop('malformed attributes', { id });
    const mas = attrs.filter((a) => a.type === ATTR.MESSAGE_AUTHENTICATOR);
    if (mas.length > 1) return drop('more than one Message-Authenticator', { id });
    if (mas.length === 1) {
      if (!messageAuthenticatorValid(pkt, p.packet, p.target.secret)) return drop('wrong Message-Authenticator', { id });
    } else if (p.code === 'Access-Request' && this.cfg.requireMessageAuthenticator) {
      return drop('no Message-Authenticator (require-message-authenticator)', { id });
    }
    p.settle(new RadiusReply(CODES[code]!, id, p.target.label, attrs));
  }
}

function labelOf(s: RadiusServerSpec): string {
  return s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

/** MD5(Code + Identifier + Length + Request Authenticator + Attributes + Secret), RFC 2865 3. */
function expectedResponseAuthenticator(reply: Buffer, request: Buffer, secret: string): Buffer {
  return createHash('md5')
    .update(reply.subarray(0, 4))
    .update(request.subarray(4, HEADER))
    .update(reply.subarray(HEADER))
    .update(secret)
    .digest();
}

/** HMAC-MD5 over the reply with the request's authenticator and the attribute zeroed (RFC 3579 3.2). */
function messageAuthenticatorValid(reply: Buffer, request: Buffer, secret: string): boolean {
  const copy = Buffer.from(reply);
  request.copy(copy, 4, 4, HEADER);
  let off = HEADER;
  let got: Buffer | undefined;
  while (off < copy.length) {
    const type = copy[off]!;
    const len = copy[off + 1]!;
    if (type === ATTR.MESSAGE_AUTHENTICATOR) {
      if (len !== 18) return false;
      got = Buffer.from(copy.subarray(off + 2, off + 18));
      copy.fill(0, off + 2, off + 18);
    }
    off += len;
  }
  if (!got) return false;
  const want = createHmac('md5', secret).update(copy).digest();
  return timingSafeEqual(want, got);
}
