import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { lookupOption, type OptionSpec } from './config-schema';
import { readConfigSyntax, show } from './config-syntax';
import { parsePortPolicy, type PortPolicy } from './port-policy';
import { parseListenAddress, type ListenAddress } from './listen-address';
import { DEFAULT_OCCTL_SOCKET } from '../ipc/control';
import { certFileProblem, certOptionProblem } from './cert-config';
import { readTunnelOptions, type TunnelOptions } from '../worker/tunnel-options';
import { parseNetPriority, type NetPriority } from './net-priority';
import { parseSessionStore, type SessionStoreConfig } from './session-store-config';
import { RadcliConfigError, radiusMethodParams, readRadcliConfig } from '../secmod/radius/radcli-config';

/** A problem in a config file, always with the place it was found. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  /** further problems found in the same reading of the file, in line order (-t lists them all) */
  readonly also: ConfigError[] = [];
  /** line 0: the problem is with the file as a whole */
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}

export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
  option?: string;
  /** an ocserv option ocserv-ts accepts but does not act on yet */
  notYet?: boolean;
  /** an ocserv option ocserv-ts accepts and will not act on: why */
  reason?: string;
  /** the name of the [vhost:NAME] section this warning is about */
  vhost?: string;
}

type RawValue = string | number | boolean;
interface RawEntry { value: RawValue; line: number }
export type RawConfig = Map<string, RawEntry[]>;

/**
 * One route as the client receives it (X-CSTP-Split-Include / -Exclude, or their -IP6 forms
 * when `network` is IPv6). `netmask` is the dotted (IPv4) or colon (IPv6) form of `prefix`.
 */
export interface Route { network: string; prefix: number; netmask: string }

export interface AuthMethod { type: string; params: Record<string, string>; raw: string }

