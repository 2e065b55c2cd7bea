/**
 * A client that logs in, opens a tunnel offering compression, and then sends one compressed
 * CSTP packet of its choosing; run inside the client namespace:
 *   node compressed-client.js <case> <host> <port> <user> <password>
 * Cases: bad-lzs (LZS garbage), bomb-lz4 (an LZ4 packet that decodes past any MTU),
 * unnegotiated (a compressed packet on a tunnel that offered no compression).
 * Prints one JSON line: { case, encoding, closed } — the X-CSTP-Content-Encoding the server
 * answered and whether it then closed the connection.
 */
import type { TLSSocket } from 'node:tls';
import { login, request, tls } from './raw-http';

const [, , kase, host, portStr, user = '', password = ''] = process.argv;
const port = Number(portStr);

function cstpFrame(type: number, payload: Buffer): Buffer {
  const h = Buffer.from([0x53, 0x54, 0x46, 0x01, payload.length >> 8, payload.length & 0xff, type, 0]);
  return Buffer.concat([h, payload]);
}

/** resolves true when the server closes the connection, false if it is still open after 8 s */
function closedWithin(s: TLSSocket): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => { resolve(false); s.destroy(); }, 8000);
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(true); });
  });
}

async function run(): Promise<{ encoding: string | null; closed: boolean }> {
  const offer = kase === 'bad-lzs' ? 'lzs' : kase === 'bomb-lz4' ? 'oc-lz4' : '';
  const s = await tls(host, port);
  const cookie = await login(s, host, user, password);
  const answer = await request(s, `CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nHost: x\r\nCookie: webvpn=${cookie}\r\nX-CSTP-Version: 1\r\n`
    + `X-CSTP-Base-MTU: 1500\r\n${offer ? `X-CSTP-Accept-Encoding: ${offer}\r\n` : ''}\r\n`);
  const encoding = /^X-CSTP-Content-Encoding: *(\S+)/im.exec(answer)?.[1] ?? null;
  const closed = closedWithin(s);
  let payload: Buffer;
  switch (kase) {
    case 'bad-lzs':
      // a literal, then a match 100 bytes back with one byte decoded: refers before the start
      payload = Buffer.from([0b00100000, 0b11111001, 0b00001100, 0b00000000]);
      break;
    case 'bomb-lz4':
      // one literal, then a match of 1 + 15 + 255 x 200 bytes: about 51 KB from 205 bytes
      payload = Buffer.concat([Buffer.from([0x1f, 0x45, 0x01, 0x00]), Buffer.alloc(200, 0xff), Buffer.from([0x00, 0x00])]);
      break;
    case 'unnegotiated':
      payload = Buffer.from([0x30, 0x45, 0x00, 0x00]);
      break;
    default:
      throw new Error(`unknown case ${kase}`);
  }
  s.write(cstpFrame(0x08, payload));
  return { encoding, closed: await closed };
}

run().then(
  (r) => { process.stdout.write(`${JSON.stringify({ case: kase, ...r })}\n`); process.exit(0); },
  (err: Error) => { process.stdout.write(`${JSON.stringify({ case: kase, error: err.message })}\n`); process.exit(1); },
);
