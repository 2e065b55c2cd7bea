import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PacketIO, closeFd, seqpacketPair, PacketIOCallbacks } from '../../src/native/index';

interface Received {
  msgs: Buffer[];
  fds: (number[] | null)[];
  calls: number;
}

/** A reader PacketIO that collects messages; resolves waiters when enough arrived. */
function reader(fd: number, opts: { fds?: boolean; batch?: number; headroom?: number } = {}, extra: Partial<PacketIOCallbacks> = {}) {
  const got: Received = { msgs: [], fds: [], calls: 0 };
  let waiter: { n: number; resolve: () => void } | null = null;
  const headroom = opts.headroom ?? 0;
  const io = new PacketIO(
    fd,
    { mode: 'msg', maxPacket: 65536, batch: opts.batch ?? 16, headroom, fds: opts.fds ?? false },
    {
      onPackets(slab, lengths, fds) {
        got.calls++;
        let off = 0;
        lengths.forEach((len, i) => {
          off += headroom;
          got.msgs.push(Buffer.from(slab.subarray(off, off + len)));
          got.fds.push(fds ? fds[i] : null);
          off += len;
        });
        if (waiter && got.msgs.length >= waiter.n) {
          const w = waiter;
          waiter = null;
          w.resolve();
        }
      },
      ...extra,
    },
  );
  const until = (n: number, ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      if (got.msgs.length >= n) return resolve();
      const timer = setTimeout(() => reject(new Error(`timeout: ${got.msgs.length}/${n} messages`)), ms);
      waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  return { io, got, until };
}

function noop() {}

t.test('message boundaries are kept', async (t) => {
  const [a, b] = seqpacketPair();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 65536, batch: 4 }, { onPackets: noop });
  const r = reader(b);
  t.teardown(() => {
    w.close();
    r.io.close();
  });
  r.io.start();
  const sizes = [1, 1000, 50000];
  for (const [i, n] of sizes.entries()) t.equal(w.write(Buffer.alloc(n, 0x41 + i)), 1);
  await r.until(3);
  t.same(
    r.got.msgs.map((m) => m.length),
    sizes,
  );
  t.ok(r.got.msgs[1].every((x) => x === 0x42));
  t.same(w.stats(), { rxPackets: 0, rxBytes: 0, txPackets: 3, txBytes: 51001, drops: 0, segmented: 0, coalesced: 0, split: 0 });
  t.equal(r.io.stats().rxPackets, 3);
});

t.test('oversized messages are dropped and counted', async (t) => {
  const [a, b] = seqpacketPair();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 65536, batch: 4 }, { onPackets: noop });
  const lens: number[] = [];
  const r = new PacketIO(b, { mode: 'msg', maxPacket: 100, batch: 4 }, { onPackets: (_s, l) => lens.push(...l) });
  t.teardown(() => {
    w.close();
    r.close();
  });
  w.write(Buffer.alloc(100));
  w.write(Buffer.alloc(101));
  w.write(Buffer.alloc(5));
  r.start();
  await new Promise((res) => setTimeout(res, 50));
  t.same(lens, [100, 5]);
  t.equal(r.stats().drops, 1);
});

t.test('fds travel with a message and work on the other side', async (t) => {
  const [a, b] = seqpacketPair();
  const [x, y] = seqpacketPair();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ocs-native-'));
  const file = path.join(tmp, 'out');
  const fileFd = fs.openSync(file, 'w');
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 4096, batch: 4, fds: true }, { onPackets: noop });
  const r = reader(b, { fds: true });
  t.teardown(() => {
    w.close();
    r.io.close();
    closeFd(y);
    fs.rmSync(tmp, { recursive: true, force: true });
  });
  r.io.start();
  t.equal(w.write(Buffer.from('two fds'), [fileFd, x]), 1);
  t.equal(w.write(Buffer.from('no fds')), 1);
  // The sender's copies may go right away: the message holds its own.
  fs.closeSync(fileFd);
  closeFd(x);
  await r.until(2);
  t.equal(r.got.msgs[0].toString(), 'two fds');
  t.equal(r.got.msgs[1].toString(), 'no fds');
  t.equal(r.got.fds[1], null);
  const fds = r.got.fds[0];
  t.equal(fds?.length, 2);
  if (!fds) return;
  for (const fd of fds) {
    const flags = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').match(/flags:\s+(\d+)/);
    t.ok(flags && (parseInt(flags[1], 8) & 0o2000000) !== 0, `received fd ${fd} is O_CLOEXEC`);
  }
  fs.writeSync(fds[0], 'through the passed file fd');
  fs.closeSync(fds[0]);
  t.equal(fs.readFileSync(file, 'utf8'), 'through the passed file fd');
  fs.writeSync(fds[1], 'through the passed socket');
  const buf = Buffer.alloc(100);
  const n = fs.readSync(y, buf);
  t.equal(buf.subarray(0, n).toString(), 'through the passed socket');
  closeFd(fds[1]);
});

