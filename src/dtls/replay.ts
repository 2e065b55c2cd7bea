/**
 * Anti-replay window (RFC 6347, 4.1.2.6): records newer than the highest seen are accepted
 * and move the window; within the window each sequence number is accepted once; older ones
 * are dropped. check() does not record: only records that authenticate are marked.
 */
export class ReplayWindow {
  private readonly seen: Uint8Array;
  private max = -1;

  constructor(private readonly size = 64) {
    this.seen = new Uint8Array(size);
  }

  check(seq: number): boolean {
    if (seq > this.max) return true;
    if (this.max - seq >= this.size) return false;
    return this.seen[seq % this.size] === 0;
  }

  mark(seq: number): void {
    if (seq > this.max) {
      const advance = seq - this.max;
      if (advance >= this.size) this.seen.fill(0);
      else for (let s = this.max + 1; s <= seq; s++) this.seen[s % this.size] = 0;
      this.max = seq;
    }
    this.seen[seq % this.size] = 1;
  }

  get highest(): number { return this.max; }
}
