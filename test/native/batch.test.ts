import t from 'tap';
import { PacketIO, closeFd, seqpacketPair } from '../../src/native/index';

const HEADROOM = 8;

function msg(i: number): Buffer {
  // Different lengths so a wrong offset formula cannot pass by accident.
  return Buffer.from(`message-${i}-${'x'.repeat(i % 7)}`);
}

/**
 * Reads until `n` messages arrived, checking the slab layout of every event. lend: the slab
 * is the read buffer itself (longer than its packets, the same one every time).
 */
function collect(t: { teardown(fn: () => void): void }, fd: number, n: number, batch: number,
  o: { lend?: boolean; mode?: 'msg' | 'read'; maxPacket?: number } = {}) {
  const got: Buffer[] = [];
  let calls = 0;
  let layoutOk = true;
  const slabs = new Set<Buffer>();
  let resolve: () => void = () => {};
  const done = new Promise<void>((res) => (resolve = res));
  const io = new PacketIO(
    fd,
    { mode: o.mode ?? 'msg', maxPacket: o.maxPacket ?? 2048, batch, headroom: HEADROOM, lend: o.lend },
    {
      onPackets(slab, lengths, fds) {
        calls++;
        slabs.add(slab);
        if (fds !== null || lengths.length > batch) layoutOk = false;
        let off = 0;
        for (const len of lengths) {
          if (!slab.subarray(off, off + HEADROOM).equals(Buffer.alloc(HEADROOM))) layoutOk = false;
          off += HEADROOM;
          got.push(Buffer.from(slab.subarray(off, off + len)));
          off += len;
        }
        if (o.lend ? off > slab.length : off !== slab.length) layoutOk = false;
        if (got.length >= n) resolve();
      },
    },
  );
  t.teardown(() => io.close());
  return { io, got, done, calls: () => calls, layoutOk: () => layoutOk, slabs };
}

/** A writer on one end of a SEQPACKET pair, and collect() on the other end (not started). */
function linked(t: { teardown(fn: () => void): void }, n: number, batch: number, o?: Parameters<typeof collect>[4]) {
  const [a, b] = seqpacketPair();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 4096, batch: 1 }, { onPackets() {} });
  t.teardown(() => w.close());
  return { w, r: collect(t, b, n, batch, o) };
}

t.test('100 quick messages arrive in far fewer than 100 callbacks', async (t) => {
  const { w, r } = linked(t, 100, 32);
  for (let i = 0; i < 100; i++) t.equal(w.write(msg(i)), 1);
  r.io.start();
  await r.done;
  t.ok(r.calls() < 100, `${r.calls()} callbacks for 100 messages`);
  t.ok(r.calls() >= 4, 'never more than batch (32) packets per callback');
  t.ok(r.layoutOk(), 'slab layout: zeroed headroom before each packet, lengths add up');
  t.same(
    r.got.map((m) => m.toString()),
    Array.from({ length: 100 }, (_, i) => msg(i).toString()),
  );
  t.same(r.io.stats(), {
    rxPackets: 100,
    rxBytes: r.got.reduce((s, m) => s + m.length, 0),
    txPackets: 0,
    txBytes: 0,
    drops: 0,
    segmented: 0,
    coalesced: 0,
    split: 0,
  });
});

t.test('writeMany sends each buffer as its own message (sendmmsg)', async (t) => {
  const { w, r } = linked(t, 200, 64);
  r.io.start();
  const bufs = Array.from({ length: 100 }, (_, i) => msg(i));
  t.equal(w.writeMany(bufs), 100);
  // Views into one slab work too (the usual output of a decoder).
  const slab = Buffer.concat(Array.from({ length: 100 }, (_, i) => msg(100 + i)));
  const views: Buffer[] = [];
  for (let i = 0, off = 0; i < 100; i++) {
    const len = msg(100 + i).length;
    views.push(slab.subarray(off, off + len));
    off += len;
  }
  t.equal(w.writeMany(views), 100);
  await r.done;
  t.ok(r.layoutOk());
  t.same(
    r.got.map((m) => m.toString()),
    Array.from({ length: 200 }, (_, i) => msg(i).toString()),
  );
  t.equal(w.stats().txPackets, 200);
  t.throws(() => w.writeMany([Buffer.from('ok'), 'bad' as unknown as Buffer]), TypeError);
});

for (const mode of ['msg', 'read'] as const) {
  t.test(`lend (${mode === 'msg' ? 'recvmmsg' : 'read(2)'}): one read buffer for every event, packed in place; oversized packets dropped in between`, async (t) => {
    const { w, r } = linked(t, 180, 32, { lend: true, mode, maxPacket: 1000 });
    // sizes from 1 to 1000 bytes (an empty message would be EOF), so a packet moves by a different distance each time; every
    // tenth too big for the reader
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const size = i % 10 === 9 ? 1001 : 1 + ((i * 211) % 1000);
      const m = Buffer.alloc(size, i % 251);
      if (size >= 4) m.writeUInt32BE(i);
      // 0: the socket's buffer is full and the writer queues it
      t.ok(w.write(m) >= 0);
      if (size <= 1000) sent.push(m.toString('hex'));
    }
    r.io.start();
    await r.done;
    t.equal(r.slabs.size, 1, 'the same slab every time');
    t.ok(r.calls() >= 6, `${r.calls()} events of at most 32 packets`);
    t.ok(r.layoutOk(), 'zeroed headroom before each packet, lengths within the slab');
    t.same(r.got.map((m) => m.toString('hex')), sent, 'every packet intact and in order');
    t.equal(r.io.stats().drops, 20, 'the oversized ones counted');
  });
}

t.test('writeSlab sends packets that lie back to back in one buffer, each its own message', async (t) => {
  const { w, r } = linked(t, 50, 64);
  r.io.start();
  const msgs = Array.from({ length: 50 }, (_, i) => msg(i));
  const slab = Buffer.concat([...msgs, Buffer.from('trailing bytes not sent')]);
  const lens = new Uint32Array(64);
  msgs.forEach((m, i) => (lens[i] = m.length));
  t.equal(w.writeSlab(slab, lens, 50), 50, 'only count packets, however long lengths is');
  await r.done;
  t.same(r.got.map((m) => m.toString()), msgs.map((m) => m.toString()));
  t.throws(() => w.writeSlab(slab, lens, 65), RangeError, 'count beyond lengths');
  lens[0] = slab.length;
  t.throws(() => w.writeSlab(slab, lens, 2), /more than the slab/, 'lengths beyond the slab');
  t.equal(w.stats().txPackets, 50, 'a refused call sends nothing');
});

t.test('lend does not go with fds', async (t) => {
  const [a, b] = seqpacketPair();
  t.teardown(() => { closeFd(a); closeFd(b); });
  t.throws(() => new PacketIO(a, { mode: 'msg', maxPacket: 64, batch: 4, fds: true, lend: true }, { onPackets() {} }),
    /lend cannot be combined with opts.fds/);
});
