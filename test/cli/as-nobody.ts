import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../helpers/netns';

/**
 * The command that runs one of this checkout's scripts as `nobody` (an administrator who is
 * not root). When nobody cannot read the checkout (a clone in a mode-700 home), the script
 * runs from a private bind mount, as the server under test does.
 */
export function asNobody(script: string, args: string[]): { cmd: string; args: string[] } {
  const root = repoRoot();
  const env = ['env', '-u', 'NODE_OPTIONS', process.execPath];
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', join(root, script)]);
  if (probe.status === 0) return { cmd: 'runuser', args: ['-u', 'nobody', '--', ...env, join(root, script), ...args] };
  const sh = 'mount -t tmpfs -o mode=755 ocs-code /mnt && mkdir /mnt/ocserv-ts && mount --bind "$0" /mnt/ocserv-ts && exec runuser -u nobody -- "$@"';
  return { cmd: 'unshare', args: ['-m', '--propagation', 'private', 'sh', '-c', sh, root, ...env, join('/mnt/ocserv-ts', script), ...args] };
}
