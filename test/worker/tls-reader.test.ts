import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, connect } from 'node:tls';
import { readInto } from '../../src/worker/tls-reader';
import { selfSigned } from '../helpers/tls-keys';
import { until } from '../helpers/wait';

const dir = mkdtempSync(join(tmpdir(), 'ocs-tls-reader-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keys = selfSigned(dir, 'ecdsa');

/** A TLS server socket on loopback and a TLS client connected to it, both real OpenSSL. */
async function pair(t: { teardown(fn: () => void): void }): Promise<{ server: TLSSocket; client: TLSSocket }> {
  const srv = createServer();
  const accepted = new Promise<Socket>((res) => srv.once('connection', res));
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  t.teardown(() => srv.close());
  const port = (srv.address() as { port: number }).port;
  const client = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  const server = new TLSSocket(await accepted, { isServer: true, key: keys.keyPem, cert: keys.certPem });
  await Promise.all([new Promise((res) => server.once('secure', res)), new Promise((res) => client.once('secureConnect', res))]);
  t.teardown(() => { client.destroy(); server.destroy(); });
  return { server, client };
}

t.test('after what the stream had buffered, every record lands in the one buffer, in order; the end is still seen', async (t) => {
  const { server, client } = await pair(t);
  const early = 'early-1|early-2|';
  client.write('early-1|');
  client.write('early-2|');
  // read by the socket before the reader takes over: it must come first
  await until('the early bytes buffered', () => server.readableLength >= early.length, 5000);
  const buf = Buffer.alloc(1000);
  const got: string[] = [];
  let lentViews = 0;
  const ended = new Promise((res) => server.once('end', res));
  t.ok(readInto(server, buf, (bytes) => {
    if (bytes.buffer === buf.buffer) lentViews++;
    got.push(bytes.toString());
  }));
  // one record per write, sizes up to 5000 bytes: those larger than the buffer come in parts
  const sent = [early];
  for (let i = 0; i < 200; i++) {
    const m = `<${i}:${'x'.repeat((i * 97) % 5000)}>`;
    sent.push(m);
    client.write(m);
  }
  client.end();
  await ended;
  t.equal(got.join(''), sent.join(''), 'every byte, in order');
  t.ok(lentViews >= 200, `${lentViews} reads delivered in the reader's buffer`);
});
