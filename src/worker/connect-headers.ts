import type { RouteParam, SessionParams } from '../ipc/messages';
import { dtlsMtu, type DtlsPlan } from './dtls-negotiation';
import type { ClientFamilies } from './ip-families';
import { DEFAULT_REKEY_TIME, type RekeyOffer } from './tunnel-options';

export interface DtlsOffer { plan: DtlsPlan; port: number }

/** What the tunnel options (src/worker/tunnel-options.ts) add to the reply for this connection. */
export interface ConnectExtras {
  rekey: RekeyOffer;
  /** listen-host-is-dyndns */
  dynDns?: boolean;
  /** proxy-url with the names filled in */
  proxyPacUrl?: string;
  clientBypassProtocol?: boolean;
}

/** ocserv's choices for a file that sets none of these options */
const NO_EXTRAS: ConnectExtras = { rekey: { time: DEFAULT_REKEY_TIME, method: 'new-tunnel' } };

/** a client that says nothing of families: both, full IPv6, a known agent */
const EVERYTHING: ClientFamilies = { ipv4: true, ipv6: true, fullIpv6: true, agent: 'openconnect', ios: false };
/** IPv6 needs links of at least this MTU */
const IPV6_MIN_MTU = 1280;

const isV6 = (s: string) => s.includes(':');
// as ocserv writes routes: IPv4 network/netmask, IPv6 network/length
const routeText = (r: RouteParam) => (isV6(r.network) ? `${r.network}/${r.prefix}` : `${r.network}/${r.netmask}`);

/**
 * The `200 CONNECTED` answer to `CONNECT /CSCOSSLC/tunnel`: the tunnel parameters the
 * client configures its tun and routes from (names as openconnect and AnyConnect read them).
 */
export function connectedResponse(p: SessionParams, serverName: string, baseMtu: number, dtls?: DtlsOffer, fam: ClientFamilies = EVERYTHING, x: ConnectExtras = NO_EXTRAS): string {
  const h: string[] = ['HTTP/1.1 200 CONNECTED'];
  const add = (name: string, value: string | number) => h.push(`${name}: ${value}`);
  add('X-CSTP-Version', 1);
  add('X-CSTP-Server-Name', serverName);
  if (p.hostname) add('X-CSTP-Hostname', p.hostname);
  add('X-CSTP-DPD', p.dpd);
  // ocserv's rules: a family the client did not ask for gets nothing; IPv6 routes and DNS
  // servers go only to clients that take them (src/worker/ip-families.ts)
  const v4 = fam.ipv4;
  const v6 = fam.ipv6 && p.mtu >= IPV6_MIN_MTU;
  if (p.ipv4 && v4) {
    add('X-CSTP-Address', p.ipv4.remote);
    add('X-CSTP-Netmask', p.ipv4.netmask);
  }
  if (p.ipv6 && v6) {
    if (fam.fullIpv6) add('X-CSTP-Address-IP6', `${p.ipv6.remote}/${p.ipv6.prefix}`);
    else {
      add('X-CSTP-Address', p.ipv6.remote);
      add('X-CSTP-Netmask', `${p.ipv6.network}/${p.ipv6.prefix}`);
    }
  }
  const v6Extras = v6 && fam.fullIpv6 && fam.agent !== 'other';
  const wanted = (ip: string) => (isV6(ip) ? v6Extras : v4);
  for (const d of p.dns.filter(wanted)) add(isV6(d) && fam.agent === 'anyconnect' ? 'X-CSTP-DNS-IP6' : 'X-CSTP-DNS', d);
  for (const d of (p.nbns ?? []).filter(wanted)) add('X-CSTP-NBNS', d);
  if (v4) for (const d of p.splitDns ?? []) add('X-CSTP-Split-DNS', d);
  // AnyConnect on iOS uses IPv6 only with an IPv6 route
  if (fam.fullIpv6 && fam.ios) add('X-CSTP-Split-Include-IP6', '2000::/3');
  for (const [list, kind] of [[p.routes, 'Include'], [p.noRoutes, 'Exclude']] as const) {
    for (const r of list.filter((x) => wanted(x.network))) add(`X-CSTP-Split-${kind}${isV6(r.network) ? '-IP6' : ''}`, routeText(r));
  }
  add('X-CSTP-Tunnel-All-DNS', p.tunnelAllDns ? 'true' : 'false');
  // AnyConnect leaves a family it got no address for outside the tunnel (openconnect ignores it)
  add('X-CSTP-Client-Bypass-Protocol', x.clientBypassProtocol ? 'true' : 'false');
  add('X-CSTP-Keepalive', p.keepalive);
  add('X-CSTP-Idle-Timeout', p.idleTimeout > 0 ? p.idleTimeout : 'none');
  // the client looks the server's name up again before it reconnects
  if (x.dynDns) add('X-CSTP-DynDNS', 'true');
  if (x.rekey.method !== 'none') add('X-CSTP-Rekey-Time', x.rekey.time);
  add('X-CSTP-Rekey-Method', x.rekey.method);
  // ocserv spells it "-Pac-", which openconnect (it compares case-sensitively) does not take;
  // this is the spelling Cisco's servers use and both clients read
  if (x.proxyPacUrl) add('X-CSTP-MSIE-Proxy-PAC-URL', x.proxyPacUrl);
  add('X-CSTP-Session-Timeout', p.sessionTimeout > 0 ? p.sessionTimeout : 'none');
  add('X-CSTP-Disconnected-Timeout', 'none');
  add('X-CSTP-Keep', 'true');
  add('X-CSTP-TCP-Keepalive', 'true');
  add('X-CSTP-License', 'accept');
  if (p.defaultDomain) add('X-CSTP-Default-Domain', p.defaultDomain);
  add('X-CSTP-Base-MTU', baseMtu);
  add('X-CSTP-MTU', p.mtu);
  if (dtls) {
    const { plan } = dtls;
    // One random id serves as App-ID (PSK: the client puts it in its ClientHello's session id)
    // and as the Session-ID the legacy client resumes: either way main finds the session by it.
    if (plan.kind === 'psk') add('X-DTLS-App-ID', p.dtlsId);
    else add('X-DTLS-Session-ID', p.dtlsId);
    add('X-DTLS-Port', dtls.port);
    add('X-DTLS-DPD', p.dpd);
    add('X-DTLS-Keepalive', p.keepalive);
    // No X-DTLS-Rekey-Method (ocserv sends one only for "ssl", a DTLS renegotiation this DTLS
    // server does not do): after its TLS rekey the client starts a new DTLS session instead.
    if (x.rekey.method !== 'none') add('X-DTLS-Rekey-Time', x.rekey.time + 10);
    if (plan.kind === 'psk') add('X-DTLS-CipherSuite', 'PSK-NEGOTIATE');
    else add(plan.header, plan.name);
    add('X-DTLS-MTU', Math.min(p.mtu, dtlsMtu(plan, baseMtu)));
  }
  if (p.banner) add('X-CSTP-Banner', p.banner.replace(/[\r\n]+/g, ' '));
  return h.join('\r\n') + '\r\n\r\n';
}
