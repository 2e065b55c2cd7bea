/**
 * restrict-user-to-routes and restrict-user-to-ports, applied to the packets a client sends
 * into the tunnel. ocserv has a script put iptables rules on the tun device; here the worker
 * drops the packets itself, with the same rules:
 *  - DNS (UDP and TCP port 53) to the session's DNS servers always passes;
 *  - ports: with an allow-list only the listed protocols and destination ports pass, with a
 *    deny-list ("!(...)") those are dropped;
 *  - routes: a destination in a no-route is dropped; with routes, only destinations in them
 *    (and the server's end of the tun) pass; a tunnel taking all traffic passes the rest.
 *    Both families, as ocserv's ocserv-fw applies OCSERV_ROUTES4 and OCSERV_ROUTES6: a session
 *    with routes of one family only reaches nothing of the other but the server's tun address
 *    (and its DNS servers).
 * A fragment after the first carries no port: it passes the port rules when its protocol could
 * (the first fragment carried the decision). Malformed packets are dropped.
 */
import type { PortPolicy, PortProto } from '../common/port-policy';
import type { Logger } from '../common/log';

export interface FilterInput {
  routes: { network: string; prefix: number }[];
  noRoutes: { network: string; prefix: number }[];
  dns: string[];
  /** the server's end of the tun (IPv4, and IPv6 when the session has it) */
  local?: string;
  local6?: string;
  restrictToRoutes?: boolean;
  ports?: PortPolicy;
}

/** Why a packet is dropped; null: it passes. */
export type Verdict = null | 'route' | 'port' | 'malformed';

interface Net { base: number; mask: number }
/** an IPv6 network: its first address and length */
interface Net6 { bytes: Buffer; prefix: number }

const PROTO: Record<PortProto, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58, esp: 50 };
const HAS_PORTS = new Set([6, 17, 132]);
const DNS_PORT = 53;

function ipv4(s: string): number | undefined {
  const p = s.split('.');
  if (p.length !== 4) return undefined;
  let n = 0;
  for (const x of p) {
    if (!/^\d{1,3}$/.test(x) || +x > 255) return undefined;
    n = n * 256 + +x;
  }
  return n;
}

function net(r: { network: string; prefix: number }): Net | undefined {
  const base = ipv4(r.network);
  if (base === undefined) return undefined;
  const mask = r.prefix === 0 ? 0 : (0xffffffff << (32 - r.prefix)) >>> 0;
  return { base: (base & mask) >>> 0, mask };
}

const inNet = (ip: number, n: Net) => ((ip & n.mask) >>> 0) === n.base;

/** 16 bytes of a plain IPv6 address (no zone, no dotted tail); undefined if it is not one */
function ipv6(s: string): Buffer | undefined {
  if (!/^[0-9a-fA-F:]+$/.test(s)) return undefined;
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  const out = Buffer.alloc(16);
  for (const [i, g] of all.entries()) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    out.writeUInt16BE(parseInt(g, 16), i * 2);
  }
  return out;
}

function net6(r: { network: string; prefix: number }): Net6 | undefined {
  const bytes = ipv6(r.network);
  if (!bytes || r.prefix < 0 || r.prefix > 128) return undefined;
  // clear the host bits, so a match compares the network part only
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, r.prefix - i * 8));
    bytes[i] = bytes[i]! & ((0xff00 >> keep) & 0xff);
  }
  return { bytes, prefix: r.prefix };
}

/** the 16 bytes at `off` of pkt lie in n */
function inNet6(pkt: Buffer, off: number, n: Net6): boolean {
  const whole = n.prefix >> 3;
  for (let i = 0; i < whole; i++) if (pkt[off + i] !== n.bytes[i]) return false;
  const rest = n.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff00 >> rest) & 0xff;
  return (pkt[off + whole]! & mask) === n.bytes[whole];
}

const isV6 = (r: { network: string }) => r.network.includes(':');

/** The checks of one session; built once at tunnel start. */
export class PacketFilter {
  private readonly allow: Net[];
  private readonly deny: Net[];
  private readonly allow6: Net6[];
  private readonly deny6: Net6[];
  /** with no route of either family, the tunnel takes all traffic */
  private readonly everything: boolean;
  private readonly local: number;
  /** the server's IPv6 tun address as a /128, and the IPv6 DNS servers */
  private readonly local6?: Net6;
  private readonly dns: number[];
  private readonly dns6: Net6[];
  private readonly routes: boolean;
  private readonly ports?: { deny: boolean; rules: { proto: number; port?: number }[]; protos: Set<number> };

