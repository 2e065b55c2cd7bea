/**
 * Checks of the options behind `auth = "certificate"` (ca-cert, crl, cert-user-oid,
 * cert-group-oid). They return the problem and its line; config.ts turns it into a
 * ConfigError, so a bad file stops the server at start, not at the first client.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { show } from './config-syntax';
import { createSecureContext } from 'node:tls';
import type { RawConfig } from './config';

export interface CertProblem { line: number; reason: string }

const OID_RE = /^[0-2](\.(0|[1-9]\d*))+$/;
/** ocserv's way of naming the e-mail address in subjectAltName as cert-user-oid */
const SAN_EMAIL = /^san\(rfc822name\)$/i;

const entry = (raw: RawConfig, key: string) => raw.get(key)?.[0];

/** The line of the first `auth` / `enable-auth` that is the certificate method. */
export function certificateAuthLine(raw: RawConfig): number | undefined {
  const lines = [...(raw.get('auth') ?? []), ...(raw.get('enable-auth') ?? [])]
    .filter((e) => /^certificate(\[|$)/i.test(String(e.value).trim()))
    .map((e) => e.line);
  return lines.length ? Math.min(...lines) : undefined;
}

/** What can be told from the text alone. */
export function certOptionProblem(raw: RawConfig): CertProblem | undefined {
  const user = entry(raw, 'cert-user-oid');
  if (user && !OID_RE.test(String(user.value)) && !SAN_EMAIL.test(String(user.value))) {
    return { line: user.line, reason: `cert-user-oid: ${show(String(user.value))} is neither an OID (2.5.4.3 = CN, 0.9.2342.19200300.100.1.1 = UID) nor SAN(rfc822name)` };
  }
  const group = entry(raw, 'cert-group-oid');
  if (group && !OID_RE.test(String(group.value))) {
    return { line: group.line, reason: `cert-group-oid: ${show(String(group.value))} is not an OID (e.g. 2.5.4.11 = OU)` };
  }
  const certLine = certificateAuthLine(raw);
  if (certLine !== undefined && !entry(raw, 'ca-cert')) {
    return { line: certLine, reason: `auth method 'certificate' needs ca-cert = FILE (the CA that signs the client certificates)` };
  }
  return undefined;
}

/** The crl file (whenever set) and, with certificate auth, the ca-cert file must hold what they claim. */
export function certFileProblem(raw: RawConfig): CertProblem | undefined {
  const crl = entry(raw, 'crl');
  if (crl) {
    const path = String(crl.value);
    const text = readText(path);
    if (text instanceof Error) return { line: crl.line, reason: `crl: cannot read ${path}: ${text.message}` };
    if (!text.includes('-----BEGIN X509 CRL-----')) return { line: crl.line, reason: `crl: ${path} holds no PEM CRL (-----BEGIN X509 CRL-----)` };
    try {
      createSecureContext({ crl: text });
    } catch (err) {
      return { line: crl.line, reason: `crl: ${path}: ${(err as Error).message}` };
    }
  }
  const ca = entry(raw, 'ca-cert');
  if (ca && certificateAuthLine(raw) !== undefined) {
    const path = String(ca.value);
    const text = readText(path);
    if (text instanceof Error) return { line: ca.line, reason: `ca-cert: cannot read ${path}: ${text.message}` };
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    if (!blocks.length) return { line: ca.line, reason: `ca-cert: ${path} holds no PEM certificate` };
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (err) {
        return { line: ca.line, reason: `ca-cert: ${path}: ${(err as Error).message}` };
      }
    }
  }
  return undefined;
}

/** A CA bundle or CRL this large is a mistake (or /dev/zero); refuse rather than read it all. */
const MAX_PEM_BYTES = 64 * 1024 * 1024;

function readText(path: string): string | Error {
  try {
    const st = statSync(path);
    if (!st.isFile()) return new Error('not a regular file');
    if (st.size > MAX_PEM_BYTES) return new Error(`larger than ${MAX_PEM_BYTES} bytes`);
    return readFileSync(path, 'utf8');
  } catch (err) {
    return err as Error;
  }
}
