/**
 * The options that shape the client-facing sockets, with real openconnect:
 *  - listen-netns: ocserv-ts runs in the topology's server namespace (A), but its TCP and UDP
 *    sockets are made in a third namespace (B) that only B reaches the client through; tun
 *    devices, sec-mod and workers stay in A. TLS and DTLS both work; a namespace that does
 *    not exist stops the server at start with a clear message.
 *  - net-priority and output-buffer: seen on the server's TCP and UDP sockets with `ss`
 *    (class_id is SO_PRIORITY when no cgroup class is set, tos the IP type of service, tb
 *    the send buffer, twice what was set), per server and per user.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ocservTsCommand, ping, removeStaleNamespaces, serverEnv, serverTunAddress, stopProcess,
  writeServerFiles, type Topology, type VpnSession,
} from '../helpers/netns';
import { startOpsServer, until, type OpsServer } from '../helpers/ops-server';

const PORT = 4443;
const ALICE = { name: 'alice', password: 'alice pw' };
const BOB = { name: 'bob', password: 'bob pw' };
/** `mtu` makes ocserv's link MTU, and so the send buffers, exact: min(mtu, the client's link) */
const MTU = 1300;
const OUTPUT_BUFFER = 10;

let topo: Topology;
let netnsB = '';
let addrB = '';
let addrC = '';
let server: OpsServer;

/** `ip` on the host (namespace B is not one of the topology's, so topo.exec does not run there) */
function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}
function inB(cmd: string, args: string[]): string {
  return spawnSync('ip', ['netns', 'exec', netnsB, cmd, ...args], { encoding: 'utf8' }).stdout;
}
function removeB(): void {
  if (netnsB) spawnSync('ip', ['netns', 'del', netnsB]);
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  // B: its own veth to the client, on the /30 after the topology's (198.18.k.4/30)
  const k = topo.serverIp.split('.')[2];
  netnsB = `ocs-${topo.id}-b`;
  addrB = `198.18.${k}.5`;
  addrC = `198.18.${k}.6`;
  process.on('exit', removeB);
  ip(['netns', 'add', netnsB]);
  ip(['link', 'add', `v${topo.id}b`, 'netns', netnsB, 'type', 'veth', 'peer', 'name', `v${topo.id}d`, 'netns', topo.clientNs]);
  ip(['-n', netnsB, 'addr', 'add', `${addrB}/30`, 'dev', `v${topo.id}b`]);
  ip(['-n', netnsB, 'link', 'set', 'lo', 'up']);
  ip(['-n', netnsB, 'link', 'set', `v${topo.id}b`, 'up']);
  ip(['-n', topo.clientNs, 'addr', 'add', `${addrC}/30`, 'dev', `v${topo.id}d`]);
  ip(['-n', topo.clientNs, 'link', 'set', `v${topo.id}d`, 'up']);

  const perUser = topo.tempDir('per-user');
  mkdirSync(perUser, { recursive: true });
  writeFileSync(join(perUser, BOB.name), 'net-priority = 0x20\n');
  server = await startOpsServer(topo, {
    users: [ALICE, BOB],
    port: PORT,
    extraConfig: [
      `listen-host = ${addrB}`, `listen-netns = ${netnsB}`, `net-priority = 5`, `output-buffer = ${OUTPUT_BUFFER}`,
      `mtu = ${MTU}`, `config-per-user = ${perUser}/`,
    ].join('\n'),
  });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
  removeB();
});

const url = () => `https://${addrB}:${PORT}/`;

async function connect(t: Test, user: { name: string; password: string }): Promise<VpnSession> {
  const vpn = await connectOpenconnect(topo, { url: url(), user: user.name, password: user.password, servercert: server.pin, timeoutMs: 30_000 });
  t.teardown(() => vpn.disconnect());
  await vpn.waitForOutput(/Established DTLS connection/, 20_000);
  return vpn;
}

/** the server's socket to the client at addrC, as `ss` shows it in namespace B */
async function serverSocket(proto: 't' | 'u', clientPort: number): Promise<string> {
  return until(`the server's ${proto === 't' ? 'TCP' : 'UDP'} socket to ${addrC}:${clientPort}`, () => {
    const out = inB('ss', [`-H${proto}nm`, '--tos', `dst ${addrC}:${clientPort}`]).trim();
    return out || undefined;
  }, 10_000);
}

