/**
 * worker-memory-limit under live openconnect sessions, one client per worker: one worker's
 * memory grows past the bound; main replaces that worker and no other, says so in its log
 * and its metrics, the other client's tunnel never loses a ping, and the affected client
 * comes back by itself with its cookie and its address.
 *
 * The growth is real memory in a real worker: each worker is started with a small preload
 * (through OCSERV_TS_WORKER_NODE_ARGS, the server's knob for extra node flags, as
 * security.test.ts loads its attacker) that, on SIGUSR2, allocates and fills 200 MiB and
 * keeps it, as a leak would. The server's own code has no test hook; the watcher reads the
 * worker's memory from /proc like any other time.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';
import { occtlUsers as occtlUsersOf, type OcctlUser } from '../helpers/occtl';
import { httpGetInServerNs } from '../helpers/ops-server';
import { sleep, until } from '../helpers/wait';

const USERS = [{ name: 'alice', password: 'alice pw' }, { name: 'bob', password: 'bob pw' }];
const SERVER_TUN = '198.19.0.1';
const LIMIT_MIB = 150;
const METRICS = 'http://127.0.0.1:9617/metrics';
const LEAK = `
'use strict';
const held = [];
process.on('SIGUSR2', () => {
  for (let i = 0; i < 200; i++) held.push(Buffer.alloc(1024 * 1024, i + 1));
});
`;

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

type User = OcctlUser;
const occtlUsers = (s: ServerHandle): Promise<User[]> => occtlUsersOf(topo, s);

const logLines = (s: ServerHandle, msg: string) => s.output().split('\n').filter((l) => l.includes(`"msg":"${msg}"`)).map((l) => JSON.parse(l) as Record<string, unknown>);

function rssMiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]) / 1024;
}

/** `count` echo requests 0.2 s apart, running while the test does other things */
function pingInBackground(iface: string, count: number) {
  return topo.exec(topo.clientNs, 'ping', ['-n', '-i', '0.2', '-c', String(count), '-W', '2', '-I', iface, SERVER_TUN], { timeoutMs: count * 400 + 15_000 })
    .then((r) => {
      const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
      return { transmitted: Number(m?.[1] ?? 0), received: Number(m?.[2] ?? 0), output: r.stdout + r.stderr };
    });
}

