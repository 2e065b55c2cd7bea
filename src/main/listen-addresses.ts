/**
 * listen-host and udp-listen-host may name a host: as ocserv does (getaddrinfo with
 * AI_PASSIVE | AI_ADDRCONFIG), the name is resolved once at start and every address it has
 * is listened on.
 */
import { ADDRCONFIG, lookup } from 'node:dns';
import { isIP } from 'node:net';

export class ListenHostError extends Error { override name = 'ListenHostError'; }

/** undefined: no host given, listen on all addresses (the caller's default) */
export async function listenAddresses(host: string | undefined, option: string): Promise<string[] | undefined> {
  if (host === undefined) return undefined;
  if (isIP(host)) return [host];
  let found: { address: string; family: number }[];
  try {
    found = await new Promise((resolve, reject) => {
      lookup(host, { all: true, hints: ADDRCONFIG }, (err, addrs) => (err ? reject(err) : resolve(addrs)));
    });
  } catch (err) {
    throw new ListenHostError(`${option}: cannot resolve ${host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const addrs = [...new Set(found.filter((a) => a.family === 4 || a.family === 6).map((a) => a.address))];
  if (!addrs.length) throw new ListenHostError(`${option}: ${host} has no IPv4 or IPv6 address`);
  return addrs;
}
