/**
 * The ring a tunnel copies its CSTP writes into (src/worker/write-ring.ts): no chunk Node still
 * holds is written over, and bytes written through a real TLS socket with it, to a peer that
 * reads slowly, arrive whole and in order.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, connect } from 'node:tls';
import { WriteRing } from '../../src/worker/write-ring';
import { selfSigned } from '../helpers/tls-keys';

t.test('a chunk Node holds is never written over; a full ring hands the copy back to the caller', async (t) => {
  const ring = new WriteRing(4096, 4096, 8);
  // a deterministic walk of copies and releases, sizes up to half the ring
  let seed = 7;
  const next = (n: number) => {
    // xorshift32: the low bits of a plain LCG repeat with a short period
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const held: { chunk: Buffer; bytes: Buffer }[] = [];
  let placed = 0;
  let refused = 0;
  let miscounted = 0;
  for (let step = 0; step < 20_000; step++) {
    if (held.length && next(4) === 0) {
      for (let k = next(3) + 1; k > 0 && held.length; k--) {
        held.shift();
        ring.release();
      }
      continue;
    }
    const bytes = randomBytes(1 + next(2048));
    const chunk = ring.copy(bytes);
    if (!chunk) {
      refused++;
      continue;
    }
    placed++;
    held.push({ chunk, bytes });
    if (ring.outstanding !== held.length) miscounted++;
    if (held.some((h) => !h.chunk.equals(h.bytes))) {
      t.fail(`step ${step}: a held chunk was written over`);
      return;
    }
  }
  t.equal(miscounted, 0, 'outstanding counts the chunks held');
  t.ok(placed > 5_000, `${placed} copies placed in the ring`);
  t.ok(refused > 0, `${refused} refused when it was full (the caller copies those itself)`);
  t.equal(ring.copy(Buffer.alloc(4096)), undefined, 'a chunk the size of the ring is never placed');
  t.equal(ring.copy(Buffer.alloc(0)), undefined, 'nor an empty one');
});

t.test('the ring takes no more chunks than it can track', async (t) => {
  const ring = new WriteRing(1 << 16, 1 << 16, 4);
  for (let i = 0; i < 4; i++) t.ok(ring.copy(Buffer.alloc(10, i)), `chunk ${i}`);
  t.equal(ring.copy(Buffer.alloc(10)), undefined, 'a fifth waits for a release');
  ring.release();
  t.ok(ring.copy(Buffer.alloc(10)), 'placed once one was released');
  for (let i = 0; i < 4; i++) ring.release();
  t.equal(ring.outstanding, 0);
  ring.release();
  t.equal(ring.outstanding, 0, 'a release too many changes nothing');
});

t.test('the ring starts small and doubles, while it is empty, up to its largest size', async (t) => {
  const ring = new WriteRing(1024, 8192, 16);
  t.equal(ring.bytes, 0, 'nothing allocated before the first copy');
  ring.copy(Buffer.alloc(100, 1));
  t.equal(ring.bytes, 1024, 'the smallest size at first');
  t.equal(ring.copy(Buffer.alloc(2000, 2)), undefined, 'a chunk too large for it is refused');
  t.ok(ring.copy(Buffer.alloc(100, 3)), 'while the first chunk is out, the ring stays as it is');
  t.equal(ring.bytes, 1024);
  ring.release();
  ring.release();
  t.ok(ring.copy(Buffer.alloc(2000, 4)), 'once empty it doubled: the large chunk fits');
  t.equal(ring.bytes, 2048);
  ring.release();
  for (let i = 0; i < 6; i++) {
    if (!ring.copy(Buffer.alloc(9000))) continue;
    ring.release();
  }
  t.equal(ring.bytes, 8192, 'never past the largest size, even for a chunk larger than that');
  const idle = new WriteRing(1024, 8192, 16);
  for (let i = 0; i < 100; i++) {
    idle.copy(Buffer.alloc(90));
    idle.release();
  }
  t.equal(idle.bytes, 1024, 'small writes keep the smallest size');
});

t.test('through a TLS socket to a slow reader: every byte arrives, in order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-write-ring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const keys = selfSigned(dir, 'ecdsa');
  const srv = createServer();
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', res));
  t.teardown(() => srv.close());
  const accepted = new Promise<Socket>((res) => srv.once('connection', res));
  const client = connect({ port: (srv.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false });
  t.teardown(() => client.destroy());
  const server = new TLSSocket(await accepted, { isServer: true, key: keys.keyPem, cert: keys.certPem });
  t.teardown(() => server.destroy());
  await new Promise((res) => server.once('secure', res));

  // the client reads in spurts, so the server's writes queue in Node behind a full socket
  const got = createHash('sha256');
  let received = 0;
  client.on('data', (d: Buffer) => {
    got.update(d);
    received += d.length;
    client.pause();
    setTimeout(() => client.resume(), 2).unref();
  });

  // as a tunnel writes: source bytes in a buffer reused at once, copied into the ring
  const ring = new WriteRing(4096, 64 * 1024, 128);
  const source = Buffer.alloc(20_000);
  const sent = createHash('sha256');
  let total = 0;
  let viaRing = 0;
  let fallback = 0;
  for (let round = 0; round < 300; round++) {
    for (let w = 0; w < 20; w++) {
      const n = 1 + ((round * 7919 + w * 104729) % 9000);
      randomBytes(n).copy(source);
      const frames = source.subarray(0, n);
      sent.update(frames);
      total += n;
      const chunk = ring.copy(frames);
      if (chunk) {
        viaRing++;
        server.write(chunk, ring.release);
      } else {
        fallback++;
        server.write(Buffer.from(frames));
      }
      source.fill(0xee); // what the next read would do to the lent buffer
    }
    if (server.writableNeedDrain) await new Promise((res) => server.once('drain', res));
  }
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`only ${received} of ${total} bytes arrived`)), 60_000);
    const check = () => {
      if (received < total) return;
      clearTimeout(timer);
      client.off('data', check);
      res();
    };
    client.on('data', check);
    check();
  });
  t.equal(received, total, `${total} bytes arrived`);
  t.equal(got.digest('hex'), sent.digest('hex'), 'the same bytes, in the same order');
  t.ok(viaRing > 0 && fallback > 0, `${viaRing} writes went through the ring, ${fallback} past it when it was full`);
  t.equal(ring.outstanding, 0, 'every chunk was given back');
  t.equal(ring.bytes, 64 * 1024, 'the ring grew to its largest size');
});
