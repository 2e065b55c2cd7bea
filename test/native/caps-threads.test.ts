/**
 * Capabilities are per thread: the drops main and sec-mod do after start-up must lower
 * every thread of the process, not just the one that asks — libuv's threadpool (which runs
 * fs.promises work), V8's platform threads, node's SIGUSR1 watchdog, worker_threads, and
 * threads started while the drop is going on. Each case runs a throw-away Node process as
 * root that starts many threads, calls the production function, and reports each thread's
 * sets from /proc/self/task/TID/status.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keptCapabilities } from '../../src/main/least-privilege';
import { SECMOD_CAPABILITIES } from '../../src/secmod/privileges';

const dist = join(__dirname, '..', '..', 'src');
const fields = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'] as const;
type Field = (typeof fields)[number];
type ThreadCaps = { tid: string } & Record<Field, string>;
interface Report {
  before: ThreadCaps[];
  after: ThreadCaps[];
  later: ThreadCaps[];
  warnings: string[];
  writeBefore: string;
  writeAfter: string;
}

/**
 * The child: worker threads (one idle, one that keeps starting and ending more, so threads
 * are born during the drop), threadpool work (some of it busy while the drop happens),
 * then `drop` — a statement using `log` — and the thread list before, right after, and
 * once more threads have been born.
 */
