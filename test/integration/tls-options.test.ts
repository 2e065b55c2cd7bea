/**
 * TLS options as an administrator's ocserv.conf sets them, checked from the client side with
 * OpenSSL's s_client and Debian's openconnect: tls-priorities (versions, server preference),
 * dh-params (DHE suites), ocsp-response (stapling); and server-drain-ms on shutdown.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, pinOf, ping, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const USERS = [{ name: 'alice', password: 'alice pw' }];
let topo: Topology;
let server: ServerHandle | undefined;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

/** A CA, an RSA server certificate it signed, and the CA's OCSP answer "good" for it. */
function pki(dir: string, ip: string): { cert: string; key: string; ca: string; ocsp: string; dh: string } {
  const p = (f: string) => join(dir, f);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('ca-key.pem'), '-out', p('ca.pem'), '-days', '30', '-subj', '/CN=tls-options CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', p('server-key.pem'), '-out', p('server.csr'), '-subj', `/CN=${ip}`);
  writeFileSync(p('ext.cnf'), `subjectAltName=IP:${ip}\nextendedKeyUsage=serverAuth\n`);
  ossl('x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca-key.pem'), '-CAcreateserial', '-days', '20', '-extfile', p('ext.cnf'), '-out', p('server-cert.pem'));
  const serial = ossl('x509', '-in', p('server-cert.pem'), '-noout', '-serial').toString().trim().split('=')[1];
  // the CA database `openssl ocsp` answers from: this certificate is valid
  writeFileSync(p('index.txt'), `V\t301231000000Z\t\t${serial}\tunknown\t/CN=${ip}\n`);
  ossl('ocsp', '-index', p('index.txt'), '-rsigner', p('ca.pem'), '-rkey', p('ca-key.pem'), '-CA', p('ca.pem'),
    '-issuer', p('ca.pem'), '-cert', p('server-cert.pem'), '-respout', p('ocsp.der'), '-ndays', '7');
  ossl('genpkey', '-genparam', '-algorithm', 'DH', '-pkeyopt', 'group:ffdhe2048', '-out', p('dh.pem'));
  fs600(p('server-key.pem'));
  return { cert: p('server-cert.pem'), key: p('server-key.pem'), ca: p('ca.pem'), ocsp: p('ocsp.der'), dh: p('dh.pem') };
}
function fs600(f: string): void { execFileSync('chmod', ['600', f]); }

/** openssl s_client from the client namespace: its whole report (stdout and stderr) and exit code */
async function sClient(port: number, args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await topo.exec(topo.clientNs, 'openssl', ['s_client', '-connect', `${topo.serverIp}:${port}`, ...args], { input: '', timeoutMs: 20_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}
const cipherOf = (out: string) => /Cipher is (\S+)/.exec(out)?.[1];

t.test('tls-priorities, dh-params and ocsp-response', async (t) => {
  const f = pki(topo.tempDir('tls-pki'), topo.serverIp);
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: USERS,
    udp: false,
    extraConfig: [
      `server-cert = ${f.cert}`, `server-key = ${f.key}`,
      'tls-priorities = "NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.3:+FROBNICATE"',
      `dh-params = ${f.dh}`,
      `ocsp-response = ${f.ocsp}`,
    ].join('\n'),
  });
  const port = server.files.port;
  t.match(server.output(), /"ignored":\["\+FROBNICATE \(unknown\)"\],"msg":"tls-priorities: these parts have no OpenSSL counterpart/, 'the unknown token is named once, the start goes on');

  const v13 = await sClient(port, ['-tls1_3']);
  t.not(v13.code, 0, '-VERS-TLS1.3: a TLS 1.3 client is refused');
  const v11 = await sClient(port, ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0']);
  t.not(v11.code, 0, 'TLS 1.1 is refused');
  const v12 = await sClient(port, ['-tls1_2']);
  t.equal(v12.code, 0, 'TLS 1.2 works');
  t.match(v12.out, /Protocol *: TLSv1\.2/);

  // the client prefers AES-128; NORMAL puts AES-256-GCM first and %SERVER_PRECEDENCE makes that win
  const pref = await sClient(port, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384']);
  t.equal(cipherOf(pref.out), 'ECDHE-RSA-AES256-GCM-SHA384', '%SERVER_PRECEDENCE: the server\'s order');

  const dhe = await sClient(port, ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']);
  t.equal(cipherOf(dhe.out), 'DHE-RSA-AES128-GCM-SHA256', 'dh-params: a DHE suite is negotiated');
  t.match(dhe.out, /Server Temp Key: DH, 2048 bits/, 'with the file\'s 2048-bit group');

  const ocsp = await sClient(port, ['-tls1_2', '-status', '-CAfile', f.ca]);
  t.match(ocsp.out, /OCSP Response Status: successful/, 'ocsp-response stapled');
  t.match(ocsp.out, /Cert Status: good/);
  const noAsk = await sClient(port, ['-tls1_2']);
  t.notMatch(noAsk.out, /OCSP Response Status/, 'nothing stapled for a client that does not ask');

  const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: pinOf(readFileSync(f.cert)), interfaceName: 'octls' });
  live.push(s);
  t.match(s.output(), /\(TLS1\.2\)-\(ECDHE-/, 'openconnect gets TLS 1.2 with forward secrecy');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 2, iface: 'octls' })).ok);
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
  await server.stop();
  server = undefined;
});

