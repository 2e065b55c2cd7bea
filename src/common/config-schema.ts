/**
 * The ocserv.conf options ocserv-ts knows. Names and meanings follow ocserv's
 * doc/sample.config so an administrator's existing file keeps working; an option
 * listed with `implemented: false` is accepted (ocserv users have it in their files)
 * but logged as not yet acting, instead of being rejected as unknown.
 * `later(...)`: will act, does not yet. `never(reason, ...)`: will not act, and the
 * warning says why. `alias(name)`: another spelling of `name`, read as `name`.
 * The words for each option are in config-docs.ts. After changing an entry, run
 * `node scripts/config-reference.js` (after tsc) to regenerate docs/CONFIG-REFERENCE.md and
 * ocserv.conf.example; a test fails while they differ.
 */
import { OPTION_GROUPS } from './config-docs';

export type OptionType = 'string' | 'int' | 'bool' | 'path';

export interface OptionSpec {
  type: OptionType;
  /** May appear several times; values accumulate in order. */
  multi?: boolean;
  min?: number;
  max?: number;
  /** the only values a string option takes */
  choices?: string[];
  implemented?: boolean;
  /** accepted but never acted on by ocserv-ts: why (printed in the warning) */
  reason?: string;
  /** another name of this option: values are stored under that name */
  alias?: string;
  /** printed once when the option is used (old names ocserv itself replaced) */
  note?: string;
  /** keep double quotes around the value (ocserv passes it unprocessed) */
  keepQuotes?: boolean;
  /** what it does, the default, and a value for the example file (from config-docs.ts) */
  doc?: string;
  default?: string;
}

const s = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'string', implemented: true, ...extra });
const p = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'path', implemented: true, ...extra });
const i = (min: number, max: number, extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'int', min, max, implemented: true, ...extra });
const b = (extra: Partial<OptionSpec> = {}): OptionSpec => ({ type: 'bool', implemented: true, ...extra });
const later = (spec: OptionSpec): OptionSpec => ({ ...spec, implemented: false });
const never = (reason: string, spec: OptionSpec): OptionSpec => ({ ...spec, implemented: false, reason });
// type and status are copied from the target below
const alias = (target: string, note?: string): OptionSpec => ({ type: 'string', alias: target, ...(note ? { note } : {}) });

const PORT = [0, 65535] as const;
const SECONDS = [0, 0x7fffffff] as const;

