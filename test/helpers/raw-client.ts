/**
 * A deliberately misbehaving client for bad-input tests, run inside the client namespace:
 *   node raw-client.js <case> <host> <port> [user] [password]
 * Prints one JSON line: { case, closed, response } where response is what the server sent
 * (first 300 bytes) before it closed the connection.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { login, post, request, tls } from './raw-http';
import { randomBytes } from 'node:crypto';

const [, , kase, host, portStr, user = '', password = ''] = process.argv;
const port = Number(portStr);

/** Collects what the server sends until it closes (or the timeout, meaning it did not close). */
function collect(s: Socket, timeoutMs = 8000): Promise<{ closed: boolean; response: string }> {
  return new Promise((resolve) => {
    let data = Buffer.alloc(0);
    const done = (closed: boolean) => { clearTimeout(timer); resolve({ closed, response: data.subarray(0, 300).toString('latin1') }); s.destroy(); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.on('data', (d: Buffer) => { data = Buffer.concat([data, d]); });
    s.on('close', () => done(true));
    s.on('error', () => {});
  });
}

async function run(): Promise<{ closed: boolean; response: string }> {
  switch (kase) {
    case 'junk-tcp': {
      const s = tcpConnect({ host, port });
      await new Promise((r) => s.once('connect', r));
      s.write(randomBytes(4096));
      return collect(s);
    }
    case 'junk-after-tls': {
      const s = await tls(host, port);
      s.write(randomBytes(4096));
      return collect(s);
    }
    case 'huge-header': {
      const s = await tls(host, port);
      s.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(200 * 1024)}\r\n\r\n`);
      return collect(s);
    }
    case 'gigabyte-body': {
      const s = await tls(host, port);
      s.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\nContent-Length: 1073741824\r\n\r\n<config-auth`);
      return collect(s);
    }
    case 'truncated-xml': {
      const s = await tls(host, port);
      s.write(post(host, '/', '<config-auth client="vpn" type="init"><version who="vpn">'));
      return collect(s);
    }
    case 'not-xml': {
      const s = await tls(host, port);
      s.write(post(host, '/auth', '{"username": "alice"}'));
      return collect(s);
    }
    case 'forged-cookie': {
      const s = await tls(host, port);
      s.write(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: x\r\nCookie: webvpn=${randomBytes(32).toString('base64url')}\r\nX-CSTP-Version: 1\r\n\r\n`);
      return collect(s);
    }
    case 'bad-cstp': {
      const s = await tls(host, port);
      const cookie = await login(s, host, user, password);
      await request(s, `CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: x\r\nCookie: webvpn=${cookie}\r\nX-CSTP-Version: 1\r\nX-CSTP-Base-MTU: 1500\r\n\r\n`);
      s.write(Buffer.concat([Buffer.from('STF\x01\x00\x04\x00\x00', 'latin1'), Buffer.from([0x45, 0, 0, 4]), randomBytes(1000)]));
      return collect(s);
    }
    default:
      throw new Error(`unknown case ${kase}`);
  }
}

run().then(
  (r) => { process.stdout.write(`${JSON.stringify({ case: kase, ...r })}\n`); process.exit(0); },
  (err: Error) => { process.stdout.write(`${JSON.stringify({ case: kase, error: err.message })}\n`); process.exit(1); },
);
