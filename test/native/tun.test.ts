// tun tests run in a network namespace this test creates: never touch the
// host's interfaces (test/helpers/in-netns.ts).
import { spawnSync } from 'node:child_process';
import { insideNetns, reportFromNetns, runInNetns } from '../helpers/in-netns';
import { onesSum } from '../helpers/tcp-packets';

const TUN_ADDR = '198.18.200.1';
const TUN_PEER = '198.18.200.2';
const TUN6_ADDR = '2001:2::1'; // RFC 5180 benchmarking range

if (insideNetns) reportFromNetns(inNetns);
else hostSide();

const checksum = (buf: Buffer): number => ~onesSum(buf) & 0xffff;

function ipv4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

/** A complete IPv4 ICMP echo request, as a client would send into the tunnel. */
function echoRequest(src: string, dst: string, id: number, seq: number, payload: Buffer): Buffer {
  const icmp = Buffer.alloc(8 + payload.length);
  icmp[0] = 8; // echo request
  icmp.writeUInt16BE(id, 4);
  icmp.writeUInt16BE(seq, 6);
  payload.copy(icmp, 8);
  icmp.writeUInt16BE(checksum(icmp), 2);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + icmp.length, 2);
  ip.writeUInt16BE(id, 4);
  ip[8] = 64; // TTL
  ip[9] = 1; // ICMP
  ipv4(src).copy(ip, 12);
  ipv4(dst).copy(ip, 16);
  ip.writeUInt16BE(checksum(ip), 10);
  return Buffer.concat([ip, icmp]);
}

interface EchoReply {
  src: string;
  dst: string;
  id: number;
  seq: number;
  payload: string;
}

function parseEchoReply(p: Buffer): EchoReply | null {
  if (p.length < 28 || p[0] >> 4 !== 4 || p[9] !== 1) return null;
  const ihl = (p[0] & 0xf) * 4;
  if (p[ihl] !== 0) return null; // not an echo reply
  return {
    src: [...p.subarray(12, 16)].join('.'),
    dst: [...p.subarray(16, 20)].join('.'),
    id: p.readUInt16BE(ihl + 4),
    seq: p.readUInt16BE(ihl + 6),
    payload: p.subarray(ihl + 8).toString(),
  };
}

