/**
 * restrict-user-to-routes and restrict-user-to-ports, applied to the packets a client sends
 * into the tunnel. ocserv has a script put iptables rules on the tun device; here the worker
 * drops the packets itself, with the same rules:
 *  - DNS (UDP and TCP port 53) to the session's DNS servers always passes;
 *  - ports: with an allow-list only the listed protocols and destination ports pass, with a
 *    deny-list ("!(...)") those are dropped;
 *  - routes: a destination in a no-route is dropped; with routes, only destinations in them
 *    (and the server's end of the tun) pass; a tunnel taking all traffic passes the rest.
 * A fragment after the first carries no port: it passes the port rules when its protocol could
 * (the first fragment carried the decision). Malformed packets are dropped.
 */
import type { PortPolicy, PortProto } from '../common/port-policy';
import type { Logger } from '../common/log';

export interface FilterInput {
  routes: { network: string; prefix: number }[];
  noRoutes: { network: string; prefix: number }[];
  dns: string[];
  /** the server's end of the tun */
  local: string;
  restrictToRoutes?: boolean;
  ports?: PortPolicy;
}

/** Why a packet is dropped; null: it passes. */
export type Verdict = null | 'route' | 'port' | 'malformed';

interface Net { base: number; mask: number }

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

/** The checks of one session; built once at tunnel start. */
export class PacketFilter {
  private readonly allow: Net[];
  private readonly deny: Net[];
  private readonly local: number;
  private readonly dns: number[];
  private readonly routes: boolean;
  private readonly ports?: { deny: boolean; rules: { proto: number; port?: number }[]; protos: Set<number> };

  constructor(i: FilterInput) {
    const nets = (rs: FilterInput['routes']) => rs.map(net).filter((n): n is Net => n !== undefined);
    this.routes = i.restrictToRoutes === true;
    this.allow = nets(i.routes);
    this.deny = nets(i.noRoutes);
    this.local = ipv4(i.local) ?? -1;
    this.dns = i.dns.map(ipv4).filter((n): n is number => n !== undefined);
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
    if (dport === DNS_PORT && (proto === 6 || proto === 17) && this.dns.includes(dst)) return null;
    if (this.ports && !this.portAllowed(proto, dport)) return 'port';
    if (this.routes && !this.routeAllowed(version, dst)) return 'route';
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

  private routeAllowed(version: number, dst: number): boolean {
    if (version !== 4) return this.allow.length === 0;
    for (const n of this.deny) if (inNet(dst, n)) return false;
    if (this.allow.length === 0 || dst === this.local) return true;
    for (const n of this.allow) if (inNet(dst, n)) return true;
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