const child = (setup: string, drop: string, readOnlyFile: string): string => `
const fs = require('fs');
const crypto = require('crypto');
const { Worker } = require('worker_threads');
const warnings = [];
const log = { debug() {}, info() {}, warn(o, m) { warnings.push(m + ' ' + JSON.stringify(o)); }, error(o, m) { warnings.push(m + ' ' + JSON.stringify(o)); } };
const threads = () => fs.readdirSync('/proc/self/task').flatMap((tid) => {
  let s;
  try { s = fs.readFileSync('/proc/self/task/' + tid + '/status', 'utf8'); } catch { return []; } // the thread ended meanwhile
  const out = { tid };
  for (const f of ${JSON.stringify(fields)}) out[f] = new RegExp('^' + f + ':\\\\s*(\\\\S+)', 'm').exec(s)[1];
  return [out];
});
const write = () => fs.promises.writeFile(${JSON.stringify(readOnlyFile)}, 'x').then(() => 'ok', (e) => e.code);
(async () => {
  ${setup}
  const idle = new Worker('setInterval(() => {}, 1000)', { eval: true });
  const spawner = new Worker(\`
    const { Worker, parentPort } = require('worker_threads');
    let stop = false;
    parentPort.on('message', () => { stop = true; });
    const again = () => { if (!stop) new Worker('', { eval: true }).on('exit', again); };
    again(); again();
    parentPort.postMessage('spawning');
  \`, { eval: true });
  await new Promise((r) => spawner.once('message', r));
  await Promise.all(Array.from({ length: 8 }, () => fs.promises.readFile('/etc/hostname')));
  const writeBefore = await write();
  const before = threads();
  const busy = Array.from({ length: 4 }, () => new Promise((r) => crypto.pbkdf2('pw', 'salt', 200000, 32, 'sha256', r)));
  ${drop}
  const after = threads();
  await Promise.all(busy);
  await new Promise((r) => setTimeout(r, 300));
  const writeAfter = await write();
  const later = threads();
  spawner.postMessage('stop');
  process.stdout.write(JSON.stringify({ before, after, later, warnings, writeBefore, writeAfter }));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** Runs the child and parses its report; the test fails with stderr if it did not finish. */
function run(t: Test, setup: string, drop: string): Report {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-caps-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const readOnly = join(dir, 'read-only');
  writeFileSync(readOnly, '');
  chmodSync(readOnly, 0o400);
  const r = spawnSync(process.execPath, ['-e', child(setup, drop, readOnly)], { encoding: 'utf8', timeout: 60_000 });
  t.equal(r.status, 0, 'the process finished', { stderr: r.stderr });
  return JSON.parse(r.stdout || '{"before":[],"after":[],"later":[],"warnings":["no report"]}') as Report;
}

const mask = (caps: number[]): string => caps.reduce((m, c) => m | (1n << BigInt(c)), 0n).toString(16).padStart(16, '0');
const exactly = (keep: string): Record<Field, string> => ({ CapInh: '0'.repeat(16), CapPrm: keep, CapEff: keep, CapBnd: keep, CapAmb: '0'.repeat(16) });
const setsOf = (th: ThreadCaps): Record<Field, string> => Object.fromEntries(fields.map((f) => [f, th[f]])) as Record<Field, string>;
const DAC_OVERRIDE = 1n;
const holdsDacOverride = (th: ThreadCaps): boolean => (BigInt(`0x${th.CapEff}`) & (1n << DAC_OVERRIDE)) !== 0n;

/** Every thread, right after the drop and once more were born, holds exactly `keep`. */
function checkAllThreads(t: Test, rep: Report, keep: number[], what: string): void {
  t.same(rep.warnings, [], 'the drop reported no problem');
  t.ok(rep.before.length >= 10, `${rep.before.length} threads before the drop`);
  t.ok(rep.before.filter(holdsDacOverride).length === rep.before.length, 'before it, every thread may override file permissions');
  t.equal(rep.writeBefore, 'ok', 'and the threadpool writes a file that is read-only for its owner');
  const want = exactly(mask(keep));
  for (const [when, list] of [['right after the drop', rep.after], ['after threads born since', rep.later]] as const) {
    const wrong = list.filter((th) => JSON.stringify(setsOf(th)) !== JSON.stringify(want));
    t.same(wrong, [], `${when}: all ${list.length} threads hold exactly ${what} (${want.CapEff})`);
  }
  t.equal(rep.writeAfter, 'EACCES', 'the threadpool can no longer write a read-only file');
}

t.test("main's drop, as dropCapabilities does it, reaches every thread", async (t) => {
  const kept = keptCapabilities({});
  const rep = run(t, '', `require(${JSON.stringify(join(dist, 'main', 'least-privilege.js'))}).dropCapabilities(log, {});`);
  checkAllThreads(t, rep, Object.values(kept).map((k) => k.cap), Object.keys(kept).join(', '));
});

t.test('with chroot-dir and ping-leases main keeps CAP_SYS_CHROOT and CAP_NET_RAW on every thread', async (t) => {
  const c = { chrootDir: '/var/empty', pingLeases: true };
  const kept = keptCapabilities(c);
  const rep = run(t, '', `require(${JSON.stringify(join(dist, 'main', 'least-privilege.js'))}).dropCapabilities(log, ${JSON.stringify(c)});`);
  checkAllThreads(t, rep, Object.values(kept).map((k) => k.cap), Object.keys(kept).join(', '));
});

t.test("sec-mod's drop reaches every thread", async (t) => {
  const rep = run(t, '', `require(${JSON.stringify(join(dist, 'secmod', 'privileges.js'))}).dropSecmodCapabilities(log);`);
  checkAllThreads(t, rep, Object.values(SECMOD_CAPABILITIES), Object.keys(SECMOD_CAPABILITIES).join(', '));
});

t.test('a listen-netns socket thread, which gave up everything, keeps nothing (bounding set included)', async (t) => {
  const kept = Object.values(keptCapabilities({})).map((k) => k.cap);
  const rep = run(t,
    `const ns = require(${JSON.stringify(join(dist, 'native', 'index.js'))}).netnsOpen('/proc/self/ns/net');`,
    `require(${JSON.stringify(join(dist, 'main', 'least-privilege.js'))}).dropCapabilities(log, {});`);
  t.same(rep.warnings, [], 'the drop reported no problem');
  const none = exactly('0'.repeat(16));
  const want = exactly(mask(kept));
  const empty = rep.before.filter((th) => JSON.stringify(setsOf(th)) === JSON.stringify(none));
  t.equal(empty.length, 1, 'the namespace thread holds nothing, not even a bounding set, from its start');
  for (const [when, list] of [['right after the drop', rep.after], ['later', rep.later]] as const) {
    const wrong = list.filter((th) => th.tid !== empty[0]?.tid && JSON.stringify(setsOf(th)) !== JSON.stringify(want));
    t.same(wrong, [], `${when}: every other thread holds exactly main's set`);
    t.same(list.filter((th) => th.tid === empty[0]?.tid).map(setsOf), [none], `${when}: the namespace thread still nothing`);
  }
});
