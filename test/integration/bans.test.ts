/**
 * Ban scores and rate-limit-ms with Debian's openconnect. occtl.test.ts covers listing and
 * `occtl-ts unban ip`; here: the score of each attempt, what a banned client sees (beside
 * Debian's ocserv on the same configuration), the ban running out after min-reauth-time,
 * and a burst of clients paced by rate-limit-ms rather than refused.
 */
import t from 'tap';
import { join } from 'node:path';
import {
  createTopology, openconnectAuthenticate, removeStaleNamespaces, repoRoot, serverEnv, startServer, type ServerHandle, type Topology,
} from '../helpers/netns';

const ERIN = { name: 'erin', password: 'erin pw' };
// two wrong passwords: 1 + 10 for the first connection, 1 + 10 more for the second = 22
const BAN_CONFIG = 'max-ban-score = 20\nban-points-wrong-password = 10\nban-points-connection = 1\nmin-reauth-time = 3\nban-reset-time = 300';

/**
 * The client's source address. ocserv never bans a client on a subnet of its own interfaces
 * ("Not applying ban to local IP"), and the topology's client sits on the server's /30; so
 * the client speaks from an address one route away, for Debian's ocserv to score it too.
 */
const CLIENT = '198.19.250.2';

let topo: Topology;
const started: ServerHandle[] = [];

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const ip = (ns: string, ...args: string[]) => topo.exec(ns, 'ip', args, { check: true });
  await ip(topo.clientNs, 'addr', 'add', `${CLIENT}/32`, 'dev', topo.clientIf);
  await ip(topo.clientNs, 'route', 'replace', `${topo.serverIp}/32`, 'dev', topo.clientIf, 'src', CLIENT);
  await ip(topo.serverNs, 'route', 'add', `${CLIENT}/32`, 'dev', topo.serverIf);
});
t.teardown(async () => {
  await Promise.all(started.map((s) => s.stop()));
  await topo?.cleanup();
});

async function server(kind: 'ocserv' | 'ocserv-ts', port: number, extraConfig: string, debug?: number): Promise<ServerHandle> {
  const k = port - 4440;
  const s = await startServer(topo, {
    kind, port, users: [ERIN], debug,
    extraConfig: `${extraConfig}\nipv4-network = 198.19.${k}.0\nipv4-netmask = 255.255.255.0\nroute = 198.19.${k}.0/255.255.255.0`,
  });
  started.push(s);
  return s;
}
const login = (s: ServerHandle, password: string) =>
  openconnectAuthenticate(topo, { url: s.url, user: ERIN.name, password, servercert: s.pin, timeoutMs: 20_000 });
async function occtlJson(s: ServerHandle, ...args: string[]): Promise<Array<Record<string, unknown>>> {
  const r = await topo.exec(topo.serverNs, process.execPath, [join(repoRoot(), 'bin', 'occtl-ts'), '-s', s.files.occtlSocketPath, '-j', ...args], { env: serverEnv() });
  return JSON.parse(r.stdout) as Array<Record<string, unknown>>;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Tries the right password every half second; how many tries were refused, undefined if none worked within 30 s. */
async function untilLoggedIn(s: ServerHandle): Promise<number | undefined> {
  for (let refused = 0, deadline = Date.now() + 30_000; Date.now() < deadline; refused++) {
    if ((await login(s, ERIN.password)).webvpn) return refused;
    await sleep(500);
  }
  return undefined;
}

/** what openconnect prints when the server drops the connection before TLS */
const DROPPED = /SSL connection failure|Failed to complete TLS handshake|Connection reset by peer|TLS connection was non-properly terminated|Failed to open HTTPS connection/;

t.test('two wrong passwords ban the address; the right one is refused until min-reauth-time has passed', async (t) => {
  const ours = await server('ocserv-ts', 4443, BAN_CONFIG);
  t.notOk((await login(ours, 'wrong')).webvpn, 'first wrong password');
  t.same(await occtlJson(ours, 'show', 'ip', 'bans'), [], 'a score of 11 is no ban yet');
  t.match(await occtlJson(ours, 'show', 'ip', 'ban', 'points'), [{ IP: CLIENT, Score: 11 }], 'one connection and one wrong password');

  t.notOk((await login(ours, 'wrong again')).webvpn, 'second wrong password');
  t.match(await occtlJson(ours, 'show', 'ip', 'bans'), [{ IP: CLIENT, Score: 22 }], 'banned at 22 of 20');

  const refused = await login(ours, ERIN.password);
  t.notOk(refused.webvpn, 'the right password gets nowhere while banned');
  t.not(refused.code, 0);
  t.match(refused.output, DROPPED, 'openconnect: the connection is dropped before TLS');
  t.notMatch(refused.output, /Please enter/, 'no login form is shown');
  t.comment(`openconnect, banned: ${refused.output.trim().split('\n').slice(-3).join(' | ')}`);
  t.match(ours.output(), /rejected connection from banned IP/);

  // the ban runs out after min-reauth-time (3 s); trying meanwhile does not extend it
  const refusedTries = await untilLoggedIn(ours);
  t.ok(refusedTries !== undefined, `the right password works again once the ban is over (after ${refusedTries} refused attempts)`);
  const status = await topo.exec(topo.serverNs, process.execPath, [join(repoRoot(), 'bin', 'occtl-ts'), '-s', ours.files.occtlSocketPath, 'show', 'status'], { env: serverEnv() });
  t.match(status.stdout, /\tIPs in ban list: 0\n/, 'no address is banned any more');
});

t.test('Debian\'s ocserv drops a banned client the same way', async (t) => {
  const theirs = await server('ocserv', 4444, BAN_CONFIG, 2);
  t.notOk((await login(theirs, 'wrong')).webvpn);
  t.notOk((await login(theirs, 'wrong again')).webvpn);
  const refused = await login(theirs, ERIN.password);
  t.notOk(refused.webvpn, 'ocserv refuses the right password while banned');
  t.match(refused.output, DROPPED, 'openconnect prints the same kind of failure');
  t.notMatch(refused.output, /Please enter/);
  t.comment(`openconnect, banned by ocserv: ${refused.output.trim().split('\n').slice(-3).join(' | ')}`);
  t.match(theirs.output(), /rejected connection from banned IP/);
  t.ok(await untilLoggedIn(theirs) !== undefined, 'and lets it back after min-reauth-time');
});

t.test('rate-limit-ms: a burst of clients is paced, not refused', async (t) => {
  const paced = await server('ocserv-ts', 4445, 'rate-limit-ms = 1500', 3);
  const results = await Promise.all([0, 1, 2].map(() => login(paced, ERIN.password)));
  t.same(results.map((r) => Boolean(r.webvpn)), [true, true, true], 'all three log in');
  t.match(paced.output(), /delaying accepts \(rate-limit-ms\)/);
  const times = paced.output().split('\n')
    .filter((l) => l.includes('connection handed to worker'))
    .map((l) => Date.parse((JSON.parse(l) as { time: string }).time));
  t.equal(times.length, 3, 'each connection reached a worker');
  for (let i = 1; i < times.length; i++) {
    // a lower bound the pacing guarantees by construction (timers never fire early)
    t.ok(times[i]! - times[i - 1]! >= 1490, `connection ${i + 1} reached a worker ${times[i]! - times[i - 1]!} ms after the one before`);
  }
  const alone = await login(paced, ERIN.password);
  t.ok(alone.webvpn, 'a connection after the burst is not held back');
});
