/**
 * RADIUS accounting as a billing system sees it: a real FreeRADIUS (in the server
 * namespace) writes every Accounting-Request to its `detail` file while Debian's openconnect
 * carries known traffic through ocserv-ts. Start, Interim-Update and Stop in order with one
 * Acct-Session-Id, octets equal to what the client's tun sent and received, the right
 * Acct-Terminate-Cause, Class echoed, and a Stop that waits out a RADIUS outage.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, removeStaleNamespaces, repoRoot, serverEnv, startServer, stopProcess,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { until } from '../helpers/wait';
import { readDetail, startFreeradius, type DetailRecord, type FreeradiusHandle, type RadiusUser } from '../helpers/freeradius';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const USERS: RadiusUser[] = [
  { name: 'alice', password: 'alice pw', reply: [['Class', 'OU=billing;'], ['Acct-Interim-Interval', '2']] },
  { name: 'bob', password: 'bob pw' },
  { name: 'carol', password: 'carol pw' },
  { name: 'dave', password: 'dave pw' },
];
const MB = 1024 * 1024;

let topo: Topology;
let fr: FreeradiusHandle;
let frDir: string;
let server: ServerHandle;

const radiusUp = () => startFreeradius({ users: USERS, topo, ns: topo.serverNs, dir: frDir, secret: 'ocs-acct-test' });

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  frDir = topo.tempDir('freeradius');
  fr = await radiusUp();
  const radcli = fr.writeRadcliConfig(join(topo.tempDir('radcli'), 'radiusclient.conf'), 'nas-identifier ocs-acct-nas\n');
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: [],
    udp: false,
    extraConfig: [
      `auth = "radius[config=${radcli},groupconfig=true]"`,
      `acct = "radius[config=${radcli}]"`,
      'use-occtl = true', 'stats-report-time = 60', 'idle-timeout = 600', 'route = 198.19.0.0/24',
    ].join('\n'),
  });
});
t.teardown(async () => {
  await server?.stop();
  await fr?.stop();
  await topo?.cleanup();
});

type Rec = DetailRecord;
const detail = (): Rec[] => readDetail(fr.detailPath);
const of = (user: string) => detail().filter((r) => r['User-Name'] === user);

/** until() with what the detail file and the server say, for a timeout */
const waitFor = <T>(what: string, get: () => T | undefined | false, ms = 20_000): Promise<T> => until(what, get, ms, () =>
  `detail file:\n${existsSync(fr.detailPath) ? readFileSync(fr.detailPath, 'utf8').slice(-4000) : '(none)'}\nserver:\n${server.output().slice(-3000)}`);

async function tunCounter(s: VpnSession, what: 'rx_bytes' | 'tx_bytes' | 'rx_packets' | 'tx_packets'): Promise<number> {
  const r = await topo.exec(topo.clientNs, 'cat', [`/sys/class/net/${s.tundev}/statistics/${what}`]);
  return Number(r.stdout.trim());
}

async function connect(user: string): Promise<VpnSession> {
  return connectOpenconnect(topo, { url: server.url, user, password: `${user} pw`, servercert: server.pin, interfaceName: `oc${user}`, noDtls: true });
}

/**
 * `up` bytes from the client to a sink on the server's tun address, then `down` bytes back,
 * each over TCP through the tunnel and acknowledged end to end (a byte count a test can trust).
 */
async function transfer(up: number, down: number): Promise<void> {
  const sink = `const n=require('net');let got=0;const s=n.createServer((c)=>{c.on('data',(d)=>{got+=d.length;if(got>=${up}){c.end(Buffer.alloc(${down}));s.close();}});}).listen(5301,'198.19.0.1',()=>console.log('ready'));`;
  const srv = topo.spawn(topo.serverNs, process.execPath, ['-e', sink]);
  for (let i = 0; i < 50 && !/ready/.test(srv.output()); i++) await new Promise((r) => setTimeout(r, 100));
  const client = `const n=require('net');let got=0;const c=n.connect(5301,'198.19.0.1',()=>c.write(Buffer.alloc(${up})));c.on('data',(d)=>{got+=d.length;});c.on('end',()=>{if(got!==${down})process.exit(2);c.end();});`;
  const r = await topo.exec(topo.clientNs, process.execPath, ['-e', client], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`transfer failed (${r.code}): ${r.stdout}${r.stderr}`);
  await srv.exited;
}

