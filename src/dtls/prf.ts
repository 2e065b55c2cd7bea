import { createHash, createHmac } from 'node:crypto';

/**
 * The TLS pseudo-random functions. DTLS 1.2 uses TLS 1.2's P_SHA256 / P_SHA384 (by suite);
 * DTLS 1.0 and Cisco's pre-standard DTLS 0.9 use TLS 1.0's MD5 xor SHA-1 construction.
 */
export type PrfHash = 'sha256' | 'sha384' | 'md5sha1';

function pHash(alg: string, secret: Buffer, seed: Buffer, len: number): Buffer {
  const out: Buffer[] = [];
  let total = 0;
  let a = seed;
  while (total < len) {
    a = createHmac(alg, secret).update(a).digest();
    const chunk = createHmac(alg, secret).update(a).update(seed).digest();
    out.push(chunk);
    total += chunk.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

export function prf(hash: PrfHash, secret: Buffer, label: string, seed: Buffer, len: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, 'ascii'), seed]);
  if (hash !== 'md5sha1') return pHash(hash, secret, labelSeed, len);
  const half = Math.ceil(secret.length / 2);
  const md5 = pHash('md5', secret.subarray(0, half), labelSeed, len);
  const sha1 = pHash('sha1', secret.subarray(secret.length - half), labelSeed, len);
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
