/** The processes of an ocserv-ts under test, by role, and what /proc says about them. */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { ServerHandle } from './netns';

export interface ServerProcs { main: number; secmod: number[]; workers: number[] }

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** main is the server handle's process (ip netns exec and unshare exec into it). */
export function serverProcs(s: ServerHandle): ServerProcs {
  const main = s.proc.pid!;
  const out: ServerProcs = { main, secmod: [], workers: [] };
  for (const d of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    const pid = Number(d);
    let cmd: string;
    try {
      if (parentOf(pid) !== main) continue;
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    if (cmd.includes('worker/index.js')) out.workers.push(pid);
    else if (cmd.includes('secmod/index.js')) out.secmod.push(pid);
  }
  return out;
}

export function statusField(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
}

/** Capability numbers in a /proc status mask such as CapEff. */
export function capsOf(pid: number, field: 'CapEff' | 'CapPrm' | 'CapBnd' | 'CapInh' | 'CapAmb'): number[] {
  const mask = BigInt(`0x${statusField(pid, field)}`);
  const caps: number[] = [];
  for (let i = 0; i < 64; i++) if (mask & (1n << BigInt(i))) caps.push(i);
  return caps;
}

/** The inodes of the process's sockets that are TCP, UDP or raw (IPv4 and IPv6). */
export function networkSockets(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const inet = new Set<string>();
  for (const table of ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6']) {
    let text: string;
    try { text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const inode = line.trim().split(/\s+/)[9];
      if (inode && inodes.has(inode)) inet.add(`${table}:${inode}`);
    }
  }
  return [...inet];
}
