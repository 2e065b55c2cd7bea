/**
 * The tunnel's MTU, as ocserv sizes it. The client names its link MTU (X-CSTP-Base-MTU);
 * the tunnel leaves room for an IP and a UDP header (20 + 8 over IPv4, 40 + 8 over IPv6:
 * ocserv counts them even for a client without DTLS), and for a DTLS record only when the
 * client will use DTLS. A client that runs over CSTP alone (openconnect --no-dtls, no-udp,
 * udp-port = 0) so gets a larger MTU (1472 on a 1500 link, against 1434 with DTLS and
 * AES-GCM), which is fewer packets for the same data.
 */
export interface TunnelMtu {
  /** the client's link MTU (X-CSTP-Base-MTU): output-buffer counts packets of this size */
  link: number;
  /** the tunnel MTU over CSTP alone */
  cstp: number;
  /** what a DTLS record adds, when the client asked for DTLS and the server offers it */
  dtlsOverhead?: number;
}

/** The IP and UDP headers ocserv takes off the link MTU, by the family of the client's connection. */
export function ipUdpHeaders(ipv6: boolean): number {
  return (ipv6 ? 40 : 20) + 8;
}

export function tunnelMtu(link: number, ipv6: boolean, dtlsOverhead?: number): TunnelMtu {
  const m: TunnelMtu = { link, cstp: link - ipUdpHeaders(ipv6) };
  if (dtlsOverhead !== undefined) m.dtlsOverhead = dtlsOverhead;
  return m;
}

/**
 * The tun device's MTU: the tunnel's, the DTLS record's room taken unless the user's no-udp
 * refuses DTLS, at most the configured `mtu`, never under IPv4's minimum.
 */
export function tunMtu(m: TunnelMtu, configured: number | undefined, noUdp: boolean): number {
  const want = noUdp || m.dtlsOverhead === undefined ? m.cstp : m.cstp - m.dtlsOverhead;
  return Math.max(576, Math.min(configured ?? 65535, want));
}
