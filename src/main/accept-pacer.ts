/**
 * `rate-limit-ms`: new TCP connections reach the workers at most one per interval, so a
 * burst of clients (all reconnecting after a restart) cannot flood sec-mod with handshakes
 * and logins at once. ocserv stops accepting for the interval after each connection and
 * lets the kernel's listen queue hold the rest; main's listener (src/main/tcp-listener.ts)
 * takes every waiting connection, so they wait here instead, in arrival order, still
 * unanswered: the client sees the same delay.
 *
 * ocserv 1.1 pauses only while sec-mod's socket has a backlog; main cannot see sec-mod's
 * queues here, so the pace applies to every burst (a lone connection is never delayed).
 */
import type { Logger } from '../common/log';
import { closeFd, type AcceptedTcp } from '../native';

/** about a listen backlog's worth; more waiting than that are dropped as the kernel would */
const MAX_WAITING = 1024;

export class AcceptPacer {
  private readonly waiting: AcceptedTcp[] = [];
  private timer?: NodeJS.Timeout;

  /** `intervalMs` is read at each connection, so a reload changes the pace */
  constructor(
    private readonly intervalMs: () => number,
    private readonly handOver: (c: AcceptedTcp) => void,
    private readonly log: Logger,
  ) {}

  accept(c: AcceptedTcp): void {
    if (!this.timer) {
      this.handOver(c);
      this.arm();
      return;
    }
    if (this.waiting.length >= MAX_WAITING) {
      this.log.warn({ ip: c.remoteAddr, waiting: this.waiting.length }, 'too many connections waiting for rate-limit-ms; dropping one');
      closeFd(c.fd);
      return;
    }
    if (this.waiting.length === 0) this.log.info({ ms: this.intervalMs() }, 'delaying accepts (rate-limit-ms)');
    this.waiting.push(c);
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const c of this.waiting.splice(0)) closeFd(c.fd);
  }

  private arm(): void {
    const ms = this.intervalMs();
    if (ms <= 0 && this.waiting.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const next = this.waiting.shift();
      if (!next) return;
      this.handOver(next);
      this.arm();
    }, Math.max(ms, 0));
  }
}
