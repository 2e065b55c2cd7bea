/**
 * compression, compression-algo-priority and no-compress-limit with Debian's openconnect:
 * the encodings the CONNECT answer names for CSTP and DTLS (as openconnect reports them),
 * ping and iperf3 through compressed CSTP and DTLS with the bytes on the wire well below
 * the bytes carried, openconnect's --compression modes, short packets left uncompressed,
 * and malformed compressed packets ending only their own connection, with a log line.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, removeStaleNamespaces, startServer, udpCounter,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const USER = { name: 'alice', password: 'alice pw' };
/** an address of the server reached only through the tunnel, where iperf3 listens */
const TARGET = '198.18.252.1';
const CLIENT = join(__dirname, '..', 'helpers', 'compressed-client.js');
const BASE = `route = ${TARGET}/32`;

let topo: Topology;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  await topo.exec(topo.serverNs, 'ip', ['addr', 'add', `${TARGET}/32`, 'dev', 'lo'], { check: true });
  topo.spawn(topo.serverNs, 'iperf3', ['-s', '-B', TARGET, '-p', '5201']);
});
t.teardown(() => topo?.cleanup());

async function withServer(extraConfig: string, fn: (server: ServerHandle) => Promise<void>): Promise<void> {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [USER], extraConfig: `${BASE}\n${extraConfig}` });
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

async function connect(server: ServerHandle, o: { dtls: boolean; args?: string[] }): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, {
    url: server.url, user: USER.name, password: USER.password, servercert: server.pin, noDtls: !o.dtls, extraArgs: o.args, timeoutMs: 30_000,
  });
  if (o.dtls) {
    await s.waitForOutput(/Established DTLS connection/, 15_000);
    await new Promise((r) => setTimeout(r, 700)); // openconnect probes the DTLS MTU first
  }
  return s;
}

/** bytes through the server's veth so far, each way */
async function wire(): Promise<{ rx: number; tx: number }> {
  const r = await topo.exec(topo.serverNs, 'ip', ['-s', '-j', 'link', 'show', 'dev', topo.serverIf], { check: true });
  const s = (JSON.parse(r.stdout) as Array<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>)[0].stats64;
  return { rx: s.rx.bytes, tx: s.tx.bytes };
}

/** `count` pings of `size` bytes of 0xff (compressible); the wire bytes each way and the replies */
async function pingPattern(count: number, size: number): Promise<{ received: number; rx: number; tx: number; udp: number }> {
  const w0 = await wire();
  const u0 = await udpCounter(topo, topo.serverNs, 'InDatagrams');
  const r = await topo.exec(topo.clientNs, 'ping', ['-n', '-c', String(count), '-i', '0.2', '-W', '2', '-p', 'ff', '-s', String(size), TARGET],
    { timeoutMs: (count + 10) * 1000 });
  const w1 = await wire();
  const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
  return { received, rx: w1.rx - w0.rx, tx: w1.tx - w0.tx, udp: (await udpCounter(topo, topo.serverNs, 'InDatagrams')) - u0 };
}

const COUNT = 20;
const SIZE = 1200;
/** the IP packets' bytes each way: ICMP payload + 8 ICMP + 20 IP */
const CARRIED = COUNT * (SIZE + 28);

async function expectShrunk(t: Test, how: string): Promise<void> {
  const p = await pingPattern(COUNT, SIZE);
  t.equal(p.received, COUNT, `${how}: every ping answered`);
  t.ok(p.rx < CARRIED / 3, `${how}: client to server ${p.rx} bytes on the wire for ${CARRIED} carried`);
  t.ok(p.tx < CARRIED / 3, `${how}: server to client ${p.tx} bytes on the wire for ${CARRIED} carried`);
}

/** iperf3 with a repeating payload, both directions: bytes carried and bytes on the wire */
async function iperf(t: Test, how: string): Promise<void> {
  for (const reverse of [false, true]) {
    let out: { end?: { sum_received?: { bytes?: number } }; error?: string } = {};
    const w0 = await wire();
    for (let attempt = 0; attempt < 3; attempt++) {
      const r = await topo.exec(topo.clientNs, 'iperf3', ['-c', TARGET, '-p', '5201', '-t', '2', '-J', '--repeating-payload', ...(reverse ? ['-R'] : [])],
        { timeoutMs: 30_000 });
      out = JSON.parse(r.stdout || '{}') as typeof out;
      if (out.end?.sum_received?.bytes) break;
      await new Promise((res) => setTimeout(res, 1000)); // the server runs one test at a time
    }
    const w1 = await wire();
    const carried = out.end?.sum_received?.bytes ?? 0;
    const onWire = reverse ? w1.tx - w0.tx : w1.rx - w0.rx;
    const dir = reverse ? 'server to client' : 'client to server';
    t.ok(carried > 1_000_000, `${how}, iperf3 ${dir}: ${carried} bytes carried ${out.error ?? ''}`);
    t.ok(onWire < carried / 2, `${how}, iperf3 ${dir}: ${onWire} bytes on the wire`);
  }
}

