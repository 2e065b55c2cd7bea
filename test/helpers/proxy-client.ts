/**
 * A client that talks to a listen-proxy-proto server directly, as a proxy would:
 *   node proxy-client.js <host> <port> <header> [source-ip] [path]
 * header: v1 | v2 | v2-local | none | garbage | slow-v1 (the line in pieces) | silent (nothing at all).
 * Then TLS and `GET path` (default /). Prints one JSON line: { tls, status, body, closed, error }.
 */
import { connect as tcpConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { proxyV1, proxyV2 } from '../../src/main/proxy-protocol';

const [, , host, portStr, header, sourceIp = '198.51.100.7', path = '/'] = process.argv;
const port = Number(portStr);
const out = { tls: false, status: 0, body: '', closed: false, error: '' };
const done = () => { console.log(JSON.stringify(out)); process.exit(0); };
setTimeout(done, 25_000).unref();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const raw = tcpConnect({ host, port }, async () => {
  const src = { address: sourceIp, port: 40000 + Math.floor(Math.random() * 20000) };
  const dst = { address: host, port };
  if (header === 'v1') raw.write(proxyV1(src, dst));
  else if (header === 'v2') raw.write(proxyV2(src, dst));
  else if (header === 'v2-local') raw.write(proxyV2());
  else if (header === 'garbage') raw.write('PROXY TCP4 not an address\r\n');
  else if (header === 'slow-v1') {
    const line = proxyV1(src, dst);
    for (let i = 0; i < line.length; i += 7) { raw.write(line.subarray(i, i + 7)); await sleep(30); }
  } else if (header === 'silent') {
    raw.on('close', () => { out.closed = true; done(); });
    return;
  }
  const s = tlsConnect({ socket: raw, servername: undefined, rejectUnauthorized: false }, () => {
    out.tls = true;
    // HTTP/1.0: the answer ends with the connection, whatever its framing
    s.write(`GET ${path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: proxy-client\r\n\r\n`);
  });
  let buf = '';
  s.on('data', (d: Buffer) => { buf += d.toString('latin1'); });
  s.on('error', (e) => { out.error = e.message; });
  s.on('close', () => {
    const end = buf.indexOf('\r\n\r\n');
    out.status = Number(/^HTTP\/1\.[01] (\d+)/.exec(buf)?.[1] ?? 0);
    out.body = end < 0 ? '' : buf.slice(end + 4, end + 4 + 2000);
    out.closed = true;
    done();
  });
});
raw.on('error', (e) => { out.error = e.message; out.closed = true; done(); });
