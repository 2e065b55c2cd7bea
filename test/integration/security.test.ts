/**
 * Security properties not covered elsewhere (key-isolation and least-privilege tests cover
 * the keys, users, capabilities and sandbox; session-life covers cookies after logout;
 * bans and dtls cover brute force and replays):
 * - code running inside a worker cannot read the server key or the password file;
 * - a compromised worker (the worker code replaced by an attacker's, speaking the real IPC)
 *   cannot make main or sec-mod act for another session: no session on another client's
 *   connection, none with a forged cookie, no end or DTLS claim of another worker's session,
 *   no taking over another client's login by its id, no relabelled proof of its client;
 * - cookies are 32 random bytes, and a changed one is refused;
 * - junk before login never reaches sec-mod.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { sleep, until } from '../helpers/wait';
import type { EvilPlan } from '../helpers/evil-worker';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const USERS = ['alice', 'bob', 'carol', 'dave'].map((name) => ({ name, password: `${name} pw` }));
const SERVER_TUN = '198.19.0.1';

let topo: Topology;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await topo?.cleanup();
});


async function occtlUsers(s: ServerHandle): Promise<Array<Record<string, string | number>>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', s.files.occtlSocketPath, '-j', 'show', 'users'], { env: serverEnv() });
  return JSON.parse(r.stdout || '[]') as Array<Record<string, string | number>>;
}

/** Where the workers find a file of this checkout (the server may see it at /mnt/ocserv-ts: see ocservTsCommand). */
function asServerSees(file: string): string {
  const root = repoRoot();
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', join(root, 'dist', 'src', 'worker', 'index.js')]);
  return probe.status === 0 ? file : join('/mnt/ocserv-ts', file.slice(root.length));
}

const secmodLines = (s: ServerHandle) => s.output().split('\n').filter((l) => l.includes('"proc":"sec-mod"'));

