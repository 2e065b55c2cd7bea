/**
 * radcli's client configuration (`/etc/radcli/radiusclient.conf` and its `servers` file),
 * read the way radcli reads it so an ocserv user's files work unchanged: one
 * `keyword value` per line, `#` comments, unknown keywords and repeated keywords are
 * errors. Everything is checked when the server starts, with file:line in each error.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';

/** A problem in a radcli file; line 0 means the file as a whole (unreadable, something missing). */
export class RadcliConfigError extends Error {
  override name = 'RadcliConfigError';
  constructor(readonly file: string, readonly line: number, readonly reason: string) {
    super(line ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
  }
}

export interface RadiusServerSpec {
  /** host name or IP address as written (an IPv6 address without its brackets) */
  host: string;
  port: number;
  /**
   * inline (`host:port:secret`) or from the servers file by name. Undefined only when the
   * servers file names hosts that must be resolved first: the client matches them by address.
   */
  secret?: string;
  /** where the server was named, for messages */
  line: number;
}

export interface ServersFileEntry {
  host: string;
  secret: string;
  line: number;
}

export interface RadcliConfig {
  file: string;
  authServers: RadiusServerSpec[];
  /** may be empty: accounting is optional */
  acctServers: RadiusServerSpec[];
  serversFile?: string;
  /** the `servers` file entries, for secrets matched by address at request time */
  serverSecrets: ServersFileEntry[];
  /** accepted and not read: the RFC attributes we use are built in, like radcli's */
  dictionary?: string;
  /** appended as `@realm` to user names that carry none */
  defaultRealm?: string;
  /** seconds to wait for each answer */
  timeout: number;
  /** tries per server before moving to the next one */
  retries: number;
  /** seconds a server that did not answer is tried last (0: never) */
  deadtime: number;
  /** source address of our requests; undefined: any */
  bindAddr?: string;
  nasIdentifier?: string;
  /** NAS-IP-Address (or NAS-IPv6-Address) we announce */
  nasIp?: string;
  /** drop Access-* replies without a Message-Authenticator (BlastRADIUS, CVE-2024-3596) */
  requireMessageAuthenticator: boolean;
}

export const DEFAULT_AUTH_PORT = 1812;
export const DEFAULT_ACCT_PORT = 1813;

type Kind = 'str' | 'int' | 'srv' | 'ignored';

/** radcli's keywords (lib/options.h). 'ignored' ones are accepted for compatibility and have no effect here. */
const KEYWORDS: Record<string, Kind> = {
  'authserver': 'srv',
  'acctserver': 'srv',
  'servers': 'str',
  'dictionary': 'str',
  'default_realm': 'str',
  'radius_timeout': 'int',
  'radius_retries': 'int',
  'radius_deadtime': 'int',
  'bindaddr': 'str',
  'nas-identifier': 'str',
  'nas-ip': 'str',
  'serv-type': 'str',
  'serv-auth-type': 'str',
  'namespace': 'str',
  'require-message-authenticator': 'str',
  'clientdebug': 'int',
  'use-public-addr': 'ignored',
  'tls-verify-hostname': 'ignored',
  'tls-ca-file': 'ignored',
  'tls-cert-file': 'ignored',
  'tls-key-file': 'ignored',
  // deprecated in radcli, still accepted by it
  'login_radius': 'ignored',
  'seqfile': 'ignored',
  'mapfile': 'ignored',
  'auth_order': 'ignored',
  'login_tries': 'ignored',
  'login_timeout': 'ignored',
  'nologin': 'ignored',
  'issue': 'ignored',
  'login_local': 'ignored',
};

interface Entry { value: string; line: number }

function readText(file: string, what: string, errFile: string, errLine: number): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new RadcliConfigError(errFile, errLine, `cannot read ${what} ${file}: ${e.code ?? e.message}`);
  }
}

/** `host`, `host:port`, `host:port:secret`, `[v6]`, `[v6]:port`, `[v6]:port:secret` (radcli's forms). */
export function parseServer(spec: string, defaultPort: number, file: string, line: number): RadiusServerSpec {
  let host: string;
  let rest: string | undefined;
  if (spec.startsWith('[')) {
    const close = spec.indexOf(']');
    if (close < 0) throw new RadcliConfigError(file, line, `server '${spec}': '[' without ']'`);
    host = spec.slice(1, close);
    if (!ipaddr.IPv6.isValid(host)) throw new RadcliConfigError(file, line, `server '${spec}': '${host}' is not an IPv6 address`);
    const after = spec.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new RadcliConfigError(file, line, `server '${spec}': expected ':' after ']'`);
    rest = after === '' ? undefined : after.slice(1);
  } else {
    const colon = spec.indexOf(':');
    host = colon < 0 ? spec : spec.slice(0, colon);
    rest = colon < 0 ? undefined : spec.slice(colon + 1);
  }
  if (!host) throw new RadcliConfigError(file, line, `server '${spec}': no host`);
  let port = defaultPort;
  let secret: string | undefined;
  if (rest !== undefined) {
    // the secret is everything after the second colon, colons included
    const colon = rest.indexOf(':');
    const portText = colon < 0 ? rest : rest.slice(0, colon);
    if (colon >= 0) secret = rest.slice(colon + 1);
    if (portText !== '') {
      if (!/^\d+$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
        throw new RadcliConfigError(file, line, `server '${host}': port '${portText}' is not a number from 1 to 65535`);
      }
      port = Number(portText);
    }
    if (secret === '') throw new RadcliConfigError(file, line, `server '${host}': empty secret after the port`);
  }
  return { host, port, secret, line };
}

