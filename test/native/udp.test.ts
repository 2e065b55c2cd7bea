import t from 'tap';
import * as dgram from 'node:dgram';
import { once } from 'node:events';
import * as os from 'node:os';
import { PacketIO, NativeError, setSockoptInt, udpConnected } from '../../src/native/index';
import { until } from '../helpers/wait';

async function freePort(type: 'udp4' | 'udp6' = 'udp4', host = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(type);
  s.bind(0, host);
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

async function boundDgram(type: 'udp4' | 'udp6', host: string, port = 0, reuseAddr = false) {
  const s = dgram.createSocket({ type, reuseAddr });
  s.bind(port, host);
  await once(s, 'listening');
  return s;
}

/** PacketIO on a UDP fd that records payloads as strings. */
function udpIO(fd: number, onError?: (e: NativeError) => void) {
  const got: string[] = [];
  let calls = 0;
  const waiters: { n: number; res: () => void }[] = [];
  const io = new PacketIO(
    fd,
    { mode: 'msg', maxPacket: 1500, batch: 32 },
    {
      onPackets(slab, lengths) {
        calls++;
        let off = 0;
        for (const len of lengths) {
          got.push(slab.toString('utf8', off, off + len));
          off += len;
        }
        for (const w of waiters.splice(0)) {
          if (got.length >= w.n) w.res();
          else waiters.push(w);
        }
      },
      onError,
    },
  );
  const until = (n: number) =>
    new Promise<void>((res, rej) => {
      if (got.length >= n) return res();
      const timer = setTimeout(() => rej(new Error(`timeout: ${got.length}/${n}: ${got.join(',')}`)), 5000);
      waiters.push({
        n,
        res: () => {
          clearTimeout(timer);
          res();
        },
      });
    });
  return { io, got, until, calls: () => calls };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('two connected UDP sockets exchange datagrams through PacketIO', async (t) => {
  const pa = await freePort();
  const pb = await freePort();
  const a = udpIO(udpConnected('127.0.0.1', pa, '127.0.0.1', pb));
  const b = udpIO(udpConnected('127.0.0.1', pb, '127.0.0.1', pa));
  t.teardown(() => {
    a.io.close();
    b.io.close();
  });
  a.io.start();
  b.io.start();
  t.equal(a.io.write(Buffer.from('hello b')), 1);
  await b.until(1);
  t.same(b.got, ['hello b']);
  const many = Array.from({ length: 50 }, (_, i) => Buffer.from(`dgram ${i}`));
  t.equal(b.io.writeMany(many), 50);
  await a.until(50);
  t.same(
    a.got,
    many.map((m) => m.toString()),
  );
  t.ok(a.calls() < 50, `recvmmsg batching: ${a.calls()} callbacks for 50 datagrams`);
  // An empty datagram is a packet on UDP, not EOF.
  t.equal(a.io.write(Buffer.alloc(0)), 1);
  await b.until(2);
  t.equal(b.got[1], '');
});

t.test('SO_REUSEPORT sockets on one port each get only their peer', async (t) => {
  // Like main: a listen socket on the port, then one connected socket per client.
  const listen = await boundDgram('udp4', '127.0.0.1', 0, true);
  const port = listen.address().port;
  const listenGot: string[] = [];
  listen.on('message', (m) => listenGot.push(m.toString()));
  const p1 = await boundDgram('udp4', '127.0.0.1');
  const p2 = await boundDgram('udp4', '127.0.0.1');
  const p3 = await boundDgram('udp4', '127.0.0.1');
  const c1 = udpIO(udpConnected('127.0.0.1', port, '127.0.0.1', p1.address().port));
  const c2 = udpIO(udpConnected('127.0.0.1', port, '127.0.0.1', p2.address().port));
  t.teardown(() => {
    c1.io.close();
    c2.io.close();
    for (const s of [listen, p1, p2, p3]) s.close();
  });
  c1.io.start();
  c2.io.start();
  for (let i = 0; i < 10; i++) {
    p1.send(`p1-${i}`, port, '127.0.0.1');
    p2.send(`p2-${i}`, port, '127.0.0.1');
  }
  p3.send('p3-new-client', port, '127.0.0.1');
  await c1.until(10);
  await c2.until(10);
  await sleep(50);
  t.same(c1.got, Array.from({ length: 10 }, (_, i) => `p1-${i}`));
  t.same(c2.got, Array.from({ length: 10 }, (_, i) => `p2-${i}`));
  t.same(listenGot, ['p3-new-client'], 'an unknown peer still reaches the listen socket');

  const reply = once(p1, 'message');
  t.equal(c1.io.write(Buffer.from('to p1')), 1);
  const [m, rinfo] = (await reply) as [Buffer, dgram.RemoteInfo];
  t.equal(m.toString(), 'to p1');
  t.equal(rinfo.port, port, 'the reply comes from the listen port');
});

t.test('ICMP errors are reported and reading goes on', async (t) => {
  const local = await freePort();
  const dead = await freePort();
  const errors: NativeError[] = [];
  const c = udpIO(udpConnected('127.0.0.1', local, '127.0.0.1', dead), (e) => errors.push(e));
  t.teardown(() => c.io.close());
  c.io.start();
  c.io.write(Buffer.from('nobody listens'));
  for (let i = 0; i < 100 && errors.length === 0; i++) await sleep(10);
  t.equal(errors[0]?.code, 'ECONNREFUSED');
  // POLLERR stopped the libuv handle; PacketIO must have re-armed it.
  const peer = await boundDgram('udp4', '127.0.0.1', dead);
  t.teardown(() => peer.close());
  peer.send('now I am here', local, '127.0.0.1');
  await c.until(1);
  t.same(c.got, ['now I am here']);
});

const hasV6Loopback = Object.values(os.networkInterfaces())
  .flat()
  .some((i) => i?.address === '::1');

t.test('IPv6 and v4-mapped peers', { skip: hasV6Loopback ? false : 'no IPv6 loopback' }, async (t) => {
  const p6 = await boundDgram('udp6', '::1');
  const local = await freePort('udp6', '::1');
  const c = udpIO(udpConnected('::1', local, '::1', p6.address().port));
  t.teardown(() => {
    c.io.close();
    p6.close();
  });
  c.io.start();
  p6.send('over v6', local, '::1');
  await c.until(1);
  t.same(c.got, ['over v6']);

  // A v4 peer on a dual-stack "::" socket is connected as ::ffff:a.b.c.d.
  const p4 = await boundDgram('udp4', '127.0.0.1');
  const port = await freePort('udp6', '::');
  const m = udpIO(udpConnected('::', port, '127.0.0.1', p4.address().port));
  t.teardown(() => {
    m.io.close();
    p4.close();
  });
  m.io.start();
  p4.send('v4 to dual stack', port, '127.0.0.1');
  await m.until(1);
  t.same(m.got, ['v4 to dual stack']);

  t.throws(() => udpConnected('127.0.0.1', local, '::1', 1), TypeError, 'v6 peer on a v4 socket');
  t.throws(() => udpConnected('not an ip', 1, '127.0.0.1', 1), TypeError);
});

/** Datagrams of these sizes, each filled with its own index so order and bounds show. */
function sized(sizes: number[]): Buffer[] {
  return sizes.map((n, i) => Buffer.alloc(n, i + 1));
}

function slabOf(bufs: Buffer[]): { slab: Buffer; lens: Uint32Array } {
  return { slab: Buffer.concat(bufs), lens: Uint32Array.from(bufs.map((b) => b.length)) };
}

for (const variant of ['segmented', 'gso off', 'kernel refuses segmentation'] as const) {
  t.test(`writeSlab on UDP (${variant}): the receiver gets each datagram as it was, in order`, async (t) => {
    const peer = await boundDgram('udp4', '127.0.0.1');
    const fd = udpConnected('127.0.0.1', await freePort(), '127.0.0.1', peer.address().port);
    // SO_NO_CHECK: the kernel refuses UDP_SEGMENT (EINVAL); PacketIO sends one by one from then on
    if (variant === 'kernel refuses segmentation') setSockoptInt(fd, 'nocheck', 1);
    const errors: NativeError[] = [];
    const io = new PacketIO(fd, { mode: 'msg', maxPacket: 1500, batch: 8, gso: variant !== 'gso off' }, { onPackets() {}, onError: (e) => errors.push(e) });
    const got: Buffer[] = [];
    peer.on('message', (m) => got.push(m));
    t.teardown(() => { io.close(); peer.close(); });
    const arrived = (n: number) => until(`${n} datagrams at the receiver`, () => got.length >= n, 5_000, () => `${got.length} came`);

    // runs of equal sizes, a shorter one ending a run, larger ones starting the next, an empty one
    const mixed = sized([1200, 1200, 1200, 1200, 1200, 700, 1200, 1200, 1200, 1300, 1300, 100, 0, 50, 50, 50]);
    const a = slabOf(mixed);
    t.equal(io.writeSlab(a.slab, a.lens, mixed.length), mixed.length, 'every datagram is counted as sent');
    await arrived(mixed.length);
    t.same(got.map((m) => m.length), mixed.map((m) => m.length), 'the same sizes');
    t.ok(got.every((m, i) => m.equals(mixed[i])), 'the same bytes');

    // a run longer than one segmented send may carry (64 KB): split over several
    got.length = 0;
    const long = sized(Array.from({ length: 50 }, () => 1400));
    const b = slabOf(long);
    t.equal(io.writeSlab(b.slab, b.lens, long.length), long.length);
    await arrived(long.length);
    t.equal(got.length, long.length);
    t.ok(got.every((m, i) => m.equals(long[i])), 'all 50, each whole, in order');

    const stats = io.stats();
    t.equal(stats.txPackets, mixed.length + long.length, 'txPackets counts datagrams, not sends');
    t.equal(stats.txBytes, [...mixed, ...long].reduce((s, m) => s + m.length, 0));
    t.equal(stats.drops, 0);
    // runs: 5x1200 + 700, 3x1200, 1300 + 1300 + 100, 3x50 (the empty one alone), then 46 + 4 of the 50
    if (variant === 'segmented') t.equal(stats.segmented, 6 + 3 + 3 + 3 + 50, 'the runs went out segmented');
    else t.equal(stats.segmented, 0, 'each datagram went out on its own');
    t.same(errors, [], 'no error reaches JavaScript');
  });
}
