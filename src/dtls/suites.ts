/**
 * The cipher suites the DTLS server speaks. PSK suites serve openconnect's PSK-NEGOTIATE;
 * the RSA/ECDHE-named ones only ever appear in the legacy AnyConnect mode, where the session
 * is resumed from the client's X-DTLS-Master-Secret, so their key exchange never runs.
 */
import type { PrfHash } from './prf';

export interface CipherSuite {
  id: number;
  /** OpenSSL-style name, as in X-DTLS12-CipherSuite */
  name: string;
  /** openconnect's name in X-DTLS-CipherSuite, where it has one */
  ocName?: string;
  kind: 'gcm' | 'chacha' | 'cbc';
  keyLen: number;
  /** implicit IV bytes from the key block (DTLS 1.2 AEAD); CBC uses per-record explicit IVs */
  fixedIvLen: number;
  macLen: number;
  prfHash: 'sha256' | 'sha384';
  psk: boolean;
  /** shown in logs and occtl, in GnuTLS's style: "(DTLS1.2)-(PSK)-(AES-256-GCM)" */
  cipherName: string;
}

const S = (s: CipherSuite): CipherSuite => s;

export const SUITES: CipherSuite[] = [
  S({ id: 0x00a9, name: 'PSK-AES256-GCM-SHA384', kind: 'gcm', keyLen: 32, fixedIvLen: 4, macLen: 0, prfHash: 'sha384', psk: true, cipherName: 'AES-256-GCM' }),
  S({ id: 0x00a8, name: 'PSK-AES128-GCM-SHA256', kind: 'gcm', keyLen: 16, fixedIvLen: 4, macLen: 0, prfHash: 'sha256', psk: true, cipherName: 'AES-128-GCM' }),
  S({ id: 0xccab, name: 'PSK-CHACHA20-POLY1305', kind: 'chacha', keyLen: 32, fixedIvLen: 12, macLen: 0, prfHash: 'sha256', psk: true, cipherName: 'CHACHA20-POLY1305' }),
  S({ id: 0x008d, name: 'PSK-AES256-CBC-SHA', kind: 'cbc', keyLen: 32, fixedIvLen: 0, macLen: 20, prfHash: 'sha256', psk: true, cipherName: 'AES-256-CBC' }),
  S({ id: 0x008c, name: 'PSK-AES128-CBC-SHA', kind: 'cbc', keyLen: 16, fixedIvLen: 0, macLen: 20, prfHash: 'sha256', psk: true, cipherName: 'AES-128-CBC' }),
  S({ id: 0xc030, name: 'ECDHE-RSA-AES256-GCM-SHA384', kind: 'gcm', keyLen: 32, fixedIvLen: 4, macLen: 0, prfHash: 'sha384', psk: false, cipherName: 'AES-256-GCM' }),
  S({ id: 0xc02f, name: 'ECDHE-RSA-AES128-GCM-SHA256', kind: 'gcm', keyLen: 16, fixedIvLen: 4, macLen: 0, prfHash: 'sha256', psk: false, cipherName: 'AES-128-GCM' }),
  S({ id: 0x009d, name: 'AES256-GCM-SHA384', ocName: 'OC-DTLS1_2-AES256-GCM', kind: 'gcm', keyLen: 32, fixedIvLen: 4, macLen: 0, prfHash: 'sha384', psk: false, cipherName: 'AES-256-GCM' }),
  S({ id: 0x009c, name: 'AES128-GCM-SHA256', ocName: 'OC-DTLS1_2-AES128-GCM', kind: 'gcm', keyLen: 16, fixedIvLen: 4, macLen: 0, prfHash: 'sha256', psk: false, cipherName: 'AES-128-GCM' }),
  S({ id: 0x0035, name: 'AES256-SHA', ocName: 'AES256-SHA', kind: 'cbc', keyLen: 32, fixedIvLen: 0, macLen: 20, prfHash: 'sha256', psk: false, cipherName: 'AES-256-CBC' }),
  S({ id: 0x002f, name: 'AES128-SHA', ocName: 'AES128-SHA', kind: 'cbc', keyLen: 16, fixedIvLen: 0, macLen: 20, prfHash: 'sha256', psk: false, cipherName: 'AES-128-CBC' }),
];

export const suiteById = (id: number): CipherSuite | undefined => SUITES.find((s) => s.id === id);
export const suiteByName = (name: string): CipherSuite | undefined =>
  SUITES.find((s) => s.name === name || s.ocName === name);

export const DTLS1_2 = 0xfefd;
export const DTLS1_0 = 0xfeff;
/** Cisco's pre-standard DTLS ("DTLS 0.9", OpenSSL's DTLS1_BAD_VER) */
export const DTLS0_9 = 0x0100;

export function versionName(v: number): string {
  return v === DTLS1_2 ? 'DTLS1.2' : v === DTLS1_0 ? 'DTLS1.0' : v === DTLS0_9 ? 'DTLS0.9' : `0x${v.toString(16)}`;
}

/** PRF and Finished hash of a version/suite pair: TLS 1.0 style below DTLS 1.2. */
export function prfHashFor(version: number, suite: CipherSuite): PrfHash {
  return version === DTLS1_2 ? suite.prfHash : 'md5sha1';
}
