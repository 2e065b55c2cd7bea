import { readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

export interface RunAs { user: string; group: string; uid: number; gid: number }

function lookup(file: string, name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  return undefined;
}

/** Resolves run-as-user / run-as-group from the system databases (Node has no getpwnam). */
export function resolveRunAs(user: string, group: string): RunAs {
  const uid = lookup('/etc/passwd', user);
  if (uid === undefined) throw new Error(`run-as-user: no such user '${user}'`);
  const gid = lookup('/etc/group', group);
  if (gid === undefined) throw new Error(`run-as-group: no such group '${group}'`);
  return { user, group, uid, gid };
}

function allows(path: string, who: RunAs, bit: 'r' | 'x'): boolean {
  const st = statSync(path);
  const shift = st.uid === who.uid ? 6 : st.gid === who.gid ? 3 : 0;
  const mask = (bit === 'r' ? 4 : 1) << shift;
  return (st.mode & mask) !== 0;
}

/**
 * Workers run as run-as-user and load their code from this checkout. A checkout under a
 * directory that user cannot enter (a home directory with mode 700) would make every worker
 * die at start with an obscure error, so say it plainly before starting anything.
 */
export function checkCodeReadable(rootDir: string, files: string[], who: RunAs): void {
  if (who.uid === 0) return;
  const root = resolve(rootDir);
  const chain: string[] = [];
  for (let d = root; ; d = dirname(d)) {
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  for (const d of chain) {
    if (!allows(d, who, 'x')) {
      throw new Error(`workers run as '${who.user}', who cannot enter ${d} (mode ${(statSync(d).mode & 0o777).toString(8)}); `
        + `install ocserv-ts where that user can read it (e.g. /opt/ocserv-ts) or choose another run-as-user`);
    }
  }
  for (const f of files) {
    const p = join(root, f);
    for (let d = dirname(p); d.length > root.length; d = dirname(d)) {
      if (!allows(d, who, 'x')) throw new Error(`workers run as '${who.user}', who cannot enter ${d}`);
    }
    if (!allows(p, who, 'r')) throw new Error(`workers run as '${who.user}', who cannot read ${p}`);
  }
}

/**
 * chroot-dir must be a directory now: a worker that cannot chroot exits before serving
 * anyone, and would do so again for every worker started.
 */
export function checkChrootDir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    throw new Error(`chroot-dir ${dir}: ${(err as Error).message}`);
  }
  if (!isDir) throw new Error(`chroot-dir ${dir} is not a directory`);
}
