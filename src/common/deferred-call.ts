/**
 * One call put off for a moment, or made at once when something needs it done first.
 * Bookkeeping around a new tunnel waits so that the client's set-up goes first: main's
 * announcement of a session (sec-mod's session.started, the log line) and a worker's at its
 * DTLS handshake (the log line, main's note of the cipher). The session's or tunnel's end
 * flushes it, so nothing is lost and the log keeps its order.
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
