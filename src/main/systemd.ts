/**
 * main under systemd: readiness notification (sd_notify: READY, STATUS, STOPPING) and
 * socket activation (sd_listen_fds), both as libsystemd defines them, so the units in
 * config/systemd work with Type=notify and with ocserv-ts.socket.
 */
import type { Logger } from '../common/log';
import { sdNotify, setCloexec, socketInfo, type SocketInfo } from '../native';

/** systemd passes its sockets from this fd number on (SD_LISTEN_FDS_START) */
export const LISTEN_FDS_START = 3;
/** more than any sensible .socket unit lists; a larger LISTEN_FDS is a broken environment */
const MAX_LISTEN_FDS = 64;

export class SystemdError extends Error { override name = 'SystemdError'; }

export interface InheritedSocket {
  fd: number;
  /** FileDescriptorName= of the socket (LISTEN_FDNAMES), or 'unknown' */
  name: string;
  family: 'inet' | 'inet6';
  /** the bound address ('::' or '0.0.0.0' for all) and port */
  address: string;
  port: number;
}

/** the sockets systemd passed, by kind */
export interface InheritedSockets { tcp: InheritedSocket[]; udp: InheritedSocket[] }

/**
 * sd_listen_fds(unset_environment = true): the sockets systemd passed to this process, or
 * undefined when it passed none. The LISTEN_* variables are removed so that nothing main
 * starts believes the sockets are meant for it, and the fds are made close-on-exec for the
 * same reason (systemd leaves them inheritable). LISTEN_PID must name this process: a
 * wrapper that forked instead of exec'ing would otherwise make two processes use them.
 */
export function takeListenFds(env: NodeJS.ProcessEnv = process.env, pid = process.pid): InheritedSockets | undefined {
  const pidVar = env.LISTEN_PID;
  const countVar = env.LISTEN_FDS;
  const namesVar = env.LISTEN_FDNAMES;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (pidVar === undefined || countVar === undefined) return undefined;
  if (!/^\d+$/.test(pidVar) || Number(pidVar) !== pid) return undefined;
  const count = /^\d+$/.test(countVar) ? Number(countVar) : NaN;
  if (!(count >= 0 && count <= MAX_LISTEN_FDS)) throw new SystemdError(`LISTEN_FDS=${countVar} is not a number of sockets`);
  if (count === 0) return undefined;
  const names = namesVar?.split(':') ?? [];
  const out: InheritedSockets = { tcp: [], udp: [] };
  for (let i = 0; i < count; i++) {
    const fd = LISTEN_FDS_START + i;
    const name = names[i] || 'unknown';
    let s: SocketInfo;
    try {
      s = socketInfo(fd);
      setCloexec(fd, true);
    } catch (err) {
      throw new SystemdError(`fd ${fd} (${name}) from systemd: ${(err as Error).message}`);
    }
    if (s.family !== 'inet' && s.family !== 'inet6') {
      throw new SystemdError(`fd ${fd} (${name}) from systemd is a ${s.family} socket; ocserv-ts takes TCP and UDP sockets (ListenStream=, ListenDatagram=)`);
    }
    const sock: InheritedSocket = { fd, name, family: s.family, address: s.address, port: s.port };
    if (s.type === 'stream' && s.listening) out.tcp.push(sock);
    else if (s.type === 'dgram') out.udp.push(sock);
    else throw new SystemdError(`fd ${fd} (${name}) from systemd is neither a listening TCP socket nor a UDP socket`);
  }
  if (out.tcp.length === 0) throw new SystemdError('systemd passed no TCP socket: ocserv-ts.socket needs a ListenStream= line');
  return out;
}

/** what `systemctl status ocserv-ts` shows on its Status: line */
export function sessionStatus(sessions: number): string {
  return `${sessions} session${sessions === 1 ? '' : 's'} active`;
}

/** STATUS= updates at most this often during a burst of logins */
const STATUS_MIN_INTERVAL_MS = 1000;

/**
 * sd_notify(3) for main. Without NOTIFY_SOCKET (not started by systemd, or Type=simple) every
 * call does nothing. A failed send is logged once and never stops the server: systemd then
 * times the start out, which says more than a crash would.
 */
export class SystemdNotifier {
  private readonly socket?: string;
  private warned = false;
  private lastStatusAt = 0;
  private pendingStatus?: NodeJS.Timeout;
  private latestStatus = '';

  constructor(private readonly log: Logger, env: NodeJS.ProcessEnv = process.env) {
    this.socket = env.NOTIFY_SOCKET || undefined;
    // nothing main starts (scripts, sec-mod) may speak for the service
    delete env.NOTIFY_SOCKET;
  }

  get enabled(): boolean { return this.socket !== undefined; }

  /** the server listens: systemd starts units ordered after this one */
  ready(status: string): void {
    this.latestStatus = status;
    this.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }

  /** a new Status: line, throttled so that a login storm does not become a datagram storm */
  status(status: string): void {
    if (!this.socket) return;
    this.latestStatus = status;
    if (this.pendingStatus) return;
    const wait = this.lastStatusAt + STATUS_MIN_INTERVAL_MS - Date.now();
    if (wait <= 0) {
      this.flushStatus();
      return;
    }
    this.pendingStatus = setTimeout(() => this.flushStatus(), wait);
    this.pendingStatus.unref();
  }

  /** shutdown has begun (systemd then shows "deactivating") */
  stopping(status = 'shutting down'): void {
    clearTimeout(this.pendingStatus);
    this.pendingStatus = undefined;
    this.send(`STOPPING=1\nSTATUS=${status}`);
  }

  private flushStatus(): void {
    this.pendingStatus = undefined;
    this.lastStatusAt = Date.now();
    this.send(`STATUS=${this.latestStatus}`);
  }

  private send(state: string): void {
    if (!this.socket) return;
    try {
      sdNotify(this.socket, state);
    } catch (err) {
      if (this.warned) return;
      this.warned = true;
      this.log.warn({ socket: this.socket, err: (err as Error).message }, 'cannot notify systemd (NOTIFY_SOCKET)');
    }
  }
}
