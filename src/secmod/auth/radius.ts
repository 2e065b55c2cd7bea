/**
 * `auth = "radius[config=/etc/radcli/radiusclient.conf,groupconfig=true,nas-identifier=X]"`:
 * the user name and password go to a RADIUS server as PAP (Access-Request); an
 * Access-Challenge becomes one more form (OTP and the like), an Access-Accept carries the
 * session's address, routes, DNS, timeouts and Class, as ocserv reads them.
 */
import { hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { Logger } from '../../common/log';
import { ATTR, PORT_TYPE_VIRTUAL, PROTOCOL_PPP, SERVICE_FRAMED, RadiusClient, RadiusUnreachableError, type Attribute, type RadiusReply } from '../radius/client';
import { readRadcliConfig, type RadcliConfig } from '../radius/radcli-config';
import { passwordPrompts, type AuthBackend, type Conversation, type Identity, type LoginRequest, type SessionAttributes, type Step } from './backend';

const MICROSOFT = 311;
const MS_PRIMARY_DNS = 28;
const MS_SECONDARY_DNS = 29;
/** ocserv's limit on challenge rounds in one login */
const MAX_CHALLENGES = 16;
/** RFC 2865 5.2: User-Password carries at most 128 octets */
const MAX_PASSWORD = 128;

export class RadiusBackend implements AuthBackend {
  readonly type = 'radius';
  readonly sameFirstForm = true;
  private readonly cfg?: RadcliConfig;
  private readonly client?: RadiusClient;
  /** why logins cannot work (the radcli file went bad after the start-up check) */
  private readonly broken?: string;
  private readonly groupconfig: boolean;
  private readonly nasIdentifier: string;

  constructor(params: Record<string, string>, private readonly log: Logger) {
    this.groupconfig = params.groupconfig === 'true';
    try {
      this.cfg = readRadcliConfig(params.config!);
      this.client = new RadiusClient(this.cfg, log);
    } catch (err) {
      this.broken = (err as Error).message;
      log.error({ err: this.broken }, 'radius: cannot use the radcli configuration; RADIUS logins will fail');
    }
    // radcli's own nas-identifier overrides the application's, as in radcli
    this.nasIdentifier = this.cfg?.nasIdentifier ?? params['nas-identifier'] ?? hostname();
  }

  close(): void {
    this.client?.close();
  }

  begin(req: LoginRequest, prior: Identity | undefined): Conversation {
    const knownUser = prior?.username ?? req.username;
    let username: string | undefined = knownUser;
    /** the State of the last Access-Challenge, echoed with the answer */
    let state: Buffer | undefined;
    let challenges = 0;
    let cancelled = false;

    const ask = async (answers: Record<string, string>): Promise<Step> => {
      if (!this.cfg || !this.client) return { kind: 'fail', reason: `radius: ${this.broken}` };
      if (!state) username = (knownUser ?? answers.username ?? '').trim();
      if (!username) return { kind: 'fail', reason: 'empty username', retry: true };
      const password = answers.password ?? '';
      if (Buffer.byteLength(password) > MAX_PASSWORD) return { kind: 'fail', reason: 'password longer than RADIUS carries (128 bytes)', retry: true, user: username };
      const attrs = this.accessRequest(req, username, password, state);
      state = undefined;
      let reply: RadiusReply;
      try {
        reply = await this.client.request('Access-Request', attrs, 'auth');
      } catch (err) {
        if (err instanceof RadiusUnreachableError) {
          return { kind: 'fail', reason: err.message, message: 'The authentication server did not answer; please try again later.', user: username };
        }
        // a user name or answer the protocol cannot carry (e.g. over 253 bytes)
        return { kind: 'fail', reason: `radius: cannot build the request: ${(err as Error).message}`, retry: true, user: username };
      }
      if (cancelled) return { kind: 'fail', reason: 'login abandoned', user: username };
      const message = reply.all(ATTR.REPLY_MESSAGE).map((b) => b.toString('utf8')).join('\n') || undefined;
      switch (reply.code) {
        case 'Access-Accept':
          return this.accepted(reply, username);
        case 'Access-Reject':
          return { kind: 'fail', reason: `Access-Reject from ${reply.server}${message ? `: ${message}` : ''}`, message, retry: true, user: username };
        default: {
          // Access-Challenge
          const s = reply.first(ATTR.STATE);
          if (!s || s.length === 0) return { kind: 'fail', reason: `Access-Challenge from ${reply.server} without State`, user: username };
          if (++challenges > MAX_CHALLENGES) return { kind: 'fail', reason: `more than ${MAX_CHALLENGES} Access-Challenge rounds`, user: username };
          state = s;
          return {
            kind: 'ask',
            message: message ?? 'Please enter the response to the challenge.',
            prompts: [{ name: 'password', label: 'Response:', type: 'password' }],
          };
        }
      }
    };

    return {
      start: async (): Promise<Step> => ({ kind: 'ask', message: 'Please enter your username and password.', prompts: passwordPrompts(knownUser) }),
      answer: ask,
      cancel: () => {
        cancelled = true;
      },
    };
  }

  private accessRequest(req: LoginRequest, username: string, password: string, state: Buffer | undefined): Attribute[] {
    const cfg = this.cfg!;
    const realm = cfg.defaultRealm && !username.includes('@') ? `@${cfg.defaultRealm}` : '';
    const attrs: Attribute[] = [
      ['User-Name', username + realm],
      // the package hides it with the secret and the request authenticator (RFC 2865 5.2);
      // an empty one would encode as nothing, so it goes as one NUL padded to 16 octets
      ['User-Password', password === '' ? '\0' : password],
      ['NAS-Identifier', this.nasIdentifier],
    ];
    if (cfg.nasIp) {
      const ip = ipaddr.parse(cfg.nasIp);
      if (ip.kind() === 'ipv4') attrs.push(['NAS-IP-Address', cfg.nasIp]);
      else attrs.push([ATTR.NAS_IPV6_ADDRESS, Buffer.from(ip.toByteArray())]);
    }
    attrs.push(
      ['Calling-Station-Id', req.remoteAddr],
      // the address the client reached is not known to sec-mod: name the NAS instead
      ['Called-Station-Id', cfg.nasIp ?? this.nasIdentifier],
      ['Service-Type', SERVICE_FRAMED],
      ['Framed-Protocol', PROTOCOL_PPP],
      ['NAS-Port-Type', PORT_TYPE_VIRTUAL],
    );
    if (req.userAgent) attrs.push(['Connect-Info', Buffer.from(req.userAgent).subarray(0, 253)]);
    if (state) attrs.push(['State', state]);
    return attrs;
  }

  private accepted(reply: RadiusReply, username: string): Step {
    const service = intOf(reply.first(ATTR.SERVICE_TYPE));
    if (service !== undefined && service !== SERVICE_FRAMED) {
      // ocserv refuses these too: the server means some other kind of access
      return { kind: 'fail', reason: `Access-Accept from ${reply.server} with Service-Type ${service}, not Framed-User`, user: username };
    }
    const attrs = sessionAttributes(reply, (what) => this.log.warn({ server: reply.server, user: username }, `radius: ignored ${what}`));
    const groups = this.groupconfig ? groupsFromClass(reply.all(ATTR.CLASS)) : [];
    return { kind: 'ok', username, groups, attrs };
  }
}

function intOf(b: Buffer | undefined): number | undefined {
  return b && b.length === 4 ? b.readUInt32BE(0) : undefined;
}

function ipv4Of(b: Buffer): string | undefined {
  return b.length === 4 ? [...b].join('.') : undefined;
}

function ipv6Of(b: Buffer): string | undefined {
  return b.length === 16 ? ipaddr.fromByteArray([...b]).toString() : undefined;
}

/** Framed-IPv6-Prefix / Delegated-IPv6-Prefix: reserved octet, prefix length, the prefix's significant octets (RFC 3162 2.3). */
function ipv6PrefixOf(b: Buffer): string | undefined {
  if (b.length < 2 || b.length > 18) return undefined;
  const len = b[1]!;
  if (len > 128 || b.length - 2 < Math.ceil(len / 8)) return undefined;
  const bytes = Buffer.alloc(16);
  b.copy(bytes, 0, 2);
  const net = ipaddr.IPv6.networkAddressFromCIDR(`${ipaddr.fromByteArray([...bytes]).toString()}/${len}`);
  return `${net.toString()}/${len}`;
}

/** Framed-Route "net/len [gateway [metric]]" and Framed-IPv6-Route "prefix/len [gateway [metric]]": the network as CIDR. */
export function routeOf(text: string): string | undefined {
  const net = text.trim().split(/\s+/)[0] ?? '';
  try {
    const [addr, len] = ipaddr.parseCIDR(net);
    const network = addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(net) : ipaddr.IPv6.networkAddressFromCIDR(net);
    return `${network.toString()}/${len}`;
  } catch {
    return undefined;
  }
}

/** The session settings an Access-Accept carries, with the attributes ocserv honours. */
export function sessionAttributes(reply: RadiusReply, ignored: (what: string) => void = () => {}): SessionAttributes {
  const out: SessionAttributes = {};
  const fip = reply.first(ATTR.FRAMED_IP_ADDRESS);
  if (fip) {
    const ip = ipv4Of(fip);
    // 255.255.255.254: "assign from the NAS's pool", 255.255.255.255: "let the user choose" (RFC 2865 5.8); both mean our pool
    if (ip === undefined) ignored(`Framed-IP-Address of ${fip.length} bytes`);
    else if (ip !== '255.255.255.255' && ip !== '255.255.255.254') out.ipv4 = ip;
  }
  const v6addr = reply.first(ATTR.FRAMED_IPV6_ADDRESS);
  const v6prefix = reply.first(ATTR.FRAMED_IPV6_PREFIX) ?? reply.first(ATTR.DELEGATED_IPV6_PREFIX);
  if (v6addr && ipv6Of(v6addr)) out.ipv6 = `${ipv6Of(v6addr)}/128`;
  else if (v6prefix) {
    const p = ipv6PrefixOf(v6prefix);
    if (p) out.ipv6 = p;
    else ignored('malformed Framed-IPv6-Prefix');
  }

  const routes: string[] = [];
  for (const type of [ATTR.FRAMED_ROUTE, ATTR.FRAMED_IPV6_ROUTE]) {
    for (const b of reply.all(type)) {
      const r = routeOf(b.toString('utf8'));
      if (r) routes.push(r);
      else ignored(`route '${b.toString('utf8').slice(0, 80)}' (expected net/len [gateway [metric]])`);
    }
  }
  if (routes.length) out.routes = routes;

  const dns: string[] = [];
  for (const b of [...reply.vendor(MICROSOFT, MS_PRIMARY_DNS), ...reply.vendor(MICROSOFT, MS_SECONDARY_DNS)]) {
    const ip = ipv4Of(b);
    if (ip) dns.push(ip);
  }
  for (const b of reply.all(ATTR.DNS_SERVER_IPV6_ADDRESS)) {
    const ip = ipv6Of(b);
    if (ip) dns.push(ip);
  }
  if (dns.length) out.dns = dns;

  const session = intOf(reply.first(ATTR.SESSION_TIMEOUT));
  if (session !== undefined) out.sessionTimeout = session;
  const idle = intOf(reply.first(ATTR.IDLE_TIMEOUT));
  if (idle !== undefined) out.idleTimeout = idle;
  const interim = intOf(reply.first(ATTR.ACCT_INTERIM_INTERVAL));
  if (interim !== undefined) out.interimInterval = interim;

  const classes = reply.all(ATTR.CLASS);
  if (classes.length) out.radiusClass = classes.map((c) => c.toString('base64'));
  return out;
}

/**
 * Groups from the first Class that names some: "OU=g1;g2;g3" (ocserv's form) or
 * "OU=g1;OU=g2;" (each piece with its own prefix). A Class without "OU=" is one group
 * name, as in ocserv, when it is printable text (opaque server state is not a group).
 */
export function groupsFromClass(classes: Buffer[]): string[] {
  for (const c of classes) {
    const text = c.toString('utf8');
    if (text.includes('\uFFFD') || /[\x00-\x1f\x7f]/.test(text)) continue;
    let groups: string[];
    if (/^OU=/i.test(text)) groups = text.slice(3).split(';').map((g) => g.trim().replace(/^OU=/i, '').trim()).filter(Boolean);
    else groups = text.trim() ? [text.trim()] : [];
    if (groups.length) return groups;
  }
  return [];
}
