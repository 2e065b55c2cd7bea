import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Aead } from '../native';
import { prf, type PrfHash } from './prf';
import { RECORD_HEADER, recordHeader } from './record';
import { DTLS1_2, type CipherSuite } from './suites';

/** Keys of one direction. */
export interface DirectionKeys { key: Buffer; iv: Buffer; macKey: Buffer }
export interface KeyBlock { client: DirectionKeys; server: DirectionKeys }

export function deriveKeys(suite: CipherSuite, version: number, hash: PrfHash, master: Buffer, clientRandom: Buffer, serverRandom: Buffer): KeyBlock {
  // DTLS 1.0 and 0.9 still derive CBC IVs (then ignore them: records carry explicit IVs).
  const ivLen = suite.kind === 'cbc' ? (version === DTLS1_2 ? 0 : 16) : suite.fixedIvLen;
  const need = 2 * (suite.macLen + suite.keyLen + ivLen);
  const kb = prf(hash, master, 'key expansion', Buffer.concat([serverRandom, clientRandom]), need);
  let off = 0;
  const take = (n: number) => { const b = kb.subarray(off, off + n); off += n; return Buffer.from(b); };
  const cMac = take(suite.macLen), sMac = take(suite.macLen);
  const cKey = take(suite.keyLen), sKey = take(suite.keyLen);
  const cIv = take(ivLen), sIv = take(ivLen);
  return { client: { key: cKey, iv: cIv, macKey: cMac }, server: { key: sKey, iv: sIv, macKey: sMac } };
}

const GCM_EXPLICIT = 8;
const TAG = 16;

function seqBytes(epoch: number, seq: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt16BE(epoch, 0);
  b.writeUIntBE(seq, 2, 6);
  return b;
}

function additionalData(epoch: number, seq: number, type: number, version: number, length: number): Buffer {
  const ad = Buffer.allocUnsafe(13);
  ad.writeUInt16BE(epoch, 0);
  ad.writeUIntBE(seq, 2, 6);
  ad[8] = type;
  ad.writeUInt16BE(version, 9);
  ad.writeUInt16BE(length, 11);
  return ad;
}

/**
 * Protection of records in one direction for one epoch. encrypt() takes the plaintext in
 * parts (the one-byte tunnel header and the IP packet) to avoid a copy per packet.
 */
export class RecordProtection {
  private readonly alg: string;
  /** the native AEAD fast path (AES-GCM, ChaCha20-Poly1305); CBC stays in JavaScript */
  private readonly aead?: Aead;

  constructor(private readonly suite: CipherSuite, private readonly keys: DirectionKeys) {
    this.alg = suite.kind === 'chacha' ? 'chacha20-poly1305'
      : suite.kind === 'gcm' ? `aes-${suite.keyLen * 8}-gcm` : `aes-${suite.keyLen * 8}-cbc`;
    if (suite.kind !== 'cbc') this.aead = new Aead(this.alg as 'aes-256-gcm', keys.key, keys.iv);
  }

  /**
   * Whole records (header included) for many packets at once, each `prefix + packet`, with
   * sequence numbers from firstSeq on: the data path's way to protect a batch. Packet i is
   * src[spans[2i], +spans[2i+1]); the records go back to back into out and their lengths
   * into outLengths, and nothing is allocated on the way (AEAD suites). Returns the bytes
   * written; throws a RangeError when out is too small.
   */
  sealSpans(type: number, version: number, epoch: number, firstSeq: number, prefix: Buffer,
    src: Buffer, spans: Uint32Array, count: number, out: Buffer, outLengths: Uint32Array): number {
    if (this.aead) return this.aead.sealSpans(type, version, epoch, firstSeq, prefix, src, spans, count, out, outLengths);
    let off = 0;
    for (let i = 0; i < count; i++) {
      const frag = this.encrypt(type, version, epoch, firstSeq + i, [prefix, src.subarray(spans[2 * i], spans[2 * i] + spans[2 * i + 1])]);
      const len = RECORD_HEADER + frag.length;
      if (off + len > out.length) throw new RangeError('sealSpans: out is too small');
      recordHeader(type, version, epoch, firstSeq + i, frag.length).copy(out, off);
      frag.copy(out, off + RECORD_HEADER);
      outLengths[i] = len;
      off += len;
    }
    return off;
  }

  /** Largest plaintext overhead of one record, for MTU sizing. */
  static overhead(suite: CipherSuite): number {
    if (suite.kind === 'gcm') return GCM_EXPLICIT + TAG;
    if (suite.kind === 'chacha') return TAG;
    return 16 /* IV */ + suite.macLen + 16 /* padding, worst case */;
  }

