/**
 * The worker memory watcher (src/main/worker-memory.ts) against real processes: a node
 * child that grows its heap past the bound is replaced, with a log line naming it; one that
 * stays small is left alone; no bound, a lifted bound and a process that is already gone
 * replace nothing. And the option as ocserv.conf gives it.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import pino from 'pino';
import { MIB, WorkerMemoryWatch, residentBytes, workerHeapArgs, type ReplacedWorker } from '../../src/main/worker-memory';
import { until } from '../helpers/wait';
import { ConfigError, buildConfig, parseConfigText } from '../../src/common/config';

const LIMIT_MIB = 150;
/** a child that grows its JS heap by 1 MiB every 10 ms to 300 MiB (well over the bound), then holds it */
const GROWER = `
  const keep = [];
  const grow = setInterval(() => {
    keep.push(new Array(128 * 1024).fill(Math.random()));
    if (keep.length >= 300) { clearInterval(grow); console.log('grown'); }
  }, 10);
  setInterval(() => {}, 1000);
`;
const IDLE = 'setInterval(() => {}, 1000); console.log("idle");';

const children: ChildProcess[] = [];
t.teardown(() => { for (const c of children) c.kill('SIGKILL'); });

function child(code: string): { proc: ChildProcess; said: (word: string) => boolean } {
  const proc = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return { proc, said: (word) => out.includes(word) };
}

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s) as Record<string, unknown>); } });
  return { log, lines };
}

/** A watcher over the given children, which "replaces" one by killing it, as the pool does. */
function watcher(procs: ChildProcess[], limit: { mib: number }, log: pino.Logger, periodMs?: number) {
  const replaced: number[] = [];
  const watch = new WorkerMemoryWatch({
    log,
    limitMiB: () => limit.mib,
    workers: () => procs.map((p, i) => ({ id: i + 1, pid: p.pid })),
    replace: (id): ReplacedWorker | undefined => {
      const p = procs[id - 1]!;
      if (p.exitCode !== null || p.signalCode !== null || replaced.includes(id)) return undefined;
      replaced.push(id);
      p.kill('SIGKILL');
      return { sessions: 3, connections: 4 };
    },
    periodMs,
  });
  return { watch, replaced };
}

t.test('residentBytes reads a live process\'s resident memory, and nothing for one that is gone', async (t) => {
  const own = await residentBytes(process.pid);
  t.ok(own !== undefined && own > 10 * MIB, `this process holds more than 10 MiB (${own})`);
  const gone = child('process.exit(0)');
  await new Promise((r) => gone.proc.once('exit', r));
  t.equal(await residentBytes(gone.proc.pid!), undefined, 'an exited process has no figure');
  t.equal(await residentBytes(2 ** 22 + 12345), undefined, 'nor a pid that does not exist');
});

t.test('the heap cap workers start with follows the bound', async (t) => {
  t.same(workerHeapArgs(0), [], 'no bound: V8 decides');
  t.same(workerHeapArgs(512), ['--max-old-space-size=512']);
});

t.test('a process growing past the bound is replaced, with a log line; one that stays small is not', async (t) => {
  const grower = child(GROWER);
  const idle = child(IDLE);
  const { log, lines } = capture();
  const limit = { mib: 0 };
  const { watch, replaced } = watcher([grower.proc, idle.proc], limit, log, 50);
  await until('the child to grow', () => grower.said('grown'), 30_000);
  await until('the idle child to start', () => idle.said('idle'), 30_000);
  const rss = (await residentBytes(grower.proc.pid!))!;
  t.ok(rss > LIMIT_MIB * MIB, `the grown child holds ${Math.round(rss / MIB)} MiB`);

  t.same(await watch.sample(), [], 'bound 0: nothing is replaced');
  limit.mib = LIMIT_MIB;
  watch.start();
  t.teardown(() => watch.stop());
  await until('the grown child to be replaced', () => replaced.length > 0, 30_000);
  const exited = await new Promise<NodeJS.Signals | null>((r) => {
    if (grower.proc.signalCode !== null) r(grower.proc.signalCode);
    else grower.proc.once('exit', (_c, s) => r(s));
  });
  t.equal(exited, 'SIGKILL', 'it was ended');
  t.same(replaced, [1], 'only the grown one');
  const line = lines.find((l) => l.msg === 'worker over worker-memory-limit: replaced; its clients reconnect to another worker');
  t.match(line, { level: 40, worker: 1, workerPid: grower.proc.pid, limitMiB: LIMIT_MIB, sessions: 3, connections: 4 }, 'a warning names the worker, the bound and what it served');
  t.ok(Number(line?.rssMiB) > LIMIT_MIB, `and its memory (${String(line?.rssMiB)} MiB)`);

  // further passes see the idle one only, and leave it
  for (let i = 0; i < 3; i++) t.same(await watch.sample(), [], 'the small process stays');
  t.equal(idle.proc.exitCode, null, 'and runs on');
  t.equal(idle.proc.signalCode, null);
  watch.stop();
});

t.test('a bound lifted by a reload, or a worker already gone, replaces nothing', async (t) => {
  const grower = child(GROWER);
  await until('the child to grow', () => grower.said('grown'), 30_000);
  const { log, lines } = capture();
  const limit = { mib: 0 };
  const { watch, replaced } = watcher([grower.proc], limit, log);
  t.same(await watch.sample(), [], 'no bound');
  limit.mib = 100_000;
  t.same(await watch.sample(), [], 'a bound it is under');
  // the pool has already let it go (replace answers undefined): no line, no count
  replaced.push(1);
  limit.mib = LIMIT_MIB;
  t.same(await watch.sample(), [], 'a worker the pool no longer has');
  t.same(lines.filter((l) => Number(l.level) >= 40), [], 'and nothing logged');
  grower.proc.kill('SIGKILL');
  await new Promise((r) => grower.proc.once('exit', r));
  replaced.length = 0;
  t.same(await watch.sample(), [], 'a process that exited is skipped');
});

t.test('worker-memory-limit in ocserv.conf: MiB, 1024 by default, 0 for none, never below what a worker needs', async (t) => {
  const base = 'auth = "plain[passwd=/etc/ocserv/ocpasswd]"\nserver-cert = /etc/c.pem\nserver-key = /etc/k.pem\nipv4-network = 198.19.0.0/24\n';
  const parse = (extra: string) => buildConfig(parseConfigText(base + extra, 'test.conf', []), 'test.conf');
  t.equal(parse('').workerMemoryLimit, 1024);
  t.equal(parse('worker-memory-limit = 512').workerMemoryLimit, 512);
  t.equal(parse('worker-memory-limit = 0').workerMemoryLimit, 0);
  t.throws(() => parse('worker-memory-limit = 64'), new ConfigError('test.conf', 5, 'worker-memory-limit: 64 MiB is less than a worker needs; use at least 128, or 0 for no bound'));
  t.throws(() => parse('worker-memory-limit = -1'), ConfigError);
});
