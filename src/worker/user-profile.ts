/**
 * user-profile: an AnyConnect profile (XML, e.g. a list of servers). As in ocserv, the
 * login's success answer announces it in a vpn-profile-manifest (its URI and SHA-1) and the
 * client fetches it with its new cookie; main reads the file, workers only hold its text.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeXml } from './auth-xml';

export interface UserProfile { name: string; xml: string; sha1: string }

const PREFIX = '/profiles/';

/** where the client fetches it: ocserv puts the configured name after /profiles/ */
export function profileUri(p: UserProfile): string {
  return PREFIX + encodeURIComponent(p.name);
}

/** the <config> element that follows </auth> in the success answer */
export function profileManifestXml(p: UserProfile): string {
  return '<config client="vpn" type="private"><vpn-profile-manifest><vpn rev="1.0">'
    + '<file type="profile" service-type="user">'
    + `<uri>${escapeXml(profileUri(p))}</uri><hash type="sha1">${p.sha1}</hash>`
    + '</file></vpn></vpn-profile-manifest></config>\n';
}

export function isProfileRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url === '/profiles' || req.url?.startsWith(PREFIX) === true);
}

/**
 * Serves the profile to a client holding the cookie this connection's login gave it (the
 * client fetches it right after logging in, on the same connection). Any other request is
 * a 404: the profile may name internal servers, and a worker cannot check another
 * connection's cookie. `loginCookie`: the cookie issued on this connection, if any;
 * `presented`: the request's webvpn cookie.
 */
export function serveProfile(res: ServerResponse, profile: UserProfile | undefined, loginCookie: string | undefined, presented: string | undefined): 'served' | 'refused' {
  if (!profile || !loginCookie || presented !== loginCookie) {
    res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 10 }).end('Not found\n');
    return 'refused';
  }
  const body = Buffer.from(profile.xml, 'utf8');
  res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': body.length, 'X-Transcend-Version': '1' }).end(body);
  return 'served';
}
