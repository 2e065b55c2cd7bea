/**
 * What a client meets before and around login: camouflage (a plain web server to anyone
 * without the secret), pre-login-banner, banner, user-profile and custom-header, with
 * Debian's openconnect and with requests as a browser or a scanner sends them.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const REQUEST = join(__dirname, '..', 'helpers', 'https-request.js');
const USERS = [{ name: 'alice', password: 'alice pw', group: 'staff' }];
const PROFILE = `<?xml version="1.0" encoding="UTF-8"?>
<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/">
  <ServerList><HostEntry><HostName>Test VPN</HostName><HostAddress>vpn.example.com</HostAddress></HostEntry></ServerList>
</AnyConnectProfile>
`;

let topo: Topology;
let server: ServerHandle;
const live: VpnSession[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const dir = topo.tempDir('camo');
  writeFileSync(join(dir, 'profile.xml'), PROFILE);
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: USERS,
    udp: false,
    extraConfig: [
      'camouflage = true',
      'camouflage_secret = "mysecret"',
      'camouflage_realm = "Restricted Content"',
      'pre-login-banner = "Authorised users only"',
      'banner = "Welcome to the test VPN"',
      // openconnect shows the X-CSTP- headers of the answer it reads (and skips others)
      'custom-header = "X-CSTP-Test-User: hi %{U}"',
      'custom-header = "X-CSTP-Test-Group: %{G}"',
      `user-profile = ${join(dir, 'profile.xml')}`,
    ].join('\n'),
  });
});
t.teardown(async () => {
  await Promise.all(live.map((s) => s.disconnect().catch(() => {})));
  await server?.stop();
  await topo?.cleanup();
});

interface Answer { status?: number; statusText?: string; headers?: Record<string, string | string[]>; body?: string; error?: string }
async function request(method: string, path: string, cookie = '', body?: string): Promise<Answer> {
  const url = `https://${topo.serverIp}:${server.files.port}${path}`;
  const args = [REQUEST, method, url, cookie, ...(body !== undefined ? [body] : [])];
  const r = await topo.exec(topo.clientNs, process.execPath, args, { timeoutMs: 30_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Answer;
}

t.test('without the secret: a web server asking for a password, nothing of a VPN', async (t) => {
  const cases: [string, string, string?][] = [
    ['GET', '/'], ['POST', '/', '<config-auth client="vpn" type="init"/>'], ['GET', '/auth'], ['POST', '/auth', 'username=alice'],
    ['GET', '/?wrong'], ['GET', '/?mysecret&x=1'], ['GET', '/profiles/profile.xml'], ['GET', '/CSCOSSLC/tunnel'], ['HEAD', '/'],
  ];
  for (const [method, path, body] of cases) {
    const a = await request(method, path, '', body);
    const what = `${method} ${path}`;
    t.equal(a.status, 401, what);
    t.equal(a.headers?.['www-authenticate'], 'Basic realm="Restricted Content"', what);
    if (method !== 'HEAD') t.equal(a.body, '<html><body><h1>401 Unauthorized</h1></body></html>\r\n', what);
    t.notOk(a.headers?.['x-transcend-version'], `${what}: no AnyConnect header`);
    t.notOk(a.headers?.['set-cookie'], `${what}: no cookie`);
  }
  t.match(server.output(), /camouflage: no secret in the URL; answered as a plain web server/);
});

t.test('openconnect without the secret gets no login', async (t) => {
  const r = await openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin });
  t.not(r.code, 0);
  t.notOk(r.webvpn, 'no cookie');
  t.notMatch(r.output, /Authorised users only/, 'not even the pre-login banner');
});

t.test('a CONNECT with a made-up cookie meets a server that does not do CONNECT', async (t) => {
  const a = await request('CONNECT', '/CSCOSSLC/tunnel', 'webvpn=0123456789abcdef0123456789abcdef');
  t.equal(a.status, 405);
  t.equal(a.statusText, 'Method Not Allowed');
});

t.test('with https://server/?mysecret: login, both banners, the profile, the custom headers', async (t) => {
  const dir = topo.tempDir('camo-client');
  const xml = join(dir, 'client-profile.xml');
  // openconnect fetches a newer profile only over an existing one (-x), and only when the SHA-1 differs
  writeFileSync(xml, '<?xml version="1.0" encoding="UTF-8"?>\n<AnyConnectProfile xmlns="http://schemas.xmlsoap.org/encoding/"></AnyConnectProfile>\n');
  const s = await connectOpenconnect(topo, {
    url: `${server.url}?mysecret`, user: 'alice', password: 'alice pw', servercert: server.pin, interfaceName: 'occamo',
    extraArgs: ['-x', xml, '--dump-http-traffic'], timeoutMs: 30_000,
  });
  live.push(s);
  t.match(s.output(), /Authorised users only/, 'pre-login banner with the login form');
  t.equal(s.state.CISCO_BANNER, 'Welcome to the test VPN', 'banner after login');
  t.equal(readFileSync(xml, 'utf8'), PROFILE, 'openconnect fetched the user-profile and stored it');
  t.match(s.output(), /X-CSTP-Test-User: hi alice/, 'custom-header with %{U}');
  t.match(s.output(), /X-CSTP-Test-Group: staff/, 'custom-header with %{G}');
  t.match(server.output(), /user-profile sent/);
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
});

t.test('the login answer announces the profile as ocserv does', async (t) => {
  const first = await request('POST', '/?mysecret', '', 'username=alice&password=alice%20pw');
  t.equal(first.status, 200);
  const sha1 = createHash('sha1').update(PROFILE).digest('hex').toUpperCase();
  t.match(first.body, new RegExp(`<vpn-profile-manifest><vpn rev="1.0"><file type="profile" service-type="user"><uri>/profiles/profile.xml</uri><hash type="sha1">${sha1}</hash>`));
  const cookie = /webvpn=([^;]+)/.exec(String(first.headers?.['set-cookie']))?.[1];
  t.ok(cookie, 'logged in');
  // a client coming back with its cookie needs no secret: CONNECT is not a web request
  const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: '', servercert: server.pin, cookie: `webvpn=${cookie}`, interfaceName: 'occamo2' });
  live.push(s);
  t.ok(s.address, 'tunnel up with the cookie and no secret');
  await s.disconnect();
  live.splice(live.indexOf(s), 1);
});
