/**
 * IPv6 leases, with ocserv's meaning (ipv6-network, ipv6-subnet-prefix, explicit-ipv6):
 *  - each client gets a network of ipv6-subnet-prefix bits (128 by default: one address) out
 *    of ipv6-network, and an address inside it; it is told `address/subnet-prefix`;
 *  - the server's end of every tun is the network address with its last bit set (e.g.
 *    fd00:1::1), and the subnet that holds it is no client's;
 *  - with predictable-ips a user's search starts where a hash of the username points, so the
 *    same user gets the same address while it is free; otherwise it starts at random.
 * One table holds every lease of every IPv6 network (ipv6-network's and those of per-user and
 * per-group files), so two clients never get overlapping networks, whatever their lengths.
 */
import { createHash, randomBytes } from 'node:crypto';
import ipaddr from 'ipaddr.js';

/** The network a session leases from. */
export interface Ipv6Net { network: string; prefix: number; subnetPrefix: number }

/** The client's address, the length of its network, and the server's end of the tun. */
export interface Lease6 { local: string; remote: string; prefix: number }

/** Slots looked at before a lease is refused: a nearly full huge network fails, a small one is searched whole. */
const MAX_PROBES = 1n << 16n;

const toBig = (ip: string): bigint => ipaddr.IPv6.parse(ip).toByteArray().reduce((a, b) => (a << 8n) | BigInt(b), 0n);
const fromBytes = (b: Buffer): bigint => [...b.subarray(0, 16)].reduce((a, x) => (a << 8n) | BigInt(x), 0n);
function toIp(n: bigint): string {
  const bytes: number[] = [];
  for (let shift = 120n; shift >= 0n; shift -= 8n) bytes.push(Number((n >> shift) & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}
const maskOf = (len: number): bigint => (len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(128 - len));

/** The server's end of the tun for sessions of this network: its network address with the last bit set. */
export function serverAddress6(net: Pick<Ipv6Net, 'network' | 'prefix'>): string {
  return toIp((toBig(net.network) & maskOf(net.prefix)) | 1n);
}

/** The address is a plain IPv6 address ipaddr.js and the kernel both read the same way. */
export function isIpv6Address(s: string): boolean {
  return !s.includes('%') && !s.includes('/') && ipaddr.IPv6.isValid(s);
}

export class Ipv6Leases {
  /** leased networks by length: a set of their first addresses */
  private readonly byLen = new Map<number, Set<bigint>>();
  private count = 0;

  constructor(private readonly predictable: boolean) {}

  get inUse(): number { return this.count; }

  /** A free network of `net.subnetPrefix` bits in `net`, or undefined when none was found. */
  allocate(net: Ipv6Net, username: string): Lease6 | undefined {
    const base = toBig(net.network) & maskOf(net.prefix);
    const local = base | 1n;
    const hostBits = BigInt(128 - net.subnetPrefix);
    const slots = 1n << BigInt(net.subnetPrefix - net.prefix);
    const seed = fromBytes(this.predictable ? createHash('sha256').update(username).digest() : randomBytes(16));
    const start = (seed >> hostBits) & (slots - 1n);
    // the address inside the client's network, as ocserv: the seed's bits (none for a /128)
    const host = seed & ((1n << hostBits) - 1n);
    const probes = slots < MAX_PROBES ? slots : MAX_PROBES;
    for (let i = 0n; i < probes; i++) {
      const slot = (start + i) % slots;
      const first = base | (slot << hostBits);
      // slot 0 starts with the network address and holds the server's (for a /128: the next slot)
      if (slot === 0n || (local & maskOf(net.subnetPrefix)) === first) continue;
      if (this.overlaps(first, net.subnetPrefix)) continue;
      this.take(first, net.subnetPrefix);
      return { local: toIp(local), remote: toIp(first | host), prefix: net.subnetPrefix };
    }
    return undefined;
  }

  /**
   * Exactly this address and network length (explicit-ipv6, the auth backend's, a reconnecting
   * client's), if no lease overlaps it and it leaves the server's address alone. Like ocserv,
   * it need not lie inside `net`; the tun's server end still comes from `net`.
   */
  allocateExact(net: Pick<Ipv6Net, 'network' | 'prefix'>, address: string, prefix: number): Lease6 | undefined {
    if (!isIpv6Address(address) || !Number.isInteger(prefix) || prefix < 0 || prefix > 128) return undefined;
    const base = toBig(net.network) & maskOf(net.prefix);
    const local = base | 1n;
    const addr = toBig(address);
    const first = addr & maskOf(prefix);
    if (first === base || (local & maskOf(prefix)) === first) return undefined;
    if (this.overlaps(first, prefix)) return undefined;
    this.take(first, prefix);
    return { local: toIp(local), remote: toIp(addr), prefix };
  }

  release(lease: Lease6): void {
    const set = this.byLen.get(lease.prefix);
    if (set?.delete(toBig(lease.remote) & maskOf(lease.prefix))) this.count--;
  }

  private take(first: bigint, len: number): void {
    let set = this.byLen.get(len);
    if (!set) this.byLen.set(len, (set = new Set()));
    set.add(first);
    this.count++;
  }

  /** A leased network contains this one or lies inside it. */
  private overlaps(first: bigint, len: number): boolean {
    for (const [l, set] of this.byLen) {
      if (set.size === 0) continue;
      if (l <= len) {
        if (set.has(first & maskOf(l))) return true;
        continue;
      }
      // longer leases inside a shorter request: only with mixed lengths, rare
      const m = maskOf(len);
      for (const x of set) if ((x & m) === first) return true;
    }
    return false;
  }
}
