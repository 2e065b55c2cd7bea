import pino from 'pino';
import { Channel } from '../ipc/channel';
import type { CtlEvent, CtlToMain, MainToCtl } from '../ipc/control';
import { seqpacketConnect, type NativeError } from '../native';

/** occtl's own wording, so scripts that look for it still find it. */
export const ERR_SERVER_UNREACHABLE = 'could not send message; possibly insufficient permissions or server is offline.';

export class ControlConnectError extends Error { override name = 'ControlConnectError'; }
export class ControlRefusedError extends Error { override name = 'ControlRefusedError'; }
export class ControlUnreachableError extends Error { override name = 'ControlUnreachableError'; }

const REQUEST_TIMEOUT_MS = 10_000;

const STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ECONNREFUSED: 'Connection refused',
  EACCES: 'Permission denied',
  ENOTSOCK: 'Socket operation on non-socket',
  EPROTOTYPE: 'Protocol wrong type for socket',
  EAGAIN: 'Resource temporarily unavailable',
};

/** A failure of the server to carry out a request (as opposed to not reaching it). */
export interface ServerFailure { ok: false; message: string }

export function isServerFailure(body: unknown): body is ServerFailure {
  return typeof body === 'object' && body !== null && (body as ServerFailure).ok === false && typeof (body as ServerFailure).message === 'string' &&
    !('items' in body);
}

/** occtl-ts's end of the control socket: one request at a time, lists reassembled from their parts. */
export class ControlClient {
  private readonly ch: Channel<MainToCtl, CtlToMain>;
  private parts: unknown[] = [];
  private refused?: string;

  private constructor(fd: number) {
    this.ch = new Channel<MainToCtl, CtlToMain>(fd, { name: 'occtl-ts', log: pino({ level: 'silent' }), requestTimeoutMs: REQUEST_TIMEOUT_MS });
    this.ch.on('ctl.part', ({ items }) => { this.parts.push(...items); });
    this.ch.on('ctl.refused', ({ message }) => { this.refused = message; });
  }

  static connect(path: string): ControlClient {
    let fd: number;
    try {
      fd = seqpacketConnect(path);
    } catch (err) {
      const e = err as NativeError;
      const why = STRERROR[e.code ?? ''] ?? e.message;
      let msg = `error connecting to ocserv socket '${path}': ${why}`;
      if (e.code === 'EACCES') msg += "\nonly root (or members of the server's occtl-group) may use the control socket";
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') msg += '\nis the server running with use-occtl = true? (-s names another socket)';
      throw new ControlConnectError(msg);
    }
    return new ControlClient(fd);
  }

  async request<K extends keyof CtlToMain & string>(type: K, body: CtlToMain[K]): Promise<unknown> {
    this.parts = [];
    let reply: unknown;
    try {
      reply = (await this.ch.request(type, body)).body;
    } catch (err) {
      if (this.refused) throw new ControlRefusedError(this.refused);
      throw new ControlUnreachableError(`${ERR_SERVER_UNREACHABLE} (${(err as Error).message})`);
    }
    if (this.refused) throw new ControlRefusedError(this.refused);
    if (typeof reply === 'object' && reply !== null && Array.isArray((reply as { items?: unknown }).items)) {
      return { items: [...this.parts, ...(reply as { items: unknown[] }).items] };
    }
    return reply;
  }

  onEvent(cb: (ev: CtlEvent) => void): void { this.ch.on('ctl.event', cb); }

  onClose(cb: (reason: string) => void): void { this.ch.onClose(cb); }

  close(): void { this.ch.close('done'); }
}