t.test('write queue under pressure drains in order, with fds', async (t) => {
  const [a, b] = seqpacketPair();
  const [x, y] = seqpacketPair();
  let drains = 0;
  let onDrained: () => void = noop;
  const drained = new Promise<void>((res) => (onDrained = res));
  const w = new PacketIO(
    a,
    { mode: 'msg', maxPacket: 65536, batch: 4, fds: true },
    {
      onPackets: noop,
      onDrain: () => {
        drains++;
        onDrained();
      },
    },
  );
  const r = reader(b, { fds: true, batch: 64 });
  t.teardown(() => {
    w.close();
    r.io.close();
    closeFd(y);
  });
  const msg = (i: number) => {
    const m = Buffer.alloc(4000, i & 0xff);
    m.writeUInt32BE(i, 0);
    return m;
  };
  let i = 0;
  let sentNow = 0;
  for (; i < 100000; i++) {
    const res = w.write(msg(i));
    if (res === 0) break;
    t.equal(res, 1);
    sentNow++;
  }
  t.ok(sentNow > 0 && sentNow < 100000, `socket filled after ${sentNow} messages`);
  t.ok(w.queuedBytes === 4000, 'the first blocked message is queued');
  // Later writes queue behind it even though they may fit.
  for (let k = 0; k < 20; k++) t.equal(w.write(msg(++i)), 0);
  t.equal(w.write(Buffer.from('fd at the end'), [x]), 0);
  closeFd(x);
  const total = i + 2;
  t.equal(w.queuedBytes, 21 * 4000 + 13);
  r.io.start();
  await r.until(total);
  await drained;
  t.equal(drains, 1, 'onDrain once');
  t.equal(w.queuedBytes, 0);
  const seq = r.got.msgs.slice(0, total - 1).map((m) => m.readUInt32BE(0));
  t.same(
    seq,
    Array.from({ length: total - 1 }, (_, k) => k),
    'all messages in order',
  );
  t.equal(r.got.msgs[total - 1].toString(), 'fd at the end');
  const fds = r.got.fds[total - 1];
  t.equal(fds?.length, 1);
  if (fds) {
    fs.writeSync(fds[0], 'queued fd works');
    const buf = Buffer.alloc(64);
    t.equal(buf.subarray(0, fs.readSync(y, buf)).toString(), 'queued fd works');
    closeFd(fds[0]);
  }
  t.equal(w.stats().txPackets, total);
});

t.test('peer close calls onClose once and stops reading', async (t) => {
  const [a, b] = seqpacketPair();
  let closes = 0;
  const r = reader(b, {}, { onClose: () => closes++ });
  t.teardown(() => r.io.close());
  r.io.start();
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 100, batch: 1 }, { onPackets: noop });
  w.write(Buffer.from('last words'));
  w.close();
  t.equal(w.closed, true);
  t.equal(w.write(Buffer.from('x')), -1, 'write after close is dropped');
  w.close();
  await r.until(1);
  await new Promise((res) => setTimeout(res, 50));
  t.equal(r.got.msgs[0].toString(), 'last words');
  t.equal(closes, 1);
  r.io.start(); // no-op after EOF
  await new Promise((res) => setTimeout(res, 20));
  t.equal(closes, 1);
});

t.test('a peer that exits with unread messages: its last messages, then onClose, no error', async (t) => {
  const [a, b] = seqpacketPair();
  const events: string[] = [];
  let closed: () => void = noop;
  const done = new Promise<void>((res) => (closed = res));
  const r = new PacketIO(b, { mode: 'msg', maxPacket: 100, batch: 8 }, {
    onPackets: (slab, lengths) => events.push(`packets:${lengths.length}`),
    onError: (e) => events.push(`error:${e.code}`),
    onClose: () => {
      events.push('close');
      closed();
    },
  });
  t.teardown(() => r.close());
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 100, batch: 8 }, { onPackets: noop });
  w.write(Buffer.from('last'));
  w.write(Buffer.from('words'));
  r.write(Buffer.from('never read by the peer')); // leaves ECONNRESET pending on close
  w.close();
  r.start();
  await done;
  t.same(events, ['packets:2', 'close']);
});

