/**
 * A tun opened with a virtio-net header (main opens every session's so), through the real
 * kernel, in a network namespace this test creates: PacketIO strips the header from what it
 * reads, and a run of a client's TCP segments written as one packet (src/native/
 * tun_offload.h) is taken by the kernel's TCP as the same bytes in one go, and is cut back
 * into the same segments, with checksums that verify, when the kernel forwards it. With
 * offload on, what a TCP sender sends through the tun comes out of PacketIO as whole
 * segments of at most the MTU with checksums that verify, however the kernel packed it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { insideNetns, reportFromNetns, runInNetns } from '../helpers/in-netns';
import { until } from '../helpers/wait';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN, parseTcp, tcpSegment, type ParsedSegment } from '../helpers/tcp-packets';

const MSS = 1300;
const FAMILIES = {
  v4: { local: '198.18.201.1', peer: '198.18.201.2', beyond: '198.18.202.5', route: ['198.18.202.0/24'] },
  v6: { local: '2001:2::1', peer: '2001:2::2', beyond: '2001:5::5', route: ['-6', '2001:5::/64'] },
};

if (insideNetns) reportFromNetns(inNetns);
else hostSide();

type Native = typeof import('../../src/native/index');

/**
 * The TCP segments a PacketIO on this tun reads (those `keep` takes); how many read were
 * not IP at all, and how many TCP segments had a checksum that does not verify.
 */
function reader(n: Native, fd: number, keep: (s: ParsedSegment) => boolean = () => true) {
  const got: ParsedSegment[] = [];
  let notIp = 0;
  let badChecksums = 0;
  const io = new n.PacketIO(fd, { mode: 'read', maxPacket: 1500, batch: 64, closeOnDestroy: false }, {
    onPackets(slab, lengths) {
      let off = 0;
      for (const len of lengths) {
        const p = Buffer.from(slab.subarray(off, off + len));
        off += len;
        if (p[0] >> 4 !== 4 && p[0] >> 4 !== 6) notIp++;
        const s = parseTcp(p);
        if (s && !s.checksumOk) badChecksums++;
        if (s && keep(s)) got.push(s);
      }
    },
  });
  io.start();
  return { io, got, notIp: () => notIp, badChecksums: () => badChecksums };
}

/**
 * Sends, and sends again every 300 ms until done: a receiver whose socket has not been read
 * yet (a loaded machine) may have a closed window and drop what comes, as a sender's
 * retransmissions would cover.
 */
async function deliver(what: string, send: () => void, done: () => boolean): Promise<void> {
  let last = 0;
  await until(what, () => {
    if (done()) return true;
    if (Date.now() - last >= 300) {
      send();
      last = Date.now();
    }
    return false;
  }, 15_000);
}

const rxPackets = (dev: string) => Number(readFileSync(`/sys/class/net/${dev}/statistics/rx_packets`, 'utf8'));

/** seq + i segments of MSS bytes from data, the last of the run with PSH */
function run(f: typeof FAMILIES.v4, dst: string, dport: number, seq: number, ack: number, data: Buffer, sport = 40000): Buffer[] {
  const n = Math.ceil(data.length / MSS);
  return Array.from({ length: n }, (_, i) => tcpSegment({
    src: f.peer, dst, sport, dport, seq: (seq + i * MSS) >>> 0, ack, window: 65535, id: i,
    flags: i === n - 1 ? TCP_ACK | TCP_PSH : TCP_ACK, payload: data.subarray(i * MSS, (i + 1) * MSS),
  }));
}