export interface Config {
  file: string;
  /** every `auth` line must succeed, in order */
  auth: AuthMethod[];
  /** `acct = "radius[config=...]"`: where accounting records go */
  acct?: AuthMethod;
  /** `enable-auth`: alternatives a client may use instead of the `auth` chain */
  enableAuth: AuthMethod[];
  /** `select-group` choices offered in the login form (value and label) */
  selectGroups: { value: string; label: string }[];
  /** `default-select-group`: the label of the "no particular group" choice */
  defaultSelectGroup?: string;
  autoSelectGroup: boolean;
  /** client certificates: revocation list, and where in the subject user and group names are */
  crl?: string;
  certUserOid: string;
  certGroupOid?: string;
  authTimeout: number;
  cookieTimeout: number;
  /** session life (seconds, 0 = none): see SessionTimers in src/main */
  sessionTimeout: number;
  idleTimeout: number;
  mobileIdleTimeout: number;
  statsReportTime: number;
  /** compression (src/worker/compression.ts); no-compress-limit raised to 64 as ocserv does; compression-algo-priority lines */
  compression: boolean;
  noCompressLimit: number;
  compressionAlgoPriority: string[];
  /** log-level: ocserv's 0-9 scale (src/common/log.ts); a -d on the command line wins */
  logLevel: number;
  /** server-stats-reset-time: seconds after which occtl's statistics period restarts (0: never) */
  serverStatsResetTime: number;
  /** sec-mod-db-cleanup-time: seconds between sec-mod's sweeps of expired sessions (0: the default) */
  secModDbCleanupTime: number;
  /** append-routes: the server's routes follow routes a user or group file, or RADIUS, gave */
  appendRoutes: boolean;
  /** select-group-by-url: https://server/GROUP selects GROUP */
  selectGroupByUrl: boolean;
  /** a cookie only works from the address that logged in */
  denyRoaming: boolean;
  /** a client's logout does not spend its cookie */
  persistentCookies: boolean;
  connectScript?: string;
  disconnectScript?: string;
  hostUpdateScript?: string;
  /** an IP address or a host name, resolved at start (every address it has is listened on) */
  listenHost?: string;
  /** UDP (DTLS) listens here instead of listenHost */
  udpListenHost?: string;
  /** the TCP peer is a proxy that starts each connection with a PROXY protocol header */
  listenProxyProto: boolean;
  /** listen-netns: the TCP and UDP sockets are made in this network namespace (/var/run/netns/NAME) */
  listenNetns?: string;
  /** chroot-dir: an absolute directory workers confine themselves to once loaded */
  chrootDir?: string;
  /** net-priority: socket priority or type of service of each client's TCP and UDP socket */
  netPriority?: NetPriority;
  /** output-buffer: link-MTU-sized packets a client's socket may queue (SO_SNDBUF); 0: the kernel's default */
  outputBuffer: number;
  /** ping-leases: a pool address that answers a ping is not leased */
  pingLeases: boolean;
  /** on SIGTERM/SIGINT: stop accepting, then wait this long before ending the sessions */
  serverDrainMs: number;
  /** metrics-listen, status-listen (ocserv-ts only): the Prometheus endpoint and the status page */
  metricsListen?: ListenAddress;
  statusListen?: ListenAddress;
  /** tls-priorities as written (a GnuTLS priority string; src/common/tls-priorities.ts maps it) */
  tlsPriorities?: string;
  /** PEM Diffie-Hellman parameters file, for the DHE cipher suites */
  dhParams?: string;
  /** a DER OCSP response file stapled to handshakes */
  ocspResponse?: string;
  /** camouflage: without `?secret` in the URL the server answers as a plain web server */
  camouflage: boolean;
  camouflageSecret?: string;
  camouflageRealm?: string;
  /** custom-header lines added to the CONNECT answer (%{U}, %{G} replaced) */
  customHeaders: string[];
  /** user-profile: an AnyConnect profile XML announced after login and served under /profiles/ */
  userProfile?: string;
  preLoginBanner?: string;
  tcpPort: number;
  udpPort: number;
  dtlsPsk: boolean;
  dtlsLegacy: boolean;
  serverCert: string[];
  serverKey: string[];
  caCert?: string;
  /** false: workers hold the private keys instead of asking sec-mod (issue 4) */
  keyIsolation: boolean;
  /** seccomp filter in workers */
  isolateWorkers: boolean;
  runAsUser: string;
  runAsGroup: string;
  socketFile: string;
  pidFile?: string;
  maxClients: number;
  maxSameClients: number;
  clientsPerWorker: number;
  /** worker-memory-limit, MiB: main replaces a worker whose resident memory grows past it (0: never) */
  workerMemoryLimit: number;
  keepalive: number;
  dpd: number;
  mobileDpd: number;
  mtu?: number;
  device: string;
  predictableIps: boolean;
  defaultDomain?: string;
  ipv4?: { network: string; prefix: number; netmask: string };
  /** ipv6-network (with ipv6-prefix) and ipv6-subnet-prefix, the length of each client's network (default 128) */
  ipv6?: { network: string; prefix: number; subnetPrefix: number };
  dns: string[];
  /** Empty when the tunnel takes all traffic (`route = default` or no route). */
  routes: Route[];
  noRoutes: Route[];
  banner?: string;
  // occtl and bans (issue 7); times in seconds
  useOcctl: boolean;
  occtlSocketFile: string;
  occtlGroup?: string;
  maxBanScore: number;
  banResetTime: number;
  banPointsWrongPassword: number;
  banPointsConnection: number;
  minReauthTime: number;
  /** `rate-limit-ms`: new connections are handed to workers at most one per this many ms (0: no limit) */
  rateLimitMs: number;
  // per-user and per-group settings, iroutes, session limits (docs/PER-USER-CONFIG.md)
  configPerUser?: string;
  configPerGroup?: string;
  defaultUserConfig?: string;
  defaultGroupConfig?: string;
  /** run for each iroute: %{R} network/netmask, %{RI} network/length, %{D} the tun device */
  routeAddCmd: string;
  routeDelCmd: string;
  exposeIroutes: boolean;
  nbns: string[];
  splitDns: string[];
  tunnelAllDns: boolean;
  noUdp: boolean;
  restrictToRoutes: boolean;
  restrictToPorts?: PortPolicy;
  /** bytes per second from (rx) and to (tx) each client; 0 = no limit */
  rxDataPerSec: number;
  txDataPerSec: number;
  /** session-store: the Redis server a cluster shares state in; absent: all in memory */
  sessionStore?: SessionStoreConfig;
  /** switch-to-tcp-timeout, try-mtu-discovery, rekey-*, proxy-url, ... (src/worker/tunnel-options.ts) */
  tunnel: TunnelOptions;
  /** Every option as written, for the options not yet given a typed field. */
  raw: RawConfig;
  /** names of the [vhost:NAME] sections, which are checked but not served */
  vhosts?: string[];
}

/** As ocserv: white space and double quotes at either end are not part of the value. */
export function unquote(v: string): string {
  // a loop, not /[\s"]+$/: that regex takes quadratic time on a long run of quotes mid-value
  const strip = (c: string) => c === '"' || /\s/.test(c);
  let a = 0;
  let b = v.length;
  while (a < b && strip(v[a])) a++;
  while (b > a && strip(v[b - 1])) b--;
  return v.slice(a, b);
}

