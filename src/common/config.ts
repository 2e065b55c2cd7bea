import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import { OPTIONS, type OptionSpec } from './config-schema';
import { DEFAULT_OCCTL_SOCKET } from '../ipc/control';
import { certFileProblem, certOptionProblem } from './cert-config';
import { RadcliConfigError, radiusMethodParams, readRadcliConfig } from '../secmod/radius/radcli-config';

/** A problem in a config file, always with the place it was found. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

export interface ConfigWarning {
  file: string;
  line: number;
  message: string;
  option?: string;
  /** an ocserv option ocserv-ts accepts but does not act on yet */
  notYet?: boolean;
}

type RawValue = string | number | boolean;
interface RawEntry { value: RawValue; line: number }
export type RawConfig = Map<string, RawEntry[]>;

/** One route as the client receives it (X-CSTP-Split-Include / -Exclude). */
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
  /** a cookie only works from the address that logged in */
  denyRoaming: boolean;
  /** a client's logout does not spend its cookie */
  persistentCookies: boolean;
  connectScript?: string;
  disconnectScript?: string;
  hostUpdateScript?: string;
  listenHost?: string;
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
  keepalive: number;
  dpd: number;
  mobileDpd: number;
  mtu?: number;
  device: string;
  predictableIps: boolean;
  defaultDomain?: string;
  ipv4?: { network: string; prefix: number; netmask: string };
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
  /** Every option as written, for the options not yet given a typed field. */
  raw: RawConfig;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1);
  return v;
}

function parseValue(spec: OptionSpec, value: string, file: string, line: number, key: string): RawValue {
  switch (spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(value)) throw new ConfigError(file, line, `${key}: '${value}' is not a whole number`);
      const n = Number(value);
      if (spec.min !== undefined && n < spec.min) throw new ConfigError(file, line, `${key}: ${n} is below the minimum ${spec.min}`);
      if (spec.max !== undefined && n > spec.max) throw new ConfigError(file, line, `${key}: ${n} is above the maximum ${spec.max}`);
      return n;
    }
    case 'bool': {
      const v = value.toLowerCase();
      if (['true', 'yes', '1', 'on'].includes(v)) return true;
      if (['false', 'no', '0', 'off'].includes(v)) return false;
      throw new ConfigError(file, line, `${key}: '${value}' is not true or false`);
    }
    case 'path':
    case 'string':
      if (value === '') throw new ConfigError(file, line, `${key}: empty value`);
      return value;
  }
}

/**
 * Reads ocserv.conf syntax: `name = value` lines, `#` comments, optional double quotes.
 * Unknown options are warnings (a file written for a newer ocserv must still start);
 * malformed lines and bad values are errors that name file and line.
 */
export function parseConfigText(text: string, file: string, warnings: ConfigWarning[] = []): RawConfig {
  const raw: RawConfig = new Map();
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, idx) => {
    const line = idx + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) throw new ConfigError(file, line, `expected 'option = value', got '${trimmed.slice(0, 80)}'`);
    const key = trimmed.slice(0, eq).trim().toLowerCase();
    const value = unquote(trimmed.slice(eq + 1).trim());
    const spec = OPTIONS[key];
    if (!spec) {
      warnings.push({ file, line, message: `unknown option '${key}' ignored` });
      return;
    }
    if (spec.implemented === false) {
      warnings.push({ file, line, option: key, notYet: true, message: `option '${key}' is accepted but not yet supported by ocserv-ts` });
    }
    const entry = { value: parseValue(spec, value, file, line, key), line };
    const list = raw.get(key);
    if (!list) raw.set(key, [entry]);
    else if (spec.multi) list.push(entry);
    else {
      warnings.push({ file, line, message: `'${key}' given again (first at line ${list[0].line}); the last one wins` });
      list[0] = entry;
    }
  });
  return raw;
}

