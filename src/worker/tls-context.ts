/**
 * The worker's TLS credentials. With key isolation (the default) the worker has the
 * certificates only: each private key is an OpenSSL engine key (src/native/engine) that
 * holds the public half and forwards the signature to sec-mod over the key slot.
 */
import { X509Certificate } from 'node:crypto';
import { dirname } from 'node:path';
import { constants } from 'node:crypto';
import { DEFAULT_CIPHERS, createSecureContext, type SecureContext, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { DEFAULT_TLS_POLICY } from '../common/tls-priorities';
import type { TlsMaterial } from '../ipc/messages';
import { addonPath } from '../native';

export const KEY_ENGINE_ID = 'ocserv_keyfwd';
/** How long a handshake (and with it this worker's event loop) may wait for sec-mod. */
export const KEY_TIMEOUT_MS = 2000;

interface NativeContext { setEngineKey(identifier: string, engine: string): void }

/** What the engine's load_key parses: fd, key index in sec-mod, timeout and the public key. */
export function keyIdentifier(certPem: string, key: number, fd: number, timeoutMs = KEY_TIMEOUT_MS): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `fd=${fd};key=${key};timeout=${timeoutMs};spki=${spki.toString('hex')}`;
}

export function secureContextFor(tls: TlsMaterial, keySlotFd: number, timeoutMs = KEY_TIMEOUT_MS): SecureContext {
  // ca also decides which client certificates verify; a crl turns on revocation checks
  // for the whole chain (OpenSSL's CRL_CHECK | CRL_CHECK_ALL)
  const base = { cert: tls.certs, ca: tls.ca, crl: tls.crl, ...policyOptions(tls) };
  if (tls.keys) return createSecureContext({ ...base, key: tls.keys });
  // By id, from the directory the engine was built into: loading by path works for the
  // first context of a process only.
  process.env.OPENSSL_ENGINES = dirname(addonPath);
  const ids = tls.certs.map((cert, i) => keyIdentifier(cert, (tls.keyBase ?? 0) + i, keySlotFd, timeoutMs));
  const ctx = createSecureContext({
    ...base,
    // static-RSA key exchange would need a private decryption, which sec-mod does not offer
    ciphers: `${base.ciphers ?? DEFAULT_CIPHERS}:!kRSA`,
    privateKeyEngine: KEY_ENGINE_ID,
    privateKeyIdentifier: ids[0],
  });
  // node:tls takes one engine key; OpenSSL keeps one per key type and picks by the
  // client's signature algorithms, so the others go in the same way.
  for (const id of ids.slice(1)) (ctx.context as NativeContext).setEngineKey(id, KEY_ENGINE_ID);
  return ctx;
}

/** tls-priorities and dh-params as secure context options (docs/TLS.md) */
export function policyOptions(tls: Pick<TlsMaterial, 'policy' | 'dhparam'>): SecureContextOptions {
  const p = tls.policy ?? DEFAULT_TLS_POLICY;
  const o: SecureContextOptions = { minVersion: p.minVersion, maxVersion: p.maxVersion, honorCipherOrder: p.honorCipherOrder };
  if (p.ciphers) o.ciphers = p.ciphers;
  if (p.ecdhCurve) o.ecdhCurve = p.ecdhCurve;
  if (p.noTickets) o.secureOptions = constants.SSL_OP_NO_TICKET;
  if (tls.dhparam) o.dhparam = tls.dhparam;
  return o;
}

/**
 * ocsp-response: the response goes with this connection's handshake if the client asks
 * for the certificate status. node:tls only offers this through a tls.Server's OCSPRequest
 * event; a worker builds its TLSSocket on a handed-over fd, so the response is set on the
 * socket's handle directly (what that event's callback does).
 */
export function stapleOcsp(socket: TLSSocket, der: Uint8Array | undefined): void {
  if (!der?.length) return;
  const handle = (socket as unknown as { _handle?: { setOCSPResponse?(b: Buffer): void } })._handle;
  handle?.setOCSPResponse?.(Buffer.from(der.buffer, der.byteOffset, der.byteLength));
}
