/**
 * A session's tunnel addresses: IPv4 from the pools (src/main/pools.ts), IPv6 from the IPv6
 * leases (src/main/leases6.ts), and the tun configured with them. As ocserv, a session gets
 * every family configured for it (dual-stack with ipv4-network and ipv6-network), and fails if
 * a configured family has no free address; it needs at least one of them.
 */
import { writeFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import type { Logger } from '../common/log';
import type { EffectiveSession } from '../common/session-config';
import { tunConfigure, tunConfigure6 } from '../native';
import type { Lease } from './leases';
import type { Ipv6Leases, Lease6 } from './leases6';
import type { LeasePools } from './pools';

export interface SessionAddresses { v4?: Lease; v6?: Lease6 }

/** IPv6 needs links of at least this MTU (RFC 8200); a smaller tunnel is IPv4 only, as in ocserv */
export const IPV6_MIN_MTU = 1280;

export interface LeaseRequest {
  username: string;
  /** the addresses of the session's previous tunnel, given back to a reconnecting client when free */
  again: { v4?: string; v6?: { address: string; prefix: number } };
  /** the client asked for IPv6 (X-CSTP-Address-Type) */
  wantsIpv6: boolean;
  /** the tun's MTU */
  mtu: number;
}

const inNet6 = (address: string, net: { network: string; prefix: number }) =>
  ipaddr.IPv6.parse(address).match(ipaddr.IPv6.parse(net.network), net.prefix);

export class Addresses {
  constructor(private readonly v4: LeasePools, private readonly v6: Ipv6Leases, private readonly log: Logger) {}

  lease(eff: EffectiveSession, r: LeaseRequest): SessionAddresses | { reason: string } {
    const pool = this.v4.poolFor(eff.ipv4Pool);
    if (pool && 'error' in pool) return { reason: `per-user/group settings: ${pool.error}` };
    let v4: Lease | undefined;
    if (pool) {
      const again = r.again.v4;
      v4 = eff.explicitIpv4 ? this.v4.allocateExact(eff.explicitIpv4, pool)
        : (again && pool.contains(again) && pool.allocateExact(again)) || pool.allocate(r.username);
      if (!v4) return { reason: eff.explicitIpv4 ? `the address ${eff.explicitIpv4} given for ${r.username} is in use` : `no free IP address in ${pool.network}/${pool.prefix}` };
    } else if (eff.explicitIpv4) {
      this.log.warn({ user: r.username, ip: eff.explicitIpv4 }, 'an IPv4 address was given but there is no ipv4-network; the session has no IPv4');
    }

    const net = eff.ipv6Net;
    let v6: Lease6 | undefined;
    if (!net) {
      if (eff.explicitIpv6) this.log.warn({ user: r.username, ip: eff.explicitIpv6.address }, 'an IPv6 address was given but there is no ipv6-network; the session has no IPv6');
    } else if (!r.wantsIpv6) {
      this.log.info({ user: r.username }, 'the client did not ask for IPv6; none is assigned');
    } else if (r.mtu < IPV6_MIN_MTU) {
      this.log.info({ user: r.username, mtu: r.mtu }, `tunnel MTU below ${IPV6_MIN_MTU} is not enough for IPv6; none is assigned`);
    } else {
      const ex = eff.explicitIpv6;
      const again = r.again.v6;
      v6 = ex ? this.v6.allocateExact(net, ex.address, ex.prefix)
        : (again && again.prefix === net.subnetPrefix && inNet6(again.address, net) && this.v6.allocateExact(net, again.address, again.prefix))
          || this.v6.allocate(net, r.username);
      if (!v6) {
        if (v4) this.v4.release(v4);
        return { reason: ex ? `the IPv6 address ${ex.address}/${ex.prefix} given for ${r.username} is in use or holds the server's address`
          : `no free IPv6 network in ${net.network}/${net.prefix}` };
      }
    }
    if (!v4 && !v6) return { reason: 'no IPv4 or IPv6 address could be assigned (see the log)' };
    return { v4, v6 };
  }

  /**
   * A new tun starts without IPv6 (most sessions have none), written while sec-mod checks
   * the cookie rather than once the addresses are known, which the client waits for;
   * configureTun turns it back on for a session that gets an IPv6 address.
   */
  prepareTun(name: string): void {
    this.setIpv6(name, false);
  }

  /**
   * The server's end of the tun: IPv4 address and peer, then IPv6 (its /128 and a route to the
   * client's network). As ocserv, IPv6 that the kernel refuses (IPv6 disabled on the host)
   * leaves a dual-stack session with IPv4 only; `a` loses its v6 lease then.
   */
  configureTun(name: string, a: SessionAddresses, mtu: number, username: string): void {
    if (a.v6) this.setIpv6(name, true);
    if (a.v4) tunConfigure(name, { address: a.v4.local, peer: a.v4.remote, mtu });
    const v6 = a.v6;
    if (!v6) return;
    const route = ipaddr.IPv6.networkAddressFromCIDR(`${v6.remote}/${v6.prefix}`).toString();
    try {
      tunConfigure6(name, { address: v6.local, prefix: 128, mtu: a.v4 ? undefined : mtu, route, routePrefix: v6.prefix });
    } catch (err) {
      if (!a.v4) throw err;
      this.log.error({ user: username, tun: name, err: (err as Error).message }, 'cannot give the tun its IPv6 address; the session has IPv4 only');
      this.v6.release(v6);
      a.v6 = undefined;
      this.setIpv6(name, false);
    }
  }

  /**
   * An IPv4-only session's tun gets no IPv6 at all, before it is up: otherwise the kernel gives
   * it a link-local address and at once sends a router solicitation and multicast reports
   * through it, which the worker would carry to a client that has no IPv6 from us, on its way
   * to the DTLS handshake. Where the setting cannot be written (no IPv6 in the kernel), nothing
   * is lost.
   */
  private setIpv6(name: string, on: boolean): void {
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, on ? '0' : '1');
    } catch (err) {
      this.log.debug({ tun: name, err: (err as Error).message }, on ? 'cannot enable IPv6 on the tun' : 'cannot disable IPv6 on the tun');
    }
  }

  release(a: SessionAddresses): void {
    if (a.v4) this.v4.release(a.v4);
    if (a.v6) this.v6.release(a.v6);
  }
}
