/**
 * `restrict-user-to-ports`: ocserv's syntax is a comma-separated list of `proto(port)` items,
 * e.g. "tcp(443), udp(53), icmp()": the client may use only these. Written as "!(...)" the list
 * names what the client may not use instead. tcp, udp and sctp take a destination port;
 * icmp, icmpv6 and esp take none (they match the whole protocol).
 */

export type PortProto = 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'esp';

export interface PortRule { proto: PortProto; port?: number }

/** deny: the rules name what is refused (the "!(...)" form); otherwise only they are allowed */
export interface PortPolicy { deny: boolean; rules: PortRule[] }

const WITH_PORT = new Set<PortProto>(['tcp', 'udp', 'sctp']);
const ITEM = /^(tcp|udp|sctp|icmpv6|icmp|esp)\s*\(\s*([^)]*?)\s*\)$/i;

export function parsePortPolicy(text: string): PortPolicy | { error: string } {
  let body = text.trim();
  let deny = false;
  if (body.startsWith('!')) {
    deny = true;
    body = body.slice(1).trim();
    if (!body.startsWith('(') || !body.endsWith(')')) return { error: 'a negated list must be written !(proto(port), ...)' };
    body = body.slice(1, -1);
  }
  const rules: PortRule[] = [];
  for (const raw of body.split(',')) {
    const item = raw.trim();
    const m = ITEM.exec(item);
    if (!m) return { error: `cannot read '${item.slice(0, 40)}' (expected tcp(PORT), udp(PORT), sctp(PORT), icmp(), icmpv6() or esp())` };
    const proto = m[1].toLowerCase() as PortProto;
    const port = m[2];
    if (WITH_PORT.has(proto)) {
      if (!/^\d+$/.test(port) || +port < 1 || +port > 65535) return { error: `${proto} needs a port from 1 to 65535, not '${port}'` };
      rules.push({ proto, port: +port });
    } else {
      if (port !== '') return { error: `${proto}() matches the whole protocol and takes no port` };
      rules.push({ proto });
    }
  }
  return { deny, rules };
}

/** Each rule as occtl prints it: `tcp(443)`, `icmp()`, `!udp(53)`. */
export function portPolicyText(p: PortPolicy | undefined): string[] {
  if (!p) return [];
  return p.rules.map((r) => `${p.deny ? '!' : ''}${r.proto}(${r.port ?? ''})`);
}