function parseValue(spec: OptionSpec, value: string, file: string, line: number, key: string): RawValue {
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(value)) throw new ConfigError(file, line, `${key}: ${show(value)} is not a whole number`);
      const n = Number(value);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(file, line, `${key}: ${show(value)} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(file, line, `${key}: ${show(value)} is above the maximum ${spec.max}`);
      return n;
    }
    case 'bool': {
      const v = value.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return true;
      if (['false', 'no', '0', 'off'].includes(v)) return false;
      throw new ConfigError(file, line, `${key}: ${show(value)} is not true or false`);
    }
    case 'path':
    case 'string':
      if (value === '') throw new ConfigError(file, line, `${key}: empty value`);
      if (spec.choices && !spec.choices.includes(value)) throw new ConfigError(file, line, `${key}: ${show(value)} is not one of ${spec.choices.join(', ')}`);
      return value;
  }
}

/**
 * Reads ocserv.conf syntax (config-syntax.ts has the rules). Unknown options are warnings (a
 * file written for a newer ocserv must still start); malformed lines and bad values are errors
 * that name file and line. All the file's line errors are collected: the first is thrown, the
 * others ride in its `also`. `[vhost:NAME]` sections are checked the same way and their
 * options go to `vhosts` (ocserv-ts serves only the default host; a warning says so).
 */
export function parseConfigText(text: string, file: string, warnings: ConfigWarning[] = [], vhosts?: Map<string, RawConfig>): RawConfig {
  const raw: RawConfig = new Map();
  const errors: ConfigError[] = [];
  // an option ocserv-ts does not act on is told once, however often it appears
  const told = new Set<string>();
  const { items, problems } = readConfigSyntax(text, (name) => lookupOption(name) !== undefined);
  for (const p of problems) errors.push(new ConfigError(file, p.line, p.reason));
  let target = raw;
  let skipping = false;
  for (const item of items) {
    const line = item.line;
    if (item.kind === 'section') {
      const m = /^vhost:(.*)$/i.exec(item.name);
      skipping = !m;
      if (!m) {
        warnings.push({ file, line, message: `unknown section ${show(`[${item.name}]`)}: its options are skipped` });
        continue;
      }
      const name = m[1].trim().toLowerCase();
      if (name === '') {
        errors.push(new ConfigError(file, line, `virtual host section without a name`));
        skipping = true;
        continue;
      }
      target = vhosts?.get(name) ?? new Map();
      vhosts?.set(name, target);
      warnings.push({
        file, line, vhost: name,
        message: `[vhost:${name}]: virtual hosts are not served by ocserv-ts; the options of this section are checked but every client gets the default host's settings`,
      });
      continue;
    }
    if (skipping) continue;
    const written = item.name.toLowerCase();
    let spec = lookupOption(written);
    if (!spec) {
      warnings.push({ file, line, message: `unknown option ${show(written)} ignored` });
      continue;
    }
    let key = written;
    if (spec.alias) {
      if (spec.note && !told.has(written)) warnings.push({ file, line, option: written, message: `'${written}' is read as '${spec.alias}' (${spec.note})` });
      told.add(written);
      key = spec.alias;
      spec = lookupOption(key)!;
    }
    if (spec.implemented === false && !told.has(key)) {
      told.add(key);
      if (spec.reason) warnings.push({ file, line, option: key, reason: spec.reason, message: `option '${key}' is ignored: ${spec.reason}` });
      else warnings.push({ file, line, option: key, notYet: true, message: `option '${key}' is accepted but not yet supported by ocserv-ts` });
    }
    try {
      const value = spec.keepQuotes ? item.value : unquote(item.value);
      const entry = { value: parseValue(spec, value, file, line, key), line };
      const list = target.get(key);
      if (!list) target.set(key, [entry]);
      else if (spec.multi) list.push(entry);
      else {
        warnings.push({ file, line, message: `'${key}' given again (first at line ${list[0].line}); the last one wins` });
        list[0] = entry;
      }
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
  if (errors.length) {
    errors.sort((a, b) => a.line - b.line);
    const [firstError, ...rest] = errors;
    firstError.also.push(...rest);
    throw firstError;
  }
  return raw;
}

/** RFC 1123 host names (letters, digits, hyphens; dot-separated labels) */
const HOST_NAME_RE = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function first<T extends RawValue>(raw: RawConfig, key: string): { value: T; line: number } | undefined {
  const e = raw.get(key);
  return e ? { value: e[0].value as T, line: e[0].line } : undefined;
}
function all(raw: RawConfig, key: string): RawEntry[] { return raw.get(key) ?? []; }

