/**
 * ocserv options of issue 8's last batch, seen from outside: log-level (and -d over it),
 * server-stats-reset-time in occtl-ts show status, sec-mod-db-cleanup-time ending an
 * abandoned session, append-routes in the routes openconnect receives, select-group-by-url
 * with openconnect connecting to https://server/GROUP, and the one-time warnings of the
 * options ocserv-ts accepts without acting on them.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type ServerHandle, type StartServerOptions, type Topology,
} from '../helpers/netns';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const USERS = [
  { name: 'alice', password: 'alice pw', group: 'staff' },
  { name: 'bob', password: 'bob pw', group: 'admins' },
];

let topo: Topology;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(() => topo?.cleanup());

async function withServer(o: Omit<StartServerOptions, 'kind' | 'users'>, fn: (server: ServerHandle) => Promise<void>): Promise<void> {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, ...o });
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

async function occtlJson<T>(server: ServerHandle, ...args: string[]): Promise<T> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', ...args], { env: serverEnv(), timeoutMs: 20_000 });
  return JSON.parse(r.stdout) as T;
}

async function until(what: string, ms: number, fn: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** pino's numeric levels in the JSON lines the server writes when not on a terminal */
const DEBUG_LINE = /"level":20,/;

t.test('log-level: 3 adds debug lines, 0 (the default) has none, and -d wins over the file', async (t) => {
  const never = 'pin-file = /etc/ocserv-ts/pin.txt\nkey-pin = 1234\nsyslog-facility = local0\nsec-mod-scale = 4';
  await withServer({ extraConfig: `log-level = 3\n${never}` }, async (server) => {
    await until('a debug line of a worker', 15_000, () => /"level":20,.*"proc":"worker"/.test(server.output()));
    t.match(server.output(), /"level":20,.*"proc":"main"/, 'main logs debug lines, and (above) the workers too');
    // the options ocserv-ts will not act on: said once each, with the reason
    for (const [option, why] of [['pin-file', /unencrypted key file/], ['key-pin', /unencrypted key file/], ['syslog-facility', /SyslogFacility=/],
      ['sec-mod-scale', /one sec-mod process/]] as const) {
      const lines = server.output().split('\n').filter((l) => l.includes(`option '${option}' is ignored`));
      t.equal(lines.length, 1, `${option}: one warning`);
      t.match(lines[0], why, `${option}: says why`);
    }
    t.notMatch(server.output(), /not yet acted on/, 'nothing here is "not yet"');
  });
  await withServer({ extraConfig: '' }, async (server) => {
    await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true }).then((s) => s.disconnect());
    t.notMatch(server.output(), DEBUG_LINE, 'default: no debug lines');
  });
  await withServer({ extraConfig: 'log-level = 3', debug: 1 }, async (server) => {
    await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true }).then((s) => s.disconnect());
    t.notMatch(server.output(), DEBUG_LINE, '-d 1 over log-level = 3: no debug lines');
  });
});

interface Status { 'Authentication failures': number; 'Total authentication failures': number; 'Sessions handled': number; 'Total sessions': number; raw_last_stats_reset: number }

t.test('server-stats-reset-time: occtl-ts show status starts a new period, the totals go on', async (t) => {
  await withServer({ extraConfig: 'server-stats-reset-time = 3' }, async (server) => {
    const bad = await openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: 'wrong', servercert: server.pin });
    t.notOk(bad.webvpn, 'a failed login');
    const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true });
    await s.disconnect();
    let st!: Status;
    await until('the counts', 10_000, async () => {
      st = await occtlJson<Status>(server, 'show', 'status');
      return st['Sessions handled'] === 1;
    });
    t.equal(st['Authentication failures'], 1, 'this period: the failure');
    t.equal(st['Total authentication failures'], 1, 'in total: the failure');
    const firstReset = st.raw_last_stats_reset;
    await until('a new period', 15_000, async () => {
      st = await occtlJson<Status>(server, 'show', 'status');
      return st.raw_last_stats_reset > firstReset;
    });
    t.equal(st['Authentication failures'], 0, 'this period: no failures yet');
    t.equal(st['Sessions handled'], 0, 'this period: no sessions yet');
    t.equal(st['Total authentication failures'], 1, 'the total keeps it');
    t.equal(st['Total sessions'], 1, 'the total keeps it');
  });
});