t.test('a compromised worker cannot make main or sec-mod act for another session', async (t) => {
  const evilDir = topo.tempDir('evil');
  chmodSync(evilDir, 0o777); // the evil worker (nobody) marks the plan taken there
  const planFile = join(evilDir, 'plan.json');
  // every worker loads the attacker's code; it takes over only those started once the plan exists
  process.env.OCSERV_TS_WORKER_NODE_ARGS = `--require ${asServerSees(join(repoRoot(), 'dist', 'test', 'helpers', 'evil-worker.js'))}`;
  process.env.OCSERV_TS_TEST_EVIL_PLAN = planFile;
  let server: ServerHandle;
  try {
    // one client per worker (ocserv's model): each new connection takes a fresh worker
    server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, port: 4443, extraConfig: 'clients-per-worker = 1' });
  } finally {
    delete process.env.OCSERV_TS_WORKER_NODE_ARGS;
    delete process.env.OCSERV_TS_TEST_EVIL_PLAN;
  }
  t.teardown(() => server.stop());

  // the victims: alice has a tunnel, bob is half-way through a login, carol has a cookie and no tunnel
  const alice = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true, interfaceName: 'ocalice' });
  live.push(alice);
  const bob = topo.spawn(topo.clientNs, process.execPath, [join(__dirname, '..', 'helpers', 'paused-login.js'), topo.serverIp, '4443', 'bob', 'bob pw']);
  const authId = (await until('bob\'s login id', () => /AUTHID (\S+)/.exec(bob.output())?.[1], 20_000, () => bob.output()));
  const carol = await openconnectAuthenticate(topo, { url: server.url, user: 'carol', password: 'carol pw', servercert: server.pin });
  t.ok(carol.webvpn, 'carol has a cookie');
  const [aliceBefore] = await occtlUsers(server);
  t.equal(aliceBefore?.Username, 'alice', 'alice\'s session is listed');

  const plan: EvilPlan = {
    cookie: carol.webvpn!,
    foreignConnIds: Array.from({ length: 30 }, (_, i) => i + 1),
    foreignSessionIds: [Number(aliceBefore!.ID), ...Array.from({ length: 5 }, (_, i) => i + 1)],
    authId,
    authAddr: topo.clientIp,
    authAnswers: { username: 'bob', password: 'bob pw' },
    secrets: [server.files.keyPath, server.files.passwdPath],
  };
  writeFileSync(planFile, JSON.stringify(plan));

  // The attacker's connections come from another address of the client namespace. Each takes
  // a pre-started worker; once the ones started before the plan are used up, an evil one gets it.
  const evilAddr = topo.clientIp.replace(/\.\d+$/, '.6');
  await topo.exec(topo.clientNs, 'ip', ['addr', 'add', `${evilAddr}/32`, 'dev', topo.clientIf], { check: true });
  await topo.exec(topo.serverNs, 'ip', ['route', 'add', `${evilAddr}/32`, 'dev', topo.serverIf], { check: true });
  const holder = `require('net').connect({ host: '${topo.serverIp}', port: 4443, localAddress: '${evilAddr}' }).on('error', () => {}); setInterval(() => {}, 1000);`;
  const reports = () => server.output().split('\n').filter((l) => l.startsWith('EVIL ')).map((l) => JSON.parse(l.slice(5)) as Record<string, unknown>);
  for (let i = 0; i < 8 && !reports().some((r) => r.step === 'conn.new'); i++) {
    topo.spawn(topo.clientNs, process.execPath, ['-e', holder]);
    await sleep(1500);
  }
  await until('the compromised worker to finish', () => reports().some((r) => r.step === 'done'), 30_000, () => server.output().slice(-3000));
  const steps = (name: string) => reports().filter((r) => r.step === name);

  t.match(steps('init')[0], { uid: 65534 }, 'the compromised worker runs as run-as-user (nobody)');
  t.same(steps('read a secret').map((r) => [r.file, r.result]), [[server.files.keyPath, 'EACCES'], [server.files.passwdPath, 'EACCES']],
    'and cannot read the server key or the password file');
  const foreignOpens = steps('session.open on a foreign connection');
  t.equal(foreignOpens.length, 30, 'session.open for 30 other connections, with carol\'s valid cookie');
  t.ok(foreignOpens.every((r) => (r.reply as { ok?: boolean })?.ok === false && r.fds === 0), 'every one refused, and no tun handed out', { replies: foreignOpens.slice(0, 3) });
  t.same([...new Set(foreignOpens.map((r) => (r.reply as { reason?: string })?.reason))], ['unknown connection'], 'because the connection is not this worker\'s');
  const forgedCookie = steps('session.open with a forged cookie')[0];
  t.match(forgedCookie, { reply: { ok: false, reason: 'invalid cookie' }, fds: 0 }, 'its own connection with a forged cookie: refused by sec-mod');
  t.match(steps('auth.cont with another client\'s login id')[0], { reply: { status: 'fail' } }, 'bob\'s login id, with bob\'s password, from its own client\'s address: refused, no cookie');
  t.match(server.output(), /login step from another address than the login's; refused/, 'sec-mod says why');
  t.match(steps('auth.cont with a relabelled proof')[0], { error: /closed|sec-mod/ }, 'a proof relabelled with bob\'s address: sec-mod closes its channel');
  t.match(server.output(), /login step without main's proof of its client; closing the worker's channel/, 'sec-mod says why');

  // nothing happened to the others
  t.notMatch(server.output(), /"user":"carol"[^\n]*"msg":"session opened"/, 'no session was opened for carol');
  t.same((await occtlUsers(server)).map((u) => [u.ID, u.Username]), [[aliceBefore!.ID, 'alice']], 'occtl lists alice\'s session alone, as before');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 3, iface: alice.tundev })).ok, 'alice\'s tunnel still carries traffic after the forged session.closed');
  bob.stdin!.end('go\n');
  const result = JSON.parse(await until('bob\'s login to finish', () => /RESULT (.*)/.exec(bob.output())?.[1], 30_000, () => bob.output())) as { cookie?: string };
  t.ok(result.cookie, 'bob finishes his login with his login id: the attempt did not take it from him', { result });
  const withCarol = await connectOpenconnect(topo, { url: server.url, user: '', password: '', cookie: carol.cookie, servercert: server.pin, noDtls: true, interfaceName: 'occarol' });
  live.push(withCarol);
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: withCarol.tundev })).ok, 'carol\'s cookie still works for carol');
  t.equal(server.proc.exitCode, null, 'main runs');
  t.equal(server.output().split('\n').filter((l) => l.includes('"msg":"sec-mod ready"')).length, 1, 'sec-mod kept running (no restart)');
});

