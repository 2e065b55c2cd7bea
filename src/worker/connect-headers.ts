import type { SessionParams } from '../ipc/messages';
import { dtlsMtu, type DtlsPlan } from './dtls-negotiation';

export interface DtlsOffer { plan: DtlsPlan; port: number }

/**
 * The `200 CONNECTED` answer to `CONNECT /CSCOSSLC/tunnel`: the tunnel parameters the
 * client configures its tun and routes from (names as openconnect and AnyConnect read them).
 */
export function connectedResponse(p: SessionParams, serverName: string, baseMtu: number, dtls?: DtlsOffer): string {
  const h: string[] = ['HTTP/1.1 200 CONNECTED'];
  const add = (name: string, value: string | number) => h.push(`${name}: ${value}`);
  add('X-CSTP-Version', 1);
  add('X-CSTP-Server-Name', serverName);
  if (p.hostname) add('X-CSTP-Hostname', p.hostname);
  add('X-CSTP-DPD', p.dpd);
  add('X-CSTP-Address', p.ipv4.remote);
  add('X-CSTP-Netmask', p.ipv4.netmask);
  for (const d of p.dns) add('X-CSTP-DNS', d);
  for (const d of p.nbns ?? []) add('X-CSTP-NBNS', d);
  for (const d of p.splitDns ?? []) add('X-CSTP-Split-DNS', d);
  for (const r of p.routes) add('X-CSTP-Split-Include', `${r.network}/${r.netmask}`);
  for (const r of p.noRoutes) add('X-CSTP-Split-Exclude', `${r.network}/${r.netmask}`);
  add('X-CSTP-Tunnel-All-DNS', p.tunnelAllDns ? 'true' : 'false');
  add('X-CSTP-Keepalive', p.keepalive);
  add('X-CSTP-Idle-Timeout', p.idleTimeout > 0 ? p.idleTimeout : 'none');
  // A rekey needs a new tunnel rather than TLS renegotiation, which TLS 1.3 does not have.
  add('X-CSTP-Rekey-Time', 172800);
  add('X-CSTP-Rekey-Method', 'new-tunnel');
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
    add('X-DTLS-Rekey-Time', 172800);
    add('X-DTLS-Rekey-Method', 'new-tunnel');
    if (plan.kind === 'psk') add('X-DTLS-CipherSuite', 'PSK-NEGOTIATE');
    else add(plan.header, plan.name);
    add('X-DTLS-MTU', Math.min(p.mtu, dtlsMtu(plan, baseMtu)));
  }
  if (p.banner) add('X-CSTP-Banner', p.banner.replace(/[\r\n]+/g, ' '));
  return h.join('\r\n') + '\r\n\r\n';
}
