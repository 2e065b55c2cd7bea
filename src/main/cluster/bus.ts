/**
 * The servers of a cluster talk over the session store's publish/subscribe: broadcasts on
 * one channel (a session's tunnel moved here, an address was banned), and requests answered
 * by every living server on the asker's own channel (occtl-ts's cluster-wide commands).
 * A message that fails its checks is dropped with a log line.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../common/log';
import { decodeCluster, encodeCluster, type ClusterMessage, type ClusterMethod } from '../../ipc/cluster';

export const RPC_TIMEOUT_MS = 2_000;

type Handler = (m: ClusterMessage) => void;
type Answerer = (m: ClusterMessage) => Promise<Partial<ClusterMessage>>;

export class ClusterBus {
  private readonly handlers = new Map<ClusterMessage['type'], Handler>();
  private readonly answerers = new Map<ClusterMethod, Answerer>();
  private readonly waiting = new Map<number, { replies: ClusterMessage[]; done: () => void; expect: Set<string> }>();
  private nextId = 1;
  private readonly channel: string;
  private readonly replyChannel: string;

  constructor(private readonly pub: Redis, private readonly sub: Redis, private readonly prefix: string, readonly node: string,
    private readonly alive: () => Promise<Set<string>>, private readonly log: Logger) {
    this.channel = `${prefix}bus`;
    this.replyChannel = this.replyTo(node);
    sub.on('messageBuffer', (channel: Buffer, data: Buffer) => this.received(channel.toString(), data));
    sub.subscribe(this.channel, this.replyChannel).catch((err: Error) => log.error({ err: err.message }, 'cannot subscribe to the cluster channel'));
  }

  /** broadcast kinds: replace, ban, unban */
  on(type: 'replace' | 'ban' | 'unban', h: Handler): void { this.handlers.set(type, h); }

  answer(method: ClusterMethod, a: Answerer): void { this.answerers.set(method, a); }

  /** Fire and forget; a broadcast lost while the store is away is acceptable (see callers). */
  publish(m: Omit<ClusterMessage, 'from'>): void {
    this.pub.publish(this.channel, encodeCluster({ ...m, from: this.node } as ClusterMessage)).catch(() => undefined);
  }

  /** Asks every other living server; returns their answers (those that came in time). */
  async rpc(method: ClusterMethod, args: Partial<ClusterMessage> = {}, timeoutMs = RPC_TIMEOUT_MS): Promise<ClusterMessage[]> {
    const expect = await this.alive();
    expect.delete(this.node);
    if (expect.size === 0) return [];
    const id = this.nextId++;
    const replies: ClusterMessage[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiting.set(id, { replies, expect, done: () => { clearTimeout(timer); resolve(); } });
      this.pub.publish(this.channel, encodeCluster({ type: 'rpc', from: this.node, id, method, ...args })).catch(() => resolve());
    });
    this.waiting.delete(id);
    return replies;
  }

  close(): void {
    this.sub.disconnect();
    for (const w of this.waiting.values()) w.done();
  }

  /** where a server receives the answers to its requests */
  private replyTo(node: string): string { return `${this.prefix}reply:${node}`; }

  private received(channel: string, data: Buffer): void {
    let m: ClusterMessage;
    try {
      m = decodeCluster(data);
    } catch (err) {
      this.log.warn({ channel, err: (err as Error).message }, 'dropped a malformed cluster message');
      return;
    }
    if (m.from === this.node) return;
    if (channel === this.replyChannel) {
      if (m.type !== 'rpc-reply' || m.id === undefined) return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      w.replies.push(m);
      w.expect.delete(m.from);
      if (w.expect.size === 0) w.done();
      return;
    }
    if (m.type === 'rpc') void this.serve(m);
    else this.handlers.get(m.type)?.(m);
  }

  private async serve(m: ClusterMessage): Promise<void> {
    const a = m.method && this.answerers.get(m.method);
    if (!a || m.id === undefined) return;
    try {
      const r = await a(m);
      await this.pub.publish(this.replyTo(m.from), encodeCluster({ ...r, type: 'rpc-reply', id: m.id, from: this.node }));
    } catch (err) {
      this.log.warn({ method: m.method, from: m.from, err: (err as Error).message }, 'cannot answer a cluster request');
    }
  }
}
