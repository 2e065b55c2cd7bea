/**
 * rx-data-per-sec / tx-data-per-sec: a token bucket per direction. Like ocserv, a packet that
 * finds too few tokens is dropped, not queued (queueing would hold memory for a client that
 * keeps sending, and TCP slows down on its own when packets are lost). ocserv measures in
 * half-second windows; the bucket holds half a second of traffic for the same tolerance of
 * bursts, and never less than one full packet so that large packets can pass at low rates.
 */

/** Times in milliseconds (performance.now()), sizes in bytes. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private readonly perMs: number;

  constructor(readonly bytesPerSec: number, readonly capacity: number, now: number) {
    this.perMs = bytesPerSec / 1000;
    this.tokens = capacity;
    this.last = now;
  }

  /** true: the packet may go (its bytes are spent); false: drop it. */
  take(bytes: number, now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.perMs);
      this.last = now;
    }
    if (this.tokens < bytes) return false;
    this.tokens -= bytes;
    return true;
  }
}

/** A bucket for a limit in bytes per second, or undefined for no limit (0 or absent). */
export function rateLimiter(bytesPerSec: number | undefined, maxPacket: number, now: number): TokenBucket | undefined {
  if (!bytesPerSec || bytesPerSec <= 0) return undefined;
  return new TokenBucket(bytesPerSec, Math.max(bytesPerSec / 2, maxPacket), now);
}
