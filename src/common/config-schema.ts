/**
 * The ocserv.conf options ocserv-ts knows. Names and meanings follow ocserv's
 * doc/sample.config so an administrator's existing file keeps working; an option
 * listed with `implemented: false` is accepted (ocserv users have it in their files)
 * but logged as not yet acting, instead of being rejected as unknown.
 */
export type OptionType = 'string' | 'int' | 'bool' | 'path';

export interface OptionSpec {
  type: OptionType;
  /** May appear several times; values accumulate in order. */
  multi?: boolean;
  min?: number;
  max?: number;
  implemented?: boolean;
}

const s = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'string', implemented: true, ...extra });
const p = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'path', implemented: true, ...extra });
const i = (min: number, max: number, extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'int', min, max, implemented: true, ...extra });
const b = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'bool', implemented: true, ...extra });
const later = (spec: OptionSpec): OptionSpec => ({ ...spec, implemented: false });

const PORT = [0, 65535] as const;
const SECONDS = [0, 0x7fffffff] as const;

export const OPTIONS: Record<string, OptionSpec> = {
  // authentication
  'auth': s({ multi: true }),
  'enable-auth': s({ multi: true }),
  'acct': s(),
  'auth-timeout': i(...SECONDS),
  'min-reauth-time': i(...SECONDS),
  'max-ban-score': i(...SECONDS),
  'ban-reset-time': i(...SECONDS),
  'ban-points-wrong-password': i(...SECONDS),
  'ban-points-connection': i(...SECONDS),
  'ban-points-kkdcp': later(i(...SECONDS)),
  'cookie-timeout': i(...SECONDS),
  'persistent-cookies': b(),
  'session-timeout': i(...SECONDS),
  'idle-timeout': i(...SECONDS),
  'mobile-idle-timeout': i(...SECONDS),
  'stats-report-time': i(...SECONDS),
  'deny-roaming': b(),
  // listening
  'listen-host': s(),
  'listen-host-is-dyndns': later(b()),
  'udp-listen-host': later(s()),
  'tcp-port': i(...PORT),
  'udp-port': i(...PORT),
  'listen-clear-file': later(p()),
  'listen-proxy-proto': later(b()),
  'listen-netns': later(s()),
  // TLS
  'server-cert': p({ multi: true }),
  'server-key': p({ multi: true }),
  'ca-cert': p(),
  'dh-params': later(p()),
  'crl': p(),
  'cert-user-oid': s(),
  'cert-group-oid': s(),
  'tls-priorities': later(s()),
  'match-tls-dtls-ciphers': later(b()),
  'ocsp-response': later(p()),
  'pin-file': later(p()),
  'srk-pin-file': later(p()),
  'key-pin': later(s()),
  'srk-pin': later(s()),
  'dtls-legacy': b(),
  'dtls-psk': b(),
  'server-drain-ms': later(i(...SECONDS)),
  // processes
  'run-as-user': s(),
  'run-as-group': s(),
  'socket-file': p(),
  'occtl-socket-file': p(),
  'use-occtl': b(),
  // ocserv-ts only: members of this group may use occtl-ts besides root
  'occtl-group': s(),
  'pid-file': p(),
  'isolate-workers': b(),
  // ocserv-ts only: false puts the private keys into the workers (for a Node without engine support)
  'key-isolation': b(),
  'max-clients': i(0, 1_000_000),
  'max-same-clients': i(0, 1_000_000),
  'clients-per-worker': i(1, 10_000),
  'chroot-dir': later(p()),
  'rate-limit-ms': i(...SECONDS),
  'server-stats-reset-time': later(i(...SECONDS)),
  'sec-mod-scale': later(i(0, 1024)),
  'log-level': later(i(0, 9)),
  // connection keepalive / MTU
  'keepalive': i(...SECONDS),
  'dpd': i(...SECONDS),
  'mobile-dpd': i(...SECONDS),
  'switch-to-tcp-timeout': later(i(...SECONDS)),
  'try-mtu-discovery': later(b()),
  'mtu': i(576, 65535),
  'output-buffer': later(i(0, 0x7fffffff)),
  'tunnel-all-dns': later(b()),
  'rekey-time': later(i(...SECONDS)),
  'rekey-method': later(s()),
  'compression': later(b()),
  'no-compress-limit': later(i(0, 65535)),
  'net-priority': later(s()),
  'cisco-client-compat': later(b()),
  'cisco-svc-client-compat': later(b()),
  'udp-port-proxy': later(b()),
  // network
  'device': s(),
  'predictable-ips': b(),
  'default-domain': s(),
  'ipv4-network': s(),
  'ipv4-netmask': s(),
  'ipv6-network': later(s()),
  'ipv6-prefix': later(i(0, 128)),
  'ipv6-subnet-prefix': later(i(0, 128)),
  'dns': s({ multi: true }),
  'nbns': later(s({ multi: true })),
  'split-dns': later(s({ multi: true })),
  'ping-leases': later(b()),
  'route': s({ multi: true }),
  'no-route': s({ multi: true }),
  'iroute': later(s({ multi: true })),
  'restrict-user-to-routes': later(b()),
  'restrict-user-to-ports': later(s()),
  'route-add-cmd': later(s()),
  'route-del-cmd': later(s()),
  'config-per-user': later(p()),
  'config-per-group': later(p()),
  'default-user-config': later(p()),
  'default-group-config': later(p()),
  'select-group': s({ multi: true }),
  'default-select-group': s(),
  'auto-select-group': b(),
  'expose-iroutes': later(b()),
  'rx-data-per-sec': later(i(0, 0x7fffffff)),
  'tx-data-per-sec': later(i(0, 0x7fffffff)),
  // scripts and presentation
  'connect-script': p(),
  'disconnect-script': p(),
  'host-update-script': p(),
  'banner': s(),
  'pre-login-banner': later(s()),
  'user-profile': later(p()),
  'custom-header': later(s({ multi: true })),
  'camouflage': later(b()),
  'camouflage-secret': later(s()),
  'camouflage-realm': later(s()),
  'proxy-url': later(s()),
  'dtls-mtu': later(i(0, 65535)),
  'server-name': later(s()),
  'client-bypass-protocol': later(b()),
  'restrict-user-to-ip': later(b()),
  'http-headers': later(s({ multi: true })),
  'tunnel-ipv6': later(b()),
  'xml-config': later(p()),
  'xml-auth': later(b()),
  'kkdcp': later(s({ multi: true })),
  'gssapi': later(s()),
  'stats-report': later(b()),
  'keepalive-timeout': later(i(...SECONDS)),
  'restrict-user-to-idle-timeout': later(b()),
  'timestamp': later(b()),
  'nbns-server': later(s()),
};