t.test('without those options: TLS 1.3 is offered and DHE is not', async (t) => {
  server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, keys: ['rsa'] });
  const v13 = await sClient(server.files.port, ['-tls1_3']);
  t.equal(v13.code, 0);
  t.match(v13.out, /New, TLSv1\.3, Cipher is/);
  const dhe = await sClient(server.files.port, ['-tls1_2', '-cipher', 'DHE-RSA-AES128-GCM-SHA256']);
  t.not(dhe.code, 0, 'no dh-params: no DHE suite');
  await server.stop();
  server = undefined;
});

t.test('a dh-params file that cannot be used stops the start with its name', async (t) => {
  const dir = topo.tempDir('bad-dh');
  writeFileSync(join(dir, 'dh.pem'), '-----BEGIN DH PARAMETERS-----\nnot base64\n-----END DH PARAMETERS-----\n');
  let started: ServerHandle | undefined;
  let failure = '';
  try {
    started = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, extraConfig: `dh-params = ${join(dir, 'dh.pem')}`, startTimeoutMs: 10_000 });
  } catch (err) {
    failure = (err as Error).message;
  }
  await started?.stop();
  t.notOk(started, 'the server did not start');
  t.match(failure, /"err":"dh-params [^"]*dh\.pem: the DH PARAMETERS block is not base64 DER","msg":"cannot start"/);
});

t.test('server-drain-ms: listeners close at once, tunnels go on until the drain ends', async (t) => {
  server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, extraConfig: 'server-drain-ms = 6000' });
  const port = server.files.port;
  const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'ocdrain' });
  live.push(s);
  server.proc.kill('SIGTERM');
  // the listening socket goes first: a load balancer's probe fails from now on
  let closed = false;
  for (let i = 0; i < 50 && !closed; i++) {
    const r = await topo.exec(topo.serverNs, 'ss', ['-Hltn', `sport = :${port}`], { timeoutMs: 5000 });
    closed = r.stdout.trim() === '';
    if (!closed) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(closed, 'no longer listening');
  const probe = await sClient(port, ['-tls1_2']);
  t.not(probe.code, 0, 'a new connection is refused');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 2, iface: 'ocdrain' })).ok, 'the tunnel in place still carries traffic');
  t.match(server.output(), /draining before shutdown \(server-drain-ms\)/);
  const exit = await server.proc.exited;
  t.equal(exit.code, 0, 'then the server ends');
  t.match(server.output(), /server shutting down|session ended/);
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
  server = undefined;
});
