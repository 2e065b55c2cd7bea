/**
 * `auth = "radius[...]"` end to end: Debian's openconnect against ocserv-ts, which asks a
 * real FreeRADIUS (in the server namespace) through a radcli client config. Accept,
 * reject, a challenge/OTP round trip, the address and settings from Access-Accept in the
 * tunnel, and a RADIUS server that is down. Debian's ocserv reads the same radcli file.
 */
import t from 'tap';
import { until } from '../helpers/wait';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer, type ServerHandle, type Topology,
} from '../helpers/netns';
import { startFreeradius, type FreeradiusHandle, type RadiusUser } from '../helpers/freeradius';

const USERS: RadiusUser[] = [
  {
    name: 'alice', password: 'alice pw',
    reply: [
      ['Framed-IP-Address', '198.19.0.77'],
      ['Class', 'OU=radgroup;'],
      ['Framed-Route', '10.99.0.0/16 0.0.0.0 1'],
      ['Framed-Route', '198.19.0.0/24'],
      ['MS-Primary-DNS-Server', '198.19.0.53'],
    ],
  },
  { name: 'bob', reject: 'Bob is not allowed' },
  { name: 'carol', password: 'carol pw', challenge: { message: 'Enter OTP', answer: '123456' } },
];

let topo: Topology;
let fr: FreeradiusHandle;
let frDir: string;
let ours: ServerHandle;
let radcliConf: string;

async function radiusUp(): Promise<FreeradiusHandle> {
  // in the server namespace, where sec-mod runs: its own loopback, the standard ports
  return startFreeradius({ users: USERS, topo, ns: topo.serverNs, dir: frDir, secret: 'ocs-radius-test' });
}

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  frDir = topo.tempDir('freeradius');
  fr = await radiusUp();
  radcliConf = fr.writeRadcliConfig(join(topo.tempDir('radcli'), 'radiusclient.conf'), 'nas-identifier ocs-test-nas\n');
  ours = await startServer(topo, {
    kind: 'ocserv-ts',
    users: [],
    extraConfig: `auth = "radius[config=${radcliConf},groupconfig=true]"`,
  });
});
t.teardown(async () => {
  await ours?.stop();
  await fr?.stop();
  await topo?.cleanup();
});

const login = (server: ServerHandle, user: string, answers: string[]) =>
  openconnectAuthenticate(topo, { url: server.url, user, password: '', servercert: server.pin, answers });

t.test('Access-Accept gives a cookie, Access-Reject none', async (t) => {
  const ok = await login(ours, 'alice', ['alice pw']);
  t.equal(ok.code, 0, 'openconnect logs in');
  t.ok(ok.webvpn, 'with a session cookie');
  t.match(fr.output(), /Login OK: \[alice\]/, 'FreeRADIUS saw it');
  // the log line may follow the client's cookie by a moment
  const loggedIn = /"user":"alice","group":"radgroup".*"msg":"user logged in"/;
  await until('the login in the log', () => loggedIn.test(ours.output()), 5000).catch(() => {});
  t.match(ours.output(), loggedIn, 'groupconfig: the group from Class "OU=radgroup;"');

  const bob = await login(ours, 'bob', ['bob pw']);
  t.not(bob.code, 0);
  t.notOk(bob.webvpn, 'rejected: no cookie');
  t.match(bob.output, /Bob is not allowed/, "the server's Reply-Message reaches the user");
  t.match(ours.output(), /"user":"bob".*"method":"radius","reason":"Access-Reject from 127\.0\.0\.1:1812: Bob is not allowed","msg":"failed login"/);

  const wrong = await login(ours, 'alice', ['not alice pw']);
  t.notOk(wrong.webvpn, 'a wrong password: no cookie');
});

t.test('Access-Challenge: the password, then the OTP in a second form', async (t) => {
  const r = await login(ours, 'carol', ['carol pw', '123456']);
  t.equal(r.code, 0, 'openconnect logs in', { output: r.output, server: ours.output().slice(-3000) });
  t.ok(r.webvpn, 'with a cookie');
  t.match(r.output, /Please enter your username and password\.\nPassword:[\s\S]*Enter OTP\nResponse:/, 'the challenge is a second form');

  const wrong = await login(ours, 'carol', ['carol pw', '000000']);
  t.notOk(wrong.webvpn, 'a wrong OTP: no cookie');
  t.match(wrong.output, /Enter OTP/);
});

t.test('Framed-IP-Address, Framed-Route and DNS from Access-Accept reach the tunnel', async (t) => {
  const s = await connectOpenconnect(topo, { url: ours.url, user: 'alice', password: 'alice pw', servercert: ours.pin, noDtls: true });
  t.teardown(() => s.disconnect());
  t.equal(s.address, '198.19.0.77', "the client's tunnel address is the one RADIUS gave");
  t.same([...s.state.routes].sort(), ['10.99.0.0/16', '198.19.0.0/24'], 'the Framed-Routes are the split-include routes');
  t.equal(s.state.INTERNAL_IP4_DNS, '198.19.0.53', 'MS-Primary-DNS-Server');
  const back = await ping(topo, topo.serverNs, '198.19.0.77', { count: 2 });
  t.ok(back.ok, 'the server reaches the client at that address through the tunnel', { output: back.output });
});

t.test('RADIUS down: a clear failure in bounded time, then logins work again', async (t) => {
  await fr.stop();
  const down = await login(ours, 'alice', ['alice pw']);
  // openconnect ended by itself (the exec's 30 s guard would show as SIGKILL)
  t.equal(down.code !== null && down.code !== 0, true, `openconnect gave up on its own (code ${down.code})`);
  t.notOk(down.webvpn, 'no cookie');
  t.match(down.output, /The authentication server did not answer/);
  t.match(ours.output(), /RADIUS server\(s\) 127\.0\.0\.1:1812 did not answer \(2 tries of 1 s each\)/, 'the log names the server');

  fr = await radiusUp();
  const again = await login(ours, 'alice', ['alice pw']);
  t.ok(again.webvpn, 'a login after FreeRADIUS is back works');
  t.ok(ours.proc.exitCode === null && ours.proc.signalCode === null, 'ocserv-ts kept running throughout');
});

t.test("Debian's ocserv with the same radcli file agrees", async (t) => {
  const debian = await startServer(topo, {
    kind: 'ocserv', port: 4444, users: [], debug: 1,
    extraConfig: `auth = "radius[config=${radcliConf},groupconfig=true]"\nipv4-network = 198.19.1.0\nipv4-netmask = 255.255.255.0`,
  });
  t.teardown(() => debian.stop());
  const alice = await login(debian, 'alice', ['alice pw']);
  t.ok(alice.webvpn, 'alice', { output: alice.output, server: debian.output().slice(-3000) });
  t.notOk((await login(debian, 'bob', ['bob pw'])).webvpn, 'bob is rejected');
  const carol = await login(debian, 'carol', ['carol pw', '123456']);
  t.ok(carol.webvpn, 'carol through the challenge', { output: carol.output, server: debian.output().slice(-3000) });
  t.match(carol.output, /Enter OTP/, "ocserv also shows the challenge's Reply-Message");
});
