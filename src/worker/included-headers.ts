/**
 * included-http-headers: header lines the administrator wants in the server's HTTP answers
 * (HSTS, X-Frame-Options and the like). As ocserv 1.1.6: they go into the successful (2xx)
 * answers before the tunnel (the login exchange, the profile); error answers and the CONNECT
 * reply are left as they are.
 */
import type { ServerResponse } from 'node:http';

export function includeHeaders(res: ServerResponse, headers: [string, string][] | undefined): void {
  if (!headers?.length) return;
  const writeHead = res.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  // every answer passes here, also one sent by res.end() alone (Node calls writeHead for it)
  res.writeHead = function (this: ServerResponse, statusCode: number, ...rest: unknown[]): ServerResponse {
    if (statusCode >= 200 && statusCode < 300) {
      for (const [name, value] of headers) if (!this.hasHeader(name)) this.setHeader(name, value);
    }
    return writeHead.call(this, statusCode, ...rest);
  } as ServerResponse['writeHead'];
}
