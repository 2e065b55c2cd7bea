import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';

const toNum = (ip: string): number => ipaddr.IPv4.parse(ip).toByteArray().reduce((a, b) => a * 256 + b, 0);
const toIp = (n: number): string => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join('.');

export interface Lease { local: string; remote: string; netmask: string; network: string; prefix: number }

/**
 * The IPv4 pool of ipv4-network. The first host address is the server's end of every tun;
 * clients get the rest. With predictable-ips a user starts its search at a slot derived
 * from the username, so the same user gets the same address while it is free.
 */
export class Ipv4Pool {
  private readonly base: number;
  private readonly size: number;
  private readonly used = new Set<number>();
  /** addresses outside the pool given explicitly (RADIUS Framed-IP-Address, explicit-ipv4) */
  private readonly explicit = new Set<string>();
  readonly local: string;
  readonly netmask: string;

  constructor(readonly network: string, readonly prefix: number, private readonly predictable: boolean) {
    this.base = toNum(network);
    // network address, server address and broadcast are not handed out
    this.size = 2 ** (32 - prefix) - 3;
    if (this.size < 1) throw new Error(`ipv4-network ${network}/${prefix} has no room for clients`);
    this.local = toIp(this.base + 1);
    this.netmask = ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
  }

  get inUse(): number { return this.used.size; }
  get capacity(): number { return this.size; }

  allocate(username: string): Lease | undefined {
    if (this.used.size >= this.size) return undefined;
    const start = this.predictable
      ? createHash('sha256').update(username).digest().readUInt32BE(0) % this.size
      : Math.floor(Math.random() * this.size);
    for (let i = 0; i < this.size; i++) {
      const slot = (start + i) % this.size;
      if (!this.used.has(slot)) {
        this.used.add(slot);
        return { local: this.local, remote: toIp(this.base + 2 + slot), netmask: this.netmask, network: this.network, prefix: this.prefix };
      }
    }
    return undefined;
  }

  /**
   * A lease for one given address, if nobody holds it. Inside the pool it takes that slot;
   * outside it the tun still gets the pool's server address as its local end.
   */
  allocateExact(ip: string): Lease | undefined {
    if (!ipaddr.IPv4.isValidFourPartDecimal(ip)) return undefined;
    const slot = toNum(ip) - this.base - 2;
    const inPool = slot >= 0 && slot < this.size;
    if (inPool ? this.used.has(slot) : this.explicit.has(ip) || ip === this.local) return undefined;
    if (inPool) this.used.add(slot);
    else this.explicit.add(ip);
    return { local: this.local, remote: ip, netmask: this.netmask, network: this.network, prefix: this.prefix };
  }

  /** The address is inside this pool's network (server, clients, network and broadcast address). */
  contains(ip: string): boolean {
    const n = toNum(ip) - this.base;
    return n >= 0 && n < this.size + 3;
  }

  /** An address outside the pool that this pool leased explicitly. */
  holdsExplicit(ip: string): boolean {
    return this.explicit.has(ip);
  }

  release(remote: string): void {
    if (this.explicit.delete(remote)) return;
    this.used.delete(toNum(remote) - this.base - 2);
  }
}