async function inNetns() {
  // Loaded here so the host side never needs the addon to spawn the child.
  const n = await import('../../src/native/index');
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    return { status: r.status, out: r.stdout + r.stderr };
  };
  const tun = n.tunOpen('ocstest');
  n.tunConfigure(tun.name, { address: TUN_ADDR, peer: TUN_PEER, mtu: 1400 });
  const addr4 = run('ip', ['-4', 'addr', 'show', 'dev', tun.name]).out;
  const link = run('ip', ['link', 'show', 'dev', tun.name]).out;
  let v6 = '';
  let v6Error = '';
  try {
    n.tunConfigure6(tun.name, { address: TUN6_ADDR, prefix: 64 });
    // as main does per session: a /128 of its own, the MTU, a route to the client's prefix
    n.tunConfigure6(tun.name, { address: '2001:2::2', prefix: 128, mtu: 1400, route: '2001:3::', routePrefix: 64 });
    v6 = run('ip', ['-6', 'addr', 'show', 'dev', tun.name]).out;
    v6 += run('ip', ['-6', 'route', 'show', 'dev', tun.name]).out;
  } catch (e) {
    v6Error = String(e);
  }
  let mtu6Error = '';
  try {
    n.tunConfigure6(tun.name, { address: '2001:2::3', prefix: 128, mtu: 1000 });
  } catch (e) {
    mtu6Error = String(e);
  }
  let configureError: { code?: string; message: string } | null = null;
  try {
    n.tunConfigure('ocs-no-such0', { address: TUN_ADDR, peer: TUN_PEER, mtu: 1400 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    configureError = { code: err.code, message: err.message };
  }
  const second = n.tunOpen('ocstest');

  const replies: EchoReply[] = [];
  let events = 0;
  let maxPerEvent = 0;
  const io = new n.PacketIO(
    tun.fd,
    { mode: 'read', maxPacket: 1500, batch: 16, headroom: 8 },
    {
      onPackets(slab, lengths) {
        events++;
        maxPerEvent = Math.max(maxPerEvent, lengths.length);
        let off = 0;
        for (const len of lengths) {
          off += 8;
          const r = parseEchoReply(slab.subarray(off, off + len));
          if (r) replies.push(r);
          off += len;
        }
      },
    },
  );
  io.start();
  const wrote = io.write(echoRequest(TUN_PEER, TUN_ADDR, 0x4242, 1, Buffer.from('ping through tun')));
  const burst = io.writeMany([2, 3, 4].map((seq) => echoRequest(TUN_PEER, TUN_ADDR, 0x4242, seq, Buffer.from(`seq ${seq}`))));
  for (let i = 0; i < 300 && replies.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  const stats = io.stats();
  io.close();
  // The device goes away with its last fd.
  await new Promise((r) => setTimeout(r, 50));
  const afterClose = run('ip', ['link', 'show', 'dev', tun.name]);

  // Deleting the device under an open fd is the tun's EOF.
  let closes = 0;
  let errorsOnDelete = 0;
  const io2 = new n.PacketIO(second.fd, { mode: 'read', maxPacket: 1500, batch: 4 }, {
    onPackets() {},
    onClose: () => closes++,
    onError: () => errorsOnDelete++,
  });
  io2.start();
  const del = run('ip', ['link', 'del', 'dev', second.name]);
  for (let i = 0; i < 200 && closes === 0; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 30));
  io2.close();

  // closeFdAsync: the last close, which removes a configured device, off the event loop
  const third = n.tunOpen('ocstest');
  n.tunConfigure(third.name, { address: TUN_ADDR, peer: TUN_PEER, mtu: 1400 });
  let turns = 0;
  const ticking = setInterval(() => turns++, 0);
  await n.closeFdAsync(third.fd);
  clearInterval(ticking);
  const asyncGone = run('ip', ['link', 'show', 'dev', third.name]).status !== 0;
  const badClose = await n.closeFdAsync(third.fd).then(() => 'resolved', (e: NodeJS.ErrnoException) => e.code);
  return {
    asyncGone,
    asyncTurns: turns,
    badClose,
    name: tun.name,
    secondName: second.name,
    addr4,
    link,
    v6,
    v6Error,
    mtu6Error,
    configureError,
    wrote,
    burst,
    replies,
    events,
    maxPerEvent,
    stats,
    goneAfterClose: afterClose.status !== 0,
    deleted: del.status === 0 ? 'ok' : del.out,
    closesAfterDelete: closes,
    errorsOnDelete,
  };
}

function hostSide() {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const t = (require('tap') as typeof import('tap')).t;

  const skip = process.getuid?.() !== 0 ? 'needs root (ip netns, /dev/net/tun)' : false;
  t.test('tun device inside a private network namespace', { skip }, async (t) => {
    const r = runInNetns(t, __filename);
    if (!r) return;

    t.equal(r.name, 'ocstest0', 'the kernel picked ocstest0 for "ocstest"');
    t.equal(r.secondName, 'ocstest1', 'and ocstest1 for the next one');
    t.match(r.addr4, new RegExp(`inet ${TUN_ADDR.replace(/\./g, '\\.')} peer ${TUN_PEER.replace(/\./g, '\\.')}/32`));
    t.match(r.link, /mtu 1400/);
    t.match(r.link, /<[^>]*\bUP\b[^>]*>/);
    t.match(r.link, /POINTOPOINT/);
    if (r.v6Error) t.fail(`tunConfigure6: ${r.v6Error}`);
    else {
      t.match(r.v6, /inet6 2001:2::1\/64/);
      t.match(r.v6, /inet6 2001:2::2\/128/);
      t.match(r.v6, /2001:3::\/64 metric 1/, 'the route to the client prefix, metric 1 as ocserv');
    }
    t.match(r.mtu6Error, /RangeError: opts.mtu must be in \[1280, 65535\]/, 'IPv6 refuses an MTU below 1280');
    t.equal(r.configureError?.code, 'ENODEV');
    t.match(r.configureError?.message, /SIOCSIFADDR ocs-no-such0.*No such device/);

    t.equal(r.wrote, 1, 'echo request written to the tun');
    t.equal(r.burst, 3, 'writeMany wrote 3 packets');
    const seqs = (r.replies as EchoReply[]).map((x) => x.seq).sort();
    t.same(seqs, [1, 2, 3, 4], 'the kernel answered every echo request');
    const first = (r.replies as EchoReply[]).find((x) => x.seq === 1);
    t.same(first, { src: TUN_ADDR, dst: TUN_PEER, id: 0x4242, seq: 1, payload: 'ping through tun' });
    t.equal(r.stats.txPackets, 4);
    t.ok(r.stats.rxPackets >= 4);
    t.ok(r.goneAfterClose, 'closing the last fd removed the device');
    t.equal(r.deleted, 'ok');
    t.equal(r.closesAfterDelete, 1, 'deleting the device calls onClose once');
    t.equal(r.errorsOnDelete, 0);
    t.ok(r.asyncGone, 'closeFdAsync of the last fd removed the device');
    t.ok(r.asyncTurns > 0, 'and the event loop turned meanwhile');
    t.equal(r.badClose, 'EBADF', 'closeFdAsync of a closed fd rejects with EBADF');
    t.comment(`tun reads: ${r.events} events, up to ${r.maxPerEvent} packets per event`);
  });
}
