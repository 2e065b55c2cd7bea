/**
 * ping-leases, as ocserv: before an address chosen from an IPv4 pool is leased, one ICMP
 * echo request goes to it; if some host answers within 3 seconds the address is in use by
 * something that is not ours, and the next candidate is tried (at most 16, ocserv's
 * MAX_IP_TRIES). The wait is the event loop's, so other clients are served meanwhile.
 * Addresses given explicitly (explicit-ipv4, RADIUS) and the address a reconnecting client
 * had are leased without a ping. (ocserv also pings IPv6 /128 leases; ocserv-ts does not yet.)
 */
import { randomInt } from 'node:crypto';
import type { Logger } from '../common/log';
import { FdWatcher, closeFd, icmpEchoOpen, icmpEchoReplied, icmpEchoSend, type FdWatcher as Watcher } from '../native';

/** ocserv's PING_TIMEOUT */
export const PING_TIMEOUT_MS = 3000;
/** ocserv's MAX_IP_TRIES */
export const MAX_PING_TRIES = 16;

/**
 * Whether `address` answers an echo request within timeoutMs. A ping that cannot be sent
 * (no CAP_NET_RAW) counts as no answer, as in ocserv, after `onError` heard why.
 */
export function answersPing(address: string, timeoutMs = PING_TIMEOUT_MS, onError?: (err: Error) => void): Promise<boolean> {
  return new Promise((resolve) => {
    let fd = -1;
    let watcher: Watcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (answered: boolean) => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      watcher?.close();
      if (fd >= 0) closeFd(fd);
      resolve(answered);
    };
    const id = randomInt(0x10000);
    try {
      fd = icmpEchoOpen(address);
      icmpEchoSend(fd, id, 1);
      watcher = new FdWatcher(fd, (err, readable) => {
        // an ICMP error (host unreachable) is no answer from a host
        if (err) finish(false);
        else if (readable && icmpEchoReplied(fd, id)) finish(true);
      });
      watcher.start(true);
    } catch (err) {
      onError?.(err as Error);
      queueMicrotask(() => finish(false));
      return;
    }
    timer = setTimeout(() => finish(false), timeoutMs);
  });
}

export type Prober = (address: string) => Promise<boolean>;

/** Where the candidates come from (an IPv4 pool, for one user). */
export interface Candidates<L extends { remote: string }> {
  /** the next free one (the search holds the ones it tried, so this moves on) */
  next(): L | undefined;
  release(lease: L): void;
}

/**
 * `first`, just allocated, if no host answers on it; otherwise the next free address
 * nobody answers on. Addresses found in use stay allocated while the search goes on and
 * are given back at its end. undefined: every address tried answered, or none was left;
 * `first` is then released too.
 */
export async function unansweredLease<L extends { remote: string }>(first: L, from: Candidates<L>, username: string, probe: Prober, log: Logger): Promise<L | undefined> {
  const busy: L[] = [];
  let lease: L | undefined = first;
  try {
    for (let tries = 0; lease && tries < MAX_PING_TRIES; tries++) {
      if (!(await probe(lease.remote))) return lease;
      log.info({ user: username, vpnIp: lease.remote }, 'ping-leases: the address answers a ping, so another host uses it; trying the next one');
      busy.push(lease);
      lease = from.next();
    }
    if (lease) from.release(lease);
    return undefined;
  } finally {
    for (const b of busy) from.release(b);
  }
}