export const OPTIONS: Record<string, OptionSpec> = {
  // authentication
  'auth': s({ multi: true }),
  'enable-auth': s({ multi: true }),
  'acct': s(),
  'auth-timeout': i(...SECONDS),
  'min-reauth-time': i(...SECONDS),
  // ocserv 1.4.1's new name of min-reauth-time (ocserv 1.1.6 knows only min-reauth-time)
  'ban-time': alias('min-reauth-time'),
  'max-ban-score': i(...SECONDS),
  'ban-reset-time': i(...SECONDS),
  'ban-points-wrong-password': i(...SECONDS),
  'ban-points-connection': i(...SECONDS),
  'ban-points-kkdcp': never('MS-KKDCP forwards Kerberos requests for GSSAPI logins, and ocserv-ts has no GSSAPI/Kerberos support', i(...SECONDS)),
  'cookie-timeout': i(...SECONDS),
  'persistent-cookies': b(),
  'session-timeout': i(...SECONDS),
  'idle-timeout': i(...SECONDS),
  'mobile-idle-timeout': i(...SECONDS),
  'stats-report-time': i(...SECONDS),
  'deny-roaming': b(),
  // listening
  'listen-host': s(),
  'listen-host-is-dyndns': b(),
  'udp-listen-host': s(),
  'tcp-port': i(...PORT),
  'udp-port': i(...PORT),
  'listen-clear-file': never('ocserv removed it in 1.1.2; put a TLS-terminating proxy in front with listen-proxy-proto instead', p()),
  'listen-proxy-proto': b(),
  'listen-netns': s(),
  // TLS
  'server-cert': p({ multi: true }),
  'server-key': p({ multi: true }),
  'ca-cert': p(),
  'dh-params': p(),
  'crl': p(),
  'cert-user-oid': s(),
  'cert-group-oid': s(),
  'tls-priorities': s(),
  'match-tls-dtls-ciphers': b(),
  'ocsp-response': p(),
  'pin-file': never('server-key must be an unencrypted key file: ocserv-ts reads no encrypted key, PKCS #11 object or TPM key, which are what this PIN unlocks', p()),
  'srk-pin-file': never('TPM-held server keys are not supported (server-key must be a key file)', p()),
  'key-pin': never('server-key must be an unencrypted key file: ocserv-ts reads no encrypted key, PKCS #11 object or TPM key, which are what this PIN unlocks', s()),
  'srk-pin': never('TPM-held server keys are not supported (server-key must be a key file)', s()),
  'dtls-legacy': b(),
  'dtls-psk': b(),
  'server-drain-ms': i(...SECONDS),
  // ocserv-ts only: the Prometheus endpoint and the status page (docs/OPERATIONS.md)
  'metrics-listen': s(),
  'status-listen': s(),
  // processes
  'run-as-user': s(),
  'run-as-group': s(),
  'socket-file': p(),
  'occtl-socket-file': p(),
  'use-occtl': b(),
  'use-dbus': alias('use-occtl', "ocserv's former name of use-occtl"),
  // ocserv-ts only: members of this group may use occtl-ts besides root
  'occtl-group': s(),
  'pid-file': p(),
  'isolate-workers': b(),
  'use-seccomp': alias('isolate-workers', "ocserv's former name of isolate-workers"),
  // ocserv-ts only: MiB a worker may hold before main replaces it (0: no bound)
  'worker-memory-limit': i(0, 1_048_576),
  // ocserv-ts only: false puts the private keys into the workers (for a Node without engine support)
  'key-isolation': b(),
  'max-clients': i(0, 1_000_000),
  'max-same-clients': i(0, 1_000_000),
  'clients-per-worker': i(1, 10_000),
  'chroot-dir': p(),
  'rate-limit-ms': i(...SECONDS),
  'server-stats-reset-time': i(...SECONDS),
  'sec-mod-scale': never('ocserv-ts always runs one sec-mod process: it waits on PAM (helper processes) and RADIUS without blocking, and its CPU work (password hashes of plain, TLS signatures for key isolation) uses one core; key-isolation = false moves the signing into the workers', i(0, 1024)),
  'log-level': i(0, 9),
  'syslog-facility': never('ocserv-ts does not log through syslog: its events go to stderr (the journal under systemd, where the unit\'s SyslogFacility= sets the facility)', s()),
  'use-utmp': never('ocserv-ts keeps no utmp records; occtl-ts show users lists the sessions', b()),
  'cgroup': never('it names cgroup-v1 controllers; run the service in a systemd slice (Slice=, CPUQuota=, MemoryMax=) to limit it instead', s()),
  'debug-no-secmod-stats': never('a debugging switch of ocserv\'s sec-mod with no counterpart here', b()),
  'sec-mod-db-cleanup-time': i(...SECONDS),
  // connection keepalive / MTU
  'keepalive': i(...SECONDS),
  'dpd': i(...SECONDS),
  'mobile-dpd': i(...SECONDS),
  'switch-to-tcp-timeout': i(...SECONDS),
  'try-mtu-discovery': b(),
  'mtu': i(576, 65535),
  'output-buffer': i(0, 0x7fffffff),
  'tunnel-all-dns': b(),
  'rekey-time': i(...SECONDS),
  'rekey-method': s({ choices: ['ssl', 'new-tunnel'] }),
  'compression': b(),
  'compression-algo-priority': s({ multi: true }),
  'no-compress-limit': i(0, 65535),
  'net-priority': s(),
  'cisco-client-compat': b(),
  'cisco-svc-client-compat': never('the Cisco IP-phone mode (a /svc login, DTLS resumed from the TLS 1.2 session) came with ocserv 1.2; ocserv 1.1.6, which ocserv-ts follows, has no such option', b()),
  'always-require-cert': never('ocserv replaced it by cisco-client-compat (always-require-cert = false is cisco-client-compat = true)', b()),
  'no-udp': b(),
  'session-control': never('obsolete; ocserv ignores it as well', s()),
  // network
  'device': s(),
  'predictable-ips': b(),
  'default-domain': s(),
  'ipv4-network': s(),
  'ipv4-netmask': s(),
  'ipv6-network': s(),
  'ipv6-prefix': i(0, 128),
  'ipv6-subnet-prefix': i(0, 128),
  'dns': s({ multi: true }),
  'ipv4-dns': alias('dns'),
  'ipv6-dns': alias('dns'),
  'nbns': s({ multi: true }),
  'ipv4-nbns': alias('nbns'),
  'ipv6-nbns': alias('nbns'),
  'split-dns': s({ multi: true }),
  'ping-leases': b(),
  'route': s({ multi: true }),
  'no-route': s({ multi: true }),
  'append-routes': b(),
  'iroute': never('it acts only in config-per-user and config-per-group files', s({ multi: true })),
  'restrict-user-to-routes': b(),
  'restrict-user-to-ports': s(),
  'route-add-cmd': s(),
  'route-del-cmd': s(),
  'config-per-user': p(),
  'config-per-group': p(),
  'default-user-config': p(),
  'default-group-config': p(),
  'select-group': s({ multi: true }),
  'default-select-group': s(),
  'auto-select-group': b(),
  'select-group-by-url': b(),
  'expose-iroutes': b(),
  'rx-data-per-sec': i(0, 0x7fffffff),
  'tx-data-per-sec': i(0, 0x7fffffff),
  // scripts and presentation
  'connect-script': p(),
  'disconnect-script': p(),
  'host-update-script': p(),
  'banner': s(),
  'pre-login-banner': s(),
  'user-profile': p(),
  'custom-header': s({ multi: true }),
  'included-http-headers': s({ multi: true, keepQuotes: true }),
  'camouflage': b(),
  'camouflage_secret': s(),
  // ocserv spells these two with '_'; the '-' spelling is accepted as well
  'camouflage-secret': alias('camouflage_secret'),
  'camouflage_realm': s(),
  'camouflage-realm': alias('camouflage_realm'),
  'proxy-url': s(),
  'client-bypass-protocol': b(),
  'kkdcp': never('MS-KKDCP forwards Kerberos requests for GSSAPI logins, and ocserv-ts has no GSSAPI/Kerberos support', s({ multi: true })),
  // ocserv-ts only: several servers sharing sessions, leases and bans through Redis (docs/CLUSTER.md)
  'session-store': s(),
  'session-store-password-file': p(),
  'session-store-ca-cert': p(),
  'session-store-prefix': s(),
  'cluster-node-name': s(),
};

// An alias is parsed and reported as its target.
for (const spec of Object.values(OPTIONS)) {
  if (!spec.alias) continue;
  const target = OPTIONS[spec.alias];
  const { type, multi, min, max, choices, implemented, reason, keepQuotes } = target;
  Object.assign(spec, { type, multi, min, max, choices, implemented, reason, keepQuotes });
}

for (const group of OPTION_GROUPS) {
  for (const [name, d] of Object.entries(group.options)) {
    const spec = lookupOption(name);
    if (spec) Object.assign(spec, { doc: d.doc, default: d.default });
  }
}

/** The spec of an option name as written (lower case), or undefined; never a property of Object.prototype. */
export function lookupOption(name: string): OptionSpec | undefined {
  return Object.prototype.hasOwnProperty.call(OPTIONS, name) ? OPTIONS[name] : undefined;
}
