/**
 * CSTP framing (draft-mavrogiannopoulos-openconnect, "The CSTP channel"): every packet on
 * the TLS stream is an 8-byte header 'S' 'T' 'F' 0x01, a 16-bit big-endian payload length,
 * a type byte and a zero byte, then the payload.
 */
export const CSTP_HEADER = 8;
export const CSTP_MAX_PAYLOAD = 0xffff;

export const enum CstpType {
  Data = 0x00,
  DpdReq = 0x03,
  DpdResp = 0x04,
  Disconnect = 0x05,
  Keepalive = 0x07,
  Compressed = 0x08,
  Terminate = 0x09,
}

export function writeHeader(buf: Buffer, offset: number, type: CstpType, length: number): void {
  buf[offset] = 0x53; // S
  buf[offset + 1] = 0x54; // T
  buf[offset + 2] = 0x46; // F
  buf[offset + 3] = 0x01;
  buf[offset + 4] = length >> 8;
  buf[offset + 5] = length & 0xff;
  buf[offset + 6] = type;
  buf[offset + 7] = 0;
}

export function frame(type: CstpType, payload?: Buffer): Buffer {
  const len = payload ? payload.length : 0;
  const out = Buffer.allocUnsafe(CSTP_HEADER + len);
  writeHeader(out, 0, type, len);
  if (payload) payload.copy(out, CSTP_HEADER);
  return out;
}

export class CstpProtocolError extends Error { override name = 'CstpProtocolError'; }

/**
 * Splits a TLS byte stream into CSTP frames. Payloads are views into the received chunks
 * (no copy) unless a frame straddles two chunks.
 */
export class CstpParser {
  private pending: Buffer | null = null;

  constructor(private readonly maxPayload: number = CSTP_MAX_PAYLOAD) {}

  /** Calls onFrame for each complete frame; throws CstpProtocolError on a malformed header. */
  push(chunk: Buffer, onFrame: (type: number, payload: Buffer) => void): void {
    let buf = chunk;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let off = 0;
    while (buf.length - off >= CSTP_HEADER) {
      if (buf[off] !== 0x53 || buf[off + 1] !== 0x54 || buf[off + 2] !== 0x46 || buf[off + 3] !== 0x01) {
        throw new CstpProtocolError('bad CSTP header magic');
      }
      const len = (buf[off + 4] << 8) | buf[off + 5];
      if (len > this.maxPayload) throw new CstpProtocolError(`CSTP payload of ${len} bytes exceeds ${this.maxPayload}`);
      if (buf.length - off < CSTP_HEADER + len) break;
      onFrame(buf[off + 6], buf.subarray(off + CSTP_HEADER, off + CSTP_HEADER + len));
      off += CSTP_HEADER + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}