/** the client's own ports of its TCP (CSTP) and UDP (DTLS) sockets to the server */
async function clientPorts(): Promise<{ tcp: number; udp: number }> {
  const port = async (proto: 't' | 'u') => {
    // established only: a previous test's connection may still be closing
    const state = proto === 't' ? ['state', 'established'] : [];
    const out = (await topo.exec(topo.clientNs, 'ss', [`-H${proto}n`, ...state, `dst ${addrB}:${PORT}`])).stdout;
    const m = new RegExp(`${addrC.replace(/\./g, '\\.')}:(\\d+)`).exec(out);
    if (!m) throw new Error(`no ${proto} socket of the client:\n${out}`);
    return Number(m[1]);
  };
  return { tcp: await port('t'), udp: await port('u') };
}

t.test('the listening sockets are in namespace B, nothing listens in the server\'s own', async (t) => {
  t.match(server.logLines().find((l) => l.msg === 'listening'), { netns: netnsB, host: addrB });
  t.match(inB('ss', ['-Hltn']), `${addrB}:${PORT}`, 'TCP in B');
  t.match(inB('ss', ['-Hlun']), `${addrB}:${PORT}`, 'UDP in B');
  const own = (await topo.exec(topo.serverNs, 'ss', ['-Hltun'])).stdout;
  t.notMatch(own, `:${PORT} `, 'none in the server\'s namespace');
});

t.test('openconnect reaches B\'s address: TLS and DTLS work, the tunnel is in the server\'s namespace', async (t) => {
  const vpn = await connect(t, ALICE);
  t.pass('DTLS established through a per-client UDP socket made in B');
  const gw = await serverTunAddress(topo, vpn.address);
  t.ok(gw, 'the tun device is in the server\'s namespace');
  t.notMatch(inB('ip', ['-o', 'link']), /vpns/, 'and not in B');
  t.ok((await ping(topo, topo.clientNs, gw!, { count: 3 })).ok, 'traffic flows through the tunnel');
  const ports = await clientPorts();
  t.match(await serverSocket('u', ports.udp), `${addrB}:${PORT}`, 'the DTLS socket is B\'s, bound to the listen port');
});

t.test('net-priority and output-buffer on the TCP and UDP sockets, as ocserv sets them', async (t) => {
  await connect(t, ALICE);
  const ports = await clientPorts();
  const tcp = await serverSocket('t', ports.tcp);
  t.match(tcp, /class_id:0x5\b/, 'TCP: SO_PRIORITY 5');
  t.match(tcp, new RegExp(`\\btb${2 * MTU * OUTPUT_BUFFER}\\b`), `TCP: send buffer of ${OUTPUT_BUFFER} packets of ${MTU} bytes`);
  const udp = await serverSocket('u', ports.udp);
  t.match(udp, /class_id:0x5\b/, 'UDP: SO_PRIORITY 5');
  const tb = Number(/\btb(\d+)/.exec(udp)?.[1]);
  t.ok(tb > 0 && tb <= 4608, `UDP: 2048 bytes asked (ocserv's cap), the kernel's minimum kept (tb ${tb})`);
});

t.test('a per-user net-priority (a type of service) replaces the server\'s', async (t) => {
  await connect(t, BOB);
  const ports = await clientPorts();
  const tcp = await serverSocket('t', ports.tcp);
  t.match(tcp, /tos:0x20\b/, 'TCP: TOS 0x20');
  t.match(tcp, /class_id:0\b/, 'and no priority');
  t.match(await serverSocket('u', ports.udp), /tos:0x20\b/, 'UDP: TOS 0x20');
});

t.test('listen-netns naming no namespace: the server refuses to start and says why', async (t) => {
  const missing = `ocs-${topo.id}-none`;
  // files of its own: nothing of the running server's (sockets, pid file) is touched
  const files = await writeServerFiles(topo.tempDir('no-netns'), { listenHost: addrB, port: PORT + 1, users: [ALICE], extraConfig: `listen-netns = ${missing}` });
  const c = ocservTsCommand(['-f', '-c', files.confPath]);
  const proc = topo.spawn(topo.serverNs, c.cmd, c.args, { env: serverEnv() });
  const timer = setTimeout(() => void stopProcess(proc, 'SIGKILL'), 20_000);
  const { code } = await proc.exited;
  clearTimeout(timer);
  t.equal(code, 1, 'exit code 1');
  t.match(proc.output(), `listen-netns: there is no network namespace '${missing}' (/var/run/netns/${missing} does not exist`);
  t.match(proc.output(), /cannot start/);
});