t.test('compression = true: openconnect (stateless, its default) gets LZ4 on CSTP and DTLS; ping and iperf3 shrink on the wire', async (t) => {
  await withServer('compression = true', async (server) => {
    const s = await connect(server, { dtls: true });
    await s.waitForOutput(/DTLS connection compression using LZ4/);
    t.match(s.output(), /with SSL \+ LZ4 connected/, 'openconnect: CSTP compressed with LZ4');
    t.match(server.output(), /"cstp":"oc-lz4","dtls":"oc-lz4","msg":"compression negotiated"/, 'the server says so too');
    const p = await pingPattern(COUNT, SIZE);
    t.ok(p.udp >= COUNT, `the pings went over DTLS (${p.udp} UDP datagrams)`);
    await expectShrunk(t, 'DTLS + LZ4');
    await iperf(t, 'DTLS + LZ4');
    await s.disconnect();
  });
});

t.test('compression over CSTP alone (--no-dtls)', async (t) => {
  await withServer('compression = true', async (server) => {
    const s = await connect(server, { dtls: false });
    t.match(s.output(), /with SSL \+ LZ4 connected/, 'openconnect: CSTP compressed with LZ4');
    await expectShrunk(t, 'CSTP + LZ4');
    await iperf(t, 'CSTP + LZ4');
    await s.disconnect();
  });
});

t.test('compression-algo-priority = lzs:100 makes LZS win; LZS both ways on CSTP and DTLS', async (t) => {
  await withServer('compression = true\ncompression-algo-priority = lzs:100', async (server) => {
    const s = await connect(server, { dtls: true });
    await s.waitForOutput(/DTLS connection compression using LZS/);
    t.match(s.output(), /with SSL \+ LZS connected/, 'CSTP: LZS');
    await expectShrunk(t, 'DTLS + LZS');
    await iperf(t, 'DTLS + LZS');
    await s.disconnect();
    const c = await connect(server, { dtls: false });
    await expectShrunk(t, 'CSTP + LZS');
    await c.disconnect();
  });
});

t.test('openconnect --compression=all (deflate offered on CSTP too), =stateless and =none', async (t) => {
  await withServer('compression = true', async (server) => {
    const all = await connect(server, { dtls: false, args: ['--compression=all'] });
    t.match(all.output(), /with SSL \+ LZ4 connected/, 'all: the server answers LZ4, not deflate');
    await expectShrunk(t, '--compression=all');
    await all.disconnect();
    const stateless = await connect(server, { dtls: true, args: ['--compression=stateless'] });
    await stateless.waitForOutput(/DTLS connection compression using LZ4/);
    await expectShrunk(t, '--compression=stateless');
    await stateless.disconnect();
    const none = await connect(server, { dtls: false, args: ['--compression=none'] });
    t.match(none.output(), /with SSL connected/, 'none: no compression');
    t.notMatch(none.output(), /Content-Encoding/, 'none: the server names no encoding');
    t.equal((await pingPattern(3, 200)).received, 3, 'none: traffic flows');
    await none.disconnect();
  });
});

t.test('compression off (the default): the same client sends and gets packets as they are', async (t) => {
  await withServer('', async (server) => {
    const s = await connect(server, { dtls: false });
    t.match(s.output(), /with SSL connected/, 'openconnect: no compression');
    t.notMatch(server.output(), /compression negotiated/, 'the server took none');
    const p = await pingPattern(COUNT, SIZE);
    t.equal(p.received, COUNT, 'every ping answered');
    t.ok(p.tx > CARRIED, `server to client: ${p.tx} bytes on the wire for ${CARRIED} carried`);
    await s.disconnect();
  });
});

t.test('no-compress-limit: packets up to the limit go uncompressed, longer ones compressed', async (t) => {
  await withServer('compression = true\nno-compress-limit = 300', async (server) => {
    const s = await connect(server, { dtls: false });
    // 228-byte packets: at or under the limit; 528-byte packets: over it
    const short = await pingPattern(COUNT, 200);
    const long = await pingPattern(COUNT, 500);
    t.equal(short.received + long.received, 2 * COUNT, 'every ping answered');
    t.ok(short.tx > COUNT * 228, `short: ${short.tx} bytes on the wire (uncompressed)`);
    t.ok(long.tx < short.tx, `long: ${long.tx} bytes on the wire, fewer than for the short ones (compressed)`);
    await s.disconnect();
  });
});

t.test('malformed compressed packets end only their own connection, with a log line', async (t) => {
  await withServer('compression = true', async (server) => {
    const bystander = await connect(server, { dtls: false });
    const cases: Array<[string, string | null, RegExp]> = [
      ['bad-lzs', 'lzs', /bad compressed CSTP packet: LZS: match 100 bytes back/],
      ['bomb-lz4', 'oc-lz4', /bad compressed CSTP packet: LZ4: output exceeds/],
      ['unnegotiated', null, /compressed CSTP packet but no compression was negotiated/],
    ];
    for (const [kase, encoding, logged] of cases) {
      const r = await topo.exec(topo.clientNs, process.execPath, [CLIENT, kase, topo.serverIp, String(server.files.port), USER.name, USER.password],
        { timeoutMs: 30_000 });
      const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { encoding?: string | null; closed?: boolean; error?: string };
      t.notOk(res.error, `${kase}: ran`);
      t.equal(res.encoding, encoding, `${kase}: the server answered ${encoding ?? 'no encoding'}`);
      t.equal(res.closed, true, `${kase}: the server closed that connection`);
      t.match(server.output(), logged, `${kase}: logged`);
    }
    t.match(server.output(), /malformed CSTP data; closing the session/, 'the worker says it closed that session');
    t.equal((await pingPattern(3, 500)).received, 3, 'the other session carries on');
    t.ok(bystander.proc.exitCode === null, 'its openconnect is still connected');
    await bystander.disconnect();
  });
});