t.test('Start, Interim-Update, Stop: one session id, exact octets, Class echoed, User-Request', async (t) => {
  const s = await connect('alice');
  const start = await waitFor('Start', () => of('alice').find((r) => r['Acct-Status-Type'] === 'Start'));
  t.equal(start['Framed-IP-Address'], s.address);
  t.equal(start['Calling-Station-Id'], topo.clientIp);
  t.equal(start['NAS-Identifier'], 'ocs-acct-nas');
  t.match(start['Class'], /OU=billing;|0x4f553d62696c6c696e673b/, 'Class is echoed');

  await transfer(5 * MB, 5 * MB);
  // Acct-Interim-Interval = 2 from Access-Accept overrides stats-report-time = 60
  await waitFor('an Interim-Update', () => of('alice').find((r) => r['Acct-Status-Type'] === 'Interim-Update'));
  const sent = await tunCounter(s, 'tx_bytes');
  const received = await tunCounter(s, 'rx_bytes');
  const sentPackets = await tunCounter(s, 'tx_packets');
  await s.disconnect();
  const stop = await waitFor('Stop', () => of('alice').find((r) => r['Acct-Status-Type'] === 'Stop'));

  const recs = of('alice');
  t.same(recs.map((r) => r['Acct-Status-Type']).filter((k, i, a) => a.indexOf(k) === i), ['Start', 'Interim-Update', 'Stop'], 'in order');
  t.equal(new Set(recs.map((r) => r['Acct-Session-Id'])).size, 1, 'one Acct-Session-Id');
  t.equal(stop['Acct-Terminate-Cause'], 'User-Request');
  t.match(stop['Class'], /OU=billing;|0x4f553d62696c6c696e673b/, 'Class in the Stop too');
  const input = Number(stop['Acct-Input-Octets']) + Number(stop['Acct-Input-Gigawords'] ?? 0) * 2 ** 32;
  const output = Number(stop['Acct-Output-Octets']) + Number(stop['Acct-Output-Gigawords'] ?? 0) * 2 ** 32;
  t.ok(input >= 5 * MB, `input octets ${input} cover the 5 MiB uploaded`);
  t.ok(output >= 5 * MB, `output octets ${output} cover the 5 MiB downloaded`);
  // the counts are IP packets through the tun: exactly what the client's own tun counted
  t.equal(input, sent, 'Acct-Input-Octets = bytes the client sent into its tunnel');
  t.equal(output, received, 'Acct-Output-Octets = bytes the client received from it');
  t.equal(Number(stop['Acct-Input-Packets']), sentPackets);
  t.ok(Number(stop['Acct-Session-Time']) >= 1);
});

t.test('a client that reconnects with its cookie stays one accounting session', async (t) => {
  const auth = await openconnectAuthenticate(topo, { url: server.url, user: 'dave', password: 'dave pw', servercert: server.pin });
  t.ok(auth.cookie);
  const viaCookie = () => connectOpenconnect(topo, { url: server.url, user: '', password: '', cookie: auth.cookie!, servercert: server.pin, interfaceName: 'ocdave', noDtls: true });
  const first = await viaCookie();
  await waitFor('Start', () => of('dave').find((r) => r['Acct-Status-Type'] === 'Start'));
  await transfer(100_000, 100_000);
  const firstSent = await tunCounter(first, 'tx_bytes');
  await stopProcess(first.proc, 'SIGKILL');
  await new Promise((r) => setTimeout(r, 1000));
  const second = await viaCookie();
  t.equal(second.address, first.address, 'same address');
  await transfer(200_000, 200_000);
  const secondSent = await tunCounter(second, 'tx_bytes');
  await second.disconnect();
  const stop = await waitFor('Stop', () => of('dave').find((r) => r['Acct-Status-Type'] === 'Stop'));
  const recs = of('dave');
  t.equal(recs.filter((r) => r['Acct-Status-Type'] === 'Start').length, 1, 'one Start');
  t.equal(recs.filter((r) => r['Acct-Status-Type'] === 'Stop').length, 1, 'one Stop');
  t.equal(new Set(recs.map((r) => r['Acct-Session-Id'])).size, 1, 'one Acct-Session-Id across the reconnection');
  t.equal(Number(stop['Acct-Input-Octets']), firstSent + secondSent, 'the octets of both connections');
});

t.test('Acct-Terminate-Cause for an administrator\'s disconnect and an idle timeout', async (t) => {
  const s = await connect('bob');
  await waitFor('Start', () => of('bob').find((r) => r['Acct-Status-Type'] === 'Start'));
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, 'disconnect', 'user', 'bob'], { env: serverEnv() });
  t.equal(r.code, 0);
  const stop = await waitFor('Stop', () => of('bob').find((x) => x['Acct-Status-Type'] === 'Stop'));
  t.equal(stop['Acct-Terminate-Cause'], 'Admin-Reset');
  await s.proc.exited;

  // a second server on another port with a short idle timeout, same RADIUS
  const radcli = fr.writeRadcliConfig(join(topo.tempDir('radcli'), 'radiusclient.conf'), 'nas-identifier ocs-idle-nas\n');
  const idle = await startServer(topo, {
    kind: 'ocserv-ts', port: 4445, users: [], udp: false,
    extraConfig: [`auth = "radius[config=${radcli}]"`, `acct = "radius[config=${radcli}]"`, 'idle-timeout = 2'].join('\n'),
  });
  t.teardown(() => idle.stop());
  const c = await connectOpenconnect(topo, { url: idle.url, user: 'carol', password: 'carol pw', servercert: idle.pin, interfaceName: 'occarol', noDtls: true });
  const cstop = await waitFor('Stop after idle', () => of('carol').find((x) => x['Acct-Status-Type'] === 'Stop'));
  t.equal(cstop['Acct-Terminate-Cause'], 'Idle-Timeout');
  await c.proc.exited;
});

t.test('RADIUS down during a session: the Stop arrives once it is back', async (t) => {
  const before = of('carol').length;
  const s = await connect('carol');
  await waitFor('Start', () => of('carol').length > before && of('carol').at(-1)!['Acct-Status-Type'] === 'Start');
  await fr.stop();
  await s.disconnect();
  await new Promise((r) => setTimeout(r, 3000));
  t.match(server.output(), /RADIUS accounting server unreachable; will retry/);
  fr = await radiusUp();
  const stop = await waitFor('the delayed Stop', () => {
    const last = of('carol').at(-1);
    return last?.['Acct-Status-Type'] === 'Stop' && last;
  }, 90_000);
  t.equal(stop['Acct-Terminate-Cause'], 'User-Request');
  t.ok(Number(stop['Acct-Delay-Time']) >= 3, `Acct-Delay-Time says how late it is (${stop['Acct-Delay-Time']})`);
  t.ok(server.proc.exitCode === null, 'the server kept running');
});
