/**
 * Bulk traffic through the tunnel with Debian's openconnect, over CSTP and then over DTLS.
 *
 * CSTP: openconnect reads exactly one CSTP packet per TLS record and drops the connection
 * otherwise ("Unexpected packet length"). The worker writes runs of full-MTU frames as one
 * buffer cut into one record per frame (src/worker/tunnel.ts cutRecordsAt) and hands the
 * records of one socket read to the tun together; this shows that bursts in both directions,
 * with packets of every size between them, arrive intact on one unbroken connection.
 */
import t from 'tap';
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
const SEND = `
const { createHash, randomBytes } = require('node:crypto');
const srv = require('node:net').createServer(async (c) => {
  c.setNoDelay(true);
  const h = createHash('sha256');
  let left = 24 << 20;
  for (let i = 1; left > 0; i++) {
    const b = randomBytes(Math.min(left, 1 + (i * 7919) % 65536));
    h.update(b);
    left -= b.length;
    if (!c.write(b)) await new Promise((r) => c.once('drain', r));
  }
  c.end(() => { console.log(h.digest('hex')); srv.close(); });
});
srv.listen(5202, process.argv[1]);`;
const RECEIVE = `
const h = require('node:crypto').createHash('sha256');
let n = 0;
require('node:net').connect(5202, process.argv[1]).on('data', (d) => { h.update(d); n += d.length; }).on('end', () => console.log(n, h.digest('hex')));`;

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
  const out = s.output();
  t.equal((out.match(/Established DTLS/g) ?? []).length, 1, 'one DTLS session throughout');
  t.notMatch(out, /Unknown packet|reconnect|DTLS.*(fail|error)/i, 'openconnect reports no bad datagram');
  t.equal(s.proc.exitCode, null, 'openconnect still runs');
});
