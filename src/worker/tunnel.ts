import type { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { PacketIO, closeFd, closeFdAsync, type CstpReader } from '../native';
import { zeroStats, type SessionParams, type SessionStats } from '../ipc/messages';
import type { Logger } from '../common/log';
import type { DtlsEstablished, DtlsMode } from '../dtls/server';
import { CSTP_HEADER, CstpParser, CstpProtocolError, CstpType, frame, writeHeader } from './cstp';
import { DtlsLink, DtlsPayload } from './dtls-link';
import { DropLog, packetFilterFor, type PacketFilter } from './packet-filter';
import { rateLimiter, type TokenBucket } from './rate-limit';
import { UdpPath } from './udp-path';
import { LinkMtuDiscovery } from './mtu-probe';
import { inflate, TunnelCompression, type Negotiated } from './compression';
import { readInto } from './tls-reader';
import { readNatively } from './cstp-native';
import { PacketQueue } from './packet-queue';
import { WriteRing } from './write-ring';
import { DeferredCall } from '../common/deferred-call';

/** Packets read from the tun per readable event. */
const TUN_BATCH = 32;
/** The TLS reader's buffer: a whole TLS record (16 KiB of plaintext at most) fits. */
const TLS_READ_BUFFER = 16384;
/**
 * How long "DTLS up" and main's note of it wait: openconnect runs its script once its MTU probe,
 * sent right after our Finished, is answered, so a worker busy with bookkeeping then delayed
 * the client's tunnel (the answer took 0.28 ms, ocserv's 0.07).
 */
const DTLS_BOOKKEEPING_MS = 20;
/**
 * What fromTun may have in the socket's hands at once without allocating (see WriteRing).
 * A write the kernel takes at once is given back on the next tick, so the ring mostly holds
 * one tun batch (32 frames, 48 kB at MTU 1500); when the socket backs up, the socket asks
 * for a pause at 16 kB queued and the tun waits for its drain. Beyond this, a write gets a
 * buffer of its own. An idle session's ring stays at the smallest size.
 */
const WRITE_RING_MIN = 8 * 1024;
const WRITE_RING_MAX = 128 * 1024;
const WRITE_RING_CHUNKS = 128;

export interface TunnelEnd { reason: string; logout: boolean; stats: SessionStats }

export interface TunnelOptions {
  socket: Duplex;
  /** what the client sent after its CONNECT request, read with it */
  head?: Buffer;
  tunFd: number;
  params: SessionParams;
  dpdSeconds: number;
  baseMtu: number;
  log: Logger;
  onEnd(end: TunnelEnd): void;
  onDtls?(info: DtlsEstablished): void;
  /** switch-to-tcp-timeout in seconds (0: never) and try-mtu-discovery (src/worker/tunnel-options.ts) */
  switchToTcpTimeout?: number;
  mtuDiscovery?: boolean;
  /** compression = true and the client took a method (src/worker/compression.ts) */
  compression?: { chosen: Negotiated; noCompressLimit: number };
  /**
   * The TLS socket's fd and the client's TLS 1.3 traffic secret: with both, the client's
   * half of the channel is read natively (src/worker/cstp-native.ts)
   */
  fd?: number;
  clientSecret?: Buffer;
}

/**
 * One user's tunnel: the tun device on one side; on the other the CSTP stream (always) and a
 * DTLS link (when the client has one up), which carries the traffic while it works.
 */
export class Tunnel {
  private readonly tun: PacketIO;
  private readonly parser: CstpParser;
  private readonly socket: Duplex;
  private readonly params: SessionParams;
  private readonly log: Logger;
  private readonly stats: SessionStats = zeroStats();
  private lastRx = Date.now();
  /** DTLS data came in the UDP read being handled (lastRx is set once it is done) */
  private heardDtls = false;
  private dpdTimer: NodeJS.Timeout;
  private readonly dtlsBookkeeping = new DeferredCall(DTLS_BOOKKEEPING_MS);
  private ended = false;
  /**
   * The size of a CSTP frame holding a full-MTU packet, when the TLS layer cuts records at
   * exactly that size (see fromTun); 0 when it cannot.
   */
  private readonly fullFrame: number;
  private toTun: Buffer[] = [];
  /** where fromTun's frames are copied for the socket, which holds them until written */
  private readonly out = new WriteRing(WRITE_RING_MIN, WRITE_RING_MAX, WRITE_RING_CHUNKS);
  /** packets from the client over CSTP, copied out of the TLS reader's buffer (readInto) */
  private readonly fromCstp: PacketQueue;
  /** fromTun's list of the packets of a batch that go over DTLS: offset, length, offset... */
  private readonly dtlsSpans = new Uint32Array(2 * TUN_BATCH);
  private dtls?: DtlsLink;
  /** whether DTLS may carry the traffic to the client right now (src/worker/udp-path.ts) */
  private readonly udp: UdpPath;
  /** try-mtu-discovery on the current link */
  private mtu?: LinkMtuDiscovery;
  /** how the client's DTLS must be keyed; set when the CONNECT reply offered DTLS */
  dtlsMode?: DtlsMode;
  // the session's limits; all absent (and no per-packet work) for a session without any
  private readonly filter?: PacketFilter;
  private readonly rxLimit?: TokenBucket;
  private readonly txLimit?: TokenBucket;
  private readonly rxChecked: boolean;
  private readonly drops?: DropLog;
  private readonly zip?: TunnelCompression;
  /** the client's half of the channel, when read natively */
  private readonly cstpIn?: CstpReader;

  constructor(private readonly o: TunnelOptions) {
    this.socket = o.socket;
    this.params = o.params;
    this.log = o.log;
    this.udp = new UdpPath((o.switchToTcpTimeout ?? 0) * 1000, Date.now(), (viaDtls, why) =>
      this.log.debug({ user: o.params.username, why }, viaDtls ? 'tunnel traffic back on DTLS' : 'tunnel traffic over CSTP while DTLS is up'));
    const maxPacket = Math.max(o.params.mtu, 1500) + 64;
    this.parser = new CstpParser(maxPacket);
    // a compressed packet may decode to no more than an uncompressed one may be
    if (o.compression) this.zip = new TunnelCompression(o.compression.chosen, o.compression.noCompressLimit, maxPacket);
    const lim = o.params.limits;
    if (lim) {
      const p = o.params;
      const now = performance.now();
      this.rxLimit = rateLimiter(lim.rxPerSec, maxPacket, now);
      this.txLimit = rateLimiter(lim.txPerSec, maxPacket, now);
      this.filter = packetFilterFor({
        routes: p.routes, noRoutes: p.noRoutes, dns: p.dns, local: p.ipv4?.local, local6: p.ipv6?.local,
        restrictToRoutes: lim.restrictToRoutes, ports: lim.restrictToPorts,
      });
      if (this.rxLimit || this.txLimit || this.filter) this.drops = new DropLog(o.log, p.username);
    }
    this.rxChecked = this.filter !== undefined || this.rxLimit !== undefined;
    // lent: DTLS seals the packets into records of its own; what goes to the TLS socket,
    // which keeps what it is given until it is sent, is copied into a ring (fromTun). The fd
    // is closed by end(), off the event loop: when main let go of the device first, this close
    // removes it, and that waits 10-30 ms in the kernel that the worker's other tunnels should not.
    this.tun = new PacketIO(o.tunFd, { mode: 'read', maxPacket, batch: TUN_BATCH, headroom: CSTP_HEADER, lend: true, closeOnDestroy: false }, {
      onPackets: (slab, lengths) => this.fromTun(slab, lengths),
      onError: (err) => this.end(`tun error: ${err.message}`, false),
      onClose: () => this.end('tun closed', false),
    });
    const socket = o.socket;
    this.fullFrame = cutRecordsAt(socket, CSTP_HEADER + o.params.mtu);
    this.fromCstp = new PacketQueue(TUN_BATCH, maxPacket);
    if (o.head?.length) this.fromClient(o.head, false);
    const tls = socket instanceof TLSSocket;
    this.cstpIn = tls && o.fd !== undefined
      ? readNatively(socket, o.fd, o.clientSecret, {
        frames: (slab, lengths, types, count) => this.fromNative(slab, lengths, types, count),
        end: (reason, error) => this.nativeEnd(reason, error),
      }, (chunk) => this.fromClient(chunk, false))
      : undefined;
    if (this.cstpIn) o.log.debug({ user: o.params.username }, 'the client\'s CSTP records are opened natively');
    const lent = this.cstpIn !== undefined || (tls && readInto(socket, Buffer.allocUnsafe(TLS_READ_BUFFER), (bytes) => this.fromClient(bytes, true)));
    if (!lent) {
      if (tls) o.log.debug({ user: o.params.username }, 'this Node has no onread mode for an open TLS socket; CSTP reads take the stream path');
      socket.on('data', (chunk: Buffer) => this.fromClient(chunk, false));
    }
    socket.on('end', () => this.end('client closed the connection', false));
    socket.on('close', () => this.end('connection closed', false));
    socket.on('error', (err) => this.end(`connection error: ${err.message}`, false));
    socket.on('drain', () => this.tun.start());
    // Node would otherwise coalesce queued writes into one TLS record (see fromTun).
    (socket as unknown as { _writev: unknown })._writev = null;
    // Dead peer detection: a client that sends nothing (not even its own DPD or keepalive)
    // for over two DPD intervals is gone; ocserv applies the same rule.
    this.dpdTimer = setInterval(() => this.checkDpd(), Math.max(1, o.dpdSeconds) * 1000);
    this.dpdTimer.unref();
    this.tun.start();
    this.cstpIn?.start();
  }

  /** Traffic counters so far (occtl, accounting). */
  get counters(): SessionStats { return { ...this.stats }; }
  get dtlsUp(): boolean { return this.dtls?.up ?? false; }

  /** A UDP flow for this session arrived via main: run DTLS on it, replacing any older one. */
  attachDtls(fd: number, firstDatagram: Buffer): void {
    if (this.ended || !this.dtlsMode) {
      closeFd(fd);
      return;
    }
    const old = this.dtls;
    const link: DtlsLink = new DtlsLink(fd, this.dtlsMode, this.o.baseMtu, this.log, {
      established: (info) => {
        this.dtls = link;
        // after the switch: the old link's closing is then not taken for DTLS going down
        if (old && old !== link) old.close('replaced by a new DTLS session');
        this.linkUp(link);
        // the client's MTU probe follows our Finished at once: answered before this bookkeeping
        this.dtlsBookkeeping.schedule(() => {
          // main's "DTLS established" is the info-level line
          this.log.debug({ user: this.params.username, cipher: info.description }, 'DTLS up');
          this.o.onDtls?.(info);
        });
      },
      payload: (pt) => this.fromDtls(pt),
      batchDone: () => this.dtlsBatchDone(),
      closed: (reason) => {
        this.log.debug({ user: this.params.username, reason, counters: link.counters }, 'DTLS link closed');
        if (this.dtls === link) {
          this.dtls = undefined;
          this.mtu?.stop();
          this.mtu = undefined;
          if (!this.ended) this.log.info({ user: this.params.username, reason }, 'DTLS down; traffic continues over CSTP');
        }
      },
    });
    link.handle(firstDatagram);
  }

  /** A DTLS link took over: it carries traffic at once, and try-mtu-discovery probes it. */
  private linkUp(link: DtlsLink): void {
    this.udp.heard(Date.now());
    this.mtu?.stop();
    this.mtu = undefined;
    // as ocserv: the probes are DPD requests, so without DPD there is no discovery
    if (!this.o.mtuDiscovery || this.o.dpdSeconds <= 0) return;
    const max = link.dataMtu;
    const floor = this.params.ipv6 ? 1280 : 576;
    const discovery: LinkMtuDiscovery = new LinkMtuDiscovery(max, floor, (size) => link.send(DtlsPayload.DpdReq, Buffer.alloc(size)), (mtu) => {
      if (this.mtu !== discovery) return;
      const at = { user: this.params.username, mtu, linkMtu: max };
      if (mtu < max) this.log.info(at, 'DTLS path MTU discovered; larger packets go over CSTP');
      else this.log.debug(at, 'DTLS path carries the full MTU');
    });
    this.mtu = discovery;
  }

  /** The server ends the session (occtl disconnect, shutdown): tell the client not to reconnect. */
  terminate(reason: string): void {
    if (this.ended) return;
    this.socket.write(frame(CstpType.Terminate));
    this.end(reason, true);
  }

  private fromTun(slab: Buffer, lengths: Uint32Array): void {
    const dtls = this.dtls?.up && this.udp.usable(Date.now()) ? this.dtls : undefined;
    const dtlsMtu = dtls ? Math.min(dtls.dataMtu, this.mtu?.cap ?? Infinity) : 0;
    // the packets for DTLS, as (offset, length) in the slab
    const spans = this.dtlsSpans;
    let viaDtls = 0;
    let off = 0;
    let ok = true;
    const tx = this.txLimit;
    const now = tx ? performance.now() : 0;
    let sent = 0;
    const z = this.zip;
    let zframe: Buffer | undefined;
    // a run of full-size frames, adjacent in the slab, written as one buffer (fullFrame)
    const full = this.fullFrame;
    let runStart = 0;
    let runEnd = 0;
    const flushRun = () => {
      if (runEnd > runStart) ok = this.writeCopy(slab.subarray(runStart, runEnd));
      runStart = runEnd;
    };
    for (const len of lengths) {
      if (off !== runEnd) flushRun();
      if (tx !== undefined && !tx.take(len, now)) {
        this.drops!.note('tx-data-per-sec');
        off += CSTP_HEADER + len;
        continue;
      }
      sent++;
      this.stats.txBytes += len;
      if (dtls && len <= dtlsMtu) {
        const small = z?.dtlsPayload(slab.subarray(off + CSTP_HEADER, off + CSTP_HEADER + len));
        if (small) {
          // in order: the batch so far first
          if (viaDtls) dtls.sendSpans(slab, spans, viaDtls);
          viaDtls = 0;
          dtls.send(DtlsPayload.Compressed, small);
        } else {
          spans[2 * viaDtls] = off + CSTP_HEADER;
          spans[2 * viaDtls + 1] = len;
          viaDtls++;
        }
      } else if (z && (zframe = z.cstpFrame(slab.subarray(off + CSTP_HEADER, off + CSTP_HEADER + len)))) {
        flushRun();
        ok = this.socket.write(zframe);
      } else {
        writeHeader(slab, off, CstpType.Data, len);
        if (CSTP_HEADER + len === full) {
          if (runEnd === runStart) runStart = off;
          runEnd = off + full;
        } else {
          // openconnect expects every TLS record to hold exactly one CSTP packet: a frame
          // of another size is a write, and so a record, of its own
          flushRun();
          ok = this.writeCopy(slab.subarray(off, off + CSTP_HEADER + len));
        }
      }
      off += CSTP_HEADER + len;
    }
    flushRun();
    this.stats.txPackets += sent;
    if (viaDtls) dtls!.sendSpans(slab, spans, viaDtls);
    if (!ok) this.tun.pause();
  }

  /** Writes frames lying in the tun's lent buffer: a copy goes to the socket (see WriteRing). */
  private writeCopy(frames: Buffer): boolean {
    const chunk = this.out.copy(frames);
    return chunk ? this.socket.write(chunk, this.out.release) : this.socket.write(Buffer.from(frames));
  }

  /** lent: chunk is the TLS reader's buffer, reused once this returns (see onFrame) */
  private fromClient(chunk: Buffer, lent: boolean): void {
    if (this.ended) return;
    this.lastRx = Date.now();
    if (!this.guarded(() => this.parser.push(chunk, lent ? this.onLentFrame : this.onOwnFrame))) return;
    // Node hands over one TLS record per call, all the records of one socket read in a row:
    // they go to the tun together once the read is done, back to back in one native call
    if ((this.toTun.length || this.fromCstp.size) && !this.tunFlushQueued) {
      this.tunFlushQueued = true;
      setImmediate(this.flushQueued);
    }
  }

  /**
   * The frames of one read of the native reader: payload i follows payload i-1 in slab. Data
   * alone, with no filter or limit to apply, goes to the tun as it lies, in one call.
   */
  private fromNative(slab: Buffer, lengths: Uint32Array, types: Uint8Array, count: number): void {
    if (this.ended) return;
    this.lastRx = Date.now();
    let bytes = 0;
    let plain = !this.rxChecked;
    for (let i = 0; i < count && plain; i++) {
      if (types[i] !== CstpType.Data) plain = false;
      bytes += lengths[i];
    }
    if (plain) {
      if (this.dtls?.up) this.udp.cstpData();
      this.stats.rxBytes += bytes;
      this.stats.rxPackets += count;
      // what earlier reads left queued goes first
      if (this.toTun.length || this.fromCstp.size) this.flushToTun();
      this.tun.writeSlab(slab, lengths, count);
      return;
    }
    const ok = this.guarded(() => {
      for (let i = 0, off = 0; i < count && !this.ended; off += lengths[i], i++) this.onFrame(types[i], slab.subarray(off, off + lengths[i]), true);
    });
    if (ok && !this.ended) this.flushToTun();
  }

  private nativeEnd(reason: string, error: boolean): void {
    if (error) this.malformed(reason);
    else this.end('client closed the connection', false);
  }

  /** Runs fn; a CstpProtocolError in it ends the session (false), as any bad data from the client does. */
  private guarded(fn: () => void): boolean {
    try {
      fn();
      return true;
    } catch (err) {
      if (!(err instanceof CstpProtocolError)) throw err;
      this.malformed(err.message);
      return false;
    }
  }

  private malformed(reason: string): void {
    this.log.warn({ user: this.params.username, reason }, 'malformed CSTP data; closing the session');
    this.end(`protocol error: ${reason}`, false);
  }

  private tunFlushQueued = false;
  private readonly flushQueued = (): void => {
    this.tunFlushQueued = false;
    if (!this.ended) this.flushToTun();
  };

  private flushToTun(): void {
    if (this.toTun.length) {
      this.tun.writeMany(this.toTun);
      this.toTun = [];
    }
    this.fromCstp.drainTo(this.tun);
  }

  private readonly onLentFrame = (type: number, payload: Buffer): void => this.onFrame(type, payload, true);
  private readonly onOwnFrame = (type: number, payload: Buffer): void => this.onFrame(type, payload, false);

  /** lent: payload is a view of a buffer that is reused once the frame is handled: copy it to keep it */
  private onFrame(type: number, payload: Buffer, lent: boolean): void {
    switch (type) {
      case CstpType.Data:
        if (this.dtls?.up) this.udp.cstpData();
        if (this.rxChecked && !this.admit(payload)) return;
        this.stats.rxBytes += payload.length;
        this.stats.rxPackets++;
        if (!lent) this.toTun.push(payload);
        else if (!this.fromCstp.add(payload)) {
          this.flushToTun();
          this.fromCstp.add(payload);
        }
        return;
      case CstpType.DpdReq:
        this.socket.write(frame(CstpType.DpdResp, payload));
        return;
      case CstpType.DpdResp:
      case CstpType.Keepalive:
        return;
      case CstpType.Disconnect:
        this.log.debug({ user: this.params.username }, 'client disconnected');
        this.end('client disconnected', true);
        return;
      case CstpType.Compressed:
        // throws a CstpProtocolError when it does not decode or was not negotiated
        this.onFrame(CstpType.Data, inflate(this.zip, 'cstp', payload), false);
        return;
      default:
        this.log.debug({ type }, 'unknown CSTP packet type ignored');
    }
  }

  /** One decrypted DTLS record: a one-byte type, then (for data) the IP packet. */
  private fromDtls(pt: Buffer): void {
    if (this.ended || pt.length === 0) return;
    this.heardDtls = true;
    const body = pt.subarray(1);
    switch (pt[0]) {
      case DtlsPayload.Data:
        this.mtu?.clientData();
        if (this.rxChecked && !this.admit(body)) return;
        this.stats.rxBytes += body.length;
        this.stats.rxPackets++;
        // the records of one UDP read go to the tun together, in one native call (batchDone)
        this.toTun.push(body);
        return;
      case DtlsPayload.DpdReq:
        this.dtls?.send(DtlsPayload.DpdResp, body);
        return;
      case DtlsPayload.DpdResp:
        this.mtu?.answered();
        return;
      case DtlsPayload.Keepalive:
        return;
      case DtlsPayload.Disconnect:
        this.log.info({ user: this.params.username }, 'client disconnected (over DTLS)');
        this.end('client disconnected', true);
        return;
      case DtlsPayload.Compressed:
        try {
          // a data record again: the decoded packet after a zero (data) type byte
          this.fromDtls(inflate(this.zip, 'dtls', body, 1));
        } catch (err) {
          if (!(err instanceof CstpProtocolError)) throw err;
          this.log.warn({ user: this.params.username, reason: err.message }, 'malformed DTLS data; closing the session');
          this.end(`protocol error: ${err.message}`, false);
        }
        return;
      default:
        this.log.debug({ type: pt[0] }, 'unexpected DTLS payload type dropped');
    }
  }

  /** The end of one UDP read: what it carried counts as heard now, and its packets go to the tun. */
  private dtlsBatchDone(): void {
    if (this.heardDtls) {
      this.heardDtls = false;
      this.lastRx = Date.now();
      this.udp.heard(this.lastRx);
    }
    this.flushToTun();
  }

  /** A packet from the client passes the session's filter and upload limit, or is dropped. */
  private admit(pkt: Buffer): boolean {
    const verdict = this.filter?.check(pkt);
    if (verdict) {
      this.drops!.note(verdict === 'route' ? 'restrict-user-to-routes' : verdict === 'port' ? 'restrict-user-to-ports' : 'malformed');
      return false;
    }
    if (this.rxLimit && !this.rxLimit.take(pkt.length, performance.now())) {
      this.drops!.note('rx-data-per-sec');
      return false;
    }
    return true;
  }

  private checkDpd(): void {
    const now = Date.now();
    const dpdMs = this.o.dpdSeconds * 1000;
    const dtls = this.dtls;
    if (dtls) {
      const quiet = now - dtls.lastRx;
      // DTLS gone quiet while the client lives (it still talks CSTP): fall back to CSTP.
      if (quiet > dpdMs * 2 + 1000) dtls.close('DTLS dead peer detection');
      // a probe of try-mtu-discovery out is a DPD request already, and must be the only one
      else if (quiet > dpdMs && !this.mtu?.busy) dtls.send(DtlsPayload.DpdReq);
    }
    const silentMs = now - Math.max(this.lastRx, dtls?.lastRx ?? 0);
    if (silentMs > dpdMs * 2 + 1000) {
      this.log.info({ user: this.params.username, silentS: Math.round(silentMs / 1000) }, 'dead peer detected');
      this.end('dead peer detection timeout', false);
    } else if (silentMs > dpdMs) {
      this.socket.write(frame(CstpType.DpdReq));
    }
  }

  private end(reason: string, logout: boolean): void {
    if (this.ended) return;
    this.dtlsBookkeeping.flush();
    this.ended = true;
    clearInterval(this.dpdTimer);
    this.mtu?.stop();
    this.dtls?.close('session ended');
    this.tun.close();
    closeFdAsync(this.o.tunFd).catch((err: Error) => this.log.warn({ reason: err.message }, 'cannot close the tun device'));
    this.cstpIn?.close();
    // end() lets a final TERMINATE reach the client; destroy() follows in case it never drains.
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.o.onEnd({ reason, logout, stats: { ...this.stats } });
  }
}

/**
 * openconnect reads one CSTP packet per TLS record, and Node writes one record per event loop
 * turn, each its own TCP segment and wake-up of the client. Bulk traffic is mostly full-MTU
 * packets, so the socket's records are capped at the size of such a frame: a run of full
 * frames then goes down in one write, which OpenSSL cuts into exactly one record per frame
 * and the kernel sends in one go; any other frame is a write, so a record, of its own. The
 * cap is fixed for the tunnel's life because writes queued behind one another are cut when
 * they happen, not when they were asked for. Returns the frame size, or 0 where the
 * socket has no such cap (not TLS, or a size OpenSSL does not take).
 */
function cutRecordsAt(socket: Duplex, frameSize: number): number {
  const s = socket as Duplex & { setMaxSendFragment?: (n: number) => boolean };
  if (typeof s.setMaxSendFragment !== 'function' || frameSize < 512 || frameSize > 16384) return 0;
  return s.setMaxSendFragment(frameSize) ? frameSize : 0;
}
