/**
 * A server's process tree and its CPU time, read from /proc: what bench/all.ts divides by the
 * bytes carried, and what bench/sessions.ts sums PSS over. Works for any server, since it
 * follows parent links from the main pid instead of matching command lines (ocserv: main,
 * sec-mod, ocserv-worker; ocserv-ts: main, sec-mod, node workers).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';

/** The fields after the command name (which may hold spaces and parens, so split after the last ')'). */
function statFields(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null; // exited meanwhile
  }
}

export function ppidOf(pid: number): number {
  return Number(statFields(pid)?.[1] ?? 0);
}

/** `root` and every live descendant of it. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const ppid = ppidOf(pid);
    if (!ppid) continue;
    let list = children.get(ppid);
    if (!list) children.set(ppid, (list = []));
    list.push(pid);
  }
  const out: number[] = [];
  for (const todo = [root]; todo.length; ) {
    const pid = todo.pop()!;
    out.push(pid);
    todo.push(...(children.get(pid) ?? []));
  }
  return out;
}

let ticksPerSecond: number | undefined;
function clockTicks(): number {
  ticksPerSecond ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;
  return ticksPerSecond;
}

/**
 * CPU seconds (user + system) the tree under `root` has used so far, exited processes included:
 * for each live process its own utime + stime plus cutime + cstime, the time of the children it
 * has reaped (and of what those had reaped). A worker that ends between two readings thus moves
 * from its own figure into its parent's, and the difference of two readings is all the CPU the
 * tree used in between. (A process that exits and is reaped between reading its own stat and its
 * parent's can be counted twice or not at all; workers do not come and go while data flows.)
 */
export function treeCpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) {
    const f = statFields(pid);
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / clockTicks();
}

/** Run fn and return its value with the CPU seconds the tree under `root` used meanwhile. */
export async function cpuDuring<T>(root: number, fn: () => Promise<T>): Promise<{ value: T; cpuS: number }> {
  const before = treeCpuSeconds(root);
  const value = await fn();
  return { value, cpuS: treeCpuSeconds(root) - before };
}

/** CPU seconds per 10^9 bytes, or undefined with nothing carried. */
export function cpuPerGB(cpuS: number, bytes: number): number | undefined {
  return bytes > 0 ? cpuS / (bytes / 1e9) : undefined;
}
