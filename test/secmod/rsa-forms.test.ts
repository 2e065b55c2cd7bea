/**
 * The forms sec-mod accepts before an RSA private operation: blocks OpenSSL really produces
 * (recovered from node:crypto signatures with the public key) pass, anything else does not.
 */
import t from 'tap';
import { constants, generateKeyPairSync, publicDecrypt, randomBytes, sign } from 'node:crypto';
import { isDigestInfo, isEcdsaDigest, isPssBlock } from '../../src/secmod/rsa-forms';

const message = Buffer.from('transcript');

for (const bits of [2048, 3072, 4096]) {
  t.test(`EMSA-PSS blocks of a ${bits}-bit key`, async (t) => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: bits });
    const open = (sig: Buffer) => publicDecrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, sig);
    for (const hash of ['sha256', 'sha384', 'sha512']) {
      const sig = sign(hash, message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
      t.ok(isPssBlock(open(sig), bits), `${hash}, salt as long as the hash`);
    }
    const short = sign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 0 });
    t.notOk(isPssBlock(open(short), bits), 'a salt of another length is not what TLS signs');
    const pkcs1 = sign('sha256', message, { key: privateKey, padding: constants.RSA_PKCS1_PADDING });
    t.notOk(isPssBlock(open(pkcs1), bits), 'a PKCS#1 v1.5 block is not a PSS block');
    let random = 0;
    for (let i = 0; i < 200; i++) if (isPssBlock(randomBytes(Math.ceil(bits / 8)), bits)) random++;
    t.equal(random, 0, 'random blocks (what a blinded ciphertext looks like) never pass');
    t.notOk(isPssBlock(Buffer.alloc(10), bits), 'wrong length');
  });
}

t.test('DigestInfo of SHA-1 and SHA-2 digests', async (t) => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  for (const hash of ['sha1', 'sha256', 'sha384', 'sha512']) {
    const di = publicDecrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, sign(hash, message, privateKey));
    t.ok(isDigestInfo(di), hash);
    t.notOk(isDigestInfo(Buffer.concat([di, Buffer.from([0])])), `${hash} with a byte more`);
  }
  t.notOk(isDigestInfo(randomBytes(51)), 'random bytes');
  t.notOk(isDigestInfo(randomBytes(36)), 'the MD5+SHA-1 form of TLS 1.0/1.1');
});

t.test('ECDSA digest lengths', async (t) => {
  for (const n of [20, 28, 32, 48, 64]) t.ok(isEcdsaDigest(Buffer.alloc(n)), `${n} bytes`);
  for (const n of [0, 16, 33, 65, 256]) t.notOk(isEcdsaDigest(Buffer.alloc(n)), `${n} bytes`);
});