export function parseAuth(spec: string, file: string, line: number): AuthMethod {
  const m = /^([a-z0-9-]+)(?:\[(.*)\])?$/i.exec(spec.trim());
  if (!m) throw new ConfigError(file, line, `auth: cannot read ${show(spec)}`);
  const params: Record<string, string> = {};
  if (m[2]) {
    for (const part of m[2].split(',')) {
      const kv = part.split('=');
      const k = kv[0].trim();
      if (!k) continue;
      params[k] = kv.slice(1).join('=').trim();
    }
  }
  const type = m[1].toLowerCase();
  const known = ['plain', 'pam', 'radius', 'certificate', 'gssapi', 'oidc'];
  if (!known.includes(type)) throw new ConfigError(file, line, `auth: unknown method ${show(type)}`);
  // ocserv's older syntax: plain[/etc/ocserv/passwd]
  if (type === 'plain' && !params.passwd && m[2] && !m[2].includes('=')) params.passwd = m[2].trim();
  if (type === 'plain' && !params.passwd) throw new ConfigError(file, line, `auth: plain needs [passwd=/path/to/file]`);
  if (type === 'pam') checkPamParams(params, file, line);
  if (type === 'radius') return { type, params: radiusParams(m[2], params, file, line), raw: spec };
  return { type, params, raw: spec };
}

/** `radius[...]`: ocserv's options, and the radcli file they name must read cleanly now rather than at the first login. */
function radiusParams(inner: string | undefined, params: Record<string, string>, file: string, line: number): Record<string, string> {
  const r = radiusMethodParams(inner, params);
  if ('error' in r) throw new ConfigError(file, line, `auth: radius: ${r.error}`);
  try {
    readRadcliConfig(r.params.config!);
  } catch (err) {
    if (!(err instanceof RadcliConfigError)) throw err;
    // a problem at a line of the radcli file names that line; one with the whole file names our auth line
    if (err.line > 0) throw new ConfigError(err.file, err.line, err.reason);
    throw new ConfigError(file, line, `auth: radius: ${err.message}`);
  }
  return r.params;
}

/** sec-mod's PAM backend bound (PAM_MAX_TIMEOUT); kept here so the config check needs no sec-mod code */
const PAM_MAX_TIMEOUT_S = 80;
/** pam[gid-min=N,service=NAME,timeout=SECONDS] (service and timeout are ours; docs/PAM.md) */
function checkPamParams(params: Record<string, string>, file: string, line: number): void {
  for (const k of Object.keys(params)) {
    if (!['gid-min', 'service', 'timeout'].includes(k)) throw new ConfigError(file, line, `auth: pam has no parameter ${show(k)} (gid-min, service, timeout)`);
  }
  if (params['gid-min'] !== undefined && !/^\d+$/.test(params['gid-min'])) throw new ConfigError(file, line, `auth: pam gid-min must be a number`);
  // the name picks a file in /etc/pam.d
  if (params.service !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(params.service)) {
    throw new ConfigError(file, line, `auth: pam service ${show(params.service)} is not a plain file name`);
  }
  const timeout = params.timeout;
  // a worker waits 10 s for each of sec-mod's answers (src/secmod/auth/pam.ts)
  if (timeout !== undefined && !(/^\d+$/.test(timeout) && +timeout >= 1 && +timeout <= PAM_MAX_TIMEOUT_S)) {
    throw new ConfigError(file, line, `auth: pam timeout must be 1 to ${PAM_MAX_TIMEOUT_S} seconds`);
  }
}

function parseAcct(e: { value: string; line: number } | undefined, file: string): AuthMethod | undefined {
  if (!e) return undefined;
  const m = parseAuth(String(e.value), file, e.line);
  if (m.type !== 'radius') throw new ConfigError(file, e.line, `acct: only radius accounting is supported, not '${m.type}'`);
  if (!m.params.config) throw new ConfigError(file, e.line, `acct: radius needs [config=/path/to/radiusclient.conf]`);
  return m;
}

/**
 * Shared workers by default: a Node process costs over 10 MB, so one per client would cost
 * 20x ocserv's memory per session; `clients-per-worker = 1` restores ocserv's isolation.
 */
export const DEFAULT_CLIENTS_PER_WORKER = 32;
/** MiB: an idle worker holds about 60, a shared one with its 32 clients little more */
export const DEFAULT_WORKER_MEMORY_LIMIT = 1024;
export const MIN_WORKER_MEMORY_LIMIT = 128;