t.test('sec-mod-db-cleanup-time: an abandoned session is swept (and ended) soon after its cookie expires', async (t) => {
  await withServer({ extraConfig: 'sec-mod-db-cleanup-time = 1\ncookie-timeout = 1' }, async (server) => {
    const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true });
    // gone without a goodbye: the cookie stays valid for cookie-timeout, for a reconnect
    s.proc.kill('SIGKILL');
    await until('the expired session to end', 10_000, () => /"kind":"expired".*"msg":"session ended"/.test(server.output()));
    t.pass('sec-mod ended it within seconds (its default sweep runs every 30 s)');
  });
});

t.test('append-routes: the server\'s routes follow the user\'s own', async (t) => {
  const dir = topo.tempDir('per-user');
  const users = join(dir, 'users');
  mkdirSync(users);
  writeFileSync(join(users, 'alice'), 'route = 10.77.0.0/16\nno-route = 10.77.5.0/24\n');
  const base = `config-per-user = ${users}\nno-route = 198.19.0.128/25`;
  for (const append of [false, true]) {
    await withServer({ extraConfig: `${base}\nappend-routes = ${append}` }, async (server) => {
      const s = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true });
      const want = append ? ['10.77.0.0/16', '198.19.0.0/24'] : ['10.77.0.0/16'];
      t.same([...s.state.routes].sort(), want, `append-routes = ${append}: routes ${want.join(', ')}`);
      t.equal(s.state.CISCO_SPLIT_EXC, append ? '2' : '1', `append-routes = ${append}: no-routes`);
      await s.disconnect();
    });
  }
});

t.test('select-group-by-url: https://server/GROUP picks the group, no list is shown', async (t) => {
  const groups = 'select-group = staff\nselect-group = admins[Administrators]';
  await withServer({ extraConfig: `${groups}\nselect-group-by-url = true` }, async (server) => {
    const ok = await openconnectAuthenticate(topo, { url: `${server.url}staff`, user: 'alice', password: 'alice pw', servercert: server.pin });
    t.ok(ok.webvpn, 'alice at /staff: logged in');
    t.notMatch(ok.output, /Group:/, 'without being asked for a group');
    const s = await connectOpenconnect(topo, { url: `${server.url}staff`, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true });
    const users = await occtlJson<Array<Record<string, unknown>>>(server, 'show', 'users');
    t.equal(users.find((u) => u.Username === 'alice')?.Groupname, 'staff', 'occtl-ts: her session is in staff');
    await s.disconnect();
    const no = await openconnectAuthenticate(topo, { url: `${server.url}admins`, user: 'alice', password: 'alice pw', servercert: server.pin });
    t.notOk(no.webvpn, 'alice at /admins: refused');
    t.match(no.output, /not a member of group admins/, 'openconnect shows why');
    const bob = await openconnectAuthenticate(topo, { url: `${server.url}admins`, user: 'bob', password: 'bob pw', servercert: server.pin });
    t.ok(bob.webvpn, 'bob at /admins: logged in');
    const plain = await openconnectAuthenticate(topo, { url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, extraArgs: ['--authgroup=Nope'] });
    t.match(plain.output, /Group: \[staff\|Administrators\]/, 'the plain URL still offers the list');
  });
  await withServer({ extraConfig: groups }, async (server) => {
    const r = await openconnectAuthenticate(topo, { url: `${server.url}staff`, user: 'alice', password: 'alice pw', servercert: server.pin });
    t.notOk(r.webvpn, 'off (the default): /staff is not a login URL');
    t.match(r.output, /404/, 'openconnect: 404');
  });
});
