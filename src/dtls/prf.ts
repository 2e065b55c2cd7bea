import { createHash } from 'node:crypto';
import { tlsPHash } from '../native';

/**
 * The TLS pseudo-random functions. DTLS 1.2 uses TLS 1.2's P_SHA256 / P_SHA384 (by suite);
 * DTLS 1.0 and Cisco's pre-standard DTLS 0.9 use TLS 1.0's MD5 xor SHA-1 construction.
 */
export type PrfHash = 'sha256' | 'sha384' | 'md5sha1';

/**
 * P_hash is native (src/native/hmac.cc): a handshake runs it four times, on the path the
 * client waits on, and in JavaScript each block cost two Hmac objects.
 */
export function prf(hash: PrfHash, secret: Buffer, label: string, seed: Buffer, len: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'ascii'), seed]);
  if (hash !== 'md5sha1') return tlsPHash(hash, secret, labelSeed, len);
  const half = Math.ceil(secret.length / 2);
  const md5 = tlsPHash('md5', secret.subarray(0, half), labelSeed, len);
  const sha1 = tlsPHash('sha1', secret.subarray(secret.length - half), labelSeed, len);
  for (let i = 0; i < len; i++) md5[i] ^= sha1[i];
  return md5;
}

/** The running hash of the handshake messages, for Finished. */
export class Transcript {
  private readonly parts: Buffer[] = [];
  add(msg: Buffer): void { this.parts.push(msg); }
  digest(hash: PrfHash): Buffer {
    const all = Buffer.concat(this.parts);
    if (hash === 'md5sha1') return Buffer.concat([createHash('md5').update(all).digest(), createHash('sha1').update(all).digest()]);
    return createHash(hash).update(all).digest();
  }
}
