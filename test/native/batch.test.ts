import t from 'tap';
import { PacketIO, seqpacketPair } from '../../src/native/index';

const HEADROOM = 8;

function msg(i: number): Buffer {
  // Different lengths so a wrong offset formula cannot pass by accident.
  return Buffer.from(`message-${i}-${'x'.repeat(i % 7)}`);
}

/** Reads until `n` messages arrived, checking the slab layout of every event. */
function collect(t: { teardown(fn: () => void): void }, fd: number, n: number, batch: number) {
  const got: Buffer[] = [];
  let calls = 0;
  let layoutOk = true;
  let resolve: () => void = () => {};
  const done = new Promise<void>((res) => (resolve = res));
  const io = new PacketIO(
    fd,
    { mode: 'msg', maxPacket: 2048, batch, headroom: HEADROOM },
    {
      onPackets(slab, lengths, fds) {
        calls++;
        if (fds !== null || lengths.length > batch) layoutOk = false;
        let off = 0;
        for (const len of lengths) {
          if (!slab.subarray(off, off + HEADROOM).equals(Buffer.alloc(HEADROOM))) layoutOk = false;
          off += HEADROOM;
          got.push(Buffer.from(slab.subarray(off, off + len)));
          off += len;
        }
        if (off !== slab.length) layoutOk = false;
        if (got.length >= n) resolve();
      },
    },
  );
  t.teardown(() => io.close());
  return { io, got, done, calls: () => calls, layoutOk: () => layoutOk };
}

t.test('100 quick messages arrive in far fewer than 100 callbacks', async (t) => {
  const [a, b] = seqpacketPair();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 2048, batch: 1 }, { onPackets() {} });
  t.teardown(() => w.close());
  const r = collect(t, b, 100, 32);
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
  });
});

t.test('writeMany sends each buffer as its own message (sendmmsg)', async (t) => {
  const [a, b] = seqpacketPair();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 2048, batch: 1 }, { onPackets() {} });
  t.teardown(() => w.close());
  const r = collect(t, b, 200, 64);
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
