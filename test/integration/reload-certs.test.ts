/**
 * A renewed certificate at the same path (what certbot and friends do) takes effect on
 * `occtl reload` without a restart: new clients see the new certificate, connected ones keep
 * their tunnels, and a broken key file is refused with the reason while the old pair stays.
 * With key isolation on (the default) sec-mod loads the new key next to the old one.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, pinOf, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
let topo: Topology;
let server: ServerHandle;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startServer(topo, { kind: 'ocserv-ts', users: [{ name: 'alice', password: 'alice pw' }], udp: false });
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

const occtl = (...args: string[]) =>
  topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, ...args], { env: serverEnv() });

/** A new key and certificate from the same CA, written over the files in use. */
function renew(dir: string): string {
  const p = (f: string) => join(dir, f);
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', p('new-key.pem'),
    '-out', p('new.csr'), '-subj', `/CN=${topo.serverIp}`], { stdio: 'ignore' });
  execFileSync('openssl', ['x509', '-req', '-in', p('new.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial',
    '-days', '30', '-extfile', p('server-ext.cnf'), '-out', p('new-cert.pem')], { stdio: 'ignore' });
  writeFileSync(server.files.keyPath, readFileSync(p('new-key.pem')), { mode: 0o600 });
  writeFileSync(server.files.certPath, readFileSync(p('new-cert.pem')));
  return pinOf(readFileSync(p('new-cert.pem')));
}

const login = (pin: string) => openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: pin });

t.test('occtl reload puts a renewed certificate in use; tunnels stay up', async (t) => {
  const oldPin = server.pin;
  const before = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: oldPin, interfaceName: 'ocold' });
  live.push(before);
  const newPin = renew(server.dir);
  t.ok((await login(oldPin)).webvpn, 'before the reload the old certificate is still served');

  const r = await occtl('reload');
  t.equal(r.code, 0, r.stdout + r.stderr);
  await new Promise((res) => setTimeout(res, 500));
  t.match(server.output(), /certificates reloaded; new connections use them/);
  const fresh = await login(newPin);
  t.ok(fresh.webvpn, 'a new client sees the new certificate (and sec-mod signs with the new key)');
  t.notOk((await login(oldPin)).webvpn, 'the old pin no longer matches');
  const p = await ping(topo, topo.clientNs, '198.19.0.1', { count: 2 });
  t.ok(p.ok, 'the tunnel made with the old certificate still carries traffic', { output: p.output });
  const after = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: newPin, interfaceName: 'ocnew' });
  live.push(after);
  t.ok(after.address, 'a full tunnel with the new certificate');
});

t.test('a broken key file is refused with the reason; the certificate in use stays', async (t) => {
  const inUse = pinOf(readFileSync(server.files.certPath));
  const goodKey = readFileSync(server.files.keyPath);
  writeFileSync(server.files.keyPath, 'not a key\n', { mode: 0o600 });
  t.teardown(() => writeFileSync(server.files.keyPath, goodKey, { mode: 0o600 }));
  const r = await occtl('reload');
  t.not(r.code, 0, 'occtl reports the failure');
  t.match(r.stdout + r.stderr, /key/i, 'with the reason');
  t.ok((await login(inUse)).webvpn, 'logins keep working with the pair in use');
  t.ok(server.proc.exitCode === null, 'the server is up');
});

t.test('after a reload, a restarted sec-mod still serves new handshakes', async (t) => {
  const pin = pinOf(readFileSync(server.files.certPath));
  const status = (await occtl('show', 'status')).stdout;
  const pid = Number(/Sec-mod PID: (\d+)/.exec(status)?.[1]);
  t.ok(pid > 0, 'sec-mod pid from occtl');
  process.kill(pid, 'SIGKILL');
  const end = Date.now() + 15_000;
  let ok = false;
  while (!ok && Date.now() < end) {
    ok = !!(await login(pin)).webvpn;
    if (!ok) await new Promise((r) => setTimeout(r, 500));
  }
  t.ok(ok, 'logins work again with the reloaded certificate');
});
