/**
 * One call put off for a moment, or made at once when something needs it done first. The
 * worker's bookkeeping at a tunnel's DTLS handshake (the log line, main's note of the cipher)
 * waits so that the client's first packets are answered first; the tunnel's end flushes it,
 * so nothing is lost and the log keeps its order.
 */
export class DeferredCall {
  private pending?: { timer: NodeJS.Timeout; fn: () => void };

  constructor(private readonly ms: number) {}

  /** Runs `fn` after the delay; a call still waiting is made first, at once. */
  schedule(fn: () => void): void {
    this.flush();
    const timer = setTimeout(() => this.flush(), this.ms);
    timer.unref();
    this.pending = { timer, fn };
  }

  /** Makes the waiting call now, if there is one. */
  flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = undefined;
    clearTimeout(p.timer);
    p.fn();
  }
}
