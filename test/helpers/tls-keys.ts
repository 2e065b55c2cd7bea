/** Self-signed server certificates made with the openssl command, for tests that need key files. */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type KeyKind = 'ecdsa' | 'rsa';

export interface TestKeyPair {
  kind: KeyKind;
  certPath: string;
  keyPath: string;
  certPem: string;
  keyPem: string;
}

export function selfSigned(dir: string, kind: KeyKind, name: string = kind): TestKeyPair {
  const certPath = join(dir, `${name}-cert.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  const newkey = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  execFileSync('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', keyPath, '-out', certPath, '-days', '30',
    '-subj', '/CN=ocs-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  chmodSync(keyPath, 0o600);
  return { kind, certPath, keyPath, certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
}
