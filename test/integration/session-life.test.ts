/**
 * A session's life as a user of openconnect sees it: the cookie from `--authenticate`
 * connects, survives a broken connection (same address, same session), dies with a logout or
 * an administrator's disconnect, and idle-timeout / session-timeout end tunnels on their own.
 */
import t from 'tap';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  stopProcess, type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { until } from '../helpers/wait';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const USERS = [{ name: 'alice', password: 'alice pw' }, { name: 'bob', password: 'bob pw' }];

let topo: Topology;
const live: VpnSession[] = [];
const servers: ServerHandle[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  for (const s of servers) await s.stop();
  await topo?.cleanup();
});

async function serve(extraConfig: string): Promise<ServerHandle> {
  for (const s of servers.splice(0)) await s.stop();
  const s = await startServer(topo, { kind: 'ocserv-ts', users: USERS, udp: false, extraConfig });
  servers.push(s);
  return s;
}

async function cookieFor(server: ServerHandle, user: string): Promise<string> {
  const r = await openconnectAuthenticate(topo, { url: server.url, user, password: USERS.find((u) => u.name === user)!.password, servercert: server.pin });
  if (!r.cookie) throw new Error(`no cookie for ${user}:\n${r.output}`);
  return r.cookie;
}

async function withCookie(server: ServerHandle, cookie: string, ifname: string): Promise<VpnSession> {
  const s = await connectOpenconnect(topo, { url: server.url, user: '', password: '', cookie, servercert: server.pin, interfaceName: ifname, timeoutMs: 20_000 });
  live.push(s);
  return s;
}

async function users(server: ServerHandle): Promise<Array<Record<string, string>>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', 'show', 'users'], { env: serverEnv() });
  return JSON.parse(r.stdout) as Array<Record<string, string>>;
}


const exited = (s: VpnSession) => s.proc.exitCode !== null || s.proc.signalCode !== null;

t.test('a broken connection comes back with its cookie: same address, same session', async (t) => {
  const server = await serve('use-occtl = true\ncookie-timeout = 60\npredictable-ips = false');
  const cookie = await cookieFor(server, 'alice');
  const first = await withCookie(server, cookie, 'ocl1');
  const [before] = await users(server);
  t.ok((await ping(topo, topo.clientNs, server.files.vpnNetwork.replace(/\d+\/\d+$/, '1'), { count: 1 })).received >= 1, 'traffic flows');

  // the connection dies without a goodbye (the client's process is killed)
  await stopProcess(first.proc, 'SIGKILL');
  await until('the server to notice', async () => (await users(server)).length === 0);
  const second = await withCookie(server, cookie, 'ocl2');
  t.equal(second.address, first.address, 'the same tunnel address');
  const [after] = await users(server);
  t.equal(after!['Session'], before!['Session'], 'the same session');

  // a second connection with the cookie while the first still runs takes over from it
  const third = await withCookie(server, cookie, 'ocl3');
  t.equal(third.address, first.address, 'the address follows the session');
  await until('the replaced client to be told to go', () => exited(second));
  const now = await users(server);
  t.equal(now.length, 1, 'one tunnel for the session');
  t.equal(now[0]!['Session'], before!['Session']);

  // a logout spends the cookie
  await third.disconnect();
  await until('the logout to reach the server', async () => (await users(server)).length === 0);
  await t.rejects(withCookie(server, cookie, 'ocl4'), /exited|no tunnel/, 'the cookie no longer works after logout');
  t.match(server.output(), /tunnel request with an unknown or expired cookie/);
});

t.test('occtl disconnect spends the cookie; persistent-cookies keeps it after a logout', async (t) => {
  let server = await serve('use-occtl = true\ncookie-timeout = 60');
  let cookie = await cookieFor(server, 'bob');
  const s = await withCookie(server, cookie, 'ocb1');
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, 'disconnect', 'user', 'bob'], { env: serverEnv() });
  t.equal(r.code, 0);
  await until('openconnect to go', () => exited(s));
  await t.rejects(withCookie(server, cookie, 'ocb2'), /exited|no tunnel/, 'refused after the administrator ended it');

  server = await serve('use-occtl = true\ncookie-timeout = 60\npersistent-cookies = true');
  cookie = await cookieFor(server, 'bob');
  const a = await withCookie(server, cookie, 'ocb3');
  await a.disconnect();
  await until('the logout to reach the server', async () => (await users(server)).length === 0);
  const b = await withCookie(server, cookie, 'ocb4');
  t.equal(b.address, a.address, 'with persistent-cookies the cookie still works after a logout');
});