/** `select-group = group1[Human name]` */
function parseSelectGroup(v: string): { value: string; label: string } {
  const m = /^([^[]+)\[(.*)\]$/.exec(v.trim());
  return m ? { value: m[1].trim(), label: m[2].trim() } : { value: v.trim(), label: v.trim() };
}

function netmaskToPrefix(mask: string, file: string, line: number, key: string): number {
  let prefix: number | null = null;
  try { prefix = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask(); } catch { /* reported below */ }
  if (prefix === null) throw new ConfigError(file, line, `${key}: ${show(mask)} is not a valid netmask`);
  return prefix;
}

/** Accepts `a.b.c.d/len`, `a.b.c.d/m.a.s.k` and a bare network (then the prefix comes from elsewhere). */
export function parseIPv4Net(value: string, file: string, line: number, key: string): { network: string; prefix?: number } {
  const [addr, mask] = value.split('/');
  if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new ConfigError(file, line, `${key}: ${show(addr)} is not an IPv4 address`);
  if (mask === undefined) return { network: addr };
  const prefix = /^\d+$/.test(mask) ? Number(mask) : netmaskToPrefix(mask, file, line, key);
  if (prefix > 32) throw new ConfigError(file, line, `${key}: prefix /${prefix} is longer than 32`);
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`).toString();
  return { network, prefix };
}

/**
 * Accepts `addr/len` and a bare address (then the prefix comes from elsewhere). No zone
 * (`%eth0`) and no IPv4 notation: what the kernel and the client read the same way.
 */
export function parseIPv6Net(value: string, file: string, line: number, key: string): { network: string; prefix?: number } {
  const [addr, len, extra] = value.split('/');
  if (extra !== undefined || addr.includes('%') || addr.includes('.') || !ipaddr.IPv6.isValid(addr)) {
    throw new ConfigError(file, line, `${key}: ${show(value)} is not an IPv6 address or network`);
  }
  if (len === undefined) return { network: ipaddr.IPv6.parse(addr).toString() };
  if (!/^\d{1,3}$/.test(len) || +len > 128) throw new ConfigError(file, line, `${key}: ${show(`/${len}`)} is not a prefix length from 0 to 128`);
  return { network: ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${len}`).toString(), prefix: +len };
}

export function toRoute(network: string, prefix: number): Route {
  const v6 = network.includes(':');
  const mask = v6 ? ipaddr.IPv6.subnetMaskFromPrefixLength(prefix) : ipaddr.IPv4.subnetMaskFromPrefixLength(prefix);
  return { network, prefix, netmask: mask.toString() };
}

/** A route as ocserv writes it (headers, scripts, occtl, %{R}): IPv4 network/netmask, IPv6 network/length. */
export const routeText = (r: Route): string => (r.network.includes(':') ? `${r.network}/${r.prefix}` : `${r.network}/${r.netmask}`);

/** `route`, `no-route`, `iroute` values other than `default`: IPv4 or IPv6, a bare address is a host route. */
export function parseRouteValue(value: string, file: string, line: number, key: string): Route {
  if (value.includes(':')) {
    const n = parseIPv6Net(value, file, line, key);
    return toRoute(n.network, n.prefix ?? 128);
  }
  const n = parseIPv4Net(value, file, line, key);
  return toRoute(n.network, n.prefix ?? 32);
}

/** Routes a backend gave one session (RADIUS Framed-Route, Framed-IPv6-Route), as CIDR strings. */
export function sessionRoutes(cidrs: string[]): Route[] {
  const out: Route[] = [];
  for (const c of cidrs) {
    try {
      out.push(parseRouteValue(c, '', 0, 'route'));
    } catch { /* not a network */ }
  }
  return out;
}

function parseRoutes(entries: RawEntry[], file: string, key: string): { routes: Route[]; hasDefault: boolean } {
  const routes: Route[] = [];
  let hasDefault = false;
  for (const e of entries) {
    const v = String(e.value);
    if (v === 'default') { hasDefault = true; continue; }
    routes.push(parseRouteValue(v, file, e.line, key));
  }
  return { routes, hasDefault };
}

/**
 * ipv6-network with its prefix (or the older ipv6-prefix) and ipv6-subnet-prefix, as ocserv:
 * each client's network must be longer than the pool's.
 */
function ipv6Network(raw: RawConfig, file: string): Config['ipv6'] {
  const net = first<string>(raw, 'ipv6-network');
  if (!net) return undefined;
  const parsed = parseIPv6Net(net.value, file, net.line, 'ipv6-network');
  const prefix = parsed.prefix ?? first<number>(raw, 'ipv6-prefix')?.value;
  if (prefix === undefined) throw new ConfigError(file, net.line, `ipv6-network has no prefix and no ipv6-prefix is set`);
  const sub = first<number>(raw, 'ipv6-subnet-prefix');
  // ocserv reads 0 as "not set"
  const subnetPrefix = sub?.value || 128;
  if (subnetPrefix <= prefix) {
    throw new ConfigError(file, sub?.line ?? net.line, `ipv6-subnet-prefix /${subnetPrefix} must be longer than the ipv6-network's /${prefix}`);
  }
  // the first subnet holds the server's address (for /128 subnets: the first two)
  if (subnetPrefix - prefix < (subnetPrefix === 128 ? 2 : 1)) {
    throw new ConfigError(file, net.line, `ipv6-network /${prefix} with ipv6-subnet-prefix /${subnetPrefix} leaves no room for clients`);
  }
  return { network: ipaddr.IPv6.networkAddressFromCIDR(`${parsed.network}/${prefix}`).toString(), prefix, subnetPrefix };
}

