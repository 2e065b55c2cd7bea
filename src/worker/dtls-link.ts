import { PacketIO } from '../native';
import type { Logger } from '../common/log';
import { DtlsServer, type DtlsEstablished, type DtlsMode } from '../dtls/server';
import { RecordProtection } from '../dtls/protection';

/** The one-byte header inside DTLS records of the tunnel (same codes as CSTP). */
export const enum DtlsPayload { Data = 0x00, DpdReq = 0x03, DpdResp = 0x04, Disconnect = 0x05, Keepalive = 0x07, Compressed = 0x08 }

const UDP_BATCH = 32;
/** A tunnel datagram is at most one MTU-sized packet plus record overhead; the reader keeps
 *  UDP_BATCH of these per session, so this bounds per-session memory too. */
const MAX_DATAGRAM = 4096;
const DATA_PREFIX = Buffer.from([DtlsPayload.Data]);
const IP_UDP_DTLS_HEADERS = 20 + 8 + 13;

export interface DtlsLinkHooks {
  established(info: DtlsEstablished): void;
  /**
   * One decrypted record: its first byte is a DtlsPayload type. plaintext is lent, valid
   * until batchDone.
   */
  payload(plaintext: Buffer): void;
  /** The records of one read are all through payload(): what they hold must go now. */
  batchDone(): void;
  closed(reason: string): void;
}

/**
 * The UDP side of one session: the connected socket main handed over, and the DTLS server
 * running on it. Replaced wholesale when the client comes back from another address.
 */
export class DtlsLink {
  private readonly io: PacketIO;
  private readonly dtls: DtlsServer;
  lastRx = Date.now();
  /** data came in the read being handled */
  private heard = false;
  private closedReason?: string;

  constructor(fd: number, mode: DtlsMode, private readonly baseMtu: number, private readonly log: Logger, private readonly hooks: DtlsLinkHooks) {
    this.dtls = new DtlsServer(mode, {
      send: (d) => { this.io.write(d); },
      established: (info) => hooks.established(info),
      data: (pt) => { this.heard = true; hooks.payload(pt); },
      closed: (reason) => this.shutdown(reason),
    });
    // lent: records are decrypted in place and their packets written to the tun before the
    // next read (batchDone); the handshake copies what it keeps
    this.io = new PacketIO(fd, { mode: 'msg', maxPacket: MAX_DATAGRAM, batch: UDP_BATCH, lend: true }, {
      onPackets: (slab, lengths) => {
        let off = 0;
        for (const len of lengths) {
          this.dtls.handleDatagram(slab.subarray(off, off + len));
          off += len;
        }
        this.batchDone();
      },
      // ICMP port unreachable and the like: the client may come back; DPD decides.
      onError: (err) => log.debug({ reason: err.message }, 'DTLS socket error'),
      onClose: () => this.shutdown('UDP socket closed'),
    });
    this.io.start();
  }

  get up(): boolean { return this.dtls.isEstablished && !this.closedReason; }

  /** The largest IP packet that fits one datagram with this suite (tun MTU permitting). */
  get dataMtu(): number {
    const suite = this.dtls.negotiatedSuite;
    if (!suite) return 0;
    return this.baseMtu - IP_UDP_DTLS_HEADERS - RecordProtection.overhead(suite) - 1;
  }

  /** First datagram, which main read to find this session. */
  handle(datagram: Buffer): void {
    this.dtls.handleDatagram(datagram);
    this.batchDone();
  }

  /** once per read: the time of the last data is that of the read that brought it */
  private batchDone(): void {
    if (this.heard) {
      this.heard = false;
      this.lastRx = Date.now();
    }
    this.hooks.batchDone();
  }

  send(type: DtlsPayload, packet?: Buffer): boolean {
    const d = this.dtls.seal(packet ? [Buffer.from([type]), packet] : [Buffer.from([type])]);
    if (!d) return false;
    return this.io.write(d) >= 0;
  }

  /**
   * Seal and send many tunnel packets in one batched write: packet i is
   * src[spans[2i], +spans[2i+1]), at most dataMtu bytes. The records are made in a buffer of
   * the link's, reused from one batch to the next. Full-size packets give records of one size,
   * which PacketIO sends as segmented runs (its `gso`): the stack is crossed once per run.
   */
  sendSpans(src: Buffer, spans: Uint32Array, count: number): void {
    if (count > this.outLengths.length) {
      this.outLengths = new Uint32Array(count);
      this.out = undefined;
    }
    // a record of a packet that fits the data MTU fits the link MTU
    this.out ??= Buffer.allocUnsafe(this.outLengths.length * this.baseMtu);
    if (this.dtls.sealSpans(DATA_PREFIX, src, spans, count, this.out, this.outLengths) > 0) this.io.writeSlab(this.out, this.outLengths, count);
  }

  private out?: Buffer;
  private outLengths = new Uint32Array(UDP_BATCH);

  get counters() { return this.dtls.counters; }

  close(reason: string): void {
    this.dtls.close(reason);
    this.shutdown(reason);
  }

  private shutdown(reason: string): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    this.io.close();
    this.hooks.closed(reason);
  }
}
