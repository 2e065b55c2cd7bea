/**
 * The HTTP side of a hand-made AnyConnect client, for the misbehaving clients run as scripts
 * in a test's client namespace (raw-client.ts, compressed-client.ts): a TLS connection that
 * trusts anything, one request and its whole answer, and a plain-password login.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export function tls(host: string, port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, rejectUnauthorized: false }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Sends `text` and resolves with the answer's head and body (by Content-Length). */
export function request(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length >= end + 4 + len) { s.off('data', onData); resolve(buf); }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(text);
  });
}

export const post = (host: string, path: string, body: string, cookie = '') =>
  `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n${body}`;

/** The config-auth exchange of a plain login; resolves with the webvpn cookie. */
export async function login(s: TLSSocket, host: string, user: string, password: string): Promise<string> {
  const r1 = await request(s, post(host, '/', '<config-auth client="vpn" type="init"><version who="vpn">raw</version></config-auth>'));
  const ctx = /webvpncontext=([^;]+)/.exec(r1)?.[1] ?? '';
  const body = `<config-auth client="vpn" type="auth-reply"><auth><username>${user}</username><password>${password}</password></auth></config-auth>`;
  const r2 = await request(s, post(host, '/auth', body, `webvpncontext=${ctx}`));
  const cookie = /webvpn=([^;]+)/.exec(r2)?.[1];
  if (!cookie) throw new Error(`login failed: ${r2.slice(0, 200)}`);
  return cookie;
}
