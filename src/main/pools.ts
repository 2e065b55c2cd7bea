/**
 * The address pools of main: ipv4-network's, and one more for each ipv4-network a per-user or
 * per-group file names, made when a session first needs it. Each pool has its own server
 * address (its first host). Pools must not overlap, or two sessions could get one address.
 * An IPv6-only server (no ipv4-network) has no main pool: sessions get IPv4 only from a file's pool.
 */
import ipaddr from 'ipaddr.js';
import { Ipv4Pool, type Lease } from './leases';

const key = (network: string, prefix: number) => `${network}/${prefix}`;
const num = (ip: string) => ipaddr.IPv4.parse(ip).toByteArray().reduce((a, b) => a * 256 + b, 0);

export class LeasePools {
  private readonly pools = new Map<string, Ipv4Pool>();

  constructor(readonly main: Ipv4Pool | undefined, private readonly predictable: boolean) {
    if (main) this.pools.set(key(main.network, main.prefix), main);
  }

  /** The pool a session leases from: ipv4-network's, or the one its settings name; undefined: none (IPv6 only). */
  poolFor(net: { network: string; prefix: number } | undefined): Ipv4Pool | undefined | { error: string } {
    if (!net) return this.main;
    const k = key(net.network, net.prefix);
    const known = this.pools.get(k);
    if (known) return known;
    const range = ipaddr.IPv4.parseCIDR(k);
    for (const p of this.pools.values()) {
      const other = ipaddr.IPv4.parseCIDR(key(p.network, p.prefix));
      if (range[0].match(other) || other[0].match(range)) return { error: `ipv4-network ${k} overlaps the pool ${p.network}/${p.prefix}` };
    }
    let pool: Ipv4Pool;
    try {
      pool = new Ipv4Pool(net.network, net.prefix, this.predictable);
    } catch (err) {
      return { error: (err as Error).message };
    }
    this.pools.set(k, pool);
    return pool;
  }

  /**
   * One given address (explicit-ipv4, RADIUS Framed-IP-Address). Inside any pool it is that
   * pool's to give; outside all of them, `preferred` supplies the server's end of the tun.
   */
  allocateExact(ip: string, preferred: Ipv4Pool): Lease | undefined {
    if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return undefined;
    for (const p of this.pools.values()) {
      if (!p.contains(ip)) continue;
      // the network, the server's and the broadcast address are no client's
      const slot = num(ip) - num(p.network);
      return slot >= 2 && slot < 2 ** (32 - p.prefix) - 1 ? p.allocateExact(ip) : undefined;
    }
    for (const p of this.pools.values()) if (p.holdsExplicit(ip)) return undefined;
    return preferred.allocateExact(ip);
  }

  /** The pool a lease came from. */
  of(lease: Lease): Ipv4Pool | undefined {
    return this.pools.get(key(lease.network, lease.prefix));
  }

  release(lease: Lease): void {
    this.of(lease)?.release(lease.remote);
  }
}
