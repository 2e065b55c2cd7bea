/**
 * net-priority, with ocserv's meaning: a decimal number 0 to 6 is the socket priority
 * (SO_PRIORITY) of the client's TCP and UDP sockets; a hexadecimal one (0x..) is the IP
 * type of service (IP_TOS, and the traffic class of IPv6 sockets). 0x0 (TOS 0) leaves the
 * sockets as they are, as in ocserv. Set globally, per user or per group.
 */
export type NetPriority = { priority: number } | { tos: number };

/** The value, undefined for 0x0 (nothing to set), or why it cannot be read. */
export function parseNetPriority(value: string): NetPriority | undefined | { error: string } {
  const v = value.trim();
  if (/^0x[0-9a-f]{1,2}$/i.test(v)) {
    const tos = parseInt(v.slice(2), 16);
    return tos === 0 ? undefined : { tos };
  }
  // ocserv acts on 0 to 6 only (higher priorities need CAP_NET_ADMIN, which workers lack)
  if (/^[0-6]$/.test(v)) return { priority: Number(v) };
  return { error: `'${value}' is neither a priority from 0 to 6 nor a type of service from 0x00 to 0xff` };
}