/** A connection to a listening socket behind the tun, its data written in coalesced runs. */
async function toLocalSocket(n: Native, tun: { fd: number; name: string }, f: typeof FAMILIES.v4) {
  const net = await import('node:net');
  const port = 7000;
  const received = createHash('sha256');
  let bytes = 0;
  let ended = false;
  const server = net.createServer((c) => c.on('data', (d) => { received.update(d); bytes += d.length; }).on('end', () => { ended = true; c.end(); }));
  await new Promise<void>((r) => server.listen(port, f.local, r));
  // a port of this connection's own: the previous one's last packets may still come
  const sport = isIPv6(f.local) ? 40006 : 40004;
  const { io, got, notIp, badChecksums } = reader(n, tun.fd, (s) => s.sport === port && s.dport === sport);
  const ISN = 0xfffff000; // the sequence numbers wrap within the connection
  const mssOption = Buffer.from([2, 4, MSS >> 8, MSS & 0xff]);
  await deliver('the SYN-ACK', () => io.write(tcpSegment({ src: f.peer, dst: f.local, sport, dport: port, seq: ISN, flags: TCP_SYN, window: 65535, options: mssOption })),
    () => got.some((s) => s.flags === (TCP_SYN | TCP_ACK)));
  const synAck = got.find((s) => s.flags === (TCP_SYN | TCP_ACK))!;
  const ack = (synAck.seq + 1) >>> 0;
  let seq = (ISN + 1) >>> 0;
  io.write(tcpSegment({ src: f.peer, dst: f.local, sport, dport: port, seq, ack, window: 65535 }));
  const data = randomBytes(120 * MSS - 500); // three runs of 40, the last one short
  const rx0 = rxPackets(tun.name);
  let segments = 0;
  const acked = (upTo: number) => got.some((s) => (s.flags & TCP_ACK) !== 0 && ((s.ack - upTo) | 0) >= 0);
  for (let off = 0; off < data.length;) {
    // within the window the socket last advertised, at most 40 segments at once
    const last = got[got.length - 1];
    const room = Math.min(40 * MSS, ((last.ack + last.window - seq) | 0), data.length - off);
    const chunk = data.subarray(off, off + Math.max(room, MSS));
    const segs = run(f, f.local, port, seq, ack, chunk, sport);
    const end = (seq + chunk.length) >>> 0;
    await deliver('the acknowledgement of a run', () => {
      io.writeMany(segs);
      segments += segs.length;
    }, () => acked(end));
    off += chunk.length;
    seq = end;
  }
  const rx = rxPackets(tun.name) - rx0;
  await deliver('the end of the stream', () => io.write(tcpSegment({ src: f.peer, dst: f.local, sport, dport: port, seq, ack, window: 65535, flags: TCP_ACK | TCP_FIN })), () => ended);
  const stats = io.stats();
  io.close();
  server.close();
  return {
    sent: data.length, bytes, same: received.digest('hex') === createHash('sha256').update(data).digest('hex'),
    segments, rx, coalesced: stats.coalesced, notIp: notIp(), badChecksums: badChecksums(),
  };
}

/** A run to an address routed out of a second tun: what the kernel forwards there. */
async function forwarded(n: Native, tun: { fd: number }, out: { fd: number }, f: typeof FAMILIES.v4) {
  const { io } = reader(n, tun.fd);
  const { io: outIo, got } = reader(n, out.fd);
  const data = randomBytes(30 * MSS + 500);
  const segs = run(f, f.beyond, 9, 0xffffff00, 1, data);
  io.writeMany(segs);
  await until('the forwarded segments', () => got.length >= segs.length, 2000).catch(() => {});
  const stats = io.stats();
  io.close();
  outIo.close();
  const sent = segs.map((s) => parseTcp(s)!);
  return {
    segments: segs.length,
    coalesced: stats.coalesced,
    got: got.length,
    sameSegments: got.length === sent.length && got.every((g, i) => g.seq === sent[i].seq && g.payload.equals(sent[i].payload)),
    checksumsOk: got.every((g) => g.checksumOk && g.ipChecksumOk),
    pushOnLastOnly: got.map((g) => (g.flags & TCP_PSH ? 1 : 0)).join(''),
  };
}

/**
 * With offload on, a kernel TCP sender's data to the tun's peer, read back the way a worker
 * reads it (lent slab, headroom, a small batch so that a GSO packet's segments overflow it),
 * with the peer's side of the connection played here: SYN-ACK and acknowledgements.
 */