  private aeadNonce(epoch: number, seq: number): Buffer {
    if (this.suite.kind === 'gcm') return Buffer.concat([this.keys.iv, seqBytes(epoch, seq)]);
    const nonce = Buffer.from(this.keys.iv);
    const s = seqBytes(epoch, seq);
    for (let i = 0; i < 8; i++) nonce[4 + i] ^= s[i];
    return nonce;
  }

  encrypt(type: number, version: number, epoch: number, seq: number, parts: Buffer[]): Buffer {
    let len = 0;
    for (const p of parts) len += p.length;
    if (this.aead) {
      const prefix = parts.length > 1 ? Buffer.concat(parts.slice(0, -1)) : Buffer.alloc(0);
      return this.aead.seal(type, version, epoch, seq, prefix, [parts[parts.length - 1]]).subarray(RECORD_HEADER);
    }
    if (this.suite.kind !== 'cbc') {
      const nonce = this.aeadNonce(epoch, seq);
      const c = createCipheriv(this.alg as 'aes-256-gcm', this.keys.key, nonce, { authTagLength: TAG });
      c.setAAD(additionalData(epoch, seq, type, version, len), { plaintextLength: len });
      const out: Buffer[] = this.suite.kind === 'gcm' ? [nonce.subarray(4)] : [];
      for (const p of parts) out.push(c.update(p));
      out.push(c.final(), c.getAuthTag());
      return Buffer.concat(out);
    }
    const mac = createHmac('sha1', this.keys.macKey).update(additionalData(epoch, seq, type, version, len));
    for (const p of parts) mac.update(p);
    const macBytes = mac.digest();
    const padLen = 15 - ((len + macBytes.length) % 16);
    const pad = Buffer.alloc(padLen + 1, padLen);
    const iv = randomBytes(16);
    const c = createCipheriv(this.alg, this.keys.key, iv).setAutoPadding(false);
    const out: Buffer[] = [iv];
    for (const p of parts) out.push(c.update(p));
    out.push(c.update(macBytes), c.update(pad), c.final());
    return Buffer.concat(out);
  }

  /** The plaintext, or null when the record does not authenticate (it is then dropped). */
  decrypt(type: number, version: number, epoch: number, seq: number, fragment: Buffer): Buffer | null {
    try {
      if (this.aead) {
        // in place: the fragment is ours (a view of the datagram just read)
        const n = this.aead.open(type, version, epoch, seq, fragment);
        if (n < 0) return null;
        const start = this.suite.kind === 'gcm' ? GCM_EXPLICIT : 0;
        return fragment.subarray(start, start + n);
      }
      if (this.suite.kind !== 'cbc') {
        const explicit = this.suite.kind === 'gcm' ? GCM_EXPLICIT : 0;
        if (fragment.length < explicit + TAG) return null;
        const nonce = this.suite.kind === 'gcm'
          ? Buffer.concat([this.keys.iv, fragment.subarray(0, GCM_EXPLICIT)])
          : this.aeadNonce(epoch, seq);
        const ctLen = fragment.length - explicit - TAG;
        const d = createDecipheriv(this.alg as 'aes-256-gcm', this.keys.key, nonce, { authTagLength: TAG });
        d.setAAD(additionalData(epoch, seq, type, version, ctLen), { plaintextLength: ctLen });
        d.setAuthTag(fragment.subarray(fragment.length - TAG));
        const pt = d.update(fragment.subarray(explicit, explicit + ctLen));
        d.final();
        return pt;
      }
      const macLen = this.suite.macLen;
      if (fragment.length < 32 || (fragment.length - 16) % 16 !== 0) return null;
      const d = createDecipheriv(this.alg, this.keys.key, fragment.subarray(0, 16)).setAutoPadding(false);
      const pt = Buffer.concat([d.update(fragment.subarray(16)), d.final()]);
      const padLen = pt[pt.length - 1];
      if (padLen + 1 + macLen > pt.length) return null;
      for (let i = pt.length - 1 - padLen; i < pt.length; i++) if (pt[i] !== padLen) return null;
      const dataLen = pt.length - 1 - padLen - macLen;
      const data = pt.subarray(0, dataLen);
      const mac = createHmac('sha1', this.keys.macKey).update(additionalData(epoch, seq, type, version, dataLen)).update(data).digest();
      return timingSafeEqual(mac, pt.subarray(dataLen, dataLen + macLen)) ? data : null;
    } catch {
      return null;
    }
  }
}