function first<T extends RawValue>(raw: RawConfig, key: string): { value: T; line: number } | undefined {
  const e = raw.get(key);
  return e ? { value: e[0].value as T, line: e[0].line } : undefined;
}
function all(raw: RawConfig, key: string): RawEntry[] { return raw.get(key) ?? []; }

export function parseAuth(spec: string, file: string, line: number): AuthMethod {
  const m = /^([a-z0-9-]+)(?:\[(.*)\])?$/i.exec(spec.trim());
  if (!m) throw new ConfigError(file, line, `auth: cannot read '${spec}'`);
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
  if (!known.includes(type)) throw new ConfigError(file, line, `auth: unknown method '${type}'`);
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

/** pam[gid-min=N,service=NAME,timeout=SECONDS] (service and timeout are ours; docs/PAM.md) */
function checkPamParams(params: Record<string, string>, file: string, line: number): void {
  for (const k of Object.keys(params)) {
    if (!['gid-min', 'service', 'timeout'].includes(k)) throw new ConfigError(file, line, `auth: pam has no parameter '${k}' (gid-min, service, timeout)`);
  }
  if (params['gid-min'] !== undefined && !/^\d+$/.test(params['gid-min'])) throw new ConfigError(file, line, `auth: pam gid-min must be a number`);
  // the name picks a file in /etc/pam.d
  if (params.service !== undefined && !/^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/.test(params.service)) {
    throw new ConfigError(file, line, `auth: pam service '${params.service}' is not a plain file name`);
  }
  const timeout = params.timeout;
  // a worker waits 10 s for each of sec-mod's answers (src/secmod/auth/pam.ts)
  if (timeout !== undefined && !(/^\d+$/.test(timeout) && +timeout >= 1 && +timeout <= 9)) {
    throw new ConfigError(file, line, `auth: pam timeout must be 1 to 9 seconds`);
  }
}

function parseAcct(e: { value: string; line: number } | undefined, file: string): AuthMethod | undefined {
  if (!e) return undefined;
  const m = parseAuth(String(e.value), file, e.line);
  if (m.type !== 'radius') throw new ConfigError(file, e.line, `acct: only radius accounting is supported, not '${m.type}'`);
  if (!m.params.config) throw new ConfigError(file, e.line, `acct: radius needs [config=/path/to/radiusclient.conf]`);
  return m;
}

/** `select-group = group1[Human name]` */
function parseSelectGroup(v: string): { value: string; label: string } {
  const m = /^([^[]+)\[(.*)\]$/.exec(v.trim());
  return m ? { value: m[1].trim(), label: m[2].trim() } : { value: v.trim(), label: v.trim() };
}

function netmaskToPrefix(mask: string, file: string, line: number, key: string): number {
  let prefix: number | null = null;
  try { prefix = ipaddr.IPv4.parse(mask).prefixLengthFromSubnetMask(); } catch { /* reported below */ }
  if (prefix === null) throw new ConfigError(file, line, `${key}: '${mask}' is not a valid netmask`);
  return prefix;
}

/** Accepts `a.b.c.d/len`, `a.b.c.d/m.a.s.k` and a bare network (then the prefix comes from elsewhere). */
export function parseIPv4Net(value: string, file: string, line: number, key: string): { network: string; prefix?: number } {
  const [addr, mask] = value.split('/');
  if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) throw new ConfigError(file, line, `${key}: '${addr}' is not an IPv4 address`);
  if (mask === undefined) return { network: addr };
  const prefix = /^\d+$/.test(mask) ? Number(mask) : netmaskToPrefix(mask, file, line, key);
  if (prefix > 32) throw new ConfigError(file, line, `${key}: prefix /${prefix} is longer than 32`);
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`).toString();
  return { network, prefix };
}

export function toRoute(network: string, prefix: number): Route {
  return { network, prefix, netmask: ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString() };
}

/**
 * Routes a backend gave one session (RADIUS Framed-Route), as CIDR strings; what is not an
 * IPv4 network is left out (IPv6 routes come with IPv6 tunnels).
 */
export function sessionRoutes(cidrs: string[]): Route[] {
  const out: Route[] = [];
  for (const c of cidrs) {
    try {
      const [addr, prefix] = ipaddr.IPv4.parseCIDR(c);
      out.push(toRoute(ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`).toString(), prefix));
    } catch { /* not IPv4 CIDR */ }
  }
  return out;
}

