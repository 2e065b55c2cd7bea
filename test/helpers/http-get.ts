/**
 * One plain HTTP request with node's client, run where the server is (inside its namespace):
 *   node http-get.js <url> [method]
 * Prints one JSON line: { status, headers, body } or { error }.
 */
import { request } from 'node:http';

const req = request(process.argv[2]!, { agent: false, method: process.argv[3] ?? 'GET' }, (res) => {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('end', () => {
    console.log(JSON.stringify({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
  });
});
req.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
req.setTimeout(20_000, () => req.destroy(new Error('timeout')));
req.end();
