/**
 * Per-user and per-group settings files (config-per-user, config-per-group,
 * default-user-config, default-group-config), with ocserv's meaning:
 *  - a file holds a subset of ocserv.conf's options, in the same syntax;
 *  - the group's file is read first, then the user's: list options (route, dns, iroute...)
 *    add up, any other option set in the user's file replaces the group's value;
 *  - whatever a file sets overrides the server's configuration for that session; a list
 *    given in a file (routes, no-routes, DNS, NBNS, split-DNS) replaces the server's list;
 *  - what the authentication backend says (RADIUS Framed-IP-Address, Framed-Route, DNS,
 *    timeouts) wins over both.
 * Every value is checked here, when the file is read, so a session is refused with the file
 * and line of the mistake instead of failing later.
 */
import ipaddr from 'ipaddr.js';
import { ConfigError, parseIPv4Net, parseIPv6Net, parseRouteValue, sessionRoutes, unquote, type Config, type Route } from './config';
import { lookupOption } from './config-schema';
import { readConfigSyntax, show } from './config-syntax';
import { parsePortPolicy, type PortPolicy } from './port-policy';
import { parseNetPriority, type NetPriority } from './net-priority';
import type { SessionAttributes } from '../secmod/auth/backend';

/** What one file (or a group's and a user's together) sets; absent = not set there. */
export interface SessionConfig {
  routes?: Route[];
  /** `route = default`: this session's tunnel takes all traffic */
  defaultRoute?: boolean;
  noRoutes?: Route[];
  /** networks behind the client, routed to it by the server */
  iroutes?: Route[];
  dns?: string[];
  nbns?: string[];
  splitDns?: string[];
  explicitIpv4?: string;
  /** ipv4-network (and the prefix it or ipv4-netmask gives): a pool of its own */
  ipv4Network?: string;
  ipv4Prefix?: number;
  /** ipv6-network (and the length it gives): the IPv6 network this session leases from */
  ipv6Network?: string;
  ipv6Prefix?: number;
  explicitIpv6?: string;
  ipv6SubnetPrefix?: number;
  hostname?: string;
  mtu?: number;
  dpd?: number;
  mobileDpd?: number;
  keepalive?: number;
  idleTimeout?: number;
  mobileIdleTimeout?: number;
  sessionTimeout?: number;
  statsReportTime?: number;
  maxSameClients?: number;
  /** bytes per second; 0 = no limit */
  rxDataPerSec?: number;
  txDataPerSec?: number;
  noUdp?: boolean;
  tunnelAllDns?: boolean;
  denyRoaming?: boolean;
  restrictToRoutes?: boolean;
  restrictToPorts?: PortPolicy;
  clientBypassProtocol?: boolean;
  /** net-priority; 'none' (0x0): the sockets are left as they are, whatever the server's setting */
  netPriority?: NetPriority | 'none';
}

export interface SessionConfigWarning { line: number; key: string; message: string }

export interface ParsedSessionConfig {
  config: SessionConfig;
  /** options ocserv-ts reads but does not act on, unknown options: at most one per option */
  warnings: SessionConfigWarning[];
  /** bad lines and values; any one of them refuses the session */
  errors: ConfigError[];
}

type IntKey = 'mtu' | 'dpd' | 'mobileDpd' | 'keepalive' | 'idleTimeout' | 'mobileIdleTimeout' | 'sessionTimeout'
  | 'statsReportTime' | 'maxSameClients' | 'rxDataPerSec' | 'txDataPerSec';
type BoolKey = 'noUdp' | 'tunnelAllDns' | 'denyRoaming' | 'restrictToRoutes' | 'clientBypassProtocol';

