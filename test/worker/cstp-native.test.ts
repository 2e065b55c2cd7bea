/**
 * The client's half of a CSTP channel opened natively (src/worker/cstp-native.ts over
 * src/native/cstp_reader.cc), against real TLS 1.3 clients: Node's (OpenSSL) for each AEAD
 * suite, and `openssl s_client` for a KeyUpdate. Each test first lets Node read a request on
 * the connection, as the CONNECT request is read before the takeover.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { Socket as NetSocket, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, connect } from 'node:tls';
import { expandLabel, keepClientSecret, readNatively } from '../../src/worker/cstp-native';
import { selfSigned } from '../helpers/tls-keys';
import { until } from '../helpers/wait';

const dir = mkdtempSync(join(tmpdir(), 'ocs-cstp-native-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const keys = selfSigned(dir, 'ecdsa');

type Teardown = { teardown(fn: () => void): void };

/** A loopback TCP connection with the server's TLS socket made as a worker makes it. */
async function serverFor(t: Teardown, connectClient: (port: number) => void): Promise<{ server: TLSSocket; raw: Socket; secret: () => Buffer | undefined }> {
  const srv = createServer();
  const accepted = new Promise<Socket>((res) => srv.once('connection', res));
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  t.teardown(() => srv.close());
  connectClient((srv.address() as { port: number }).port);
  const raw = await accepted;
  const server = new TLSSocket(raw, { isServer: true, key: keys.keyPem, cert: keys.certPem });
  const secret = keepClientSecret(server);
  await new Promise((res) => server.once('secure', res));
  t.teardown(() => server.destroy());
  return { server, raw, secret };
}

/** A Node TLS 1.3 client whose TCP socket the test can also write to directly, past TLS. */
async function withRawClient(t: Teardown): Promise<{ tcp: Socket; server: TLSSocket; raw: Socket; secret: () => Buffer | undefined; client: TLSSocket }> {
  const tcp = new NetSocket();
  let client!: TLSSocket;
  let ready!: Promise<unknown>;
  const s = await serverFor(t, (port) => {
    tcp.connect(port, '127.0.0.1');
    client = connect({ socket: tcp, rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    ready = new Promise((res) => client.once('secureConnect', res));
  });
  t.teardown(() => client.destroy());
  await ready;
  return { tcp, client, ...s };
}

function frame(type: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x53, 0x54, 0x46, 1, payload.length >> 8, payload.length & 0xff, type, 0]), payload]);
}

interface Got { frames: { type: number; payload: Buffer }[]; calls: number; end?: { reason: string; error: boolean }; before: string }

function take(server: TLSSocket, raw: Socket, secret: Buffer | undefined): Got {
  const got: Got = { frames: [], calls: 0, before: '' };
  const fd = (raw as unknown as { _handle: { fd: number } })._handle.fd;
  const reader = readNatively(server, fd, secret, {
    frames: (slab, lengths, types, count) => {
      got.calls++;
      let off = 0;
      for (let i = 0; i < count; i++) {
        got.frames.push({ type: types[i], payload: Buffer.from(slab.subarray(off, off + lengths[i])) });
        off += lengths[i];
      }
    },
    end: (reason, error) => { got.end = { reason, error }; },
  }, (chunk) => { got.before += chunk.toString('latin1'); });
  if (!reader) throw new Error('no native reader');
  reader.start();
  server.once('close', () => reader.close());
  return got;
}

for (const suite of ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256']) {
  t.test(`${suite}: every frame, in order, whatever the records' cuts; the client's close_notify ends it`, async (t) => {
    let client!: TLSSocket;
    const { server, raw, secret } = await serverFor(t, (port) => {
      client = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ciphers: suite });
    });
    t.teardown(() => client.destroy());
    t.equal(server.getCipher().standardName, suite);
    // the request Node reads before the takeover, as the CONNECT request: records the reader must skip
    client.write('CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n');
    client.write('\r\n');
    const first = await new Promise<Buffer>((res) => server.once('data', res));
    server.pause();
    await until('the request read', () => first.length + server.readableLength >= 37, 2000);
    const got = take(server, raw, secret());
    t.equal(first.toString() + got.before, 'CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\n\r\n', 'what Node had read comes first');

    const sent: { type: number; payload: Buffer }[] = [];
    for (let i = 0; i < 300; i++) {
      const type = i % 50 === 7 ? 3 : 0; // a DPD request now and then
      sent.push({ type, payload: Buffer.alloc((i * 131) % 1500, i & 0xff) });
    }
    const stream = Buffer.concat(sent.map((f) => frame(f.type, f.payload)));
    // one record per write: some hold several frames, some cut a frame in two
    for (let off = 0, i = 0; off < stream.length; i++) {
      const n = [1, 7, 1508, 3000, 8, 16384, 333][i % 7];
      client.write(stream.subarray(off, off + n));
      off += n;
    }
    await until('every frame', () => got.frames.length >= sent.length, 10_000);
    t.same(got.frames.map((f) => [f.type, f.payload.length, f.payload[0]]), sent.map((f) => [f.type, f.payload.length, f.payload[0]]), 'types and sizes in order');
    t.ok(got.frames.every((f, i) => f.payload.equals(sent[i].payload)), 'payloads intact');
    t.ok(got.calls < sent.length, `${sent.length} frames in ${got.calls} calls`);
    client.end();
    await until('the end', () => got.end, 5000);
    t.same(got.end, { reason: 'close_notify', error: false });
  });
}

