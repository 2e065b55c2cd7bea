/**
 * sec-mod's side of key isolation: holds the server's private keys and performs the one
 * private-key operation a worker's TLS handshake needs, for workers main attached, on
 * keys it was configured with, and only in the forms a handshake signs.
 */
import { readFileSync } from 'node:fs';
import { createHash, X509Certificate } from 'node:crypto';
import { Channel } from '../ipc/channel';
import { keyToSecmod, type KeyToSecmod, type SecmodToKey } from '../ipc/key-messages';
import { KeySigner } from '../native';
import type { Logger } from '../common/log';
import { isDigestInfo, isEcdsaDigest, isPssBlock } from './rsa-forms';

export class KeyLoadError extends Error { override name = 'KeyLoadError'; }

export interface KeyPair { certFile: string; keyFile: string }

/** Why a request was refused; the worker's handshake fails with this in sec-mod's log. */
export class KeyRefusal extends Error { override name = 'KeyRefusal'; }

export class KeyService {
  private readonly signers: KeySigner[] = [];
  private readonly channels = new Map<number, Channel<KeyToSecmod, SecmodToKey>>();
  private signed = 0;

  /** index of the current keys' first signer; older ones stay for workers started before a reload */
  private base = 0;
  private current: string;

  constructor(pairs: KeyPair[], private readonly log: Logger) {
    for (const p of pairs) this.signers.push(loadSigner(p));
    this.current = fingerprint(pairs);
  }

  /**
   * A reload: keys whose files changed are loaded after the ones in use, and their index
   * returned; workers started from now on ask for those. Throws KeyLoadError, keeping the
   * old keys, when a new one cannot be used.
   */
  reload(pairs: KeyPair[]): number {
    const f = fingerprint(pairs);
    if (f === this.current) return this.base;
    const fresh = pairs.map(loadSigner);
    this.base = this.signers.length;
    this.signers.push(...fresh);
    this.current = f;
    this.log.info({ keys: fresh.length, base: this.base }, 'server keys reloaded');
    return this.base;
  }

  get size(): number { return this.signers.length; }
  /** operations performed, for tests and statistics */
  get count(): number { return this.signed; }

  /** A worker's key channel (fd from main); a channel main made before for this worker is replaced. */
  attach(workerId: number, fd: number): void {
    this.channels.get(workerId)?.close('replaced');
    const ch = new Channel<KeyToSecmod, SecmodToKey>(fd, { name: `sec-mod<-keys${workerId}`, log: this.log, validators: keyToSecmod });
    this.channels.set(workerId, ch);
    ch.onClose(() => { if (this.channels.get(workerId) === ch) this.channels.delete(workerId); });
    ch.on('key.sign', (req, ctx) => {
      try {
        ctx.reply('key.signed', { sig: this.sign(req) });
      } catch (err) {
        const reason = (err as Error).message;
        this.log.warn({ worker: workerId, key: req.key, op: req.op, reason }, 'private-key operation refused');
        ctx.reply('key.error', { reason });
      }
    });
  }

  sign(req: KeyToSecmod['key.sign']): Buffer {
    const signer = this.signers[req.key];
    if (!signer) throw new KeyRefusal(`no server-key #${req.key}`);
    const data = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
    let sig: Buffer;
    if (signer.type === 'ec') {
      if (req.op !== 'ecdsa' || !isEcdsaDigest(data)) throw new KeyRefusal(`${req.op} of ${data.length} bytes is not an ECDSA digest`);
      sig = signer.sign(data, 'ecdsa');
    } else if (req.op === 'rsa-pkcs1') {
      if (!isDigestInfo(data)) throw new KeyRefusal('rsa-pkcs1 input is not a DigestInfo');
      sig = signer.sign(data, 'pkcs1');
    } else if (req.op === 'rsa-pss') {
      if (!isPssBlock(data, signer.bits)) throw new KeyRefusal('rsa-pss input is not an EMSA-PSS block');
      sig = signer.sign(data, 'none');
    } else {
      throw new KeyRefusal(`${req.op} on an RSA key`);
    }
    this.signed++;
    return sig;
  }

  close(): void {
    for (const ch of this.channels.values()) ch.close('shutdown');
    for (const s of this.signers) s.destroy();
  }
}

function loadSigner(p: KeyPair): KeySigner {
  let pem: Buffer | undefined;
  try {
    pem = readFileSync(p.keyFile);
    const signer = new KeySigner(pem);
    const certKey = new X509Certificate(readFileSync(p.certFile)).publicKey.export({ type: 'spki', format: 'der' });
    if (!certKey.equals(signer.publicKey())) {
      signer.destroy();
      throw new KeyLoadError(`server-key ${p.keyFile} does not belong to server-cert ${p.certFile}`);
    }
    return signer;
  } catch (err) {
    if (err instanceof KeyLoadError) throw err;
    throw new KeyLoadError(`server-key ${p.keyFile}: ${(err as Error).message}`);
  } finally {
    pem?.fill(0);
  }
}

/** server-cert / server-key pairs in configuration order: a key's index is its id on the key channel. */
/** What the key files hold now: a renewed certificate at the same path is a change. */
function fingerprint(pairs: KeyPair[]): string {
  const h = createHash('sha256');
  for (const p of pairs) {
    h.update(readFileSync(p.certFile));
    h.update(readFileSync(p.keyFile));
  }
  return h.digest('hex');
}

export function keyPairs(c: { serverCert: string[]; serverKey: string[] }): KeyPair[] {
  return c.serverCert.map((certFile, i) => ({ certFile, keyFile: c.serverKey[i] }));
}
