/** The secret parts of a private key as they may sit in a process's memory. */
import { createPrivateKey } from 'node:crypto';

export interface Needle { name: string; bytes: Buffer }

/**
 * Private scalars / primes big-endian (DER, JWK) and little-endian (OpenSSL BIGNUM limbs on
 * x86-64 and arm64), and a stretch of the PEM's base64 text (a JS string, a file buffer).
 */
export function keyNeedles(pem: string): Needle[] {
  const key = createPrivateKey(pem);
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  const fields = key.asymmetricKeyType === 'ec' ? ['d'] : ['d', 'p', 'q'];
  const out: Needle[] = [];
  for (const f of fields) {
    const be = Buffer.from(jwk[f], 'base64url');
    out.push({ name: `${f} big-endian`, bytes: be });
    out.push({ name: `${f} little-endian`, bytes: Buffer.from(be).reverse() });
  }
  const body = pem.split('\n').filter((l) => l && !l.startsWith('-----')).join('');
  out.push({ name: 'PEM text', bytes: Buffer.from(body.slice(40, 100), 'latin1') });
  return out;
}
