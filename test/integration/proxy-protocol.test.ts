/**
 * listen-proxy-proto: ocserv-ts behind a proxy that speaks the PROXY protocol (a small relay
 * in the server namespace, as HAProxy's send-proxy/send-proxy-v2). The client's own address
 * is what logs, occtl, scripts and bans see; the proxy's is only the TCP peer. DTLS goes
 * straight from the client to the UDP port. Connections without a valid header are closed.
 */
import t from 'tap';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ManagedProcess, type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const RELAY = join(__dirname, '..', 'helpers', 'proxy-relay.js');
const CLIENT = join(__dirname, '..', 'helpers', 'proxy-client.js');
const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const USERS = [{ name: 'alice', password: 'alice pw' }, { name: 'bob', password: 'bob pw' }];

let topo: Topology;
let server: ServerHandle;
let scriptDir: string;
const relays: Record<'v1' | 'v2', { port: number; proc?: ManagedProcess }> = { v1: { port: 4445 }, v2: { port: 4444 } };
const live: VpnSession[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(100);
  return cond();
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  scriptDir = topo.tempDir('pp-scripts');
  const conn = join(scriptDir, 'connect.sh');
  writeFileSync(conn, `#!/bin/sh\nenv -0 > ${scriptDir}/connect-$USERNAME.env\n`);
  chmodSync(conn, 0o755);
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: USERS,
    // debug: main's per-connection line names client and proxy
    debug: 3,
    extraConfig: [
      'listen-proxy-proto = true',
      `connect-script = ${conn}`,
      // three wrong passwords ban an address; the test's own connections do not
      'max-ban-score = 40', 'ban-points-wrong-password = 15', 'ban-points-connection = 1', 'min-reauth-time = 300',
    ].join('\n'),
  });
  for (const v of ['v1', 'v2'] as const) {
    const p = topo.spawn(topo.serverNs, process.execPath, [RELAY, topo.serverIp, String(relays[v].port), topo.serverIp, String(server.files.port), v]);
    relays[v].proc = p;
    if (!(await until(() => p.output().includes('ready')))) throw new Error(`relay ${v} did not start: ${p.output()}`);
  }
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

const via = (v: 'v1' | 'v2') => `https://${topo.serverIp}:${relays[v].port}/`;

interface Direct { tls: boolean; status: number; body: string; closed: boolean; error: string }
/** a connection straight to the server's port from the client namespace, with `header` first */
async function direct(header: string, source = '198.51.100.7', path = '/'): Promise<Direct> {
  const r = await topo.exec(topo.clientNs, process.execPath, [CLIENT, topo.serverIp, String(server.files.port), header, source, path], { timeoutMs: 30_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Direct;
}

async function occtlJson(...args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', ...args], { env: serverEnv(), timeoutMs: 20_000 });
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}

function envFile(p: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(p, 'utf8').split('\0')) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

t.test('openconnect through a PROXY v2 relay: the client\'s address everywhere, DTLS straight to the server', async (t) => {
  const s = await connectOpenconnect(topo, { url: via('v2'), user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'ocpp2', timeoutMs: 30_000 });
  live.push(s);
  await s.waitForOutput(/Established DTLS connection/, 15_000);
  const users = await occtlJson('show', 'users');
  const alice = users.find((u) => u.Username === 'alice');
  t.equal(alice?.['Remote IP'], topo.clientIp, 'occtl shows the client, not the proxy');
  t.ok(alice?.['DTLS cipher'], 'DTLS is up');
  const env = envFile(join(scriptDir, 'connect-alice.env'));
  t.equal(env.IP_REAL, topo.clientIp, 'connect-script IP_REAL');
  t.equal(env.IP_REAL_LOCAL, topo.serverIp, 'IP_REAL_LOCAL: where the client connected (the relay)');
  t.match(server.output(), new RegExp(`"ip":"${topo.clientIp.replace(/\./g, '\\.')}","proxy":"${topo.serverIp.replace(/\./g, '\\.')}"`), 'main logs both');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3, iface: 'ocpp2' })).ok, 'traffic flows');
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
});

t.test('a PROXY v1 relay works too', async (t) => {
  const r = await openconnectAuthenticate(topo, { url: via('v1'), user: 'bob', password: 'bob pw', servercert: server.pin });
  t.equal(r.code, 0, r.output);
  t.ok(r.webvpn, 'logged in');
});

t.test('headers written by hand: v1, v2, a LOCAL health check, one in pieces', async (t) => {
  for (const h of ['v1', 'v2', 'slow-v1']) {
    const r = await direct(h);
    t.equal(r.status, 200, `${h}: the login form`);
    t.match(r.body, /<config-auth client="vpn" type="auth-request"/);
  }
  const local = await direct('v2-local');
  t.equal(local.status, 200, 'LOCAL: served, with the connection\'s own address');
  t.match(server.output(), /"proxy":"198\.18\.\d+\.2"/);
});

t.test('no header, a malformed one, or none in time: closed before TLS, with a log line', async (t) => {
  const none = await direct('none');
  t.notOk(none.tls, 'a client speaking TLS straight away gets no handshake');
  t.ok(none.closed);
  t.match(server.output(), /"reason":"not a PROXY protocol header".*bad or missing PROXY protocol header/);
  const bad = await direct('garbage');
  t.notOk(bad.tls);
  t.match(server.output(), /v1 header: expected/);
  const silent = await direct('silent');
  t.ok(silent.closed, 'a connection that sends nothing is closed');
  t.match(server.output(), /no complete PROXY header within 10 s/);
  // the server is unharmed
  t.equal((await direct('v2')).status, 200);
});

t.test('bans count the client\'s address, not the proxy\'s', async (t) => {
  for (let i = 0; i < 3; i++) {
    const r = await openconnectAuthenticate(topo, { url: via('v2'), user: 'bob', password: 'wrong', servercert: server.pin });
    t.not(r.code, 0, 'wrong password refused');
  }
  const bans = await occtlJson('show', 'ip', 'bans');
  t.ok(bans.some((b) => b.IP === topo.clientIp), 'the client is banned');
  t.notOk(bans.some((b) => b.IP === topo.serverIp), 'the proxy is not');
  const again = await openconnectAuthenticate(topo, { url: via('v2'), user: 'bob', password: 'bob pw', servercert: server.pin, timeoutMs: 20_000 });
  t.not(again.code, 0, 'the banned client is turned away through the proxy');
  t.match(server.output(), new RegExp(`"ip":"${topo.clientIp.replace(/\./g, '\\.')}".*rejected connection from banned IP`));
  const other = await direct('v2', '198.51.100.99');
  t.equal(other.status, 200, 'another client behind the same proxy is still served');
  t.ok(existsSync(server.files.occtlSocketPath));
});
