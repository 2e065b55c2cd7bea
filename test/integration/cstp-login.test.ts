/**
 * Debian's openconnect against ocserv-ts, each in its own network namespace: password login
 * from an ocpasswd file, the CSTP tunnel, refusals, and clean disconnect.
 */
import t from 'tap';
import { execFileSync } from 'node:child_process';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology,
} from '../helpers/netns';
import { Ipv4Pool } from '../../src/main/leases';

const ALICE = { name: 'alice', password: 'correct horse', group: 'staff' };
const BOB = { name: 'bob', password: 'bobs secret' };
const LOCKED = { name: 'carol', password: 'carols secret' };

let topo: Topology;
let server: ServerHandle;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: [ALICE, BOB, LOCKED],
    extraConfig: 'banner = Welcome to ocserv-ts\ndefault-domain = vpn.ocs.test\ndns = 198.19.0.53\nmtu = 1400',
  });
  execFileSync('ocpasswd', ['-c', server.files.passwdPath, '-l', LOCKED.name]);
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

const creds = (u: { name: string; password: string }) => ({ url: server.url, user: u.name, password: u.password, servercert: server.pin });
const tunsOnServer = () => topo.exec(topo.serverNs, 'ip', ['-o', 'link', 'show']).then((r) => r.stdout.split('\n').filter((l) => /: vpns\d+[:@]/.test(l)));

t.test('openconnect --authenticate gets a cookie for a good password', async (t) => {
  const r = await openconnectAuthenticate(topo, creds(ALICE));
  t.equal(r.code, 0, 'exit 0');
  t.ok(r.webvpn && r.webvpn.length >= 32, 'COOKIE carries a webvpn session cookie');
  t.match(r.output, /COOKIE=/);
});

t.test('bad logins get no cookie and the server keeps serving', async (t) => {
  const cases = [
    { what: 'wrong password', user: ALICE.name, password: 'wrong' },
    { what: 'unknown user', user: 'mallory', password: 'whatever' },
    { what: 'locked user', user: LOCKED.name, password: LOCKED.password },
    { what: 'empty password', user: ALICE.name, password: '' },
  ];
  for (const c of cases) {
    const r = await openconnectAuthenticate(topo, { url: server.url, user: c.user, password: c.password, servercert: server.pin });
    t.not(r.code, 0, `${c.what}: openconnect fails`);
    t.notOk(r.webvpn, `${c.what}: no cookie`);
    // a failed login shows the form again rather than dropping the connection
    t.notMatch(r.output, /Failed to read from SSL socket|Connection reset/, `${c.what}: connection not dropped`);
  }
  t.match(server.output(), /failed login/);
  t.match(server.output(), /"reason":"locked"/);
  const ok = await openconnectAuthenticate(topo, creds(BOB));
  t.ok(ok.webvpn, 'a good login still works afterwards');
});

t.test('CSTP tunnel: predictable address, pushed settings, pings both ways', async (t) => {
  const s = await connectOpenconnect(topo, { ...creds(ALICE), noDtls: true, interfaceName: 'ocstun0' });
  const expected = new Ipv4Pool('198.19.0.0', 24, true).allocate(ALICE.name)!.remote;
  t.equal(s.address, expected, 'predictable-ips address for alice');
  t.equal(s.state.INTERNAL_IP4_NETMASK, '255.255.255.0');
  t.equal(s.state.INTERNAL_IP4_MTU, '1400', 'mtu from the config');
  t.equal(s.state.INTERNAL_IP4_DNS, '198.19.0.53');
  t.equal(s.state.CISCO_DEF_DOMAIN, 'vpn.ocs.test');
  t.equal(s.state.CISCO_BANNER, 'Welcome to ocserv-ts');
  t.same(s.state.routes, ['198.19.0.0/24'], 'split-include route');

  const toServer = await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 });
  t.ok(toServer.ok, 'client pings the server end of the tunnel', { output: toServer.output });
  const big = await ping(topo, topo.clientNs, '198.19.0.1', { count: 2, size: 1300, dontFragment: true });
  t.ok(big.ok, '1300-byte ping through the tunnel', { output: big.output });
  const toClient = await ping(topo, topo.serverNs, s.address, { count: 3 });
  t.ok(toClient.ok, 'server pings the client through the tunnel', { output: toClient.output });

  const tuns = await tunsOnServer();
  t.equal(tuns.length, 1, 'one tun on the server');
  t.match(tuns[0], /mtu 1400/);
  // an IPv4-only session's tun has no IPv6: no link-local address, nothing the kernel would
  // send the client unasked (router solicitations, multicast reports)
  const dev = /: (vpns\d+)[:@]/.exec(tuns[0])![1];
  const v6 = await topo.exec(topo.serverNs, 'ip', ['-6', 'addr', 'show', 'dev', dev], { check: true });
  t.equal(v6.stdout.trim(), '', 'no IPv6 address on the tun');
  const disabled = await topo.exec(topo.serverNs, 'cat', [`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`], { check: true });
  t.equal(disabled.stdout.trim(), '1');

  await s.disconnect();
  // the DISCONNECT packet ends the session: lease freed, tun removed
  for (let i = 0; i < 50 && (await tunsOnServer()).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(await tunsOnServer(), [], 'tun removed after a clean disconnect');
  // the server's log reaches us through a pipe, a little after the tun is gone
  const ended = /"reason":"client disconnected"[^\n]*"msg":"session ended"/;
  for (let i = 0; i < 50 && !ended.test(server.output()); i++) await new Promise((r) => setTimeout(r, 100));
  t.match(server.output(), ended);

  const again = await connectOpenconnect(topo, { ...creds(ALICE), noDtls: true, interfaceName: 'ocstun0' });
  t.equal(again.address, expected, 'the freed lease is given back to alice');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1 })).ok);
  await again.disconnect();
});

t.test('a forged cookie gets no tunnel', async (t) => {
  const r = await topo.exec(topo.clientNs, 'openconnect', [
    '--protocol=anyconnect', '--non-inter', '--servercert', server.pin, '--cookie', 'webvpn=Zm9yZ2VkLWNvb2tpZQ',
    '--no-dtls', '--script', '/bin/true', server.url,
  ], { timeoutMs: 20_000 });
  t.not(r.code, 0, 'openconnect fails');
  t.match(r.stdout + r.stderr, /401|Unauthorized|Creating SSL connection failed|Failed to/i);
  t.match(server.output(), /unknown or expired cookie/);
  // main opens a tun device while sec-mod checks the cookie; a refused one must not stay behind
  t.same(await tunsOnServer(), [], 'no tun device left on the server');
});
