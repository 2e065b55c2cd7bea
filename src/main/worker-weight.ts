/**
 * The CPU weight of a shared worker. ocserv runs a process per client, so on a busy machine
 * the kernel gives each client's traffic one task's share of the CPU. A shared worker carries
 * many clients on one task: at the default weight it is the task that has used more than its
 * share, and every process it wakes (the receiver of each packet it writes into a tun) is
 * let to preempt it. Measured with 20 iperf3 tunnels over 4 workers on 2 cores: about 21,000
 * preemptions a second, each a context switch there and back and a receiver woken for a
 * packet or two; ocserv's 20 workers had under 1,000. So main gives a worker the weight of
 * the clients it serves, as ocserv's processes would have together: each nice level below
 * main's own is about 1.25 times the weight (the kernel's sched_prio_to_weight table).
 */
import { getPriority, setPriority } from 'node:os';

const WEIGHT_PER_NICE_LEVEL = 1.25;
const MIN_NICE = -19;

/**
 * The nice value whose weight is that of `clients` processes at `base` (main's own, which a
 * worker inherits: a server an administrator started at nice 10 keeps its workers below that).
 */
export function niceFor(clients: number, base = 0): number {
  if (clients <= 1) return base;
  return Math.max(MIN_NICE, base - Math.round(Math.log(clients) / Math.log(WEIGHT_PER_NICE_LEVEL)));
}

/** main's nice value, the one workers start with. */
export function ownNice(): number {
  return getPriority();
}

/**
 * Sets the nice value of the worker's main thread (on Linux setpriority on a pid acts on that
 * thread alone: its JavaScript and its I/O; libuv's and V8's helper threads keep theirs).
 * Throws what setpriority throws (EACCES without CAP_SYS_NICE, ESRCH once it has exited).
 */
export function setNice(pid: number, nice: number): void {
  setPriority(pid, nice);
}
