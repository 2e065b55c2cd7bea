/**
 * Tunnel compression (`compression = true`), as ocserv: the client offers methods in
 * X-CSTP-Accept-Encoding and X-DTLS-Accept-Encoding, the CONNECT answer names the one taken
 * for each channel (X-CSTP-Content-Encoding, X-DTLS-Content-Encoding), and from then on
 * packets longer than no-compress-limit that shrink travel as compressed packets (CSTP type
 * 8, DTLS payload type 8); the client may compress any packet. Each packet stands alone.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { chooseCodec, compressionPriorities, DecompressError, type Codec, type CodecName } from '../common/compress';
import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import { CSTP_HEADER, CstpProtocolError, CstpType, writeHeader } from './cstp';

/** What main tells workers (WorkerConfig.compression); absent: compression is off. */
export interface CompressionConfig {
  priorities: Record<CodecName, number>;
  /** packets of at most this many bytes go uncompressed (ocserv: at least 64, default 256) */
  noCompressLimit: number;
}

/**
 * main: the workers' compression settings, or undefined when compression is off. A
 * compression-algo-priority line that cannot be read is logged and changes nothing, as in
 * ocserv (which warns and goes on).
 */
export function compressionConfig(c: Pick<Config, 'compression' | 'noCompressLimit' | 'compressionAlgoPriority'>, log: Logger): CompressionConfig | undefined {
  if (!c.compression) return undefined;
  const { priorities, invalid } = compressionPriorities(c.compressionAlgoPriority);
  for (const value of invalid) {
    log.warn({ option: 'compression-algo-priority', value }, 'compression-algo-priority: not NAME:PRIORITY (oc-lz4 or lzs, PRIORITY above 0) nor a list like lz4:lzs; ignored');
  }
  return { priorities, noCompressLimit: c.noCompressLimit };
}

/** The methods one tunnel uses; a channel without one sends and accepts no compressed packet. */
export interface Negotiated {
  cstp?: Codec;
  dtls?: Codec;
}

const header = (h: string | string[] | undefined): string | undefined => (Array.isArray(h) ? h.join(',') : h);

/** The client's offers against the configuration; DTLS only when the answer offers DTLS. */
export function negotiate(cfg: CompressionConfig | undefined, headers: IncomingHttpHeaders, dtlsOffered: boolean): Negotiated | undefined {
  if (!cfg) return undefined;
  const cstp = chooseCodec(header(headers['x-cstp-accept-encoding']), cfg.priorities);
  const dtls = dtlsOffered ? chooseCodec(header(headers['x-dtls-accept-encoding']), cfg.priorities) : undefined;
  return cstp || dtls ? { cstp, dtls } : undefined;
}

/** The CONNECT answer's lines that tell the client what was chosen. */
export function encodingHeaders(n: Negotiated | undefined): string[] {
  const lines: string[] = [];
  if (n?.dtls) lines.push(`X-DTLS-Content-Encoding: ${n.dtls.name}`);
  if (n?.cstp) lines.push(`X-CSTP-Content-Encoding: ${n.cstp.name}`);
  return lines;
}

/**
 * A compressed packet that does not decode, or one on a channel without compression: the
 * tunnel ends with a log line (a CSTP protocol error, so the CSTP reader handles it as such).
 */
export class CompressedPacketError extends CstpProtocolError { override name = 'CompressedPacketError'; }

/**
 * One tunnel's compression. Compressing writes into a scratch buffer and copies the (smaller)
 * result out, since the socket keeps what it is given until sent; decompressing is bounded
 * by `maxPacket`, the largest packet the tunnel takes uncompressed.
 */
export class TunnelCompression {
  private readonly scratch: Buffer;
  private readonly inflated: Buffer;

  constructor(readonly chosen: Negotiated, private readonly limit: number, maxPacket: number) {
    this.scratch = Buffer.allocUnsafe(CSTP_HEADER + maxPacket);
    this.inflated = Buffer.allocUnsafe(maxPacket);
  }

  /**
   * The CSTP frame of a compressed `packet`, or undefined when it is to go as it is (short,
   * or no gain).
   */
  cstpFrame(packet: Buffer): Buffer | undefined {
    const codec = this.chosen.cstp;
    if (!codec || packet.length <= this.limit) return undefined;
    const n = codec.compress(packet, this.scratch.subarray(CSTP_HEADER, CSTP_HEADER + packet.length - 1));
    if (n <= 0) return undefined;
    const out = Buffer.allocUnsafe(CSTP_HEADER + n);
    writeHeader(out, 0, CstpType.Compressed, n);
    this.scratch.copy(out, CSTP_HEADER, CSTP_HEADER, CSTP_HEADER + n);
    return out;
  }

  /** The DTLS payload (after the type byte) of a compressed `packet`, or undefined as above. */
  dtlsPayload(packet: Buffer): Buffer | undefined {
    const codec = this.chosen.dtls;
    if (!codec || packet.length <= this.limit) return undefined;
    const n = codec.compress(packet, this.scratch.subarray(0, packet.length - 1));
    return n > 0 ? Buffer.from(this.scratch.subarray(0, n)) : undefined;
  }

  /**
   * The packet inside a compressed one from the client, after `headroom` zero bytes (room for
   * a header of type 0, data); throws CompressedPacketError.
   */
  inflate(channel: 'cstp' | 'dtls', payload: Buffer, headroom = 0): Buffer {
    const codec = this.chosen[channel];
    if (!codec) throw new CompressedPacketError(`compressed ${channel.toUpperCase()} packet but no compression was negotiated for it`);
    try {
      const n = codec.decompress(payload, this.inflated);
      const out = Buffer.allocUnsafe(headroom + n);
      out.fill(0, 0, headroom);
      this.inflated.copy(out, headroom, 0, n);
      return out;
    } catch (err) {
      if (err instanceof DecompressError) throw new CompressedPacketError(`bad compressed ${channel.toUpperCase()} packet: ${err.message}`);
      throw err;
    }
  }
}

/** The packet inside a compressed one; a tunnel without compression (`c` absent) refuses it. */
export function inflate(c: TunnelCompression | undefined, channel: 'cstp' | 'dtls', payload: Buffer, headroom = 0): Buffer {
  if (!c) throw new CompressedPacketError(`compressed ${channel.toUpperCase()} packet but no compression was negotiated`);
  return c.inflate(channel, payload, headroom);
}
