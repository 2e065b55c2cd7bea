/**
 * What main saw of a client, vouched for to sec-mod: main MACs it with a key only main and
 * sec-mod hold, the worker carries it along with its login requests, and sec-mod believes
 * a worker's claim about its client (address, certificate) only with a valid MAC. A
 * compromised worker can therefore not log in "from" another address (dodging bans, or
 * framing one) or claim a certificate main never saw.
 */
import { timingSafeEqual } from 'node:crypto';
import { hmac } from '../native';
import { obj, oneOf, str, uint, type Infer } from './validate';

export const peerProofShape = obj({
  connId: uint(),
  remoteAddr: str(64),
  /** certificate authentication is not implemented: main vouches that there was none */
  cert: oneOf('none'),
  mac: str(64),
});
export type PeerProof = Infer<typeof peerProofShape>;

function mac(key: Uint8Array, p: Omit<PeerProof, 'mac'>): string {
  // length-prefixed fields, so no two different tuples share an encoding
  const fields = [String(p.connId), p.remoteAddr, p.cert];
  let text = 'ocserv-ts peer v1';
  for (const f of fields) text += `${Buffer.byteLength(f)}:${f};`;
  // native: main makes one per connection and sec-mod checks it per login, both on the client's wait
  return hmac('sha256', Buffer.from(key.buffer, key.byteOffset, key.byteLength), Buffer.from(text)).toString('base64');
}

export function provePeer(key: Uint8Array, p: Omit<PeerProof, 'mac'>): PeerProof {
  return { ...p, mac: mac(key, p) };
}

export function peerProven(key: Uint8Array | undefined, p: PeerProof): boolean {
  if (!key) return false;
  const want = Buffer.from(mac(key, p));
  const got = Buffer.from(p.mac);
  return want.length === got.length && timingSafeEqual(want, got);
}
