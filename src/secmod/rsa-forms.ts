/**
 * What sec-mod checks before an RSA private operation for a worker. A raw RSA operation on
 * arbitrary input would decrypt anything ever encrypted to the server key (blinding makes
 * any ciphertext look random), so only the two forms a TLS handshake signs pass: a
 * DigestInfo (PKCS#1 v1.5, padded here) and a well-formed EMSA-PSS block whose salt is as
 * long as its hash (RFC 8446 4.2.3; OpenSSL uses the same for TLS 1.2). A blinded
 * ciphertext has no realistic chance of looking like either.
 */
import { createHash } from 'node:crypto';

const HASHES = [
  { name: 'sha1', len: 20, oid: '3021300906052b0e03021a05000414' },
  { name: 'sha224', len: 28, oid: '302d300d06096086480165030402040500041c' },
  { name: 'sha256', len: 32, oid: '3031300d060960864801650304020105000420' },
  { name: 'sha384', len: 48, oid: '3041300d060960864801650304020205000430' },
  { name: 'sha512', len: 64, oid: '3051300d060960864801650304020305000440' },
].map((h) => ({ ...h, prefix: Buffer.from(h.oid, 'hex') }));

/** DER DigestInfo of a SHA-1 or SHA-2 digest, as RSA_sign builds it. */
export function isDigestInfo(data: Buffer): boolean {
  return HASHES.some((h) => data.length === h.prefix.length + h.len && data.subarray(0, h.prefix.length).equals(h.prefix));
}

function mgf1(hash: string, seed: Buffer, len: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 0; have < len; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = createHash(hash).update(seed).update(c).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

/**
 * A modulus-sized block that is an EMSA-PSS encoding (RFC 8017 9.1.1) with MGF1 over
 * SHA-256/384/512 and a salt as long as the hash. Only the form is checked: the message
 * hash inside is whatever the handshake signs.
 */
export function isPssBlock(block: Buffer, modBits: number): boolean {
  const k = Math.ceil(modBits / 8);
  if (block.length !== k) return false;
  const emBits = modBits - 1;
  let em = block;
  if (emBits % 8 === 0) {
    if (block[0] !== 0) return false;
    em = block.subarray(1);
  }
  const emLen = em.length;
  const topMask = 0xff >> (8 * emLen - emBits);
  if (em[emLen - 1] !== 0xbc || (em[0] & ~topMask) !== 0) return false;
  for (const h of HASHES.slice(2)) {
    const dbLen = emLen - h.len - 1;
    if (dbLen < 2 * h.len + 1) continue;
    const H = em.subarray(dbLen, dbLen + h.len);
    const db = mgf1(h.name, H, dbLen);
    for (let i = 0; i < dbLen; i++) db[i] ^= em[i];
    db[0] &= topMask;
    const sep = dbLen - h.len - 1;
    let ok = db[sep] === 0x01;
    for (let i = 0; ok && i < sep; i++) ok = db[i] === 0;
    if (ok) return true;
  }
  return false;
}

/** Digest lengths of the ECDSA signature algorithms TLS uses (SHA-1 and SHA-2). */
export function isEcdsaDigest(data: Buffer): boolean {
  return HASHES.some((h) => h.len === data.length);
}
