/**
 * The address:port values of ocserv-ts's own HTTP endpoints (metrics-listen, status-listen).
 * Only IP literals: these endpoints are meant for localhost, and a name that resolves
 * elsewhere after a DNS change must not quietly expose them.
 */
import { isIP } from 'node:net';

export interface ListenAddress { host: string; port: number }

/** "127.0.0.1:9616", "[::1]:9616", or a bare port (then 127.0.0.1); an error text otherwise. */
export function parseListenAddress(value: string): ListenAddress | { error: string } {
  const v = value.trim();
  let host = '127.0.0.1';
  let port: string;
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(v);
  if (v6) [, host, port] = v6 as unknown as [string, string, string];
  else if (/^\d+$/.test(v)) port = v;
  else {
    const i = v.lastIndexOf(':');
    if (i <= 0 || v.indexOf(':') !== i) return { error: `'${value}' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)` };
    host = v.slice(0, i);
    port = v.slice(i + 1);
  }
  if (host === 'localhost') host = '127.0.0.1';
  if (!isIP(host)) return { error: `'${host}' is not an IP address` };
  if (!/^\d+$/.test(port)) return { error: `'${port}' is not a port number` };
  const n = Number(port);
  if (n < 1 || n > 65535) return { error: `port ${n} is not between 1 and 65535` };
  return { host, port: n };
}

/** loopback addresses: anything else shows who is connected to every host that can reach it */
export function isLoopback(host: string): boolean {
  return /^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host);
}
