/**
 * The ocserv.conf options that shape a tunnel once it is up, read with ocserv 1.1.6's meaning:
 * switch-to-tcp-timeout, try-mtu-discovery, rekey-time / rekey-method, listen-host-is-dyndns,
 * proxy-url, client-bypass-protocol, included-http-headers, cisco-client-compat and
 * match-tls-dtls-ciphers. config.ts calls readTunnelOptions() while it builds the Config
 * (so a bad value is a config error with its line), and workers get the result as is.
 */
import type { RawConfig } from '../common/config';
import type { SessionParams } from '../ipc/messages';
import type { ConnectExtras } from './connect-headers';

export type RekeyMethod = 'ssl' | 'new-tunnel';

export interface TunnelOptions {
  /** seconds without UDP from the client after which tunnel traffic goes over CSTP; 0: never */
  switchToTcpTimeout: number;
  /** probe the DTLS path with padded DPD requests and keep larger packets off it */
  tryMtuDiscovery: boolean;
  /** seconds; 0: the client is told not to rekey */
  rekeyTime: number;
  rekeyMethod: RekeyMethod;
  /** listen-host-is-dyndns: the client resolves the server's name again when it reconnects */
  dynDns: boolean;
  /** a proxy auto-configuration URL; %{U} and %{G} are the user's and group's names */
  proxyUrl?: string;
  /** the server-wide value; per-user and per-group files may override it */
  clientBypassProtocol: boolean;
  /** included-http-headers as name and value, added to the HTTP answers before the tunnel */
  httpHeaders: [string, string][];
  /** false (ocserv's default): with certificate authentication, the connection that opens the
   *  tunnel with the cookie must present a valid client certificate too */
  ciscoClientCompat: boolean;
  /** `auth` has a certificate step and cisco-client-compat is false */
  certOnEveryConnection: boolean;
  /** the DTLS (PSK) session must use the TLS session's cipher */
  matchTlsDtlsCiphers: boolean;
}

export interface OptionProblem { line: number; reason: string }

/** ocserv's built-in rekey period when rekey-time is not set (one day) */
export const DEFAULT_REKEY_TIME = 86400;

/** an HTTP header name (RFC 9110 token) */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

type Entry = { value: string | number | boolean; line: number };