const INTS: Record<string, IntKey> = {
  'mtu': 'mtu', 'dpd': 'dpd', 'mobile-dpd': 'mobileDpd', 'keepalive': 'keepalive', 'idle-timeout': 'idleTimeout',
  'mobile-idle-timeout': 'mobileIdleTimeout', 'session-timeout': 'sessionTimeout', 'stats-report-time': 'statsReportTime',
  'max-same-clients': 'maxSameClients', 'rx-data-per-sec': 'rxDataPerSec', 'tx-data-per-sec': 'txDataPerSec',
};
const BOOLS: Record<string, BoolKey> = {
  'no-udp': 'noUdp', 'tunnel-all-dns': 'tunnelAllDns', 'deny-roaming': 'denyRoaming', 'restrict-user-to-routes': 'restrictToRoutes',
  'client-bypass-protocol': 'clientBypassProtocol',
  // how ocserv's own reader spells it
  'tunnel_all_dns': 'tunnelAllDns',
};
const LISTS = ['route', 'no-route', 'iroute', 'dns', 'ipv4-dns', 'ipv6-dns', 'nbns', 'ipv4-nbns', 'ipv6-nbns', 'split-dns'];
const OTHERS = ['explicit-ipv4', 'ipv4-network', 'ipv4-netmask', 'ipv6-network', 'explicit-ipv6', 'ipv6-subnet-prefix', 'hostname', 'restrict-user-to-ports', 'net-priority'];
/** ocserv takes these per user or group; ocserv-ts does not act on them */
const NOT_ACTED: Record<string, string> = {
  'cgroup': 'cgroups are not supported (run the service in a systemd slice instead)',
  'user-profile': 'client profiles are not supported',
};

/** Every option a per-user or per-group file may hold. */
export const SESSION_CONFIG_KEYS: ReadonlySet<string> = new Set([...Object.keys(INTS), ...Object.keys(BOOLS), ...LISTS, ...OTHERS, ...Object.keys(NOT_ACTED)]);

const TRUE = ['true', 'yes', '1', 'on'];
const FALSE = ['false', 'no', '0', 'off'];
const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?$/;
const DOMAIN = /^[A-Za-z0-9_*.-]{1,253}$/;

/** Reads one per-user or per-group file. Never throws: problems are in `errors`. */
export function parseSessionConfig(text: string, file: string): ParsedSessionConfig {
  const config: SessionConfig = {};
  const warnings: SessionConfigWarning[] = [];
  const errors: ConfigError[] = [];
  const warned = new Set<string>();
  const warn = (line: number, key: string, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    warnings.push({ line, key, message });
  };
  const { items, problems } = readConfigSyntax(text, (name) => SESSION_CONFIG_KEYS.has(name));
  for (const p of problems) errors.push(new ConfigError(file, p.line, p.reason));
  let inSection = false;
  for (const item of items) {
    if (item.kind === 'section') {
      inSection = true;
      warn(item.line, `[${item.name}]`, `section ${show(`[${item.name}]`)} skipped: a per-user or per-group file has no sections`);
      continue;
    }
    if (inSection) continue;
    const key = item.name.toLowerCase();
    const value = unquote(item.value);
    try {
      applyOption(config, key, value, { file, line: item.line, warn: (m) => warn(item.line, key, m) });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      errors.push(err);
    }
  }
  errors.sort((a, b) => a.line - b.line);
  return { config, warnings, errors };
}

interface At { file: string; line: number; warn(message: string): void }