/** The `servers` file: `hostname secret` per line (radcli also allows `name1/name2`; the first name counts). */
export function parseServersFile(text: string): ServersFileEntry[] {
  const out: ServersFileEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.startsWith('#')) return;
    const [name, secret] = raw.trim().split(/[ \t]+/);
    if (!name || !secret) return;
    out.push({ host: name.split('/')[0]!, secret, line: i + 1 });
  });
  return out;
}

function sameHost(a: string, b: string): boolean {
  if (a.toLowerCase() === b.toLowerCase()) return true;
  if (ipaddr.isValid(a) && ipaddr.isValid(b)) return ipaddr.process(a).toString() === ipaddr.process(b).toString();
  return false;
}

/** The servers-file secret for a host named exactly so (or the same IP written differently). */
export function secretByName(entries: ServersFileEntry[], host: string): string | undefined {
  return entries.find((e) => sameHost(e.host, host))?.secret;
}

function positiveInt(e: Entry, key: string, file: string, allowZero: boolean): number {
  if (!/^\d+$/.test(e.value)) throw new RadcliConfigError(file, e.line, `${key}: '${e.value}' is not a whole number`);
  const n = Number(e.value);
  if (n === 0 && !allowZero) throw new RadcliConfigError(file, e.line, `${key}: must be greater than 0`);
  return n;
}

function yesNo(e: Entry, key: string, file: string): boolean {
  const v = e.value.toLowerCase();
  if (['yes', 'true', 'on', '1'].includes(v)) return true;
  if (['no', 'false', 'off', '0'].includes(v)) return false;
  throw new RadcliConfigError(file, e.line, `${key}: '${e.value}' is not yes or no`);
}

