/**
 * KeySigner, sec-mod's native private-key operation: ECDSA over a digest computed
 * elsewhere, PKCS#1 v1.5 over a DigestInfo, and the raw RSA operation, each checked with
 * node:crypto's own verification.
 */
import t from 'tap';
import { constants, createHash, createPublicKey, publicDecrypt, verify } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeySigner } from '../../src/native';
import { selfSigned } from '../helpers/tls-keys';

const dir = mkdtempSync(join(tmpdir(), 'ocs-signer-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ec = selfSigned(dir, 'ecdsa');
const rsa = selfSigned(dir, 'rsa');
const message = Buffer.from('the handshake transcript');
const digest = createHash('sha256').update(message).digest();

t.test('ECDSA over a precomputed digest verifies as a signature of the message', async (t) => {
  const s = new KeySigner(Buffer.from(ec.keyPem));
  t.equal(s.type, 'ec');
  t.equal(s.bits, 256);
  t.ok(s.size >= 70 && s.size <= 72, 'DER signature size of P-256');
  const sig = s.sign(digest, 'ecdsa');
  t.ok(verify('sha256', message, ec.certPem, sig), 'verifies');
  t.ok(s.publicKey().equals(createPublicKey(ec.certPem).export({ type: 'spki', format: 'der' })), 'public key is the certificate\'s');
  t.throws(() => s.sign(digest, 'none'), /padding does not suit this key/);
});

t.test('RSA: PKCS#1 v1.5 over a DigestInfo, and the raw operation', async (t) => {
  const s = new KeySigner(Buffer.from(rsa.keyPem));
  t.equal(s.type, 'rsa');
  t.equal(s.bits, 2048);
  t.equal(s.size, 256);
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
  t.ok(verify('sha256', message, rsa.certPem, s.sign(digestInfo, 'pkcs1')), 'PKCS#1 v1.5 signature verifies');
  const block = Buffer.alloc(256, 0x5a);
  block[0] = 0x01;
  const raw = s.sign(block, 'none');
  t.equal(raw.length, 256);
  t.ok(publicDecrypt({ key: rsa.certPem, padding: constants.RSA_NO_PADDING }, raw).equals(block), 'raw operation inverts with the public key');
  t.throws(() => s.sign(digest, 'ecdsa'), /padding does not suit this key/);
});

t.test('unusable keys are refused, and a destroyed signer says so', async (t) => {
  t.throws(() => new KeySigner(Buffer.from('not a key')), /cannot read the private key/);
  const encrypted = createPublicKey(ec.certPem) && Buffer.from(
    (await import('node:crypto')).createPrivateKey(ec.keyPem).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string);
  t.throws(() => new KeySigner(encrypted), /cannot read the private key/, 'an encrypted key fails instead of prompting');
  const s = new KeySigner(Buffer.from(ec.keyPem));
  s.destroy();
  t.throws(() => s.sign(digest, 'ecdsa'), /destroyed/);
});
