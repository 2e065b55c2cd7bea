/** DTLS record framing: 13-byte header (type, version, epoch, 48-bit sequence, length). */
export const RECORD_HEADER = 13;

export const enum ContentType {
  ChangeCipherSpec = 20,
  Alert = 21,
  Handshake = 22,
  ApplicationData = 23,
}

export interface DtlsRecord { type: number; version: number; epoch: number; seq: number; fragment: Buffer }

/**
 * All records of one datagram. Parsing stops at the first malformed one: a truncated tail
 * or an impossible length cannot be resynchronised in a datagram, and is dropped.
 */
export function parseRecords(datagram: Buffer): { records: DtlsRecord[]; malformed: boolean } {
  const records: DtlsRecord[] = [];
  let off = 0;
  while (off < datagram.length) {
    if (datagram.length - off < RECORD_HEADER) return { records, malformed: true };
    const type = datagram[off];
    const version = datagram.readUInt16BE(off + 1);
    const epoch = datagram.readUInt16BE(off + 3);
    const seq = datagram.readUIntBE(off + 5, 6);
    const length = datagram.readUInt16BE(off + 11);
    if (type < 20 || type > 25 || off + RECORD_HEADER + length > datagram.length) return { records, malformed: true };
    records.push({ type, version, epoch, seq, fragment: datagram.subarray(off + RECORD_HEADER, off + RECORD_HEADER + length) });
    off += RECORD_HEADER + length;
  }
  return { records, malformed: false };
}

export function recordHeader(type: number, version: number, epoch: number, seq: number, length: number): Buffer {
  const h = Buffer.allocUnsafe(RECORD_HEADER);
  h[0] = type;
  h.writeUInt16BE(version, 1);
  h.writeUInt16BE(epoch, 3);
  h.writeUIntBE(seq, 5, 6);
  h.writeUInt16BE(length, 11);
  return h;
}
