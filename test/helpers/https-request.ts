/**
 * One HTTPS request on a fresh connection, as a browser or scanner would send it:
 *   node https-request.js <method> <url> [cookie] [body]
 * Prints one JSON line: { status, statusText, headers, body } or { error }.
 */
import { request } from 'node:https';

const [, , method, url, cookie, body] = process.argv;
const headers: Record<string, string> = { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' };
if (cookie) headers.Cookie = cookie;
if (body !== undefined) headers['Content-Type'] = 'application/x-www-form-urlencoded';
const req = request(url, { method, headers, rejectUnauthorized: false, agent: false }, (res) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    console.log(JSON.stringify({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, body: Buffer.concat(chunks).toString('utf8').slice(0, 4000) }));
  });
});
// a CONNECT's answer, whatever its status, comes as 'connect'
req.on('connect', (res, socket) => {
  console.log(JSON.stringify({ status: res.statusCode, statusText: res.statusMessage, headers: res.headers, body: '' }));
  socket.destroy();
});
req.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
req.end(body);