t.test('send errors go to onError and return -1', async (t) => {
  const [a, b] = seqpacketPair();
  closeFd(b);
  const errors: NodeJS.ErrnoException[] = [];
  const w = new PacketIO(a, { mode: 'msg', maxPacket: 100, batch: 1 }, { onPackets: noop, onError: (e) => errors.push(e) });
  t.teardown(() => w.close());
  t.equal(w.write(Buffer.from('x')), -1);
  t.equal(errors.length, 1);
  t.equal(errors[0].code, 'EPIPE');
  t.equal(errors[0].syscall, 'sendmsg');
  t.equal(w.stats().drops, 1);
  t.throws(() => w.write('nope' as unknown as Buffer), TypeError);
});

t.test('constructor validates and does not take the fd on failure', async (t) => {
  const [a, b] = seqpacketPair();
  t.teardown(() => {
    closeFd(a);
    closeFd(b);
  });
  t.throws(() => new PacketIO(a, { mode: 'bogus' as 'msg', maxPacket: 10, batch: 1 }, { onPackets: noop }), TypeError);
  t.throws(() => new PacketIO(a, { mode: 'msg', maxPacket: 0, batch: 1 }, { onPackets: noop }), RangeError);
  t.throws(() => new PacketIO(a, { mode: 'read', maxPacket: 10, batch: 1, fds: true }, { onPackets: noop }), TypeError);
  t.throws(() => new PacketIO(a, { mode: 'msg', maxPacket: 10, batch: 1 }, {} as PacketIOCallbacks), TypeError);
  t.throws(() => new PacketIO(999999, { mode: 'read', maxPacket: 10, batch: 1 }, { onPackets: noop }));
  // a is still open and usable after the failed constructions
  const io = new PacketIO(a, { mode: 'msg', maxPacket: 10, batch: 1, closeOnDestroy: false }, { onPackets: noop });
  t.equal(io.write(Buffer.from('ok')), 1);
  io.close();
  const buf = Buffer.alloc(10);
  t.equal(fs.readSync(b, buf), 2, 'closeOnDestroy:false left the fd open');
});

// Behaviour that involves uncaught exceptions and GC runs in a child process
// so the tap harness does not see (or swallow) them.
t.test('exceptions in callbacks reach uncaughtException; close inside callbacks is safe', async (t) => {
  const indexJs = require.resolve('../../src/native/index');
  const script = `
    const n = require(${JSON.stringify(indexJs)});
    let uncaught = 0, after = 0, closedInside = 0;
    process.on('uncaughtException', (e) => { if (e.message === 'boom') uncaught++; });
    const [a, b] = n.seqpacketPair();
    const w = new n.PacketIO(a, { mode: 'msg', maxPacket: 100, batch: 1 }, { onPackets() {} });
    let first = true;
    const r = new n.PacketIO(b, { mode: 'msg', maxPacket: 100, batch: 1 }, {
      onPackets() { if (first) { first = false; throw new Error('boom'); } after++; },
    });
    r.start();
    w.write(Buffer.from('1')); w.write(Buffer.from('2'));
    // many objects closed from inside their own callbacks, then collected
    let pending = 200;
    for (let i = 0; i < 200; i++) {
      const [x, y] = n.seqpacketPair();
      const wx = new n.PacketIO(x, { mode: 'msg', maxPacket: 100, batch: 4 }, { onPackets() {} });
      const ry = new n.PacketIO(y, { mode: 'msg', maxPacket: 100, batch: 4 }, {
        onPackets() { ry.close(); ry.close(); closedInside++; wx.close(); if (--pending === 0) done(); },
      });
      ry.start();
      wx.write(Buffer.from('hi')); wx.write(Buffer.from('again'));
    }
    function done() {
      setTimeout(() => {
        global.gc(); global.gc();
        setTimeout(() => {
          console.log(JSON.stringify({ uncaught, after, closedInside }));
          w.close(); r.close();
        }, 50);
      }, 20);
    }
  `;
  const res = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 20000 });
  t.equal(res.status, 0, res.stderr);
  const out = JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}');
  t.same(out, { uncaught: 1, after: 1, closedInside: 200 });

  const crash = spawnSync(
    process.execPath,
    [
      '-e',
      `const n = require(${JSON.stringify(indexJs)});
       const [a, b] = n.seqpacketPair();
       const r = new n.PacketIO(b, { mode: 'msg', maxPacket: 100, batch: 1 }, { onPackets() { throw new Error('unhandled boom'); } });
       r.start();
       new n.PacketIO(a, { mode: 'msg', maxPacket: 100, batch: 1 }, { onPackets() {} }).write(Buffer.from('x'));`,
    ],
    { encoding: 'utf8', timeout: 20000 },
  );
  t.not(crash.status, 0);
  t.equal(crash.signal, null, 'no abort/segfault');
  t.match(crash.stderr, /unhandled boom/);
  t.equal(crash.status, 1, 'exit code of an ordinary uncaught exception');
});
