/**
 * Every fuzz target, in the order runs report them. A run loads only the target it needs
 * (loadTarget), so one target's dependencies (the native addon, say) cannot stop another's run.
 */
import type { FuzzTarget } from '../target';

export const TARGET_NAMES = ['http-auth', 'cstp', 'dtls', 'dtls-peek', 'ipc', 'config', 'radius', 'proxy-protocol', 'decompress', 'cluster-bus'] as const;

export function loadTarget(name: string): FuzzTarget {
  if (!(TARGET_NAMES as readonly string[]).includes(name)) throw new Error(`unknown fuzz target ${name}`);
  return (require(`./${name}`) as { target: FuzzTarget }).target;
}

/** All of them, loaded (the short run in npm test). */
export function allTargets(): FuzzTarget[] {
  return TARGET_NAMES.map(loadTarget);
}

export function targetByName(name: string): FuzzTarget | undefined {
  return (TARGET_NAMES as readonly string[]).includes(name) ? loadTarget(name) : undefined;
}
