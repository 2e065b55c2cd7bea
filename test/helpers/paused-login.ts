/**
 * A login in two halves, for security tests (run in the client namespace):
 *   node paused-login.js <host> <port> <user> <password>
 * Starts a login and prints `AUTHID <id>`; waits for a line on stdin; then answers the form
 * with that id on a new connection and prints `RESULT {json}` ({ cookie } or { status }).
 */
import { connect } from 'node:tls';
import { createInterface } from 'node:readline';

const [, , host, port, user, password] = process.argv;

function exchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host, port: Number(port), rejectUnauthorized: false }, () => s.write(text));
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length >= end + 4 + len) { s.destroy(); resolve(buf); }
    });
    s.on('error', reject);
    s.on('close', () => resolve(buf));
  });
}

const post = (path: string, body: string, cookie = '') =>
  `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${cookie ? `Cookie: ${cookie}\r\n` : ''}\r\n${body}`;

(async () => {
  let first = await exchange(post('/', '<config-auth client="vpn" type="init"><version who="vpn">paused</version></config-auth>'));
  // a worker may serve the first form itself, before any login exists (src/worker/first-form.ts):
  // a reply with no answers in it then begins one, and its form carries the login id
  if (!/webvpncontext=[^;\s]/.test(first)) first = await exchange(post('/auth', '<config-auth client="vpn" type="auth-reply"><auth></auth></config-auth>'));
  const authId = /webvpncontext=([^;\s]+)/.exec(first)?.[1];
  if (!authId) throw new Error(`no login id: ${first.slice(0, 300)}`);
  process.stdout.write(`AUTHID ${authId}\n`);
  await new Promise<void>((r) => createInterface({ input: process.stdin }).once('line', () => r()));
  const body = `<config-auth client="vpn" type="auth-reply"><auth><username>${user}</username><password>${password}</password></auth></config-auth>`;
  const second = await exchange(post('/auth', body, `webvpncontext=${authId}`));
  const cookie = /webvpn=([^;\s]+)/.exec(second)?.[1];
  process.stdout.write(`RESULT ${JSON.stringify(cookie ? { cookie } : { status: second.split('\r\n')[0] })}\n`);
  process.exit(0);
})().catch((err: Error) => {
  process.stdout.write(`RESULT ${JSON.stringify({ error: err.message })}\n`);
  process.exit(1);
});
