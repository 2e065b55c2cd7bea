/**
 * Bulk traffic through the tunnel with Debian's openconnect, over CSTP and then over DTLS.
 *
 * CSTP: openconnect reads exactly one CSTP packet per TLS record and drops the connection
 * otherwise ("Unexpected packet length"). The worker writes runs of full-MTU frames as one
 * buffer cut into one record per frame (src/worker/tunnel.ts cutRecordsAt) and hands the
 * records of one socket read to the tun together; this shows that bursts in both directions,
 * with packets of every size between them, arrive intact on one unbroken connection.
 */
import t, { type Test } from 'tap';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, udpCounter, type ServerHandle, type Topology, type VpnSession } from '../helpers/netns';

const TARGET = '198.18.252.1';
let topo: Topology;
let server: ServerHandle;
let s: VpnSession;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  await topo.exec(topo.serverNs, 'ip', ['addr', 'add', `${TARGET}/32`, 'dev', 'lo'], { check: true });
  server = await startServer(topo, { kind: 'ocserv-ts', users: [{ name: 'bulk', password: 'bulk pw' }], extraConfig: `route = ${TARGET}/32` });
  topo.spawn(topo.serverNs, 'iperf3', ['-s', '-B', TARGET, '-p', '5201']);
  await listening(5201);
  s = await connectOpenconnect(topo, { url: server.url, user: 'bulk', password: 'bulk pw', servercert: server.pin, noDtls: true, interfaceName: 'ocbulk' });
});
t.teardown(async () => {
  await s?.disconnect().catch(() => {});
  await server?.stop();
  await topo?.cleanup();
});

