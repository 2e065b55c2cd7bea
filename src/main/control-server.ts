import { chownSync, chmodSync, readFileSync, unlinkSync } from 'node:fs';
import type { Logger } from '../common/log';
import { Channel } from '../ipc/channel';
import { ctlToMain, type CtlToMain, type MainToCtl } from '../ipc/control';
import { FdWatcher, closeFd, peerCred, seqpacketAccept, seqpacketListen, type FdWatcher as Watcher } from '../native';

export type ControlChannel = Channel<CtlToMain, MainToCtl>;

export interface ControlServerOptions {
  /** occtl-socket-file */
  path: string;
  /** occtl-group: its members may use the socket besides root */
  group?: string;
  log: Logger;
  /** Sets the request handlers on each admitted connection. */
  register(ch: ControlChannel): void;
}

/** Several administrators (and a dashboard or two) at once, but not an unbounded number. */
const MAX_CONNECTIONS = 64;

export class ControlSocketError extends Error { override name = 'ControlSocketError'; }

/**
 * main's end of the occtl control socket: a SOCK_SEQPACKET unix socket speaking the IPC
 * envelopes. Its file mode keeps others out; SO_PEERCRED is checked again on every
 * connection, so a socket made reachable by mistake still answers nobody else.
 */
export class ControlServer {
  private fd = -1;
  private watcher?: Watcher;
  private gid?: number;
  private readonly channels = new Set<ControlChannel>();

  constructor(private readonly o: ControlServerOptions) {}

  start(): void {
    const { path, group } = this.o;
    if (group !== undefined) {
      this.gid = groupId(group);
      if (this.gid === undefined) throw new ControlSocketError(`occtl-group: no such group '${group}'`);
    }
    try {
      this.fd = seqpacketListen(path, 128, 0o600);
      if (this.gid !== undefined) {
        chownSync(path, 0, this.gid);
        chmodSync(path, 0o660);
      }
    } catch (err) {
      if (this.fd >= 0) closeFd(this.fd);
      this.fd = -1;
      throw new ControlSocketError(`cannot create the occtl socket ${path}: ${(err as Error).message}`);
    }
    this.watcher = new FdWatcher(this.fd, (err, readable) => {
      if (err) this.o.log.error({ err: err.message }, 'occtl socket error');
      else if (readable) this.acceptAll();
    });
    this.watcher.start(true);
    this.watcher.unref();
    this.o.log.info({ socket: path, group }, 'occtl control socket ready');
  }

  stop(): void {
    for (const ch of this.channels) ch.close('server stopping');
    this.watcher?.close();
    this.watcher = undefined;
    if (this.fd >= 0) {
      closeFd(this.fd);
      this.fd = -1;
      try { unlinkSync(this.o.path); } catch { /* already gone */ }
    }
  }

  private acceptAll(): void {
    for (;;) {
      let fd: number;
      try {
        fd = seqpacketAccept(this.fd);
      } catch (err) {
        this.o.log.warn({ err: (err as Error).message }, 'cannot accept an occtl connection');
        return;
      }
      if (fd < 0) return;
      this.admit(fd);
    }
  }

  private admit(fd: number): void {
    let cred;
    try {
      cred = peerCred(fd);
    } catch {
      closeFd(fd);
      return;
    }
    const ch: ControlChannel = new Channel<CtlToMain, MainToCtl>(fd, {
      name: `occtl(pid ${cred.pid})`,
      log: this.o.log,
      validators: ctlToMain,
    });
    if (!this.allowed(cred)) {
      this.o.log.warn({ uid: cred.uid, gid: cred.gid, pid: cred.pid }, 'occtl connection refused: not root nor in occtl-group');
      const who = this.o.group ? `root or members of group '${this.o.group}'` : 'root';
      refuse(ch, `permission denied: only ${who} may use this server's control socket`);
      return;
    }
    if (this.channels.size >= MAX_CONNECTIONS) {
      this.o.log.warn({ limit: MAX_CONNECTIONS }, 'too many occtl connections; refusing one');
      refuse(ch, `the server already serves ${MAX_CONNECTIONS} control connections; try again later`);
      return;
    }
    this.channels.add(ch);
    ch.onClose(() => this.channels.delete(ch));
    this.o.register(ch);
  }

  private allowed(cred: { uid: number; gid: number; pid: number }): boolean {
    if (cred.uid === 0) return true;
    if (this.gid === undefined) return false;
    return cred.gid === this.gid || supplementaryGroups(cred.pid).includes(this.gid);
  }
}

const REFUSED_LINGER_MS = 2000;

/**
 * Tells the peer why, and answers its request with the same before closing: closing at once
 * would make the peer's first write fail before it could read the reason.
 */
function refuse(ch: ControlChannel, message: string): void {
  ch.send('ctl.refused', { message });
  for (const type of Object.keys(ctlToMain) as Array<keyof CtlToMain>) {
    ch.on(type, (_body, ctx) => {
      ctx.reply('ctl.refused', { message });
      ch.close('refused');
    });
  }
  setTimeout(() => ch.close('refused'), REFUSED_LINGER_MS).unref();
}

function groupId(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined) return Number(f[2]);
  }
  return undefined;
}

/** The peer's supplementary groups as the kernel has them now (not /etc/group, which may lag). */
function supplementaryGroups(pid: number): number[] {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('Groups:'));
    return (line ?? '').slice('Groups:'.length).trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