t.test('idle-timeout and session-timeout end tunnels, and the cookie with them', async (t) => {
  let server = await serve('use-occtl = true\nidle-timeout = 2\nkeepalive = 1\ndpd = 1');
  let cookie = await cookieFor(server, 'alice');
  const idle = await withCookie(server, cookie, 'oci1');
  await until('the idle session to end', () => exited(idle), 15_000);
  await until('the log of it', () => /"cause":"idle-timeout"/.test(server.output()));
  t.match(server.output(), /"msg":"idle timeout"/);
  await t.rejects(withCookie(server, cookie, 'oci2'), /exited|no tunnel/, 'an idle-timed-out cookie is spent');

  server = await serve('use-occtl = true\nsession-timeout = 3');
  cookie = await cookieFor(server, 'alice');
  const busy = await withCookie(server, cookie, 'ocs1');
  const start = Date.now();
  // traffic does not keep a session past session-timeout
  while (!exited(busy) && Date.now() - start < 15_000) {
    await ping(topo, topo.clientNs, server.files.vpnNetwork.replace(/\d+\/\d+$/, '1'), { count: 1 }).catch(() => undefined);
  }
  t.ok(exited(busy), 'the session ended while carrying traffic');
  await until('the log of it', () => /"cause":"session-timeout"/.test(server.output()));
  t.pass('ended with cause session-timeout');
});

t.test('deny-roaming refuses the cookie from another address; without it the session follows the client', async (t) => {
  // a second client address, used as the source toward the server from now on
  const roamed = topo.clientIp.replace(/\d+$/, (n) => String(Number(n) + 4));
  const useSource = async (src: string) => {
    await topo.exec(topo.clientNs, 'ip', ['route', 'replace', `${topo.serverIp}/32`, 'dev', topo.clientIf, 'src', src], { check: true });
  };
  await topo.exec(topo.clientNs, 'ip', ['addr', 'add', `${roamed}/32`, 'dev', topo.clientIf], { check: true });
  await topo.exec(topo.serverNs, 'ip', ['route', 'add', `${roamed}/32`, 'dev', topo.serverIf], { check: true });
  t.teardown(() => useSource(topo.clientIp));

  let server = await serve('use-occtl = true\ndeny-roaming = true');
  await useSource(topo.clientIp);
  let cookie = await cookieFor(server, 'alice');
  await useSource(roamed);
  await t.rejects(withCookie(server, cookie, 'ocr1'), /exited|no tunnel/, 'refused from the new address');
  t.match(server.output(), /cookie used from another address \(deny-roaming\)/);

  server = await serve('use-occtl = true');
  await useSource(topo.clientIp);
  cookie = await cookieFor(server, 'alice');
  await useSource(roamed);
  const s = await withCookie(server, cookie, 'ocr2');
  t.ok(s.address, 'accepted when roaming is allowed');
  const [u] = await users(server);
  t.equal(u!['Remote IP'], roamed, 'occtl shows the new address');
});

t.test('max-same-clients and mobile-idle-timeout', async (t) => {
  const server = await serve('use-occtl = true\nmax-same-clients = 1\nidle-timeout = 600\nmobile-idle-timeout = 2');
  const first = await connectOpenconnect(topo, { url: server.url, user: 'bob', password: 'bob pw', servercert: server.pin, interfaceName: 'ocm1' });
  live.push(first);
  await t.rejects(
    connectOpenconnect(topo, { url: server.url, user: 'bob', password: 'bob pw', servercert: server.pin, interfaceName: 'ocm2' }),
    /exited|no tunnel/, 'a second session of bob is refused',
  );
  t.match(server.output(), /already has 1 sessions \(max-same-clients\)/);
  await first.disconnect();
  await until('bob to be gone', async () => (await users(server)).length === 0);

  // a phone gets mobile-idle-timeout instead of idle-timeout
  const phone = await connectOpenconnect(topo, {
    url: server.url, user: 'bob', password: 'bob pw', servercert: server.pin, interfaceName: 'ocm3',
    extraArgs: ['--useragent', 'AnyConnect Android 4.10.05085'],
  });
  live.push(phone);
  await until('the idle phone session to end', () => exited(phone), 15_000);
  await until('the log of it', () => /"cause":"idle-timeout"/.test(server.output()));
  t.pass('ended with cause idle-timeout');
});
