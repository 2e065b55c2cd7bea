/**
 * The files and settings that shape what a client meets before and around login, read by
 * main (workers read no files): tls-priorities, dh-params and ocsp-response for the TLS
 * handshake; camouflage, custom-header, user-profile and pre-login-banner for the HTTP side.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import { DEFAULT_TLS_POLICY, tlsPolicy, type TlsPolicy } from '../common/tls-priorities';
import type { TlsMaterial, WorkerConfig } from '../ipc/messages';
import { policyOptions } from '../worker/tls-context';
import { compressionConfig } from '../worker/compression';

export class ClientFacingError extends Error { override name = 'ClientFacingError'; }

/**
 * tls-priorities and dh-params for the workers' secure contexts. A bad dh-params file stops
 * the start (as in ocserv); a priority string never does: what OpenSSL refuses is dropped
 * with a warning.
 */
export function tlsSettings(c: Config, log: Logger): Pick<TlsMaterial, 'policy' | 'dhparam'> {
  let dhparam: string | undefined;
  if (c.dhParams) {
    try {
      dhparam = readFileSync(c.dhParams, 'utf8');
      checkDhParams(dhparam);
      createSecureContext({ dhparam });
    } catch (err) {
      throw new ClientFacingError(`dh-params ${c.dhParams}: ${(err as Error).message}`);
    }
  }
  const { policy, ignored } = tlsPolicy(c.tlsPriorities);
  const usable = usablePolicy(policy, ignored);
  if (ignored.length) log.warn({ ignored }, 'tls-priorities: these parts have no OpenSSL counterpart here and are ignored (docs/TLS.md)');
  if (c.tlsPriorities) {
    log.info({ min: usable.minVersion, max: usable.maxVersion, serverPrecedence: usable.honorCipherOrder, ciphers: usable.ciphers }, 'tls-priorities in force');
  }
  return { policy: usable, dhparam };
}

/**
 * node:tls silently drops parameters it cannot read (and DHE with them), so the file is
 * checked here: PEM "DH PARAMETERS" holding PKCS #3 DER, SEQUENCE { prime, generator, ... }.
 */
export function checkDhParams(pem: string): void {
  const m = /-----BEGIN DH PARAMETERS-----([\s\S]*?)-----END DH PARAMETERS-----/.exec(pem);
  if (!m) throw new ClientFacingError('no "BEGIN DH PARAMETERS" block (PEM PKCS #3, e.g. from certtool --generate-dh-params)');
  const body = m[1].replace(/\s+/g, '');
  const der = Buffer.from(body, 'base64');
  if (!/^[A-Za-z0-9+/]+=*$/.test(body) || der.length < 8) throw new ClientFacingError('the DH PARAMETERS block is not base64 DER');
  let off = 0;
  const readLen = (): number => {
    const first = der[off++];
    if (first === undefined) throw new ClientFacingError('truncated DH parameters');
    if (first < 0x80) return first;
    const n = first & 0x7f;
    if (n < 1 || n > 3) throw new ClientFacingError('malformed DH parameters');
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (der[off++] ?? 0);
    return len;
  };
  if (der[off++] !== 0x30) throw new ClientFacingError('DH parameters are not a DER SEQUENCE');
  const seqLen = readLen();
  if (off + seqLen > der.length) throw new ClientFacingError('truncated DH parameters');
  const integer = (): Buffer => {
    if (der[off++] !== 0x02) throw new ClientFacingError('DH parameters: expected an INTEGER');
    const len = readLen();
    if (len === 0 || off + len > der.length) throw new ClientFacingError('truncated DH parameters');
    const v = der.subarray(off, off + len);
    off += len;
    return v;
  };
  const prime = integer();
  const generator = integer();
  const bits = (prime.length - (prime[0] === 0 ? 1 : 0)) * 8;
  if (bits < 1024) throw new ClientFacingError(`a ${bits}-bit prime is too small (1024 bits at least, 2048 recommended)`);
  if (generator.length === 0 || (generator.length === 1 && generator[0] < 2)) throw new ClientFacingError('the DH generator is not usable');
}

/** the policy if OpenSSL takes it; otherwise without the group list, otherwise the defaults */
function usablePolicy(policy: TlsPolicy, ignored: string[]): TlsPolicy {
  const tries: [TlsPolicy, string | undefined][] = [
    [policy, undefined],
    [{ ...policy, ecdhCurve: undefined }, `the group list ${policy.ecdhCurve} (OpenSSL refused it)`],
    [{ ...DEFAULT_TLS_POLICY }, 'the whole string (OpenSSL refused the result; the defaults apply)'],
  ];
  for (const [p, note] of tries) {
    try {
      createSecureContext(policyOptions({ policy: p }));
      if (note) ignored.push(note);
      return p;
    } catch { /* try the next */ }
  }
  return { ...DEFAULT_TLS_POLICY };
}

/** ocsp-response: the file's bytes, or nothing (with a warning) when it cannot be used */
export function readOcsp(c: Config, log: Logger): Uint8Array | undefined {
  if (!c.ocspResponse) return undefined;
  let der: Buffer;
  try {
    der = readFileSync(c.ocspResponse);
  } catch (err) {
    log.warn({ file: c.ocspResponse, err: (err as Error).message }, 'ocsp-response: cannot read the file; handshakes go without a stapled response');
    return undefined;
  }
  // an OCSPResponse is a DER SEQUENCE; a PEM or empty file would only confuse clients
  if (der.length < 2 || der[0] !== 0x30) {
    log.warn({ file: c.ocspResponse }, 'ocsp-response: not a DER OCSP response; handshakes go without a stapled response');
    return undefined;
  }
  return der;
}

/** user-profile: its text and SHA-1 (upper-case hex, as ocserv announces it) */
export function readProfile(c: Config): WorkerConfig['profile'] {
  if (!c.userProfile) return undefined;
  let xml: Buffer;
  try {
    xml = readFileSync(c.userProfile);
  } catch (err) {
    // as ocserv: with chroot-dir, a path that is not there names a file inside that directory
    const inChroot = c.chrootDir ? join(c.chrootDir, c.userProfile) : undefined;
    try {
      if (!inChroot) throw err;
      xml = readFileSync(inChroot);
    } catch {
      throw new ClientFacingError(`user-profile ${c.userProfile}: ${(err as Error).message}${inChroot ? ` (nor is there ${inChroot})` : ''}`);
    }
  }
  return { name: basename(c.userProfile), xml: xml.toString('utf8'), sha1: createHash('sha1').update(xml).digest('hex').toUpperCase() };
}

/** The worker settings of this module (all of them change on reload). Throws ClientFacingError. */
export function clientFacing(c: Config, log: Logger): Pick<WorkerConfig, 'camouflage' | 'customHeaders' | 'profile' | 'preLoginBanner' | 'ocsp' | 'compression' | 'selectGroupByUrl'> {
  return {
    camouflage: c.camouflage && c.camouflageSecret ? { secret: c.camouflageSecret, realm: c.camouflageRealm } : undefined,
    customHeaders: c.customHeaders,
    profile: readProfile(c),
    preLoginBanner: c.preLoginBanner,
    ocsp: readOcsp(c, log),
    compression: compressionConfig(c, log),
    selectGroupByUrl: c.selectGroupByUrl,
  };
}
