/**
 * A CA, client certificates and a CRL for certificate-authentication tests, made with the
 * openssl command (certificates) and GnuTLS's certtool (the CRL: it needs no index file).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CertFiles {
  name: string;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export type ClientKeyKind = 'ecdsa' | 'rsa';

const newKey = (kind: ClientKeyKind) =>
  kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

function files(dir: string, name: string): CertFiles {
  const certPath = join(dir, `${name}-cert.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  return { name, certPath, keyPath, certPem: '', keyPem: '' };
}

function load(f: CertFiles): CertFiles {
  chmodSync(f.keyPath, 0o600);
  return { ...f, certPem: readFileSync(f.certPath, 'utf8'), keyPem: readFileSync(f.keyPath, 'utf8') };
}

export function makeCa(dir: string, name: string, cn = `${name} CA`): CertFiles {
  const f = files(dir, name);
  execFileSync('openssl', ['req', '-x509', ...newKey('ecdsa'), '-nodes', '-keyout', f.keyPath, '-out', f.certPath, '-days', '30',
    '-subj', `/CN=${cn}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], { stdio: 'ignore' });
  return load(f);
}

export interface ClientCertOptions {
  name: string;
  kind?: ClientKeyKind;
  /** openssl -subj syntax, e.g. `/UID=alice/CN=Alice/OU=eng/OU=ops` (UTF-8 allowed) */
  subject: string;
  /** subjectAltName, e.g. `email:alice@example.test` */
  san?: string;
}

/** A TLS client certificate signed by `ca`. */
export function issueClientCert(dir: string, ca: CertFiles, o: ClientCertOptions): CertFiles {
  const f = files(dir, o.name);
  const csr = join(dir, `${o.name}.csr`);
  const ext = join(dir, `${o.name}.ext`);
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
    ...(o.san ? [`subjectAltName=${o.san}`] : []),
  ].join('\n') + '\n');
  execFileSync('openssl', ['req', '-new', ...newKey(o.kind ?? 'ecdsa'), '-nodes', '-utf8', '-keyout', f.keyPath, '-out', csr, '-subj', o.subject], { stdio: 'ignore' });
  // a random serial per certificate: a CRL revokes by serial
  execFileSync('openssl', ['x509', '-req', '-in', csr, '-CA', ca.certPath, '-CAkey', ca.keyPath, '-set_serial', `0x${randomSerial()}`,
    '-days', '30', '-extfile', ext, '-out', f.certPath], { stdio: 'ignore' });
  return load(f);
}

function randomSerial(): string {
  return (BigInt(Date.now()) * 1000003n + BigInt(Math.floor(Math.random() * 1e9))).toString(16);
}

/** A PEM CRL of `ca` that revokes `revoked` (none: an empty CRL), valid for 30 days. */
export function makeCrl(dir: string, ca: CertFiles, revoked: CertFiles[], name = 'crl'): string {
  const out = join(dir, `${name}.pem`);
  const tmpl = join(dir, `${name}.tmpl`);
  writeFileSync(tmpl, 'crl_next_update = 30\ncrl_number = 1\n');
  const toRevoke = join(dir, `${name}-revoked.pem`);
  writeFileSync(toRevoke, revoked.map((c) => c.certPem).join(''));
  execFileSync('certtool', ['--generate-crl', '--load-ca-privkey', ca.keyPath, '--load-ca-certificate', ca.certPath,
    ...(revoked.length ? ['--load-certificate', toRevoke] : []), '--template', tmpl, '--outfile', out], { stdio: 'ignore' });
  return out;
}