/** Parses radiusclient.conf text; `readServers` supplies the servers file (a parameter so tests need no files). */
export function parseRadcliConfig(text: string, file: string, readServers: (path: string, line: number) => string = (p, l) => readText(p, 'servers file', file, l)): RadcliConfig {
  const seen = new Map<string, Entry>();
  text.split('\n').forEach((raw, i) => {
    const line = i + 1;
    const l = raw.replace(/\r$/, '').trim();
    if (l === '' || l.startsWith('#')) return;
    const m = /^(\S+)(?:[ \t]+(.*))?$/.exec(l)!;
    const key = m[1]!;
    const value = (m[2] ?? '').trim();
    if (!(key in KEYWORDS)) throw new RadcliConfigError(file, line, `unrecognized keyword '${key}'`);
    const prev = seen.get(key);
    if (prev) throw new RadcliConfigError(file, line, `duplicate option '${key}' (first at line ${prev.line}); list several servers on one line, comma-separated`);
    if (KEYWORDS[key] !== 'str' && KEYWORDS[key] !== 'ignored' && value === '') throw new RadcliConfigError(file, line, `${key}: no value`);
    seen.set(key, { value, line });
  });
  const get = (k: string) => seen.get(k);

  const servers = (key: string, port: number): RadiusServerSpec[] => {
    const e = get(key);
    if (!e) return [];
    return e.value.split(/[,\s]+/).filter(Boolean).map((s) => parseServer(s, port, file, e.line));
  };
  const authServers = servers('authserver', DEFAULT_AUTH_PORT);
  const acctServers = servers('acctserver', DEFAULT_ACCT_PORT);
  if (authServers.length === 0) throw new RadcliConfigError(file, 0, 'no authserver specified');

  const transport = get('serv-type') ?? get('serv-auth-type');
  if (transport && transport.value.toLowerCase() !== 'udp') {
    throw new RadcliConfigError(file, transport.line, `serv-type '${transport.value}': ocserv-ts speaks RADIUS over UDP only`);
  }
  const ns = get('namespace');
  if (ns && ns.value) throw new RadcliConfigError(file, ns.line, `namespace: not supported by ocserv-ts (run the server in that namespace instead)`);

  const bind = get('bindaddr');
  let bindAddr: string | undefined;
  if (bind && bind.value !== '' && bind.value !== '*') {
    if (!ipaddr.isValid(bind.value)) throw new RadcliConfigError(file, bind.line, `bindaddr: '${bind.value}' is not an IP address or '*'`);
    bindAddr = bind.value;
  }
  const nasIpEntry = get('nas-ip');
  if (nasIpEntry && nasIpEntry.value !== '' && !ipaddr.isValid(nasIpEntry.value)) {
    throw new RadcliConfigError(file, nasIpEntry.line, `nas-ip: '${nasIpEntry.value}' is not an IP address`);
  }

  const timeoutE = get('radius_timeout');
  const retriesE = get('radius_retries');
  const deadE = get('radius_deadtime');
  if (get('clientdebug')) positiveInt(get('clientdebug')!, 'clientdebug', file, true);
  const requireMA = get('require-message-authenticator');

  // secrets: inline, else the servers file by name; hosts named differently there wait for DNS
  const serversE = get('servers');
  let serverSecrets: ServersFileEntry[] = [];
  let serversFile: string | undefined;
  const needFile = [...authServers, ...acctServers].some((s) => s.secret === undefined);
  if (needFile) {
    if (!serversE || serversE.value === '') {
      const s = [...authServers, ...acctServers].find((x) => x.secret === undefined)!;
      throw new RadcliConfigError(file, s.line, `server '${s.host}' has no secret: give it as host:port:secret or name a 'servers' file`);
    }
    // radcli opens it relative to the working directory; relative to this file is what people mean
    serversFile = resolve(dirname(file), serversE.value);
    serverSecrets = parseServersFile(readServers(serversFile, serversE.line));
    for (const s of [...authServers, ...acctServers]) {
      if (s.secret !== undefined) continue;
      s.secret = secretByName(serverSecrets, s.host);
      if (s.secret !== undefined) continue;
      const couldResolve = !ipaddr.isValid(s.host) || serverSecrets.some((e) => !ipaddr.isValid(e.host));
      if (!couldResolve) {
        throw new RadcliConfigError(file, s.line, `server '${s.host}' has no secret: not inline and not in ${serversFile}`);
      }
    }
  } else if (serversE && serversE.value !== '') {
    serversFile = resolve(dirname(file), serversE.value);
  }

  return {
    file,
    authServers,
    acctServers,
    serversFile,
    serverSecrets,
    dictionary: get('dictionary')?.value || undefined,
    defaultRealm: get('default_realm')?.value || undefined,
    // radcli's documented defaults
    timeout: timeoutE ? positiveInt(timeoutE, 'radius_timeout', file, false) : 3,
    retries: retriesE ? positiveInt(retriesE, 'radius_retries', file, false) : 3,
    deadtime: deadE ? positiveInt(deadE, 'radius_deadtime', file, true) : 0,
    bindAddr,
    nasIdentifier: get('nas-identifier')?.value || undefined,
    nasIp: nasIpEntry?.value || undefined,
    // Off unless asked for, as in the radcli Debian 12 ships (1.2.11): FreeRADIUS before 3.2.5
    // (Debian 12 has 3.2.1) sends none in Access-Accept/Reject. Verified whenever present.
    requireMessageAuthenticator: requireMA ? yesNo(requireMA, 'require-message-authenticator', file) : false,
  };
}

export function readRadcliConfig(file: string): RadcliConfig {
  return parseRadcliConfig(readText(file, 'radius config', file, 0), file);
}

/** ocserv's `radius[...]` options: config=, groupconfig=, nas-identifier=, and the legacy `radius[/path,groupconfig]`. */
export function radiusMethodParams(inner: string | undefined, params: Record<string, string>): { params: Record<string, string> } | { error: string } {
  let out: Record<string, string> = { ...params };
  const body = (inner ?? '').trim();
  if (body.startsWith('/') || body.startsWith('.')) {
    const [config, extra, ...more] = body.split(',').map((s) => s.trim());
    if (more.length || (extra !== undefined && extra.toLowerCase() !== 'groupconfig')) return { error: `unknown option in '${body}'` };
    out = { config: config! };
    if (extra !== undefined) out.groupconfig = 'true';
  }
  for (const k of Object.keys(out)) {
    if (!['config', 'groupconfig', 'nas-identifier'].includes(k)) return { error: `unknown option '${k}' (known: config, groupconfig, nas-identifier)` };
  }
  if (!out.config) return { error: 'no radcli configuration given: radius[config=/etc/radcli/radiusclient.conf]' };
  if (out.groupconfig !== undefined) {
    const v = out.groupconfig.toLowerCase();
    if (['true', 'yes', '1', 'on', ''].includes(v)) out.groupconfig = 'true';
    else if (['false', 'no', '0', 'off'].includes(v)) out.groupconfig = 'false';
    else return { error: `groupconfig: '${out.groupconfig}' is not true or false` };
  }
  return { params: out };
}