async function fromLocalSender(n: Native, tun: { fd: number }, local: string, peer: string) {
  const net = await import('node:net');
  const data = randomBytes(3 << 20);
  const chunks = new Map<number, Buffer>();
  let isn = 0;
  let next = 0; // the next byte expected, counted from the first data byte
  let finSeen = false;
  let deliveries = 0;
  let most = 0;
  let tooLong = 0;
  let badChecksums = 0;
  const reply = (to: ParsedSegment, flags: number, seq: number) => io.write(tcpSegment({
    src: peer, dst: local, sport: to.dport, dport: to.sport, seq, ack: (isn + 1 + next + (finSeen ? 1 : 0)) >>> 0, flags, window: 65535,
  }));
  const io = new n.PacketIO(tun.fd, { mode: 'read', maxPacket: 1500 + 64, batch: 4, headroom: 8, lend: true, closeOnDestroy: false }, {
    onPackets(slab, lengths) {
      deliveries++;
      most = Math.max(most, lengths.length);
      let off = 0;
      let last: ParsedSegment | undefined;
      for (const len of lengths) {
        off += 8;
        const p = Buffer.from(slab.subarray(off, off + len));
        off += len;
        if (len > 1500) tooLong++;
        const s = parseTcp(p);
        if (!s || s.dport !== 7001) continue;
        if (!s.checksumOk || !s.ipChecksumOk) badChecksums++;
        if (s.flags & TCP_SYN) {
          isn = s.seq;
          reply(s, TCP_SYN | TCP_ACK, 1000);
          continue;
        }
        const at = (s.seq - isn - 1) >>> 0;
        if (s.payload.length && at === next) {
          chunks.set(at, s.payload);
          next += s.payload.length;
        }
        if (s.flags & TCP_FIN && at + s.payload.length === next) finSeen = true;
        last = s;
      }
      if (last) reply(last, TCP_ACK, 1001);
    },
  });
  io.start();
  const sock = net.connect({ port: 7001, host: peer, localAddress: local });
  sock.on('error', () => {});
  sock.end(data);
  await until('the whole stream', () => finSeen, 20_000);
  const stats = io.stats();
  sock.destroy();
  io.close();
  const got = Buffer.concat([...chunks.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  return { same: got.equals(data), bytes: got.length, sent: data.length, split: stats.split, segments: stats.rxPackets, deliveries, most, tooLong, badChecksums };
}

async function inNetns() {
  const n = await import('../../src/native/index');
  const sh = (...args: string[]) => {
    const r = spawnSync(args[0], args.slice(1), { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')}: ${r.stderr}`);
  };
  const tun = n.tunOpen('ocsvnet', { vnetHdr: true });
  n.tunConfigure(tun.name, { address: FAMILIES.v4.local, peer: FAMILIES.v4.peer, mtu: 1500 });
  n.tunConfigure6(tun.name, { address: FAMILIES.v6.local, prefix: 64 });
  const out = n.tunOpen('ocsplain');
  n.tunConfigure(out.name, { address: '198.18.203.1', peer: '198.18.203.2', mtu: 1500 });
  n.tunConfigure6(out.name, { address: '2001:4::1', prefix: 64 });
  sh('sysctl', '-qw', 'net.ipv4.ip_forward=1');
  sh('sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1');
  const result: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(FAMILIES)) {
    sh('ip', ...f.route.slice(0, -1), 'route', 'add', f.route[f.route.length - 1], 'dev', out.name);
    result[name] = { local: await toLocalSocket(n, tun, f), forwarded: await forwarded(n, tun, out, f) };
  }
  const off = n.tunOpen('ocsoff', { vnetHdr: true, offload: true });
  n.tunConfigure(off.name, { address: '198.18.204.1', peer: '198.18.204.2', mtu: 1500 });
  n.tunConfigure6(off.name, { address: '2001:6::1', prefix: 64 });
  result.offload = {
    v4: await fromLocalSender(n, off, '198.18.204.1', '198.18.204.2'),
    v6: await fromLocalSender(n, off, '2001:6::1', '2001:6::2'),
  };
  return result;
}

function hostSide() {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const t = (require('tap') as typeof import('tap')).t;
  t.test('a tun with virtio-net headers, through the kernel', async (t) => {
    const r = runInNetns(t, __filename);
    if (!r) return;
    for (const family of Object.keys(FAMILIES)) {
      const { local, forwarded } = r[family];
      t.equal(local.bytes, local.sent, `${family}: every byte written in coalesced runs reached the socket`);
      t.ok(local.same, `${family}: the same bytes in the same order`);
      t.equal(local.notIp, 0, `${family}: what PacketIO read was IP packets, the header taken off`);
      t.equal(local.badChecksums, 0, `${family}: and the kernel's own checksums verify`);
      t.equal(local.coalesced, local.segments, `${family}: every data segment went within a coalesced write`);
      t.ok(local.rx * 10 < local.segments, `${family}: the tun received ${local.rx} packets for ${local.segments} segments`);
      t.equal(forwarded.coalesced, forwarded.segments, `${family}: the forwarded run went as one write`);
      t.equal(forwarded.got, forwarded.segments, `${family}: the kernel forwarded as many segments as were written`);
      t.ok(forwarded.sameSegments, `${family}: each with its sequence number and payload`);
      t.ok(forwarded.checksumsOk, `${family}: and TCP and IP checksums that verify`);
      t.equal(forwarded.pushOnLastOnly, '0'.repeat(forwarded.segments - 1) + '1', `${family}: PSH on the last segment only`);
    }
    for (const family of Object.keys(FAMILIES)) {
      const o = r.offload[family];
      t.equal(o.bytes, o.sent, `${family} offload: every byte a local TCP sender sent through the tun was read`);
      t.ok(o.same, `${family} offload: the same bytes in the same order`);
      t.ok(o.split > 0, `${family} offload: the kernel handed over GSO packets (${o.split}), cut into ${o.segments} packets`);
      t.equal(o.tooLong, 0, `${family} offload: none longer than the MTU`);
      t.equal(o.badChecksums, 0, `${family} offload: every TCP and IP checksum verifies`);
      t.ok(o.most <= 4, `${family} offload: never more packets at once than the batch (at most ${o.most}, in ${o.deliveries} deliveries)`);
    }
  });
}