function parseRoutes(entries: RawEntry[], file: string, key: string): { routes: Route[]; hasDefault: boolean } {
  const routes: Route[] = [];
  let hasDefault = false;
  for (const e of entries) {
    const v = String(e.value);
    if (v === 'default') { hasDefault = true; continue; }
    if (v.includes(':')) continue; // IPv6 routes arrive with IPv6 support
    const net = parseIPv4Net(v, file, e.line, key);
    routes.push(toRoute(net.network, net.prefix ?? 32));
  }
  return { routes, hasDefault };
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

  for (const e of all(raw, 'dns')) {
    if (!ipaddr.isValid(String(e.value))) throw new ConfigError(file, e.line, `dns: '${e.value}' is not an IP address`);
  }
  const routes = parseRoutes(all(raw, 'route'), file, 'route');
  const noRoutes = parseRoutes(all(raw, 'no-route'), file, 'no-route');

  const str = (k: string) => first<string>(raw, k)?.value;
  const num = (k: string, d: number) => first<number>(raw, k)?.value ?? d;
  const bool = (k: string, d: boolean) => first<boolean>(raw, k)?.value ?? d;
  const listen = str('listen-host');
  if (listen !== undefined && !ipaddr.isValid(listen)) {
    throw new ConfigError(file, first<string>(raw, 'listen-host')!.line, `listen-host: '${listen}' is not an IP address (host names are not resolved)`);
  }

  const serverCert = all(raw, 'server-cert').map((e) => String(e.value));
  const serverKey = all(raw, 'server-key').map((e) => String(e.value));
  if (serverCert.length !== serverKey.length) {
    const line = (raw.get('server-key') ?? raw.get('server-cert'))?.[0].line ?? 0;
    throw new ConfigError(file, line, `server-cert and server-key must be given in pairs (${serverCert.length} certificates, ${serverKey.length} keys)`);
  }
  if (serverCert.length === 0) throw new ConfigError(file, 0, `no server-cert / server-key configured`);
  const certProblem = certOptionProblem(raw);
  if (certProblem) throw new ConfigError(file, certProblem.line, certProblem.reason);

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
    denyRoaming: bool('deny-roaming', false),
    persistentCookies: bool('persistent-cookies', false),
    connectScript: str('connect-script'),
    disconnectScript: str('disconnect-script'),
    hostUpdateScript: str('host-update-script'),
    listenHost: listen,
    tcpPort: num('tcp-port', 443),
    udpPort: num('udp-port', 0),
    dtlsPsk: bool('dtls-psk', true),
    dtlsLegacy: bool('dtls-legacy', true),
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
    clientsPerWorker: num('clients-per-worker', 1),
    keepalive: num('keepalive', 32400),
    dpd: num('dpd', 90),
    mobileDpd: num('mobile-dpd', 1800),
    mtu: first<number>(raw, 'mtu')?.value,
    device: str('device') ?? 'vpns',
    predictableIps: bool('predictable-ips', true),
    defaultDomain: str('default-domain'),
    ipv4,
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
    raw,
  };
}

export function loadConfig(file: string, warnings: ConfigWarning[] = []): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, 0, `cannot read: ${(err as Error).message}`);
  }
  const config = buildConfig(parseConfigText(text, file, warnings), file);
  // files other than the config itself: only when loading a real file, not in buildConfig
  const fileProblem = certFileProblem(config.raw);
  if (fileProblem) throw new ConfigError(file, fileProblem.line, fileProblem.reason);
  return config;
}