/** The tunnel options of a parsed file; `problem` is a conflict or a malformed value. */
export function readTunnelOptions(raw: RawConfig): { options: TunnelOptions; problem?: OptionProblem } {
  const one = (k: string): Entry | undefined => raw.get(k)?.[0];
  const bool = (k: string, dflt: boolean) => (one(k)?.value as boolean | undefined) ?? dflt;
  const num = (k: string, dflt: number) => (one(k)?.value as number | undefined) ?? dflt;
  let problem: OptionProblem | undefined;
  const note = (p: OptionProblem) => { problem ??= p; };

  const httpHeaders: [string, string][] = [];
  for (const e of raw.get('included-http-headers') ?? []) {
    const h = headerOf(String(e.value));
    if (h) httpHeaders.push(h);
    else note({ line: e.line, reason: `included-http-headers: ${JSON.stringify(String(e.value).slice(0, 60))} is not "Name: value"` });
  }

  const ciscoClientCompat = bool('cisco-client-compat', false);
  const matchTlsDtlsCiphers = bool('match-tls-dtls-ciphers', false);
  // as ocserv: cisco-client-compat brings the legacy DTLS with it, and the legacy DTLS keys
  // come from the client (X-DTLS-Master-Secret), so its cipher cannot be made to match
  const dtlsLegacy = bool('dtls-legacy', true) || ciscoClientCompat;
  if (matchTlsDtlsCiphers && dtlsLegacy) {
    note({
      line: one('match-tls-dtls-ciphers')!.line,
      reason: "match-tls-dtls-ciphers cannot apply to the legacy DTLS: set dtls-legacy = false (and cisco-client-compat = false)",
    });
  }
  const certificateAuth = (raw.get('auth') ?? []).some((e) => /^certificate(\[|$)/i.test(String(e.value).trim()));
  const proxyUrl = one('proxy-url')?.value as string | undefined;

  return {
    options: {
      switchToTcpTimeout: num('switch-to-tcp-timeout', 0),
      tryMtuDiscovery: bool('try-mtu-discovery', false),
      rekeyTime: num('rekey-time', DEFAULT_REKEY_TIME),
      rekeyMethod: (one('rekey-method')?.value as RekeyMethod | undefined) ?? 'new-tunnel',
      dynDns: bool('listen-host-is-dyndns', false),
      ...(proxyUrl ? { proxyUrl } : {}),
      clientBypassProtocol: bool('client-bypass-protocol', false),
      httpHeaders,
      ciscoClientCompat,
      certOnEveryConnection: certificateAuth && !ciscoClientCompat,
      matchTlsDtlsCiphers,
    },
    problem,
  };
}

/** "Name: value" (as ocserv writes it: the line as given; quotes around the whole line are dropped). */
export function headerOf(line: string): [string, string] | undefined {
  let s = line.trim();
  if (s.length > 1 && s.startsWith('"') && s.endsWith('"') && !TOKEN.test(s.slice(0, s.indexOf(':')))) s = s.slice(1, -1).trim();
  const colon = s.indexOf(':');
  if (colon <= 0) return undefined;
  const name = s.slice(0, colon).trim();
  const value = s.slice(colon + 1).trim();
  // eslint-disable-next-line no-control-regex
  if (!TOKEN.test(name) || /[\x00-\x08\x0a-\x1f\x7f]/.test(value)) return undefined;
  return [name, value];
}

export interface RekeyOffer {
  /** seconds for X-CSTP-Rekey-Time (X-DTLS-Rekey-Time is 10 more); 0: none */
  time: number;
  method: RekeyMethod | 'none';
}

/**
 * What this connection's client is told about rekeying. As ocserv: the period is spread by up
 * to ±29 s when it is over 30 s, so clients that connected together do not rekey together.
 * "ssl" is offered only on TLS 1.3, where the client's rekey is a KeyUpdate that OpenSSL
 * answers on its own and that leaves the exporter (and so the DTLS PSK) unchanged; on TLS 1.2
 * it would be a renegotiation, which Node's TLS server limits and which would change the
 * keying material the DTLS PSK came from, so such clients open a new tunnel instead (ocserv
 * does the same for clients that cannot renegotiate safely).
 */
export function rekeyOffer(o: Pick<TunnelOptions, 'rekeyTime' | 'rekeyMethod'>, tlsVersion: string | null, random: () => number = Math.random): RekeyOffer {
  if (o.rekeyTime <= 0) return { time: 0, method: 'none' };
  let time = o.rekeyTime;
  if (time > 30) time += Math.trunc((random() * 2 - 1) * 29.999);
  const method = o.rekeyMethod === 'ssl' && tlsVersion === 'TLSv1.3' ? 'ssl' : 'new-tunnel';
  return { time, method };
}

/** %{U} and %{G} replaced, as in custom-header; no line break can come from a name. */
export function withNames(template: string, user: string, group: string): string {
  // eslint-disable-next-line no-control-regex
  return template.replace(/%\{U\}/g, user).replace(/%\{G\}/g, group).replace(/[\x00-\x1f\x7f]+/g, '');
}

/** What the CONNECT reply of this session says about these options. */
export function connectExtras(o: TunnelOptions | undefined, p: Pick<SessionParams, 'username' | 'groupname' | 'clientBypassProtocol'>, tlsVersion: string | null): ConnectExtras {
  const opts = o ?? { rekeyTime: DEFAULT_REKEY_TIME, rekeyMethod: 'new-tunnel' as const };
  return {
    rekey: rekeyOffer(opts, tlsVersion),
    dynDns: o?.dynDns,
    proxyPacUrl: o?.proxyUrl && withNames(o.proxyUrl, p.username, p.groupname),
    clientBypassProtocol: p.clientBypassProtocol ?? o?.clientBypassProtocol,
  };
}