  constructor(i: FilterInput) {
    const nets = (rs: FilterInput['routes']) => rs.filter((r) => !isV6(r)).map(net).filter((n): n is Net => n !== undefined);
    const nets6 = (rs: FilterInput['routes']) => rs.filter(isV6).map(net6).filter((n): n is Net6 => n !== undefined);
    const host6 = (ip: string) => net6({ network: ip, prefix: 128 });
    this.routes = i.restrictToRoutes === true;
    this.allow = nets(i.routes);
    this.deny = nets(i.noRoutes);
    this.allow6 = nets6(i.routes);
    this.deny6 = nets6(i.noRoutes);
    this.everything = i.routes.length === 0;
    this.local = (i.local ? ipv4(i.local) : undefined) ?? -1;
    this.local6 = i.local6 ? host6(i.local6) : undefined;
    this.dns = i.dns.map(ipv4).filter((n): n is number => n !== undefined);
    this.dns6 = i.dns.filter((d) => d.includes(':')).map(host6).filter((n): n is Net6 => n !== undefined);
    if (i.ports && i.ports.rules.length) {
      const rules = i.ports.rules.map((r) => ({ proto: PROTO[r.proto], port: r.port }));
      this.ports = { deny: i.ports.deny, rules, protos: new Set(rules.map((r) => r.proto)) };
    }
  }

  check(pkt: Buffer): Verdict {
    const len = pkt.length;
    if (len < 1) return 'malformed';
    const version = pkt[0] >> 4;
    let proto: number;
    let l4: number;
    let dst = -1;
    if (version === 4) {
      const ihl = (pkt[0] & 0x0f) * 4;
      if (len < 20 || ihl < 20 || len < ihl) return 'malformed';
      proto = pkt[9];
      dst = pkt.readUInt32BE(16);
      l4 = (pkt.readUInt16BE(6) & 0x1fff) === 0 ? ihl : -1;
    } else if (version === 6) {
      if (len < 40) return 'malformed';
      // extension headers are not walked: such a packet counts as "another protocol"
      proto = pkt[6];
      l4 = 40;
    } else {
      return 'malformed';
    }
    let dport = -1;
    if (l4 >= 0 && HAS_PORTS.has(proto)) {
      if (len < l4 + 4) return 'malformed';
      dport = pkt.readUInt16BE(l4 + 2);
    }
    if (dport === DNS_PORT && (proto === 6 || proto === 17)) {
      if (version === 4 ? this.dns.includes(dst) : this.dns6.some((n) => inNet6(pkt, 24, n))) return null;
    }
    if (this.ports && !this.portAllowed(proto, dport)) return 'port';
    if (this.routes && !(version === 4 ? this.routeAllowed(dst) : this.route6Allowed(pkt))) return 'route';
    return null;
  }

  private portAllowed(proto: number, dport: number): boolean {
    const p = this.ports!;
    // dport -1 with a port protocol: a later fragment, which has no port to judge
    const fragment = dport === -1 && HAS_PORTS.has(proto);
    const hit = p.rules.some((r) => r.proto === proto && (r.port === undefined || r.port === dport));
    if (p.deny) return !hit;
    return hit || (fragment && p.protos.has(proto));
  }

  private routeAllowed(dst: number): boolean {
    for (const n of this.deny) if (inNet(dst, n)) return false;
    if (this.everything || dst === this.local) return true;
    for (const n of this.allow) if (inNet(dst, n)) return true;
    return false;
  }

  /** the IPv6 destination (bytes 24-39 of the header) */
  private route6Allowed(pkt: Buffer): boolean {
    for (const n of this.deny6) if (inNet6(pkt, 24, n)) return false;
    if (this.everything || (this.local6 && inNet6(pkt, 24, this.local6))) return true;
    for (const n of this.allow6) if (inNet6(pkt, 24, n)) return true;
    return false;
  }
}

/** Only when the session has such limits: otherwise no per-packet work at all. */
export function packetFilterFor(i: FilterInput): PacketFilter | undefined {
  if (!i.restrictToRoutes && !(i.ports && i.ports.rules.length)) return undefined;
  return new PacketFilter(i);
}

/** Drops counted per reason and logged (debug) at most once per interval, however many there are. */
export class DropLog {
  private counts: Record<string, number> = {};
  private pending = false;
  private last = 0;

  constructor(private readonly log: Logger, private readonly user: string, private readonly intervalMs = 10_000) {}

  note(reason: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    const now = Date.now();
    if (now - this.last >= this.intervalMs) this.flush(now);
    else if (!this.pending) {
      this.pending = true;
      setTimeout(() => this.flush(Date.now()), this.intervalMs - (now - this.last)).unref();
    }
  }

  private flush(now: number): void {
    this.pending = false;
    if (Object.keys(this.counts).length === 0) return;
    this.last = now;
    this.log.debug({ user: this.user, dropped: this.counts }, 'packets dropped by the session\'s limits');
    this.counts = {};
  }
}
