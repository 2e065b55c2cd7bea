import type { PacketIO } from '../native';

/**
 * Packets copied back to back into one buffer, kept from one batch to the next, until they
 * go out in one native call: for packets that arrive in a buffer which is reused before they
 * could be written (the TLS reader's, src/worker/tls-reader.ts).
 */
export class PacketQueue {
  private buf?: Buffer;
  private readonly lengths: Uint32Array;
  private used = 0;
  private count = 0;

  constructor(private readonly packets: number, private readonly maxPacket: number) {
    this.lengths = new Uint32Array(packets);
  }

  get size(): number { return this.count; }

  /** Copies the packet in; false, taking nothing, when the queue is full (drain it first). */
  add(packet: Buffer): boolean {
    // allocated on first use: an idle session costs nothing here
    const buf = (this.buf ??= Buffer.allocUnsafe(this.packets * this.maxPacket));
    if (this.count === this.packets || packet.length > buf.length - this.used) return false;
    packet.copy(buf, this.used);
    this.lengths[this.count++] = packet.length;
    this.used += packet.length;
    return true;
  }

  /** Writes the queued packets (the queue is then empty, whatever io made of them). */
  drainTo(io: PacketIO): void {
    if (this.count) io.writeSlab(this.buf!, this.lengths, this.count);
    this.count = 0;
    this.used = 0;
  }
}