/** metrics-listen / status-listen: ADDRESS:PORT of one of ocserv-ts's own HTTP endpoints */
function listenAddress(raw: RawConfig, key: string, file: string): ListenAddress | undefined {
  const e = first<string>(raw, key);
  if (!e) return undefined;
  const r = parseListenAddress(e.value);
  if ('error' in r) throw new ConfigError(file, e.line, `${key}: ${r.error}`);
  return r;
}

/** Builds the typed configuration; every semantic problem names the line it came from. */
export function buildConfig(raw: RawConfig, file: string): Config {
  const auth = all(raw, 'auth').map((e) => parseAuth(String(e.value), file, e.line));
  if (auth.length === 0) throw new ConfigError(file, 0, `no 'auth' method configured (e.g. auth = "plain[passwd=/etc/ocserv-ts/ocpasswd]")`);

  let ipv4: Config['ipv4'];
  const net = first<string>(raw, 'ipv4-network');
  if (net) {
    const parsed = parseIPv4Net(net.value, file, net.line, 'ipv4-network');
    let prefix = parsed.prefix;
    const mask = first<string>(raw, 'ipv4-netmask');
    if (prefix === undefined) {
      if (!mask) throw new ConfigError(file, net.line, `ipv4-network has no prefix and no ipv4-netmask is set`);
      prefix = netmaskToPrefix(mask.value, file, mask.line, 'ipv4-netmask');
    }
    if (prefix > 30) throw new ConfigError(file, net.line, `ipv4-network /${prefix} leaves no room for clients`);
    const network = ipaddr.IPv4.networkAddressFromCIDR(`${parsed.network}/${prefix}`).toString();
    ipv4 = { network, prefix, netmask: ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString() };
  }

  const ipv6 = ipv6Network(raw, file);

  for (const e of all(raw, 'dns')) {
    if (!ipaddr.isValid(String(e.value))) throw new ConfigError(file, e.line, `dns: ${show(String(e.value))} is not an IP address`);
  }
  const routes = parseRoutes(all(raw, 'route'), file, 'route');
  const noRoutes = parseRoutes(all(raw, 'no-route'), file, 'no-route');
  for (const e of all(raw, 'nbns')) {
    if (!ipaddr.isValid(String(e.value))) throw new ConfigError(file, e.line, `nbns: ${show(String(e.value))} is not an IP address`);
  }
  const memoryLimit = first<number>(raw, 'worker-memory-limit');
  // below what a worker holds idle (about 60 MiB) every worker would be replaced in a loop
  if (memoryLimit && memoryLimit.value > 0 && memoryLimit.value < MIN_WORKER_MEMORY_LIMIT) {
    throw new ConfigError(file, memoryLimit.line, `worker-memory-limit: ${memoryLimit.value} MiB is less than a worker needs; use at least ${MIN_WORKER_MEMORY_LIMIT}, or 0 for no bound`);
  }
  const ports = first<string>(raw, 'restrict-user-to-ports');
  const portPolicy = ports ? parsePortPolicy(ports.value) : undefined;
  if (portPolicy && 'error' in portPolicy) throw new ConfigError(file, ports!.line, `restrict-user-to-ports: ${portPolicy.error}`);

  const str = (k: string) => first<string>(raw, k)?.value;
  const num = (k: string, d: number) => first<number>(raw, k)?.value ?? d;
  const bool = (k: string, d: boolean) => first<boolean>(raw, k)?.value ?? d;
  const listen = str('listen-host');
  const udpListen = str('udp-listen-host');
  for (const [key, v] of [['listen-host', listen], ['udp-listen-host', udpListen]] as const) {
    if (v !== undefined && !ipaddr.isValid(v) && !HOST_NAME_RE.test(v)) {
      throw new ConfigError(file, first<string>(raw, key)!.line, `${key}: ${show(v)} is neither an IP address nor a host name`);
    }
  }
  const camouflage = bool('camouflage', false);
  if (camouflage && !str('camouflage_secret')) {
    // ocserv would start and then turn every client away
    throw new ConfigError(file, first<boolean>(raw, 'camouflage')!.line, 'camouflage = true needs camouflage_secret (clients then use https://server/?SECRET)');
  }

  const serverCert = all(raw, 'server-cert').map((e) => String(e.value));
  const serverKey = all(raw, 'server-key').map((e) => String(e.value));
  if (serverCert.length !== serverKey.length) {
    const line = (raw.get('server-key') ?? raw.get('server-cert'))?.[0].line ?? 0;
    throw new ConfigError(file, line, `server-cert and server-key must be given in pairs (${serverCert.length} certificates, ${serverKey.length} keys)`);
  }
  if (serverCert.length === 0) throw new ConfigError(file, 0, `no server-cert / server-key configured`);
  const tunnel = readTunnelOptions(raw);
  if (tunnel.problem) throw new ConfigError(file, tunnel.problem.line, tunnel.problem.reason);
  const certProblem = certOptionProblem(raw);
  if (certProblem) throw new ConfigError(file, certProblem.line, certProblem.reason);
  const sessionStore = sessionStoreOf(raw, file);

  return {
    file,
    auth,
    acct: parseAcct(first<string>(raw, 'acct'), file),
    enableAuth: all(raw, 'enable-auth').map((e) => parseAuth(String(e.value), file, e.line)),
    selectGroups: all(raw, 'select-group').map((e) => parseSelectGroup(String(e.value))),
    defaultSelectGroup: str('default-select-group'),
    autoSelectGroup: bool('auto-select-group', false),
    crl: str('crl'),
    // ocserv's default: the CN
    certUserOid: str('cert-user-oid') ?? '2.5.4.3',
    certGroupOid: str('cert-group-oid'),
    authTimeout: num('auth-timeout', 240),
    cookieTimeout: num('cookie-timeout', 300),
    sessionTimeout: num('session-timeout', 0),
    idleTimeout: num('idle-timeout', 0),
    mobileIdleTimeout: num('mobile-idle-timeout', 0),
    statsReportTime: num('stats-report-time', 360),
    compression: bool('compression', false),
    noCompressLimit: Math.max(64, num('no-compress-limit', 256)),
    compressionAlgoPriority: all(raw, 'compression-algo-priority').map((e) => String(e.value)),
    logLevel: num('log-level', 0),
    serverStatsResetTime: num('server-stats-reset-time', 604800),
    secModDbCleanupTime: num('sec-mod-db-cleanup-time', 0),
    appendRoutes: bool('append-routes', false),
    selectGroupByUrl: bool('select-group-by-url', false),
    denyRoaming: bool('deny-roaming', false),
    persistentCookies: bool('persistent-cookies', false),
    connectScript: str('connect-script'),
    disconnectScript: str('disconnect-script'),
    hostUpdateScript: str('host-update-script'),
    listenHost: listen,
    udpListenHost: udpListen,
    listenProxyProto: bool('listen-proxy-proto', false),
    listenNetns: netnsName(first<string>(raw, 'listen-netns'), file),
    chrootDir: chrootDir(first<string>(raw, 'chroot-dir'), file),
    netPriority: netPriorityOf(first<string>(raw, 'net-priority'), file),
    outputBuffer: num('output-buffer', 0),
    pingLeases: bool('ping-leases', false),
    serverDrainMs: num('server-drain-ms', 0),
    metricsListen: listenAddress(raw, 'metrics-listen', file),
    statusListen: listenAddress(raw, 'status-listen', file),
    tlsPriorities: str('tls-priorities'),
    dhParams: str('dh-params'),
    ocspResponse: str('ocsp-response'),
    camouflage,
    camouflageSecret: str('camouflage_secret'),
    camouflageRealm: str('camouflage_realm'),
    customHeaders: all(raw, 'custom-header').map((e) => String(e.value)),
    userProfile: str('user-profile'),
    preLoginBanner: str('pre-login-banner'),
    tcpPort: num('tcp-port', 443),
    udpPort: num('udp-port', 0),
    dtlsPsk: bool('dtls-psk', true),
    // as ocserv: cisco-client-compat brings the legacy DTLS with it
    dtlsLegacy: bool('dtls-legacy', true) || bool('cisco-client-compat', false),
    serverCert,
    serverKey,
    caCert: str('ca-cert'),
    keyIsolation: bool('key-isolation', true),
    isolateWorkers: bool('isolate-workers', false),
    runAsUser: str('run-as-user') ?? 'nobody',
    runAsGroup: str('run-as-group') ?? 'nogroup',
    socketFile: str('socket-file') ?? '/run/ocserv-ts-socket',
    pidFile: str('pid-file'),
    maxClients: num('max-clients', 0),
    maxSameClients: num('max-same-clients', 0),
    clientsPerWorker: num('clients-per-worker', DEFAULT_CLIENTS_PER_WORKER),
    workerMemoryLimit: num('worker-memory-limit', DEFAULT_WORKER_MEMORY_LIMIT),
    keepalive: num('keepalive', 32400),
    dpd: num('dpd', 90),
    mobileDpd: num('mobile-dpd', 1800),
    mtu: first<number>(raw, 'mtu')?.value,
    device: str('device') ?? 'vpns',
    predictableIps: bool('predictable-ips', true),
    defaultDomain: str('default-domain'),
    ipv4,
    ipv6,
    dns: all(raw, 'dns').map((e) => String(e.value)),
    routes: routes.hasDefault ? [] : routes.routes,
    noRoutes: noRoutes.routes,
    banner: str('banner'),
    useOcctl: bool('use-occtl', false),
    occtlSocketFile: str('occtl-socket-file') ?? DEFAULT_OCCTL_SOCKET,
    occtlGroup: str('occtl-group'),
    // ocserv's built-in defaults (vpn.h); min-reauth-time takes sample.config's value, as
    // ocserv's built-in 0 would make every ban last no time at all
    maxBanScore: num('max-ban-score', 30),
    banResetTime: num('ban-reset-time', 300),
    banPointsWrongPassword: num('ban-points-wrong-password', 10),
    banPointsConnection: num('ban-points-connection', 1),
    minReauthTime: num('min-reauth-time', 300),
    rateLimitMs: num('rate-limit-ms', 0),
    configPerUser: str('config-per-user'),
    configPerGroup: str('config-per-group'),
    defaultUserConfig: str('default-user-config'),
    defaultGroupConfig: str('default-group-config'),
    // ocserv has no default and then adds no route; these make iroute work out of the box
    routeAddCmd: str('route-add-cmd') ?? 'ip route add %{R} dev %{D}',
    routeDelCmd: str('route-del-cmd') ?? 'ip route delete %{R} dev %{D}',
    exposeIroutes: bool('expose-iroutes', false),
    nbns: all(raw, 'nbns').map((e) => String(e.value)),
    splitDns: all(raw, 'split-dns').map((e) => String(e.value)),
    tunnelAllDns: bool('tunnel-all-dns', false),
    noUdp: bool('no-udp', false),
    restrictToRoutes: bool('restrict-user-to-routes', false),
    restrictToPorts: portPolicy,
    rxDataPerSec: num('rx-data-per-sec', 0),
    txDataPerSec: num('tx-data-per-sec', 0),
    ...(sessionStore ? { sessionStore } : {}),
    tunnel: tunnel.options,
    raw,
  };
}

