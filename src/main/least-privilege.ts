/**
 * After start-up main keeps only the capabilities it still uses, and shrinks the bounding
 * set to them so that sec-mod, which main (re)starts as root, can hold no more either.
 * Workers get none at all: they are started with setuid to run-as-user. The drop covers
 * every thread of main (capsLimit), so fs work on libuv's threadpool is limited too.
 */
import type { Logger } from '../common/log';
import { capsLimit } from '../native';

/** linux/capability.h numbers of what stays, and why. */
export const KEPT_CAPABILITIES: Record<string, { cap: number; why: string }> = {
  CAP_NET_ADMIN: { cap: 12, why: 'create and configure tun devices' },
  CAP_NET_BIND_SERVICE: { cap: 10, why: 'bind a UDP socket per DTLS client to a port below 1024' },
  CAP_SETUID: { cap: 7, why: 'start workers as run-as-user' },
  CAP_SETGID: { cap: 6, why: 'start workers as run-as-group' },
  CAP_KILL: { cap: 5, why: 'signal workers, which run as another user' },
  CAP_DAC_READ_SEARCH: { cap: 2, why: 'a restarted sec-mod reads keys and password files it does not own' },
  CAP_AUDIT_WRITE: { cap: 29, why: 'PAM modules in sec-mod that write audit records' },
  CAP_SYS_NICE: { cap: 23, why: 'give a shared worker the CPU weight of the clients it serves (src/main/worker-weight.ts)' },
};

/** Kept only when the configuration needs them. */
export const OPTIONAL_CAPABILITIES = {
  CAP_SYS_CHROOT: { cap: 18, why: 'chroot-dir: workers start as root and chroot themselves before becoming run-as-user' },
  CAP_NET_RAW: { cap: 13, why: 'ping-leases: an ICMP echo request to an address before it is leased' },
} as const;

/** What main keeps for this configuration. */
export function keptCapabilities(c: { chrootDir?: string; pingLeases?: boolean } = {}): Record<string, { cap: number; why: string }> {
  return {
    ...KEPT_CAPABILITIES,
    ...(c.chrootDir ? { CAP_SYS_CHROOT: OPTIONAL_CAPABILITIES.CAP_SYS_CHROOT } : {}),
    ...(c.pingLeases ? { CAP_NET_RAW: OPTIONAL_CAPABILITIES.CAP_NET_RAW } : {}),
  };
}

export function dropCapabilities(log: Logger, c?: { chrootDir?: string; pingLeases?: boolean }): void {
  const kept = keptCapabilities(c);
  try {
    capsLimit(Object.values(kept).map((k) => k.cap));
    log.debug({ kept: Object.keys(kept) }, 'capabilities main no longer needs are dropped');
  } catch (err) {
    // e.g. a container that did not grant CAP_SETPCAP: run on, but say so
    log.warn({ err: (err as Error).message }, 'cannot drop the capabilities main no longer needs');
  }
}
