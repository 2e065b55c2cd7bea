/**
 * Looks for byte strings in a live process's memory, as root, through /proc/PID/mem: every
 * readable region that can hold data the process made (anonymous or writable mappings;
 * code and read-only file mappings cannot hold a key it loaded).
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';

const CHUNK = 8 * 1024 * 1024;

export interface ScanResult {
  /** for each needle, whether it was found */
  found: boolean[];
  bytesScanned: number;
}

export function scanMemory(pid: number, needles: Buffer[]): ScanResult {
  const found = needles.map(() => false);
  const overlap = Math.max(...needles.map((n) => n.length)) - 1;
  let bytesScanned = 0;
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, from, to, perms, path] = m;
      if (perms[0] !== 'r') continue;
      if (perms[1] !== 'w' && path !== '' && !path.startsWith('[')) continue;
      if (path === '[vvar]' || path === '[vsyscall]') continue;
      const start = parseInt(from, 16);
      const end = parseInt(to, 16);
      const buf = Buffer.alloc(Math.min(CHUNK, end - start) + overlap);
      for (let pos = start; pos < end; pos += CHUNK) {
        const want = Math.min(CHUNK + overlap, end - pos);
        let n: number;
        try {
          n = readSync(fd, buf, 0, want, pos);
        } catch {
          break; // an unreadable (e.g. guard) region
        }
        bytesScanned += Math.min(n, CHUNK);
        const view = buf.subarray(0, n);
        needles.forEach((needle, i) => { if (!found[i] && view.includes(needle)) found[i] = true; });
      }
    }
  } finally {
    closeSync(fd);
  }
  return { found, bytesScanned };
}
