/**
 * Sends hostile datagrams at a server's UDP port (run inside the client namespace):
 *   node udp-junk.js <host> <port>
 * random bytes, ClientHellos with absurd lengths, truncated ones, and well-formed
 * ClientHellos for sessions that do not exist.
 */
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';

const [, , host, portStr] = process.argv;
const port = Number(portStr);

function clientHello(sid: Buffer, claimLen?: number): Buffer {
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), randomBytes(32), Buffer.from([sid.length]), sid, Buffer.from([0, 0, 2, 0x00, 0xa9, 1, 0])]);
  const hs = Buffer.alloc(12);
  hs[0] = 1;
  hs.writeUIntBE(claimLen ?? body.length, 1, 3);
  hs.writeUIntBE(body.length, 9, 3);
  const rec = Buffer.alloc(13);
  rec[0] = 22;
  rec.writeUInt16BE(0xfefd, 1);
  rec.writeUInt16BE(12 + body.length, 11);
  return Buffer.concat([rec, hs, body]);
}

(async () => {
  const datagrams: Buffer[] = [];
  for (let i = 0; i < 300; i++) datagrams.push(randomBytes(1 + ((i * 53) % 1400)));
  for (let i = 0; i < 50; i++) datagrams.push(clientHello(randomBytes(32)));
  datagrams.push(clientHello(randomBytes(32), 0xffffff));
  datagrams.push(clientHello(randomBytes(32)).subarray(0, 30));
  datagrams.push(Buffer.from('16fefd000000000000000000ff01ffffff0000000000ffffff', 'hex'));
  // each from a socket of its own, so every one looks like a new peer to main
  for (let i = 0; i < datagrams.length; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((resolve) => s.send(datagrams[i], port, host, () => { s.close(); resolve(); }));
  }
})();