function applyOption(sc: SessionConfig, key: string, value: string, at: At): void {
  const bad = (reason: string): never => { throw new ConfigError(at.file, at.line, `${key}: ${reason}`); };
  if (NOT_ACTED[key]) {
    at.warn(`option '${key}' is ignored: ${NOT_ACTED[key]}`);
    return;
  }
  if (!SESSION_CONFIG_KEYS.has(key)) {
    const where = lookupOption(key) ? 'only in the main configuration file' : 'unknown';
    at.warn(`option ${show(key)} skipped: ${where}`);
    return;
  }
  if (value === '') bad('empty value');
  const intKey = INTS[key];
  if (intKey) {
    if (!/^\d+$/.test(value)) bad(`${show(value)} is not a whole number`);
    const n = Number(value);
    const spec = lookupOption(key);
    if (spec?.min !== undefined && n < spec.min) bad(`${n} is below the minimum ${spec.min}`);
    if (spec?.max !== undefined && n > spec.max) bad(`${n} is above the maximum ${spec.max}`);
    sc[intKey] = n;
    return;
  }
  const boolKey = BOOLS[key];
  if (boolKey) {
    const v = value.toLowerCase();
    if (TRUE.includes(v)) sc[boolKey] = true;
    else if (FALSE.includes(v)) sc[boolKey] = false;
    else bad(`${show(value)} is not true or false`);
    return;
  }
  const ip = (what: string): string => {
    if (!ipaddr.isValid(value)) bad(`${show(value)} is not an IP address`);
    return what === 'v4' && !ipaddr.IPv4.isValidFourPartDecimal(value) ? bad(`${show(value)} is not an IPv4 address`) : value;
  };
  const net = (): Route => parseRouteValue(value, at.file, at.line, key);
  const push = <K extends 'routes' | 'noRoutes' | 'iroutes' | 'dns' | 'nbns' | 'splitDns'>(k: K, v: NonNullable<SessionConfig[K]>[number] | undefined) => {
    if (v === undefined) return;
    ((sc[k] ??= []) as unknown[]).push(v);
  };
  switch (key) {
    case 'route':
      if (value.toLowerCase() === 'default') sc.defaultRoute = true;
      else push('routes', net());
      return;
    case 'no-route':
      if (value.toLowerCase() === 'default') bad(`'default' cannot be excluded`);
      push('noRoutes', net());
      return;
    case 'iroute':
      if (value.toLowerCase() === 'default') bad(`a client cannot provide the default route`);
      push('iroutes', net());
      return;
    case 'dns': case 'ipv4-dns': case 'ipv6-dns':
      push('dns', ip('any'));
      return;
    case 'nbns': case 'ipv4-nbns': case 'ipv6-nbns':
      push('nbns', ip('any'));
      return;
    case 'split-dns':
      if (!DOMAIN.test(value)) bad(`${show(value)} is not a domain name`);
      push('splitDns', value);
      return;
    case 'explicit-ipv4':
      sc.explicitIpv4 = ip('v4');
      return;
    case 'ipv4-network': {
      const n = parseIPv4Net(value, at.file, at.line, key);
      sc.ipv4Network = n.network;
      if (n.prefix !== undefined) sc.ipv4Prefix = checkPrefix(n.prefix, bad);
      return;
    }
    case 'ipv4-netmask': {
      let prefix: number | null = null;
      try { prefix = ipaddr.IPv4.parse(value).prefixLengthFromSubnetMask(); } catch { /* below */ }
      if (prefix === null) bad(`${show(value)} is not a valid netmask`);
      sc.ipv4Prefix = checkPrefix(prefix!, bad);
      return;
    }
    case 'ipv6-network': {
      const n = parseIPv6Net(value, at.file, at.line, key);
      sc.ipv6Network = n.network;
      if (n.prefix !== undefined) sc.ipv6Prefix = n.prefix;
      return;
    }
    case 'explicit-ipv6': {
      // as ocserv: an address; the length of the client's network is ipv6-subnet-prefix
      const n = parseIPv6Net(value, at.file, at.line, key);
      if (n.prefix !== undefined) bad(`${show(value)} is not an address (its network length is ipv6-subnet-prefix)`);
      sc.explicitIpv6 = n.network;
      return;
    }
    case 'ipv6-subnet-prefix':
      if (!/^\d+$/.test(value) || +value < 1 || +value > 128) bad(`${show(value)} is not a prefix length from 1 to 128`);
      sc.ipv6SubnetPrefix = +value;
      return;
    case 'hostname':
      if (value.length > 253 || !HOSTNAME.test(value)) bad(`${show(value)} is not a host name`);
      sc.hostname = value;
      return;
    case 'restrict-user-to-ports': {
      const p = parsePortPolicy(value);
      if ('error' in p) bad(p.error);
      else sc.restrictToPorts = p;
      return;
    }
    case 'net-priority': {
      const p = parseNetPriority(value);
      if (p && 'error' in p) bad(p.error);
      else sc.netPriority = p ?? 'none';
      return;
    }
  }
}

function checkPrefix(prefix: number, bad: (reason: string) => never): number {
  if (prefix > 30) bad(`/${prefix} leaves no room for clients`);
  return prefix;
}

/** The group's settings, then the user's: lists add up, anything else the user's file sets wins. */
export function mergeSessionConfig(first: SessionConfig, then: SessionConfig): SessionConfig {
  const out: SessionConfig = { ...first, ...then };
  for (const k of ['routes', 'noRoutes', 'iroutes', 'dns', 'nbns', 'splitDns'] as const) {
    if (first[k] && then[k]) (out as Record<string, unknown>)[k] = [...first[k]!, ...then[k]!];
  }
  if (first.defaultRoute || then.defaultRoute) out.defaultRoute = true;
  // undefined from `then` must not hide `first`'s value
  for (const [k, v] of Object.entries(out)) if (v === undefined) (out as Record<string, unknown>)[k] = (first as Record<string, unknown>)[k];
  return out;
}

