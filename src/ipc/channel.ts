import { PacketIO, closeFd } from '../native';
import { decode, encode, MAX_MESSAGE, DecodeError } from './codec';
import { ValidationError, type Validator } from './validate';
import type { Logger } from '../common/log';

type Bodies = object;

export interface Received<B> { body: B; fds: number[] }

export interface HandlerContext<Out extends Bodies> {
  fds: number[];
  /** Answer the request this message was (no-op if it was a notification). */
  reply<K extends keyof Out & string>(type: K, body: Out[K], fds?: number[]): void;
}

export type Handler<In extends Bodies, K extends keyof In, Out extends Bodies> =
  (body: In[K], ctx: HandlerContext<Out>) => void | Promise<void>;

export interface ChannelOptions<In extends Bodies> {
  name: string;
  log: Logger;
  /** Set when the peer is less trusted: every incoming message is checked and a bad one closes the channel. */
  validators?: { [K in keyof In]: Validator<In[K]> };
  requestTimeoutMs?: number;
}

/**
 * Messages read per wake-up. The reader keeps batch x MAX_MESSAGE bytes for the life of the
 * channel, and main and sec-mod hold one channel per worker: IPC is not a hot path, so keep
 * that small (16 cost a megabyte per worker in each process).
 */
const IPC_BATCH = 2;

export class ChannelClosedError extends Error { override name = 'ChannelClosedError'; }

interface Pending { resolve(r: Received<unknown>): void; reject(e: Error): void; timer: NodeJS.Timeout }

/**
 * A typed, message-oriented IPC channel over one SOCK_SEQPACKET fd. Requests carry an id and
 * a timeout; fds travel with SCM_RIGHTS. Received fds that no handler takes are closed.
 */
export class Channel<In extends Bodies, Out extends Bodies> {
  private readonly io: PacketIO;
  private readonly handlers = new Map<string, Handler<In, keyof In, Out>>();
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private closeListeners: Array<(reason: string) => void> = [];

  constructor(fd: number, private readonly opts: ChannelOptions<In>) {
    this.io = new PacketIO(fd, { mode: 'msg', maxPacket: MAX_MESSAGE, batch: IPC_BATCH, fds: true, strictSize: true }, {
      onPackets: (slab, lengths, fds) => this.onPackets(slab, lengths, fds),
      onError: (err) => {
        this.opts.log.warn({ channel: this.opts.name, reason: err.message }, 'IPC socket error; closing the channel');
        this.close(`socket error: ${err.message}`);
      },
      onClose: () => this.close('peer closed'),
    });
    this.io.start();
  }

  get isClosed(): boolean { return this.closed; }

  on<K extends keyof In & string>(type: K, handler: Handler<In, K, Out>): this {
    this.handlers.set(type, handler as unknown as Handler<In, keyof In, Out>);
    return this;
  }

  onClose(cb: (reason: string) => void): this {
    this.closeListeners.push(cb);
    return this;
  }

  send<K extends keyof Out & string>(type: K, body: Out[K], fds?: number[]): void {
    this.write(type, 0, 0, body, fds);
  }

  request<K extends keyof Out & string, R = unknown>(type: K, body: Out[K], fds?: number[], timeoutMs?: number): Promise<Received<R>> {
    if (this.closed) return Promise.reject(new ChannelClosedError(`${this.opts.name}: channel closed`));
    const id = this.nextId++;
    if (this.nextId > 0x7fffffff) this.nextId = 1;
    return new Promise<Received<R>>((resolve, reject) => {
      const ms = timeoutMs ?? this.opts.requestTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.opts.name}: ${type} got no answer within ${ms} ms`));
      }, ms);
      this.pending.set(id, { resolve: resolve as Pending['resolve'], reject, timer });
      this.write(type, id, 0, body, fds);
    });
  }

  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.io.close();
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new ChannelClosedError(`${this.opts.name}: ${reason}`));
    }
    this.pending.clear();
    for (const cb of this.closeListeners) cb(reason);
  }

  private write(type: string, id: number, re: number, body: unknown, fds?: number[]): void {
    if (this.closed) return;
    const r = this.io.write(encode({ type, id, re, body }), fds);
    if (r < 0) this.close('write failed');
  }

  private onPackets(slab: Buffer, lengths: Uint32Array, fds: (number[] | null)[] | null): void {
    let off = 0;
    for (let i = 0; i < lengths.length; i++) {
      const msg = slab.subarray(off, off + lengths[i]);
      off += lengths[i];
      const msgFds = fds?.[i] ?? [];
      if (this.closed) { msgFds.forEach(closeFd); continue; }
      this.dispatch(msg, msgFds);
    }
  }

  private dispatch(msg: Buffer, fds: number[]): void {
    let env;
    try {
      env = decode(msg);
    } catch (err) {
      return this.reject(err as Error, fds);
    }
    let body = env.body;
    const validator = this.opts.validators?.[env.type as keyof In];
    if (this.opts.validators) {
      if (!validator) return this.reject(new ValidationError(`unknown message type '${env.type}'`), fds);
      try {
        body = validator(env.body, env.type);
      } catch (err) {
        return this.reject(err as Error, fds);
      }
    }
    if (env.re) {
      const p = this.pending.get(env.re);
      if (!p) { fds.forEach(closeFd); return; } // answer after its timeout
      this.pending.delete(env.re);
      clearTimeout(p.timer);
      p.resolve({ body, fds });
      return;
    }
    const handler = this.handlers.get(env.type);
    if (!handler) {
      fds.forEach(closeFd);
      if (this.opts.validators) this.reject(new ValidationError(`no handler for '${env.type}'`), []);
      else this.opts.log.warn({ channel: this.opts.name, type: env.type }, 'IPC message with no handler ignored');
      return;
    }
    const id = env.id;
    const ctx: HandlerContext<Out> = {
      fds,
      reply: (type, rbody, rfds) => { if (id) this.write(type, 0, id, rbody, rfds); },
    };
    try {
      const r = handler(body as In[keyof In], ctx);
      if (r && typeof (r as Promise<void>).catch === 'function') {
        (r as Promise<void>).catch((err: Error) => this.opts.log.error({ err, channel: this.opts.name, type: env.type }, 'IPC handler failed'));
      }
    } catch (err) {
      this.opts.log.error({ err, channel: this.opts.name, type: env.type }, 'IPC handler failed');
    }
  }

  private reject(err: Error, fds: number[]): void {
    fds.forEach(closeFd);
    const kind = err instanceof DecodeError ? 'undecodable' : err instanceof ValidationError ? 'invalid' : 'bad';
    this.opts.log.warn({ channel: this.opts.name, reason: err.message }, `${kind} IPC message; closing the channel`);
    this.close(`${kind} message: ${err.message}`);
  }
}