t.test('a worker over worker-memory-limit is replaced; its client reconnects with its cookie and address, the other never notices', async (t) => {
  const dir = topo.tempDir('leak');
  const leak = join(dir, 'leak.js');
  writeFileSync(leak, LEAK, { mode: 0o644 });
  process.env.OCSERV_TS_WORKER_NODE_ARGS = `--require ${leak}`;
  let server: ServerHandle;
  try {
    server = await startServer(topo, {
      kind: 'ocserv-ts', users: USERS, udp: false, port: 4443,
      extraConfig: `clients-per-worker = 1\nworker-memory-limit = ${LIMIT_MIB}\nmetrics-listen = 127.0.0.1:9617`,
    });
  } finally {
    delete process.env.OCSERV_TS_WORKER_NODE_ARGS;
  }
  t.teardown(() => server.stop());

  // openconnect reconnects by itself when its connection drops, for up to --reconnect-timeout seconds
  const alice = await connectOpenconnect(topo, {
    url: server.url, user: 'alice', password: 'alice pw', servercert: server.pin, noDtls: true, interfaceName: 'ocalice',
    extraArgs: ['--reconnect-timeout', '60'], timeoutMs: 30_000,
  });
  live.push(alice);
  const bob = await connectOpenconnect(topo, {
    url: server.url, user: 'bob', password: 'bob pw', servercert: server.pin, noDtls: true, interfaceName: 'ocbob', timeoutMs: 30_000,
  });
  live.push(bob);
  const before = await occtlUsers(server);
  const a = before.find((u) => u.Username === 'alice')!;
  const b = before.find((u) => u.Username === 'bob')!;
  const alicePid = Number(a['Worker PID']);
  const bobPid = Number(b['Worker PID']);
  t.not(alicePid, bobPid, 'the two clients are served by different workers');
  // the bound means something only if workers in use are under it
  await sleep(6000); // more than one sampling period with both sessions up
  for (const [who, pid] of [['alice', alicePid], ['bob', bobPid]] as const) {
    t.ok(rssMiB(pid) < LIMIT_MIB, `${who}'s worker holds ${rssMiB(pid).toFixed(0)} MiB, under the bound of ${LIMIT_MIB}`);
  }
  t.same(logLines(server, 'worker over worker-memory-limit: replaced; its clients reconnect to another worker'), [], 'no worker was replaced at rest');

  const bobPings = pingInBackground(bob.tundev, 60);
  await sleep(1000);
  process.kill(alicePid, 'SIGUSR2'); // alice's worker "leaks" 200 MiB
  const leakedAt = Date.now();

  const over = await until('main to replace alice\'s worker', () => logLines(server, 'worker over worker-memory-limit: replaced; its clients reconnect to another worker')[0],
    30_000, () => server.output().slice(-3000));
  t.match(over, { level: 40, workerPid: alicePid, limitMiB: LIMIT_MIB, sessions: 1 }, 'main warns, naming the worker, the bound and the one session it carries');
  t.ok(Number(over.rssMiB) > LIMIT_MIB, `with its memory (${String(over.rssMiB)} MiB)`);
  const exited = await until('alice\'s worker to exit', () => logLines(server, 'worker exited').find((l) => l.workerPid === alicePid), 20_000);
  t.match(exited, { level: 30, why: 'replaced for memory', sessions: 1 }, 'its exit is logged as a replacement, not a crash');
  t.notOk('crash' in exited, 'and not flagged as a crash');
  const ended = await until('alice\'s session to end', () => logLines(server, 'session ended').find((l) => l.user === 'alice'), 20_000);
  t.equal(ended.cause, 'nas-error', 'her tunnel ended as a NAS error (as for a worker crash), the cookie kept');

  const back = await until('alice back in occtl', async () => {
    const u = (await occtlUsers(server)).find((x) => x.Username === 'alice');
    return u && u.ID !== a.ID && u;
  }, 60_000, () => alice.output().slice(-2000));
  t.comment(`figures: idle workers ${rssMiB(bobPid).toFixed(0)} MiB; replaced at ${String(over.rssMiB)} MiB ${((Date.parse(String(over.time)) - leakedAt) / 1000).toFixed(1)} s after the leak; alice back ${((Date.now() - leakedAt) / 1000).toFixed(1)} s after it`);
  t.equal(back.Session, a.Session, 'the same session (sid): openconnect reconnected with its cookie');
  t.equal(back.IPv4, a.IPv4, 'and got its address back');
  t.not(Number(back['Worker PID']), alicePid, 'on another worker');
  t.equal(alice.proc.exitCode, null, 'alice\'s openconnect never gave up');
  t.ok((await ping(topo, topo.clientNs, SERVER_TUN, { count: 2, iface: alice.tundev })).ok, 'alice\'s traffic flows again');

  const p = await bobPings;
  t.equal(p.received, p.transmitted, `bob lost no ping while alice's worker was replaced (${p.received}/${p.transmitted})`, { output: p.output });
  const bobNow = (await occtlUsers(server)).find((u) => u.Username === 'bob');
  t.equal(bobNow?.ID, b.ID, 'bob\'s session is the one he had');
  t.equal(Number(bobNow?.['Worker PID']), bobPid, 'on the same worker');
  t.equal(logLines(server, 'worker over worker-memory-limit: replaced; its clients reconnect to another worker').length, 1, 'one worker was replaced, no other');
  t.equal(server.proc.exitCode, null, 'main still runs');

  const m = await httpGetInServerNs(topo, METRICS);
  t.match(m.body, /^ocserv_workers_replaced_total\{reason="memory"\} 1$/m, 'the metrics count the replacement');
});
