import { HS_HEADER, HsType } from './handshake';
import { ContentType, RECORD_HEADER } from './record';

/**
 * The session id of a datagram that starts with a DTLS ClientHello (epoch 0, first
 * fragment), or null for anything else. main uses it to find which session a new UDP peer
 * belongs to before handing the flow to that session's worker; it reads nothing more.
 */
export function clientHelloSessionId(d: Buffer): Buffer | null {
  if (d.length < RECORD_HEADER + HS_HEADER + 2 + 32 + 1) return null;
  if (d[0] !== ContentType.Handshake || d.readUInt16BE(3) !== 0) return null;
  const recLen = d.readUInt16BE(11);
  if (RECORD_HEADER + recLen > d.length) return null;
  const hs = RECORD_HEADER;
  if (d[hs] !== HsType.ClientHello || d.readUIntBE(hs + 6, 3) !== 0) return null;
  const fragLen = d.readUIntBE(hs + 9, 3);
  const body = hs + HS_HEADER;
  const sidLenAt = body + 2 + 32;
  if (fragLen < 2 + 32 + 1 || sidLenAt >= RECORD_HEADER + recLen) return null;
  const sidLen = d[sidLenAt];
  if (sidLen === 0 || sidLen > 32 || sidLenAt + 1 + sidLen > Math.min(d.length, body + fragLen)) return null;
  return d.subarray(sidLenAt + 1, sidLenAt + 1 + sidLen);
}
