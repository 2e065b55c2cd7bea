/**
 * What a client's CONNECT request says about the address families it handles, read as ocserv
 * reads it:
 *  - X-CSTP-Address-Type lists what it wants ("IPv6,IPv4"); a family not named gets no
 *    address (openconnect --disable-ipv6 sends "IPv4");
 *  - X-CSTP-Full-IPv6-Capability: true means it also takes IPv6 routes and DNS servers, and
 *    the address as X-CSTP-Address-IP6; without it, older clients get the IPv6 address in
 *    X-CSTP-Address / X-CSTP-Netmask and nothing else of IPv6;
 *  - only clients known to handle them (OpenConnect v4 and later, AnyConnect) get IPv6 routes
 *    and DNS servers; AnyConnect wants IPv6 DNS servers as X-CSTP-DNS-IP6.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type Agent = 'openconnect' | 'anyconnect' | 'other';

export interface ClientFamilies {
  /** the client wants an IPv4 / IPv6 address (true when it does not say) */
  ipv4: boolean;
  ipv6: boolean;
  /** X-CSTP-Full-IPv6-Capability: true */
  fullIpv6: boolean;
  agent: Agent;
  /** AnyConnect on Apple's mobile systems, which needs an IPv6 route to use IPv6 at all */
  ios: boolean;
}

const one = (v: string | string[] | undefined): string => (Array.isArray(v) ? v.join(',') : v ?? '');

/** The client family, from its User-Agent, as ocserv tells them apart. */
export function agentOf(userAgent: string): { agent: Agent; ios: boolean } {
  const ua = userAgent.toLowerCase();
  const oc = /^open anyconnect vpn agent v(\d+)/.exec(ua);
  // OpenConnect v3 and older know nothing of IPv6 routes
  if (oc) return { agent: Number(oc[1]) >= 4 ? 'openconnect' : 'other', ios: false };
  if (ua.startsWith('cisco anyconnect vpn agent for apple')) return { agent: 'anyconnect', ios: true };
  if (ua.startsWith('openconnect vpn agent')) return { agent: 'openconnect', ios: false };
  if (ua.startsWith('cisco anyconnect') || ua.startsWith('anyconnect')) return { agent: 'anyconnect', ios: false };
  return { agent: 'other', ios: false };
}

export function clientFamilies(headers: IncomingHttpHeaders): ClientFamilies {
  const type = headers['x-cstp-address-type'];
  const types = type === undefined ? undefined : one(type);
  const { agent, ios } = agentOf(one(headers['user-agent']));
  return {
    ipv4: types === undefined || types.includes('IPv4'),
    ipv6: types === undefined || types.includes('IPv6'),
    fullIpv6: one(headers['x-cstp-full-ipv6-capability']).includes('true'),
    agent,
    ios,
  };
}
