import type { Duplex } from 'node:stream';
import { PacketIO } from '../native';
import { zeroStats, type SessionParams, type SessionStats } from '../ipc/messages';
import type { Logger } from '../common/log';
import { CSTP_HEADER, CstpParser, CstpProtocolError, CstpType, frame, writeHeader } from './cstp';

/** Packets read from the tun per readable event: one TLS write carries the whole batch. */
const TUN_BATCH = 32;

export interface TunnelEnd { reason: string; logout: boolean; stats: SessionStats }

/**
 * One user's tunnel: tun <-> CSTP over the TLS stream. Tun packets are read in batches into
 * one slab with room for each CSTP header in front, so a batch costs one write to TLS.
 */
export class CstpTunnel {
  private readonly tun: PacketIO;
  private readonly parser: CstpParser;
  private readonly stats: SessionStats = zeroStats();
  private lastRx = Date.now();
  private dpdTimer: NodeJS.Timeout;
  private ended = false;
  private toTun: Buffer[] = [];

  constructor(
    private readonly socket: Duplex,
    tunFd: number,
    private readonly params: SessionParams,
    private readonly dpdSeconds: number,
    private readonly log: Logger,
    private readonly onEnd: (end: TunnelEnd) => void,
  ) {
    const maxPacket = Math.max(params.mtu, 1500) + 64;
    this.parser = new CstpParser(maxPacket);
    this.tun = new PacketIO(tunFd, { mode: 'read', maxPacket, batch: TUN_BATCH, headroom: CSTP_HEADER }, {
      onPackets: (slab, lengths) => this.fromTun(slab, lengths),
      onError: (err) => this.end(`tun error: ${err.message}`, false),
      onClose: () => this.end('tun closed', false),
    });
    socket.on('data', (chunk: Buffer) => this.fromClient(chunk));
    socket.on('end', () => this.end('client closed the connection', false));
    socket.on('close', () => this.end('connection closed', false));
    socket.on('error', (err) => this.end(`connection error: ${err.message}`, false));
    socket.on('drain', () => this.tun.start());
    // Node would otherwise coalesce queued writes into one TLS record (see fromTun).
    (socket as unknown as { _writev: unknown })._writev = null;
    // Dead peer detection: a client that sends nothing (not even its own DPD or keepalive)
    // for over two DPD intervals is gone; ocserv applies the same rule.
    this.dpdTimer = setInterval(() => this.checkDpd(), Math.max(1, dpdSeconds) * 1000);
    this.dpdTimer.unref();
    this.tun.start();
  }

  /** The server ends the session (occtl disconnect, shutdown): tell the client not to reconnect. */
  terminate(reason: string): void {
    if (this.ended) return;
    this.socket.write(frame(CstpType.Terminate));
    this.end(reason, true);
  }

  private fromTun(slab: Buffer, lengths: number[]): void {
    let off = 0;
    let ok = true;
    for (const len of lengths) {
      writeHeader(slab, off, CstpType.Data, len);
      // One write per frame: openconnect expects every TLS record to hold exactly one CSTP
      // packet, so frames must not be merged into one record.
      ok = this.socket.write(slab.subarray(off, off + CSTP_HEADER + len));
      off += CSTP_HEADER + len;
      this.stats.txBytes += len;
    }
    this.stats.txPackets += lengths.length;
    if (!ok) this.tun.pause();
  }

  private fromClient(chunk: Buffer): void {
    if (this.ended) return;
    this.lastRx = Date.now();
    try {
      this.parser.push(chunk, (type, payload) => this.onFrame(type, payload));
    } catch (err) {
      if (err instanceof CstpProtocolError) {
        this.log.warn({ user: this.params.username, reason: err.message }, 'malformed CSTP data; closing the session');
        this.end(`protocol error: ${err.message}`, false);
        return;
      }
      throw err;
    }
    if (this.toTun.length) {
      this.tun.writeMany(this.toTun);
      this.toTun = [];
    }
  }

  private onFrame(type: number, payload: Buffer): void {
    switch (type) {
      case CstpType.Data:
        this.stats.rxBytes += payload.length;
        this.stats.rxPackets++;
        this.toTun.push(payload);
        return;
      case CstpType.DpdReq:
        this.socket.write(frame(CstpType.DpdResp, payload));
        return;
      case CstpType.DpdResp:
      case CstpType.Keepalive:
        return;
      case CstpType.Disconnect:
        this.log.info({ user: this.params.username }, 'client disconnected');
        this.end('client disconnected', true);
        return;
      case CstpType.Compressed:
        // No compression is offered in the CONNECT reply, so a compressed frame is a protocol error.
        throw new CstpProtocolError('compressed frame but no compression was negotiated');
      default:
        this.log.debug({ type }, 'unknown CSTP packet type ignored');
    }
  }

  private checkDpd(): void {
    const silentMs = Date.now() - this.lastRx;
    if (silentMs > this.dpdSeconds * 2000 + 1000) {
      this.log.info({ user: this.params.username, silentS: Math.round(silentMs / 1000) }, 'dead peer detected');
      this.end('dead peer detection timeout', false);
    } else if (silentMs > this.dpdSeconds * 1000) {
      this.socket.write(frame(CstpType.DpdReq));
    }
  }

  private end(reason: string, logout: boolean): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.dpdTimer);
    this.tun.close();
    // end() lets a final TERMINATE reach the client; destroy() follows in case it never drains.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.onEnd({ reason, logout, stats: { ...this.stats } });
  }
}