/** What one session gets: the server's configuration, the files' and the backend's settings combined. */
export interface EffectiveSession {
  /** empty: the tunnel takes all traffic */
  routes: Route[];
  noRoutes: Route[];
  iroutes: Route[];
  dns: string[];
  nbns: string[];
  splitDns: string[];
  /** the client's address, when given (the backend's, else explicit-ipv4) */
  explicitIpv4?: string;
  /** the pool to lease from when it is not ipv4-network's */
  ipv4Pool?: { network: string; prefix: number };
  /** the IPv6 network to lease from (ipv6-network's or the files'); absent: no IPv6 */
  ipv6Net?: { network: string; prefix: number; subnetPrefix: number };
  /** the client's IPv6 address and the length of its network, when given (the backend's, else explicit-ipv6) */
  explicitIpv6?: { address: string; prefix: number };
  /** upper bound of the tun MTU (mtu), if set */
  mtu?: number;
  dpd: number;
  mobileDpd: number;
  keepalive: number;
  /** seconds, 0 = none; mobile-idle-timeout already applied */
  idleTimeout: number;
  sessionTimeout: number;
  /** seconds between accounting reports, 0 = none */
  statsReportTime: number;
  noUdp: boolean;
  tunnelAllDns: boolean;
  restrictToRoutes: boolean;
  restrictToPorts?: PortPolicy;
  /** X-CSTP-Client-Bypass-Protocol */
  clientBypassProtocol: boolean;
  /** bytes per second, 0 = no limit */
  rxDataPerSec: number;
  txDataPerSec: number;
  /** replaces the host name the client gave */
  hostname?: string;
  /** net-priority of the client's TCP and UDP sockets; absent: left as they are */
  netPriority?: NetPriority;
}

export interface ResolveOptions {
  mobile: boolean;
  /** every user's iroutes, given to the other users as routes (expose-iroutes) */
  exposedIroutes?: Route[];
}

const sameNet = (a: Route, b: Route) => a.network === b.network && a.prefix === b.prefix;

/** Combines the three sources of one session's settings; an error names what cannot work. */
export function resolveSession(c: Config, sc: SessionConfig, attrs: SessionAttributes, o: ResolveOptions): EffectiveSession | { error: string } {
  let routes: Route[];
  if (attrs.routes?.length) routes = sessionRoutes(attrs.routes);
  else if (sc.defaultRoute) routes = [];
  else routes = sc.routes ?? c.routes;
  // append-routes (as ocserv): the server's route and no-route lines follow the session's own
  const own = routes;
  if (c.appendRoutes && own !== c.routes && own.length > 0) routes = [...own, ...c.routes.filter((r) => !own.some((x) => sameNet(x, r)))];
  const ownNo = sc.noRoutes ?? [];
  const noRoutes = c.appendRoutes ? [...ownNo, ...c.noRoutes.filter((r) => !ownNo.some((x) => sameNet(x, r)))] : sc.noRoutes ?? c.noRoutes;
  const iroutes = sc.iroutes ?? [];
  // a tunnel taking all traffic already reaches the other clients' networks
  if (o.exposedIroutes?.length && routes.length > 0) {
    const extra = o.exposedIroutes.filter((r) => !iroutes.some((i) => sameNet(i, r)) && !routes.some((x) => sameNet(x, r)));
    routes = [...routes, ...extra];
  }
  const pool = poolOf(c, sc);
  if ('error' in pool) return pool;
  const v6 = ipv6Of(c, sc, attrs);
  if ('error' in v6) return v6;
  const idle = sc.idleTimeout ?? c.idleTimeout;
  const mobileIdle = sc.mobileIdleTimeout ?? c.mobileIdleTimeout;
  return {
    routes,
    noRoutes,
    iroutes,
    dns: attrs.dns?.length ? attrs.dns : sc.dns ?? c.dns,
    nbns: sc.nbns ?? c.nbns,
    splitDns: sc.splitDns ?? c.splitDns,
    explicitIpv4: attrs.ipv4 ?? sc.explicitIpv4,
    ipv4Pool: pool.pool,
    ipv6Net: v6.net,
    explicitIpv6: v6.explicit,
    mtu: sc.mtu ?? c.mtu,
    dpd: sc.dpd ?? c.dpd,
    mobileDpd: sc.mobileDpd ?? c.mobileDpd,
    keepalive: sc.keepalive ?? c.keepalive,
    idleTimeout: attrs.idleTimeout ?? (o.mobile && mobileIdle ? mobileIdle : idle),
    sessionTimeout: attrs.sessionTimeout ?? sc.sessionTimeout ?? c.sessionTimeout,
    statsReportTime: attrs.interimInterval ?? sc.statsReportTime ?? c.statsReportTime,
    noUdp: sc.noUdp ?? c.noUdp,
    // as ocserv: a client sending everything through the tunnel sends its DNS queries too
    tunnelAllDns: routes.length === 0 ? true : sc.tunnelAllDns ?? c.tunnelAllDns,
    restrictToRoutes: sc.restrictToRoutes ?? c.restrictToRoutes,
    // ocserv 1.1.6 reads it in these files too (and then ignores it); here it applies
    clientBypassProtocol: sc.clientBypassProtocol ?? c.tunnel?.clientBypassProtocol ?? false,
    restrictToPorts: sc.restrictToPorts ?? c.restrictToPorts,
    rxDataPerSec: sc.rxDataPerSec ?? c.rxDataPerSec,
    txDataPerSec: sc.txDataPerSec ?? c.txDataPerSec,
    hostname: sc.hostname,
    netPriority: sc.netPriority === 'none' ? undefined : sc.netPriority ?? c.netPriority,
  };
}