t.test('a record that does not authenticate ends the channel with an error', async (t) => {
  const { tcp, client, server, raw, secret } = await withRawClient(t);
  const got = take(server, raw, secret());
  client.write(frame(0, Buffer.from('fine')));
  await until('the good frame', () => got.frames.length === 1, 5000);
  // past the client's TLS: a well-formed record header over bytes no key made
  tcp.write(Buffer.concat([Buffer.from([23, 3, 3, 0, 40]), Buffer.alloc(40, 0x5a)]));
  await until('the end', () => got.end, 5000);
  t.same(got.end, { reason: 'a TLS record from the client did not authenticate', error: true });
});

for (const [what, bytes, reason] of [
  ['an oversized record', Buffer.from([23, 3, 3, 0xff, 0xff]), 'malformed TLS record from the client'],
  ['a record of another outer type', Buffer.from([22, 3, 3, 0, 40, ...Buffer.alloc(40)]), 'malformed TLS record from the client'],
  ['a first record under no key', Buffer.from([23, 3, 3, 0, 20, ...Buffer.alloc(20, 1)]), 'the client\'s first TLS record after CONNECT did not authenticate'],
] as const) {
  t.test(`${what} ends the channel with an error, and the reader reads no further`, async (t) => {
    const { tcp, server, raw, secret } = await withRawClient(t);
    const got = take(server, raw, secret());
    tcp.write(bytes);
    await until('the end', () => got.end, 5000);
    t.same(got.end, { reason, error: true });
    t.same(got.frames, []);
  });
}

t.test('no secret, or TLS 1.2: Node keeps reading', async (t) => {
  let client!: TLSSocket;
  const { server, raw } = await serverFor(t, (port) => {
    client = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, maxVersion: 'TLSv1.2' });
  });
  t.teardown(() => client.destroy());
  const fd = (raw as unknown as { _handle: { fd: number } })._handle.fd;
  const cb = { frames: () => t.fail('no frames'), end: () => t.fail('no end') };
  t.equal(readNatively(server, fd, Buffer.alloc(48), cb, () => {}), undefined, 'TLS 1.2');
  client.write('still Node\'s');
  const data = await new Promise<Buffer>((res) => server.once('data', res));
  t.equal(data.toString(), 'still Node\'s');
});

t.test('openssl s_client: frames before and after a KeyUpdate', async (t) => {
  let proc!: ReturnType<typeof spawn>;
  const { server, raw, secret } = await serverFor(t, (port) => {
    proc = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-tls1_3'], { stdio: ['pipe', 'pipe', 'pipe'] });
  });
  let said = '';
  proc.stdout!.on('data', (d: Buffer) => { said += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { said += d.toString(); });
  t.teardown(() => proc.kill());
  const got = take(server, raw, secret());
  const pace = () => new Promise((r) => setTimeout(r, 150));
  proc.stdin!.write(frame(0, Buffer.from('before the update')));
  await until('the first frame', () => got.frames.length === 1, 5000);
  proc.stdin!.write('k\n');
  await pace();
  proc.stdin!.write(frame(0, Buffer.from('after the update')));
  await until('the second frame', () => got.frames.length === 2 || got.end, 5000);
  t.same(got.frames.map((f) => f.payload.toString()), ['before the update', 'after the update']);
  t.equal(got.end, undefined, 'still open');
  t.match(said, /KEYUPDATE/, 's_client sent a KeyUpdate between the two');
});

t.test('HKDF-Expand-Label as RFC 8448 (simple 1-RTT handshake) derives the client\'s traffic key and iv', async (t) => {
  // RFC 8448 section 3: client_application_traffic_secret_0 and its write key / iv
  const secret = Buffer.from('9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5', 'hex');
  t.equal(expandLabel('sha256', secret, 'key', 16).toString('hex'), '17422dda596ed5d9acd890e3c63f5051');
  t.equal(expandLabel('sha256', secret, 'iv', 12).toString('hex'), '5b78923dee08579033e523d9');
});
