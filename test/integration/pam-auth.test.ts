/**
 * Debian's openconnect against ocserv-ts with `auth = "pam[...]"`: a real Unix user, a real
 * /etc/pam.d service (pam_unix, plus the two-step test module), the tunnel, a second PAM
 * question answered from openconnect's stdin, gid-min with select-group, and a hung module.
 * The service file is rewritten between subtests: the helper reads it at every login.
 */
import t from 'tap';
import * as fs from 'node:fs';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology,
} from '../helpers/netns';
import { buildTwoStepModule, createPamService, createPamUser, UNIX_STACK, type PamUser } from '../helpers/pam-fixture';

const PASSWORD = 'unix pässword & <co>';
const CODE = '314159';

let topo: Topology;
let server: ServerHandle;
let user: PamUser;
let service: string;
let twoStep: string;

const setStack = (lines: string[]) => fs.writeFileSync(`/etc/pam.d/${service}`, `${lines.join('\n')}\n`);

t.before(async () => {
  removeStaleNamespaces();
  user = await createPamUser(t, PASSWORD);
  service = createPamService(t, UNIX_STACK);
  twoStep = await buildTwoStepModule(t);
  topo = await createTopology();
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: [],
    extraConfig: [
      `auth = "pam[service=${service},gid-min=1000,timeout=5]"`,
      `select-group = ${user.extra.name}`,
      `select-group = ${user.system.name}`,
    ].join('\n'),
  });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

/** select-group is on: every login names its group (openconnect would ask for it otherwise) */
const creds = (o: { password?: string; group?: string; answers?: string[] } = {}) => ({
  url: server.url, user: user.name, password: o.password ?? PASSWORD, servercert: server.pin,
  extraArgs: [`--authgroup=${o.group ?? user.extra.name}`], answers: o.answers,
});

t.test('the Unix password logs in and the tunnel comes up', async (t) => {
  setStack(UNIX_STACK);
  const s = await connectOpenconnect(topo, { ...creds(), noDtls: true, interfaceName: 'ocspam0' });
  t.match(s.address, /^198\.19\.0\.\d+$/, 'a VPN address');
  const r = await ping(topo, topo.clientNs, '198.19.0.1', { count: 2 });
  t.ok(r.ok, 'the server end of the tunnel answers', { output: r.output });
  await s.disconnect();
  t.match(server.output(), new RegExp(`"user":"${user.name}","group":"${user.extra.name}"[^\\n]*"msg":"user logged in"`));
});

t.test('a wrong password gets no cookie', async (t) => {
  setStack(UNIX_STACK);
  const r = await openconnectAuthenticate(topo, creds({ password: 'not the password' }));
  t.not(r.code, 0);
  t.notOk(r.webvpn, 'no cookie');
  t.match(server.output(), /"reason":"ocserv-ts-test-[0-9a-f]+: pam_authenticate: Authentication failure"/);
});

t.test('gid-min: a system group cannot be selected', async (t) => {
  setStack(UNIX_STACK);
  const r = await openconnectAuthenticate(topo, creds({ group: user.system.name }));
  t.notOk(r.webvpn, `gid ${user.system.gid} is below gid-min=1000`);
  t.match(server.output(), new RegExp(`"group":"${user.system.name}"[^\n]*"msg":"failed login: user is not a member of the selected group"`));
  t.ok((await openconnectAuthenticate(topo, creds({ group: user.extra.name }))).webvpn, `gid ${user.extra.gid} counts`);
});

t.test('password, then a verification code: two forms, both answered from stdin', async (t) => {
  setStack(['auth required pam_unix.so', `auth required ${twoStep} code=${CODE}`, 'account required pam_unix.so']);
  const ok = await openconnectAuthenticate(topo, creds({ answers: [PASSWORD, CODE] }));
  t.equal(ok.code, 0, 'openconnect succeeds', { output: ok.output });
  t.ok(ok.webvpn, 'a cookie');
  t.match(ok.output, /A code was sent to <your> phone & mail\./, 'the module\'s info text is the form\'s message');
  t.match(ok.output, /Verification code:/, 'the second prompt');

  const bad = await openconnectAuthenticate(topo, creds({ answers: [PASSWORD, '000000'] }));
  t.notOk(bad.webvpn, 'a wrong code: no cookie');
  t.match(bad.output, /That code is not right\./, 'PAM_ERROR_MSG reaches the client');
});

t.test('a hung module: the login fails, the log says why, the next login works', async (t) => {
  setStack(['auth required pam_unix.so', `auth required ${twoStep} hang`, 'account required pam_unix.so']);
  const hung = await openconnectAuthenticate(topo, { ...creds(), timeoutMs: 30_000 });
  t.not(hung.code, 0);
  t.notOk(hung.webvpn, 'no cookie');
  t.match(server.output(), new RegExp(`"service":"${service}"[^\\n]*"msg":"PAM gave no prompt or verdict in time \\(a module hangs\\?\\); stopped its helper"`));
  t.match(server.output(), new RegExp(`"reason":"PAM service '${service}' did not answer within 5 s"`));
  setStack(UNIX_STACK);
  t.ok((await openconnectAuthenticate(topo, creds())).webvpn, 'the next login gets a cookie');
});
