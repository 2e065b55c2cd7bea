/**
 * Group selection: select-group (with a label), default-select-group and auto-select-group,
 * the client's --authgroup or its typed choice, membership from the ocpasswd file. Each case
 * runs against ocserv-ts and Debian's ocserv on the same configuration and must end alike;
 * the group a session got is what `occtl show user` says.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ServerHandle, type Topology,
} from '../helpers/netns';

const USERS = [
  { name: 'alice', password: 'alice pw', group: 'group1,group2' },
  { name: 'bob', password: 'bob pw', group: 'group1' },
  { name: 'carol', password: 'carol pw' },
  { name: 'dave', password: 'dave pw', group: 'group2,group1' },
];
const pw = Object.fromEntries(USERS.map((u) => [u.name, u.password]));
const SELECT = 'select-group = group1\nselect-group = group2[Group Two]\ndefault-select-group = DEFAULT';

let topo: Topology;
const servers: Record<string, ServerHandle> = {};
let net = 0;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await Promise.all(Object.values(servers).map((s) => s.stop()));
  await topo?.cleanup();
});

/** ocserv-ts and Debian's ocserv with the same group options, each with its own port and pool */
async function pair(name: string, groupConfig: string): Promise<[ServerHandle, ServerHandle]> {
  const start = (kind: 'ocserv' | 'ocserv-ts') => {
    const k = ++net;
    return startServer(topo, {
      kind, port: 4443 + k, users: USERS, debug: kind === 'ocserv' ? 1 : undefined,
      extraConfig: `${groupConfig}\nipv4-network = 198.19.${k}.0\nipv4-netmask = 255.255.255.0\nroute = 198.19.${k}.0/255.255.255.0`,
    });
  };
  servers[`${name}-ts`] = await start('ocserv-ts');
  servers[`${name}-ocserv`] = await start('ocserv');
  return [servers[`${name}-ts`]!, servers[`${name}-ocserv`]!];
}

function occtl(server: ServerHandle, ...args: string[]) {
  const cmd = server.kind === 'ocserv' ? ['occtl'] : [process.execPath, join(repoRoot(), 'bin', 'occtl-ts')];
  return topo.exec(topo.serverNs, cmd[0]!, [...cmd.slice(1), '-s', server.files.occtlSocketPath, ...args], { env: serverEnv(), timeoutMs: 20_000 });
}

/** Logs in with a tunnel, reads the session's group from occtl, logs out; undefined when refused. */
async function groupAfterLogin(server: ServerHandle, user: string, o: { authgroup?: string } = {}): Promise<string | undefined> {
  let s;
  try {
    s = await connectOpenconnect(topo, {
      url: server.url, user, password: pw[user]!, servercert: server.pin, noDtls: true, interfaceName: `oc${net}${user}`.slice(0, 15),
      extraArgs: o.authgroup === undefined ? [] : [`--authgroup=${o.authgroup}`],
    });
  } catch {
    return undefined;
  }
  try {
    const r = await occtl(server, '-j', 'show', 'user', user);
    return String((JSON.parse(r.stdout) as Array<Record<string, unknown>>)[0]?.Groupname);
  } finally {
    await s.disconnect();
  }
}

t.test('select-group with a label, default-select-group: ocserv-ts ends every case as ocserv does', async (t) => {
  const [ours, theirs] = await pair('select', SELECT);
  const cases: Array<{ what: string; user: string; authgroup: string; group: string | undefined }> = [
    { what: 'a group chosen by its label', user: 'alice', authgroup: 'Group Two', group: 'group2' },
    { what: 'a group without a label', user: 'alice', authgroup: 'group1', group: 'group1' },
    { what: 'the default choice: the user\'s first group', user: 'dave', authgroup: 'DEFAULT', group: 'group2' },
    { what: 'a group the user is not in', user: 'bob', authgroup: 'Group Two', group: undefined },
    { what: 'a user in no group choosing one', user: 'carol', authgroup: 'group1', group: undefined },
    { what: 'a user in no group taking the default', user: 'carol', authgroup: 'DEFAULT', group: '(none)' },
  ];
  for (const c of cases) {
    t.equal(await groupAfterLogin(ours, c.user, c), c.group, `ocserv-ts: ${c.what}`);
    t.equal(await groupAfterLogin(theirs, c.user, c), c.group, `ocserv: ${c.what}`);
  }
  t.match(ours.output(), /"user":"bob".*"group":"group2".*not a member of the selected group/);
  t.match(theirs.output(), /user 'bob' requested group 'group2' but is not a member/);

  // openconnect matches --authgroup against the labels the form shows, for both servers
  for (const s of [ours, theirs]) {
    const r = await openconnectAuthenticate(topo, { url: s.url, user: 'alice', password: pw.alice!, servercert: s.pin, extraArgs: ['--authgroup=group2'] });
    t.notOk(r.webvpn, `${s.kind}: --authgroup=group2 is not a choice when its label is "Group Two"`);
    t.match(r.output, /Auth choice "group2" not available\nGroup: \[DEFAULT\|group1\|Group Two\]:/, `${s.kind}: the same choices, in the same words`);
  }
});

t.test('the group typed at openconnect\'s prompt', async (t) => {
  for (const s of [servers['select-ts']!, servers['select-ocserv']!]) {
    const r = await openconnectAuthenticate(topo, { url: s.url, user: 'alice', password: '', servercert: s.pin, answers: ['Group Two', pw.alice!] });
    t.ok(r.webvpn, `${s.kind}: "Group Two" typed, then the password`);
    t.match(r.output, /Group: \[DEFAULT\|group1\|Group Two\]:/);
  }
});

