/**
 * The DTLS PRF (src/dtls/prf.ts over the native P_hash, src/native/hmac.cc): the TLS 1.2
 * PRF test vector that circulated with RFC 5246, and every hash and length against
 * P_hash written out with node:crypto's HMAC, the form it had before it was native.
 */
import t from 'tap';
import { createHmac, randomBytes } from 'node:crypto';
import { prf } from '../../src/dtls/prf';
import { hmac, tlsPHash } from '../../src/native';

function referencePHash(alg: string, secret: Buffer, seed: Buffer, len: number): Buffer {
  const out: Buffer[] = [];
  let a = seed;
  for (let total = 0; total < len;) {
    a = createHmac(alg, secret).update(a).digest();
    const block = createHmac(alg, secret).update(a).update(seed).digest();
    out.push(block);
    total += block.length;
  }
  return Buffer.concat(out).subarray(0, len);
}

t.test('TLS 1.2 PRF with SHA-256: the published test vector', async (t) => {
  const secret = Buffer.from('9bbe436ba940f017b17652849a71db35', 'hex');
  const seed = Buffer.from('a0ba9f936cda311827a6f796ffd5198c', 'hex');
  const out = prf('sha256', secret, 'test label', seed, 100);
  t.equal(out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab'
    + '4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66');
});

t.test('P_hash: every hash, lengths inside, at and across block edges', async (t) => {
  for (const alg of ['sha256', 'sha384', 'sha1', 'md5'] as const) {
    for (const len of [1, 12, 16, 20, 32, 47, 48, 72, 104, 136, 1024]) {
      const secret = randomBytes(48);
      const seed = randomBytes(77);
      t.same(tlsPHash(alg, secret, seed, len), referencePHash(alg, secret, seed, len), `${alg}, ${len} bytes`);
    }
  }
  // a secret longer than the hash's block is hashed first by HMAC; an empty one is allowed
  t.same(tlsPHash('sha256', randomBytes(0), Buffer.from('seed'), 40), referencePHash('sha256', Buffer.alloc(0), Buffer.from('seed'), 40), 'empty secret');
  const long = randomBytes(200);
  t.same(tlsPHash('sha384', long, Buffer.from('seed'), 40), referencePHash('sha384', long, Buffer.from('seed'), 40), 'secret longer than a block');
});

t.test('the TLS 1.0 PRF (DTLS 1.0 and 0.9): MD5 xor SHA-1 over the halves of the secret', async (t) => {
  for (const secretLen of [48, 47]) {
    const secret = randomBytes(secretLen);
    const seed = randomBytes(64);
    const labelSeed = Buffer.concat([Buffer.from('key expansion'), seed]);
    const half = Math.ceil(secretLen / 2);
    const md5 = referencePHash('md5', secret.subarray(0, half), labelSeed, 104);
    const sha1 = referencePHash('sha1', secret.subarray(secretLen - half), labelSeed, 104);
    for (let i = 0; i < md5.length; i++) md5[i] ^= sha1[i];
    t.same(prf('md5sha1', secret, 'key expansion', seed, 104), md5, `a ${secretLen}-byte secret`);
  }
});

t.test('what P_hash refuses', async (t) => {
  const s = Buffer.alloc(16);
  t.throws(() => tlsPHash('sha512' as 'sha256', s, s, 16), /hash must be/);
  t.throws(() => tlsPHash('sha256', s, s, 0), /length must be 1 to 1024/);
  t.throws(() => tlsPHash('sha256', s, s, 1025), /length must be 1 to 1024/);
  t.throws(() => (tlsPHash as (...a: unknown[]) => Buffer)('sha256', 'secret', s, 16), /tlsPHash\(hash/);
});

t.test('hmac: one-shot HMAC, the same as node:crypto\'s', async (t) => {
  for (const alg of ['sha256', 'sha384', 'sha1', 'md5'] as const) {
    for (const [keyLen, dataLen] of [[0, 0], [32, 17], [200, 1000]]) {
      const key = randomBytes(keyLen);
      const data = randomBytes(dataLen);
      t.same(hmac(alg, key, data), createHmac(alg, key).update(data).digest(), `${alg}, ${keyLen}-byte key, ${dataLen} bytes`);
    }
  }
  t.throws(() => hmac('sha224' as 'sha256', Buffer.alloc(1), Buffer.alloc(1)), /hash must be/);
  t.throws(() => (hmac as (...a: unknown[]) => Buffer)('sha256', 'key', Buffer.alloc(1)), /hmac\(hash/);
});
