/**
 * Least privilege of the running server: main keeps only the capabilities it still uses
 * (and sec-mod, started by it as root, can have no more, even after a restart), sec-mod
 * holds no network socket, workers have no capabilities, no_new_privs, and with
 * isolate-workers a seccomp filter — under which login, CSTP and DTLS still work.
 */
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer } from '../helpers/netns';
import { capsOf, networkSockets, serverProcs, statusField } from '../helpers/server-procs';
import { KEPT_CAPABILITIES } from '../../src/main/least-privilege';
import { SECMOD_CAPABILITIES } from '../../src/secmod/privileges';

const kept = Object.values(KEPT_CAPABILITIES).map((k) => k.cap).sort((a, b) => a - b);
const secmodCaps = Object.values(SECMOD_CAPABILITIES).sort((a, b) => a - b);
const user = { name: 'alice', password: 'a-pw' };

type CapField = 'CapEff' | 'CapPrm' | 'CapBnd' | 'CapInh' | 'CapAmb';

/**
 * Capabilities are per thread: each thread of the process (libuv's threadpool runs its fs
 * work) with its sets, from /proc/PID/task/TID/status.
 */
function threadCaps(pid: number): { tid: number; sets: Record<CapField, number[]> }[] {
  const fields: CapField[] = ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'];
  const numbers = (mask: bigint) => [...Array(64).keys()].filter((i) => mask & (1n << BigInt(i)));
  return readdirSync(`/proc/${pid}/task`).map(Number).flatMap((tid) => {
    let status: string;
    try { status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'); } catch { return []; } // ended meanwhile
    const field = (f: CapField) => numbers(BigInt(`0x${new RegExp(`^${f}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '0'}`));
    return [{ tid, sets: Object.fromEntries(fields.map((f) => [f, field(f)])) as Record<CapField, number[]> }];
  });
}

/** The threads whose sets differ from `want`, for a readable failure. */
function threadsOtherThan(pid: number, want: Record<CapField, number[]>): { count: number; wrong: unknown[] } {
  const all = threadCaps(pid);
  return { count: all.length, wrong: all.filter((th) => JSON.stringify(th.sets) !== JSON.stringify(want)) };
}

/** A worker confines itself as it starts (no_new_privs) and once initialised (seccomp): give fresh ones a moment. */
async function settled(pid: number, field: string, want: string): Promise<string> {
  for (let i = 0; i < 50 && statusField(pid, field) !== want; i++) await new Promise((r) => setTimeout(r, 50));
  return statusField(pid, field);
}

t.test('capabilities, no_new_privs, seccomp and sockets of each process', async (t) => {
  removeStaleNamespaces();
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [user], extraConfig: 'isolate-workers = true' });
  const vpn = await connectOpenconnect(topo, { url: server.url, user: user.name, password: user.password, servercert: server.pin });
  await vpn.waitForOutput(/Established DTLS connection/);
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).ok, 'login, CSTP and DTLS work in confined workers');

  const p = serverProcs(server);
  t.same(capsOf(p.main, 'CapEff'), kept, `main keeps only ${Object.keys(KEPT_CAPABILITIES).join(', ')}`);
  t.same(capsOf(p.main, 'CapBnd'), kept, 'and its bounding set is as small, for whatever it starts');
  t.same(capsOf(p.main, 'CapInh'), [], 'nothing inheritable');
  t.same(capsOf(p.main, 'CapAmb'), [], 'nothing ambient');
  const mainThreads = threadsOtherThan(p.main, { CapEff: kept, CapPrm: kept, CapBnd: kept, CapInh: [], CapAmb: [] });
  t.ok(mainThreads.count >= 5, `main has ${mainThreads.count} threads`);
  t.same(mainThreads.wrong, [], 'every thread of main (threadpool, V8) holds exactly these, not just the main thread');

  t.equal(p.secmod.length, 1, 'one sec-mod');
  t.same(capsOf(p.secmod[0], 'CapEff'), secmodCaps, `sec-mod keeps only ${Object.keys(SECMOD_CAPABILITIES).join(', ')}`);
  t.same(capsOf(p.secmod[0], 'CapPrm'), secmodCaps, 'for good (permitted set)');
  t.same(networkSockets(p.secmod[0]), [], 'sec-mod holds no network socket');
  const secmodThreads = threadsOtherThan(p.secmod[0], { CapEff: secmodCaps, CapPrm: secmodCaps, CapBnd: secmodCaps, CapInh: [], CapAmb: [] });
  t.ok(secmodThreads.count >= 5, `sec-mod has ${secmodThreads.count} threads`);
  t.same(secmodThreads.wrong, [], 'every thread of sec-mod holds exactly its set, bounding set included');

  t.ok(p.workers.length >= 2, `workers: ${p.workers.join(', ')}`);
  for (const w of p.workers) {
    const caps = (['CapEff', 'CapPrm', 'CapInh', 'CapAmb'] as const).flatMap((f) => capsOf(w, f));
    const seccomp = await settled(w, 'Seccomp', '2');
    t.same({ uid: statusField(w, 'Uid').split(/\s+/)[0], caps, noNewPrivs: statusField(w, 'NoNewPrivs'), seccomp },
      { uid: '65534', caps: [], noNewPrivs: '1', seccomp: '2' }, `worker ${w}: nobody, no capabilities, no_new_privs, seccomp filter`);
  }

  process.kill(p.secmod[0], 'SIGKILL');
  const ready = () => server.output().split('\n').filter((l) => l.includes('"msg":"sec-mod ready"')).length;
  for (let i = 0; i < 50 && ready() < 2; i++) await new Promise((r) => setTimeout(r, 100));
  const restarted = serverProcs(server).secmod;
  t.equal(restarted.length, 1, 'sec-mod restarted');
  t.same(capsOf(restarted[0], 'CapEff'), secmodCaps, 'a restarted sec-mod is as limited');
  t.ok(capsOf(restarted[0], 'CapBnd').every((c) => kept.includes(c)), 'and could not regain what main dropped (bounding set)');
  const restartedThreads = threadCaps(restarted[0]);
  t.same(restartedThreads.filter((th) => JSON.stringify([th.sets.CapEff, th.sets.CapPrm, th.sets.CapInh, th.sets.CapAmb]) !== JSON.stringify([secmodCaps, secmodCaps, [], []])
    || !th.sets.CapBnd.every((c) => kept.includes(c))), [], `so are all ${restartedThreads.length} of its threads`);
  t.same(networkSockets(restarted[0]), [], 'and it inherited none of main\'s listening sockets');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1 })).ok, 'the tunnel carried on');
  await vpn.disconnect();
  await server.stop();
});

t.test('without isolate-workers: no seccomp filter, still no_new_privs', async (t) => {
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [user], udp: false });
  const { workers } = serverProcs(server);
  t.ok(workers.length > 0);
  for (const w of workers) {
    t.equal(statusField(w, 'Seccomp'), '0', `worker ${w}: no filter`);
    t.equal(await settled(w, 'NoNewPrivs', '1'), '1', `worker ${w}: no_new_privs`);
  }
  await server.stop();
});
