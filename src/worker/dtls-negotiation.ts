import type { IncomingHttpHeaders } from 'node:http';
import { RecordProtection } from '../dtls/protection';
import { DTLS0_9, DTLS1_2, suiteByName, SUITES, type CipherSuite } from '../dtls/suites';
import { ipUdpHeaders } from '../common/tunnel-mtu';

/** What the CONNECT exchange settled for DTLS; the handshake on UDP must then match it. */
export type DtlsPlan =
  | { kind: 'psk'; suites: CipherSuite[] }
  | { kind: 'legacy'; suite: CipherSuite; version: number; masterSecret: Buffer; header: 'X-DTLS-CipherSuite' | 'X-DTLS12-CipherSuite'; name: string };

export interface DtlsPolicy {
  psk: boolean;
  legacy: boolean;
  /**
   * match-tls-dtls-ciphers: the TLS session's cipher suite (its IANA name, as getCipher()'s
   * standardName gives it); the PSK session may use only the DTLS suite of the same cipher and MAC
   */
  matchTls?: string;
}

const PSK_SUITES = SUITES.filter((s) => s.psk);
/** Server preference among the legacy names, per header that carries them. */
const LEGACY_OC = ['OC-DTLS1_2-AES256-GCM', 'OC-DTLS1_2-AES128-GCM'];
const LEGACY_12 = ['AES256-GCM-SHA384', 'AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES256-SHA', 'AES128-SHA'];
const LEGACY_09 = ['AES256-SHA', 'AES128-SHA'];

function list(h: string | string[] | undefined): string[] {
  const v = Array.isArray(h) ? h.join(':') : h ?? '';
  return v.split(':').map((s) => s.trim()).filter(Boolean);
}

/**
 * Reads the client's DTLS offer (X-DTLS-CipherSuite, X-DTLS12-CipherSuite,
 * X-DTLS-Master-Secret) and picks PSK-NEGOTIATE when both sides allow it, else the legacy
 * resumption with the best suite both know, else nothing (CSTP only).
 */
export function chooseDtls(headers: IncomingHttpHeaders, policy: DtlsPolicy): DtlsPlan | null {
  const offered = list(headers['x-dtls-ciphersuite']);
  const offered12 = list(headers['x-dtls12-ciphersuite']);
  if (policy.psk && offered.includes('PSK-NEGOTIATE')) {
    if (policy.matchTls === undefined) return { kind: 'psk', suites: PSK_SUITES };
    const same = pskSuiteMatching(policy.matchTls);
    // no DTLS suite of this cipher: CSTP only (ocserv's handshake would fail instead)
    return same ? { kind: 'psk', suites: [same] } : null;
  }
  if (!policy.legacy) return null;
  const secretHex = String(headers['x-dtls-master-secret'] ?? '');
  if (!/^[0-9a-fA-F]{96}$/.test(secretHex)) return null;
  const masterSecret = Buffer.from(secretHex, 'hex');
  const pick = (names: string[], from: string[]) => names.find((n) => from.includes(n));
  let name = pick(LEGACY_OC, offered);
  if (name) return { kind: 'legacy', suite: suiteByName(name)!, version: DTLS1_2, masterSecret, header: 'X-DTLS-CipherSuite', name };
  name = pick(LEGACY_12, offered12);
  if (name) return { kind: 'legacy', suite: suiteByName(name)!, version: DTLS1_2, masterSecret, header: 'X-DTLS12-CipherSuite', name };
  name = pick(LEGACY_09, offered);
  if (name) return { kind: 'legacy', suite: suiteByName(name)!, version: DTLS0_9, masterSecret, header: 'X-DTLS-CipherSuite', name };
  return null;
}

/**
 * The PSK suite with the cipher and MAC of a TLS suite: TLS_AES_256_GCM_SHA384 (TLS 1.3) and
 * TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 both give PSK-AES256-GCM-SHA384; a CBC suite matches
 * only with the same MAC (SHA-1 here, the one the PSK CBC suites have).
 */
export function pskSuiteMatching(tlsSuite: string): CipherSuite | undefined {
  const bulk = /^TLS_(?:.*_WITH_)?(AES_128_GCM|AES_256_GCM|CHACHA20_POLY1305|AES_128_CBC|AES_256_CBC)_(SHA|SHA256|SHA384)$/.exec(tlsSuite);
  if (!bulk) return undefined;
  const [, cipher, mac] = bulk;
  const cbc = cipher.endsWith('_CBC');
  if (cbc && mac !== 'SHA') return undefined;
  const name = cipher.replace(/_/g, '-');
  return PSK_SUITES.find((s) => s.cipherName === name);
}

/** What a DTLS record of this suite adds to a tunnel packet: header, cipher, CSTP type byte. */
export function dtlsOverhead(plan: DtlsPlan): number {
  const suite = plan.kind === 'psk' ? plan.suites[0] : plan.suite;
  return 13 + RecordProtection.overhead(suite) + 1;
}

/** X-DTLS-MTU: the tunnel packet that fits one datagram of this suite. */
export function dtlsMtu(plan: DtlsPlan, baseMtu: number): number {
  return baseMtu - ipUdpHeaders(false) - dtlsOverhead(plan);
}
