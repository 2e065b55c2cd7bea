/**
 * camouflage (ocserv 1.2): to anyone who does not know the secret the server is an ordinary
 * web server. A connection passes once one of its requests asks for a URL ending in
 * `?SECRET` (https://server/?SECRET, what the client is given); the `?SECRET` is then
 * dropped and the request goes on as usual. Until then every request is answered with a
 * plain 401 (Basic authentication for camouflage_realm) or, without a realm, a 404, and the
 * connection is closed: no login XML, no VPN header, no ocserv-ts header.
 *
 * ocserv also lets a request through that merely carries a well-formed webvpn cookie; any
 * prober can forge one, so here only the secret opens the door. CONNECT with a cookie is
 * not a web request and is not gated (a client with a cookie comes back that way), but its
 * refusal reads "405 Method Not Allowed", as ocserv's does, instead of a VPN's 401.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface CamouflageSettings { secret: string; realm?: string }

const HTML_401 = '<html><body><h1>401 Unauthorized</h1></body></html>\r\n';
const HTML_404 = '<html><body><h1>404 Not Found</h1></body></html>\r\n';

/**
 * The request's URL without the `?SECRET` when it opens the door, else undefined.
 * The whole query must be the secret, as in ocserv (`/?SECRET&x` does not pass).
 */
export function camouflageUrl(url: string | undefined, secret: string): string | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  if (q < 0 || url.slice(q + 1) !== secret) return undefined;
  return url.slice(0, q) || '/';
}

/** Answers as a web server that has nothing for this visitor, and closes the connection. */
export function answerCamouflaged(res: ServerResponse, realm: string | undefined): void {
  const body = realm ? HTML_401 : HTML_404;
  const headers: Record<string, string | number> = {
    'Content-Type': 'text/html',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  };
  if (realm) headers['WWW-Authenticate'] = `Basic realm="${realm.replace(/["\\\r\n]/g, '')}"`;
  res.writeHead(realm ? 401 : 404, realm ? 'Unauthorized' : 'Not Found', headers).end(body);
}

/** What a gated connection's CONNECT refusal says instead of the VPN's own status. */
export const CAMOUFLAGED_CONNECT_STATUS = '405 Method Not Allowed';

/**
 * Decides a request on a connection that has not passed yet: true when it may go on (its
 * URL is then rewritten without the secret), false when it was answered here.
 */
export function camouflageGate(req: IncomingMessage, res: ServerResponse, settings: CamouflageSettings): boolean {
  const url = camouflageUrl(req.url, settings.secret);
  if (url === undefined) {
    answerCamouflaged(res, settings.realm);
    return false;
  }
  req.url = url;
  return true;
}
