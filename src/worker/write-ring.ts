/**
 * Memory for what a tunnel writes to its TLS socket, reused rather than allocated per write.
 *
 * Node keeps a chunk given to socket.write() until that write's callback, so what comes from
 * the tun's lent read buffer has to be copied somewhere. A fresh Buffer per write made V8
 * count hundreds of MB/s of external memory in a worker carrying bulk CSTP traffic, and it
 * answered with a scavenge every few milliseconds, each freeing thousands of backing stores.
 * Writes on one socket complete in the order they were made, so one ring per socket serves:
 * space is taken at the head and given back at the tail, one write callback at a time.
 */
const EMPTY = Buffer.alloc(0);
const NO_CHUNKS = new Uint32Array(0);

export class WriteRing {
  /** empty until the first copy: an idle session never needs one */
  private ring = EMPTY;
  /** the ring's size now: it starts small and doubles (up to maxSize) while writes miss it */
  private size = 0;
  /** a chunk did not fit: make the ring larger when it is next empty */
  private grow = false;
  /** the end offsets of the chunks in Node's hands, oldest first (a circular queue) */
  private ends = NO_CHUNKS;
  /** where the next chunk goes */
  private head = 0;
  /** where the oldest chunk still in Node's hands starts */
  private tail = 0;
  private first = 0;
  private count = 0;

  /**
   * Up to `maxSize` bytes, and `maxChunks` chunks out at once. Nothing is allocated before the
   * first copy, and then `minSize` bytes: a session that writes little (most are idle) keeps
   * little; one that carries bulk traffic has the full size after a few writes.
   */
  constructor(private readonly minSize: number, private readonly maxSize: number, private readonly maxChunks: number) {}

  /**
   * `src` copied into the ring, to be written with `release` as the write's callback; or
   * undefined when the ring has no room (the caller then copies it on its own).
   */
  copy(src: Buffer): Buffer | undefined {
    const n = src.length;
    // a new buffer only while none of the old one is out: Node may still hold those bytes
    if (this.count === 0 && (this.size === 0 || this.grow)) this.resize();
    const at = this.place(n);
    if (at < 0) {
      this.grow ||= this.size < this.maxSize && this.count < this.maxChunks;
      return undefined;
    }
    src.copy(this.ring, at);
    this.head = at + n;
    this.ends[(this.first + this.count) % this.maxChunks] = this.head;
    this.count++;
    return this.ring.subarray(at, at + n);
  }

  /** chunks Node still holds */
  get outstanding(): number { return this.count; }

  /** the ring's size now (0 before the first copy) */
  get bytes(): number { return this.size; }

  /** The write of the oldest chunk is done (its callback): its bytes may be written over. */
  readonly release = (): void => {
    if (this.count === 0) return;
    this.tail = this.ends[this.first]!;
    this.first = (this.first + 1) % this.maxChunks;
    this.count--;
  };

  private resize(): void {
    if (this.size === 0) this.ends = new Uint32Array(this.maxChunks);
    this.size = this.size === 0 ? this.minSize : Math.min(this.maxSize, this.size * 2);
    this.ring = Buffer.allocUnsafeSlow(this.size);
    this.grow = false;
  }

  /** Where n bytes fit, or -1. */
  private place(n: number): number {
    if (n === 0 || n >= this.size || this.count === this.maxChunks) return -1;
    if (this.count === 0) {
      this.head = this.tail = 0;
      return 0;
    }
    // in use: [tail, head), or [tail, end of ring) and [0, head) once wrapped. The head never
    // catches up with the tail (strict <): head === tail means empty.
    if (this.head > this.tail) {
      if (this.head + n <= this.size) return this.head;
      return n < this.tail ? 0 : -1;
    }
    return this.head + n < this.tail ? this.head : -1;
  }
}