t.test('cookies are 32 random bytes; a changed one is refused, the real one still works', async (t) => {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, port: 4444 });
  t.teardown(() => server.stop());
  const cookies: Buffer[] = [];
  let last = '';
  for (let i = 0; i < 6; i++) {
    const r = await openconnectAuthenticate(topo, { url: server.url, user: 'dave', password: 'dave pw', servercert: server.pin });
    t.match(r.webvpn, /^[A-Za-z0-9_-]{43}$/, `login ${i + 1}: a base64url cookie`);
    cookies.push(Buffer.from(r.webvpn!, 'base64url'));
    last = r.webvpn!;
  }
  t.ok(cookies.every((c) => c.length === 32), 'each is 32 bytes');
  const bitsApart = (a: Buffer, b: Buffer) => a.reduce((n, x, i) => n + popcount(x ^ b[i]!), 0);
  const distances = cookies.flatMap((a, i) => cookies.slice(i + 1).map((b) => bitsApart(a, b)));
  // independent random 256-bit values differ in ~128 bits; anything derived from user or time would not
  t.ok(distances.every((d) => d > 64 && d < 192), `the same user's cookies are unrelated (bits apart: ${distances.join(', ')})`);

  const changed = last.slice(0, 10) + (last[10] === 'A' ? 'B' : 'A') + last.slice(11);
  const before = server.output().split('\n').filter((l) => l.includes('unknown or expired cookie')).length;
  await t.rejects(connectOpenconnect(topo, { url: server.url, user: '', password: '', cookie: `webvpn=${changed}`, servercert: server.pin, noDtls: true, interfaceName: 'ocbad', timeoutMs: 20_000 }),
    /exited|no tunnel/, 'a cookie with one character changed gets no tunnel');
  t.ok(server.output().split('\n').filter((l) => l.includes('unknown or expired cookie')).length > before, 'sec-mod refused it');
  const good = await connectOpenconnect(topo, { url: server.url, user: '', password: '', cookie: `webvpn=${last}`, servercert: server.pin, noDtls: true, interfaceName: 'ocgood' });
  live.push(good);
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 1, iface: good.tundev })).ok, 'the real cookie still works');
  await good.disconnect();
});

function popcount(x: number): number {
  let n = 0;
  for (; x; x >>= 1) n += x & 1;
  return n;
}

t.test('junk before login never reaches sec-mod', async (t) => {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, port: 4445 });
  t.teardown(() => server.stop());
  await sleep(1000);
  const before = secmodLines(server);
  const raw = join(__dirname, '..', 'helpers', 'raw-client.js');
  const cases = ['junk-tcp', 'junk-after-tls', 'huge-header', 'gigabyte-body', 'truncated-xml', 'not-xml'];
  for (const kase of cases) {
    const r = await topo.exec(topo.clientNs, process.execPath, [raw, kase, topo.serverIp, '4445'], { timeoutMs: 30_000 });
    t.match(JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}'), { closed: true }, `${kase}: the connection was closed`);
  }
  const udp = await topo.exec(topo.clientNs, process.execPath, [join(__dirname, '..', 'helpers', 'udp-junk.js'), topo.serverIp, '4445'], { timeoutMs: 30_000 });
  t.equal(udp.code, 0, 'junk datagrams sent to the UDP port');
  await sleep(1000);
  for (const re of [/TLS handshake failed/, /bad HTTP request/, /request body too large/, /malformed auth request/]) t.match(server.output(), re, `the worker logged ${re}`);
  t.same(secmodLines(server).slice(before.length), [], 'sec-mod logged nothing: none of it reached it');
  // the same server still takes a real login, which does reach sec-mod
  const ok = await openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin });
  t.ok(ok.webvpn, 'a real login works');
});