t.test('a client that sends the label instead of the value gets the group (ocserv does the same)', async (t) => {
  // AnyConnect-style: the choice travels in <group-select> of the first request
  const script = join(topo.tempDir('xml'), 'label-client.js');
  writeFileSync(script, LABEL_CLIENT);
  for (const s of [servers['select-ts']!, servers['select-ocserv']!]) {
    const r = await topo.exec(topo.clientNs, process.execPath, [script, topo.serverIp, String(s.files.port), 'dave', pw.dave!, 'Group Two'], { env: serverEnv() });
    t.match(r.stdout, /^complete\n/, `${s.kind}: logged in`, { out: r.stdout + r.stderr });
    const sessions = (await occtl(s, '-j', 'show', 'sessions', 'all')).stdout;
    // ocserv's `-j show sessions` has trailing commas: read the records by pattern
    const dave = [...sessions.matchAll(/"Username":\s*"dave",\s*"Groupname":\s*"([^"]*)"/g)].map((m) => m[1]);
    t.same(dave, ['group2'], `${s.kind}: dave's session is in group2`);
  }
});

t.test('no select-group: no choice in the form, the user\'s first group', async (t) => {
  const [ours, theirs] = await pair('none', '');
  for (const s of [ours, theirs]) {
    t.equal(await groupAfterLogin(s, 'dave'), 'group2', `${s.kind}: dave's first group`);
    t.equal(await groupAfterLogin(s, 'carol'), '(none)', `${s.kind}: carol has none`);
    const r = await openconnectAuthenticate(topo, { url: s.url, user: 'alice', password: pw.alice!, servercert: s.pin });
    t.notMatch(r.output, /Group:/, `${s.kind}: no group prompt`);
  }
});

t.test('auto-select-group: every group of the password file is a choice', async (t) => {
  const [ours, theirs] = await pair('auto', 'auto-select-group = true');
  for (const s of [ours, theirs]) {
    const r = await openconnectAuthenticate(topo, { url: s.url, user: 'alice', password: pw.alice!, servercert: s.pin, extraArgs: ['--authgroup=nosuch'] });
    const choices = /Group: \[([^\]]*)\]:/.exec(r.output)?.[1]?.split('|').sort();
    t.same(choices, ['group1', 'group2'], `${s.kind}: the groups of the file`);
    t.equal(await groupAfterLogin(s, 'alice', { authgroup: 'group2' }), 'group2', `${s.kind}: alice picks group2`);
    t.equal(await groupAfterLogin(s, 'bob', { authgroup: 'group2' }), undefined, `${s.kind}: bob may not`);
  }
});

/** A minimal AnyConnect-style XML client: init with <group-select>, then fill whatever the forms ask. */
const LABEL_CLIENT = `
const tls = require('node:tls');
const [host, port, user, password, group] = process.argv.slice(2);
const s = tls.connect({ host, port: Number(port), rejectUnauthorized: false });
let buf = '';
let cookie = '';
let lastHead = '';
const pending = [];
s.on('data', (d) => {
  buf += d.toString('latin1');
  const end = buf.indexOf('\\r\\n\\r\\n');
  if (end < 0) return;
  const head = buf.slice(0, end);
  lastHead = head;
  let body = '';
  let rest = buf.slice(end + 4);
  if (/transfer-encoding: *chunked/i.test(head)) {
    for (;;) {
      const eol = rest.indexOf('\\r\\n');
      if (eol < 0) return;
      const size = parseInt(rest.slice(0, eol), 16);
      if (rest.length < eol + 2 + size + 2) return;
      body += rest.slice(eol + 2, eol + 2 + size);
      rest = rest.slice(eol + 2 + size + 2);
      if (size === 0) break;
    }
  } else {
    const len = Number(/content-length: *(\\d+)/i.exec(head)?.[1] ?? 0);
    if (rest.length < len) return;
    body = rest.slice(0, len);
    rest = rest.slice(len);
  }
  buf = rest;
  const ctx = /webvpncontext=([^;]*)/.exec(head);
  if (ctx && ctx[1]) cookie = ctx[1];
  pending.shift()(body);
});
s.on('error', (e) => { console.log('error ' + e.message); process.exit(1); });
function post(path, xml) {
  return new Promise((resolve) => {
    pending.push(resolve);
    s.write('POST ' + path + ' HTTP/1.1\\r\\nHost: ' + host + '\\r\\nUser-Agent: AnyConnect Linux_64 4.10.07061\\r\\n'
      + 'Content-Type: application/xml\\r\\n' + (cookie ? 'Cookie: webvpncontext=' + cookie + '\\r\\n' : '')
      + 'Content-Length: ' + Buffer.byteLength(xml) + '\\r\\n\\r\\n' + xml);
  });
}
const head = '<?xml version="1.0" encoding="UTF-8"?>\\n<config-auth client="vpn" type="';
s.once('secureConnect', async () => {
  let body = await post('/', head + 'init" aggregate-auth-version="2"><version who="vpn">4.10.07061</version>'
    + '<group-select>' + group + '</group-select><group-access>https://' + host + ':' + port + '</group-access></config-auth>');
  for (let i = 0; i < 5; i++) {
    if (/type="complete"/.test(body)) { console.log('complete'); process.exit(0); }
    const fields = [];
    if (/name="username"/.test(body)) fields.push('<username>' + user + '</username>');
    if (/name="password"/.test(body)) fields.push('<password>' + password + '</password>');
    if (!fields.length) break;
    body = await post('/auth', head + 'auth-reply" aggregate-auth-version="2"><version who="vpn">4.10.07061</version>'
      + '<auth>' + fields.join('') + '</auth></config-auth>');
  }
  console.log('failed ' + lastHead + body.slice(0, 300));
  process.exit(1);
});
`;