/** Until something in the server namespace listens on TARGET:port (10 s at most). */
async function listening(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await topo.exec(topo.serverNs, 'ss', ['-Hltn', `src ${TARGET}:${port}`])).stdout.trim()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function iperf(reverse: boolean): Promise<number> {
  const r = await topo.exec(topo.clientNs, 'iperf3', ['-c', TARGET, '-p', '5201', '-t', '3', '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: 30_000 });
  const j = JSON.parse(r.stdout) as { end?: { sum_received?: { bytes: number } }; error?: string };
  if (!j.end?.sum_received) throw new Error(`iperf3: ${j.error ?? r.stderr}`);
  return j.end.sum_received.bytes;
}

t.test('full-MTU bursts both ways over TLS: every packet arrives, the connection never breaks', async (t) => {
  const down = await iperf(true);
  const up = await iperf(false);
  t.ok(down > 1_000_000, `server to client carried ${down} bytes`);
  t.ok(up > 1_000_000, `client to server carried ${up} bytes`);
  // pings of many sizes between full frames: each must be its own record
  for (const size of [0, 56, 511, 1000, 1300]) {
    t.ok((await ping(topo, topo.clientNs, TARGET, { size, count: 2, iface: s.tundev })).ok, `a ${size}-byte ping`);
  }
  const out = s.output();
  t.notMatch(out, /Unexpected packet length|Unknown packet|reconnect/i, 'openconnect saw only whole packets, one per record');
  t.equal((out.match(/CSTP connected/g) ?? []).length, 1, 'one CSTP connection throughout');
  t.equal(s.proc.exitCode, null, 'openconnect still runs');
});

// What the worker writes to the TLS socket is copied into a ring it reuses as Node gives each
// write back (src/worker/write-ring.ts; its corner cases, a full ring and writes queued behind
// a full socket, are in test/worker/write-ring.test.ts). A download of writes of every size,
// so of runs of full frames and frames of their own, checked end to end.
/** writeAll(socket): 24 MB of random bytes in writes of every size; resolves to their SHA-256 */
const WRITE_ALL = `
const { createHash, randomBytes } = require('node:crypto');
async function writeAll(c) {
  const h = createHash('sha256');
  let left = 24 << 20;
  for (let i = 1; left > 0; i++) {
    const b = randomBytes(Math.min(left, 1 + (i * 7919) % 65536));
    h.update(b);
    left -= b.length;
    if (!c.write(b)) await new Promise((r) => c.once('drain', r));
  }
  return h.digest('hex');
}`;
/** readAll(socket, done): done(bytes, SHA-256) at the end of what the socket reads */
const READ_ALL = `
function readAll(c, done) {
  const h = require('node:crypto').createHash('sha256');
  let n = 0;
  c.on('data', (d) => { h.update(d); n += d.length; }).on('end', () => done(n, h.digest('hex')));
}`;
const SEND = `${WRITE_ALL}
const srv = require('node:net').createServer(async (c) => {
  c.setNoDelay(true);
  const hash = await writeAll(c);
  c.end(() => { console.log(hash); srv.close(); });
});
srv.listen(5202, process.argv[1]);`;
const RECEIVE = `${READ_ALL}
readAll(require('node:net').connect(5202, process.argv[1]), (n, hash) => console.log(n, hash));`;

t.test('a download over TLS in writes of every size arrives byte for byte', async (t) => {
  const sender = topo.spawn(topo.serverNs, process.execPath, ['-e', SEND, TARGET]);
  await listening(5202);
  const got = await topo.exec(topo.clientNs, process.execPath, ['-e', RECEIVE, TARGET], { timeoutMs: 60_000, check: true });
  await sender.exited;
  const [bytes, hash] = got.stdout.trim().split(' ');
  t.equal(Number(bytes), 24 << 20, 'every byte arrived');
  t.equal(hash, sender.output().trim(), 'the bytes the server sent, in order');
  t.notMatch(s.output(), /Unexpected packet length|Unknown packet|reconnect/i, 'openconnect saw only whole packets');
  t.equal(s.proc.exitCode, null, 'openconnect still runs');
});

// The other way the worker writes runs of the client's TCP segments to the tun as single
// packets (src/native/tun_offload.h): the server's TCP takes them in far fewer packets than
// the client sent, and every byte arrives in order.
const SINK = `${READ_ALL}
const srv = require('node:net').createServer((c) => readAll(c, (n, hash) => { console.log(n, hash); c.end(); srv.close(); }));
srv.listen(5203, process.argv[1]);`;
const SOURCE = `${WRITE_ALL}
const c = require('node:net').connect(5203, process.argv[1], async () => {
  const hash = await writeAll(c);
  c.end(() => console.log(hash));
});`;

/** packets the server's tun devices have received (what the workers wrote to them) */
async function tunRxPackets(): Promise<number> {
  const r = await topo.exec(topo.serverNs, 'sh', ['-c', 'for d in /sys/class/net/*; do [ -e $d/tun_flags ] && cat $d/statistics/rx_packets; done; true'], { check: true });
  return r.stdout.split('\n').filter(Boolean).reduce((a, b) => a + Number(b), 0);
}

async function upload(t: Test, over: string): Promise<void> {
  const sink = topo.spawn(topo.serverNs, process.execPath, ['-e', SINK, TARGET]);
  await listening(5203);
  const rx0 = await tunRxPackets();
  const sent = await topo.exec(topo.clientNs, process.execPath, ['-e', SOURCE, TARGET], { timeoutMs: 60_000, check: true });
  await sink.exited;
  const rx = (await tunRxPackets()) - rx0;
  const [bytes, hash] = sink.output().trim().split(' ');
  t.equal(Number(bytes), 24 << 20, `${over}: every byte arrived`);
  t.equal(hash, sent.stdout.trim(), `${over}: the bytes the client sent, in order`);
  const segments = (24 << 20) / 1400; // no segment carries more
  t.ok(rx < segments / 2, `${over}: the server's tun took them in ${rx} packets (the client sent at least ${Math.round(segments)} segments)`);
}

t.test('an upload over TLS arrives byte for byte, its segments coalesced on the tun', async (t) => {
  await upload(t, 'TLS');
  t.notMatch(s.output(), /Unexpected packet length|Unknown packet|reconnect/i, 'openconnect saw only whole packets');
  t.equal(s.proc.exitCode, null, 'openconnect still runs');
});

// Over DTLS the worker sends a run of equal-sized records as one UDP_SEGMENT send (src/native/
// packet_io.cc), which the kernel cuts into datagrams; openconnect must get every one whole.
t.test('full-MTU bursts both ways over DTLS: the traffic goes by UDP and the DTLS session stays up', async (t) => {
  await s.disconnect();
  s = await connectOpenconnect(topo, { url: server.url, user: 'bulk', password: 'bulk pw', servercert: server.pin, interfaceName: 'ocbulkd' });
  await s.waitForOutput(/Established DTLS/);
  const udpIn = () => udpCounter(topo, topo.clientNs, 'InDatagrams');
  const before = await udpIn();
  const down = await iperf(true);
  const datagrams = (await udpIn()) - before;
  const up = await iperf(false);
  t.ok(down > 1_000_000, `server to client carried ${down} bytes`);
  t.ok(up > 1_000_000, `client to server carried ${up} bytes`);
  t.ok(datagrams > down / 1500, `the download came as UDP datagrams (${datagrams})`);
  for (const size of [0, 56, 511, 1000, 1300]) {
    t.ok((await ping(topo, topo.clientNs, TARGET, { size, count: 2, iface: s.tundev })).ok, `a ${size}-byte ping`);
  }
  await upload(t, 'DTLS');
  const out = s.output();
  t.equal((out.match(/Established DTLS/g) ?? []).length, 1, 'one DTLS session throughout');
  t.notMatch(out, /Unknown packet|reconnect|DTLS.*(fail|error)/i, 'openconnect reports no bad datagram');
  t.equal(s.proc.exitCode, null, 'openconnect still runs');
});