function sessionStoreOf(raw: RawConfig, file: string): SessionStoreConfig | undefined {
  const url = first<string>(raw, 'session-store');
  const others = ['session-store-password-file', 'session-store-ca-cert', 'session-store-prefix', 'cluster-node-name'] as const;
  if (!url) {
    const stray = others.map((k) => first<string>(raw, k)).find((e) => e !== undefined);
    if (stray) throw new ConfigError(file, stray.line, 'this option needs session-store');
    return undefined;
  }
  const [passwordFile, caCert, prefix, node] = others.map((k) => first<string>(raw, k)?.value);
  const r = parseSessionStore({ url: url.value, passwordFile, caCert, prefix, node });
  if ('error' in r) throw new ConfigError(file, first<string>(raw, r.option)?.line ?? url.line, `${r.option}: ${r.error}`);
  return r;
}

/** listen-netns: a name `ip netns` knows, which names a file in /var/run/netns */
function netnsName(e: { value: string; line: number } | undefined, file: string): string | undefined {
  if (!e) return undefined;
  if (e.value.includes('/') || e.value === '.' || e.value === '..') throw new ConfigError(file, e.line, `listen-netns: ${show(e.value)} is not a network namespace name`);
  return e.value;
}

function chrootDir(e: { value: string; line: number } | undefined, file: string): string | undefined {
  if (!e) return undefined;
  if (!e.value.startsWith('/')) throw new ConfigError(file, e.line, `chroot-dir: ${show(e.value)} is not an absolute path`);
  return e.value;
}

export function netPriorityOf(e: { value: string; line: number } | undefined, file: string): NetPriority | undefined {
  if (!e) return undefined;
  const r = parseNetPriority(e.value);
  if (r && 'error' in r) throw new ConfigError(file, e.line, `net-priority: ${r.error}`);
  return r;
}

export function loadConfig(file: string, warnings: ConfigWarning[] = []): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read: ${(err as Error).message}`);
  }
  const vhosts = new Map<string, RawConfig>();
  const config = buildConfig(parseConfigText(text, file, warnings, vhosts), file);
  if (vhosts.size) config.vhosts = [...vhosts.keys()];
  // files other than the config itself: only when loading a real file, not in buildConfig
  const fileProblem = certFileProblem(config.raw);
  if (fileProblem) throw new ConfigError(file, fileProblem.line, fileProblem.reason);
  return config;
}
