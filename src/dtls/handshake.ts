/**
 * DTLS handshake messages: the 12-byte header (type, length, message_seq, fragment offset
 * and length), reassembly of fragments that may arrive out of order or twice, and the
 * few message bodies a resuming or PSK server needs.
 */
export const HS_HEADER = 12;

export const enum HsType {
  HelloRequest = 0,
  ClientHello = 1,
  ServerHello = 2,
  HelloVerifyRequest = 3,
  ServerKeyExchange = 12,
  ServerHelloDone = 14,
  ClientKeyExchange = 16,
  Finished = 20,
}

export interface HandshakeMessage { type: number; seq: number; body: Buffer }

export class HandshakeError extends Error { override name = 'HandshakeError'; }

/** Largest handshake message accepted; a ClientHello is a few hundred bytes. */
const MAX_MESSAGE = 16 * 1024;

interface Partial { type: number; length: number; body: Buffer; have: Uint8Array; missing: number }

/**
 * Collects fragments per message_seq. Fragments beyond what a server could need, or that
 * disagree about a message's type or length, are errors for the caller to count and drop.
 */
export class Reassembler {
  private readonly partial = new Map<number, Partial>();

  /** Returns the messages completed by this record's fragments, in order of arrival. */
  push(fragment: Buffer): HandshakeMessage[] {
    const done: HandshakeMessage[] = [];
    let off = 0;
    while (off < fragment.length) {
      if (fragment.length - off < HS_HEADER) throw new HandshakeError('truncated handshake header');
      const type = fragment[off];
      const length = fragment.readUIntBE(off + 1, 3);
      const seq = fragment.readUInt16BE(off + 4);
      const fragOff = fragment.readUIntBE(off + 6, 3);
      const fragLen = fragment.readUIntBE(off + 9, 3);
      off += HS_HEADER;
      if (length > MAX_MESSAGE) throw new HandshakeError(`handshake message of ${length} bytes`);
      if (fragOff + fragLen > length || off + fragLen > fragment.length) throw new HandshakeError('fragment outside its message');
      const data = fragment.subarray(off, off + fragLen);
      off += fragLen;
      if (fragOff === 0 && fragLen === length) {
        this.partial.delete(seq);
        done.push({ type, seq, body: Buffer.from(data) });
        continue;
      }
      let p = this.partial.get(seq);
      if (!p) {
        if (this.partial.size >= 8) throw new HandshakeError('too many messages in reassembly');
        p = { type, length, body: Buffer.alloc(length), have: new Uint8Array(length), missing: length };
        this.partial.set(seq, p);
      } else if (p.type !== type || p.length !== length) {
        throw new HandshakeError('fragments disagree about their message');
      }
      data.copy(p.body, fragOff);
      for (let i = fragOff; i < fragOff + fragLen; i++) {
        if (!p.have[i]) { p.have[i] = 1; p.missing--; }
      }
      if (p.missing === 0) {
        this.partial.delete(seq);
        done.push({ type, seq, body: p.body });
      }
    }
    return done;
  }

  reset(): void { this.partial.clear(); }
}

/** A whole message with its header, as sent and as hashed into the transcript (DTLS 1.x). */
export function encodeMessage(type: number, seq: number, body: Buffer): Buffer {
  const h = Buffer.allocUnsafe(HS_HEADER);
  h[0] = type;
  h.writeUIntBE(body.length, 1, 3);
  h.writeUInt16BE(seq, 4);
  h.writeUIntBE(0, 6, 3);
  h.writeUIntBE(body.length, 9, 3);
  return Buffer.concat([h, body]);
}

export interface ClientHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  suites: number[];
  compression: number[];
  extensions: Map<number, Buffer>;
}

/** A bounds-checked reader: any overrun is a HandshakeError, never an exception elsewhere. */
class Reader {
  off = 0;
  constructor(private readonly b: Buffer) {}
  need(n: number): void { if (this.off + n > this.b.length) throw new HandshakeError('truncated ClientHello'); }
  u8(): number { this.need(1); return this.b[this.off++]; }
  u16(): number { this.need(2); const v = this.b.readUInt16BE(this.off); this.off += 2; return v; }
  bytes(n: number): Buffer { this.need(n); const v = this.b.subarray(this.off, this.off + n); this.off += n; return v; }
  get left(): number { return this.b.length - this.off; }
}

export function parseClientHello(body: Buffer): ClientHello {
  const r = new Reader(body);
  const version = r.u16();
  const random = Buffer.from(r.bytes(32));
  const sidLen = r.u8();
  if (sidLen > 32) throw new HandshakeError('session id longer than 32 bytes');
  const sessionId = Buffer.from(r.bytes(sidLen));
  const cookie = Buffer.from(r.bytes(r.u8()));
  const suitesLen = r.u16();
  if (suitesLen % 2 !== 0) throw new HandshakeError('odd cipher suite list');
  const suitesBuf = r.bytes(suitesLen);
  const suites: number[] = [];
  for (let i = 0; i < suitesLen; i += 2) suites.push(suitesBuf.readUInt16BE(i));
  const compression = [...r.bytes(r.u8())];
  const extensions = new Map<number, Buffer>();
  if (r.left > 0) {
    const extLen = r.u16();
    const ext = new Reader(r.bytes(extLen));
    while (ext.left > 0) {
      const type = ext.u16();
      extensions.set(type, Buffer.from(ext.bytes(ext.u16())));
    }
  }
  return { version, random, sessionId, cookie, suites, compression, extensions };
}

export const EXT_RENEGOTIATION_INFO = 0xff01;
export const SCSV_RENEGOTIATION = 0x00ff;

export function serverHelloBody(version: number, random: Buffer, sessionId: Buffer, suite: number, secureRenegotiation: boolean): Buffer {
  const parts = [Buffer.from([version >> 8, version & 0xff]), random, Buffer.from([sessionId.length]), sessionId,
    Buffer.from([suite >> 8, suite & 0xff, 0])];
  if (secureRenegotiation) {
    // renegotiation_info with an empty renegotiated_connection: this is an initial handshake
    parts.push(Buffer.from([0x00, 0x05, 0xff, 0x01, 0x00, 0x01, 0x00]));
  }
  return Buffer.concat(parts);
}

/** The Finished message's verify_data is 12 bytes in every DTLS version we speak. */
export const VERIFY_DATA_LEN = 12;