/**
 * The session's IPv6 network, as ocserv: the files' ipv6-network (with its own length, else the
 * server's) or the server's, and ipv6-subnet-prefix from the files, else the server's, else 128.
 * The backend's address (RADIUS Framed-IPv6-Prefix "addr/len", Framed-IPv6-Address "addr/128")
 * wins over explicit-ipv6 and brings its own length.
 */
function ipv6Of(c: Config, sc: SessionConfig, attrs: SessionAttributes):
  { net?: EffectiveSession['ipv6Net']; explicit?: EffectiveSession['explicitIpv6'] } | { error: string } {
  const network = sc.ipv6Network ?? c.ipv6?.network;
  const prefix = sc.ipv6Prefix ?? c.ipv6?.prefix;
  const subnetPrefix = sc.ipv6SubnetPrefix ?? c.ipv6?.subnetPrefix ?? 128;
  let explicit: EffectiveSession['explicitIpv6'];
  const given = attrs.ipv6?.split('/');
  if (given && given[0] && ipaddr.IPv6.isValid(given[0])) explicit = { address: given[0], prefix: given[1] === undefined ? 128 : Number(given[1]) };
  else if (sc.explicitIpv6) explicit = { address: sc.explicitIpv6, prefix: subnetPrefix };
  if (network === undefined) return { explicit };
  if (prefix === undefined) return { error: `ipv6-network ${network} has no prefix length` };
  if (subnetPrefix <= prefix) return { error: `ipv6-subnet-prefix /${subnetPrefix} must be longer than the ipv6-network's /${prefix}` };
  return { net: { network: ipaddr.IPv6.networkAddressFromCIDR(`${network}/${prefix}`).toString(), prefix, subnetPrefix }, explicit };
}

/** A per-user or per-group ipv4-network (or ipv4-netmask): the pool it names, unless it is the server's own. */
function poolOf(c: Config, sc: SessionConfig): { pool?: { network: string; prefix: number } } | { error: string } {
  if (sc.ipv4Network === undefined && sc.ipv4Prefix === undefined) return {};
  const base = sc.ipv4Network ?? c.ipv4?.network;
  const prefix = sc.ipv4Prefix ?? c.ipv4?.prefix;
  if (base === undefined || prefix === undefined) {
    return { error: sc.ipv4Network ? `ipv4-network ${sc.ipv4Network} has no prefix and no ipv4-netmask is set` : 'ipv4-netmask is set but no ipv4-network' };
  }
  const network = ipaddr.IPv4.networkAddressFromCIDR(`${base}/${prefix}`).toString();
  if (c.ipv4 && network === c.ipv4.network && prefix === c.ipv4.prefix) return {};
  return { pool: { network, prefix } };
}
