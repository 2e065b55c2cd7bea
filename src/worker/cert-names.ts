/**
 * The names in an X.509 certificate, read from its DER with a minimal walk: the subject's
 * attributes by OID (any OID, not only those OpenSSL has a short name for) and the
 * rfc822Name entries of subjectAltName. The certificate has already been parsed and
 * verified by OpenSSL; this only reads, and anything unexpected is a CertParseError.
 */

export class CertParseError extends Error { override name = 'CertParseError'; }

interface Tlv { tag: number; start: number; end: number; next: number }

const SEQUENCE = 0x30;
const SET = 0x31;
const OID = 0x06;
const OCTET_STRING = 0x04;
const BOOLEAN = 0x01;
const CTX_EXTENSIONS = 0xa3;
const SAN_RFC822 = 0x81;
const SUBJECT_ALT_NAME = '2.5.29.17';

function tlv(buf: Buffer, pos: number, limit: number): Tlv {
  if (pos + 2 > limit) throw new CertParseError('truncated DER');
  const tag = buf[pos]!;
  if ((tag & 0x1f) === 0x1f) throw new CertParseError('multi-byte DER tags are not expected in a certificate name');
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // 0: indefinite length, which DER forbids; more than 4 bytes: no certificate is that large
    if (n === 0 || n > 4 || start + n > limit) throw new CertParseError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new CertParseError('DER element runs past its container');
  return { tag, start, end, next: end };
}

function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = parent.start; pos < parent.end;) {
    const c = tlv(buf, pos, parent.end);
    out.push(c);
    pos = c.next;
  }
  return out;
}

function expect(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new CertParseError(`${what}: expected tag 0x${tag.toString(16)}`);
  return t;
}

export function decodeOid(bytes: Buffer): string {
  const arcs: number[] = [];
  let v = 0;
  for (const b of bytes) {
    v = v * 128 + (b & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) throw new CertParseError('OID arc too large');
    if (b & 0x80) continue;
    if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
    else arcs.push(v);
    v = 0;
  }
  if (arcs.length === 0 || bytes[bytes.length - 1]! & 0x80) throw new CertParseError('bad OID');
  return arcs.join('.');
}

/** The directory string types a name attribute comes in; undefined for anything else. */
function decodeString(tag: number, b: Buffer): string | undefined {
  switch (tag) {
    case 0x0c: return b.toString('utf8'); // UTF8String
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x14: // TeletexString: in practice Latin-1
      return b.toString('latin1');
    case 0x1e: { // BMPString: UCS-2, big-endian
      if (b.length % 2) return undefined;
      const le = Buffer.from(b);
      le.swap16();
      return le.toString('utf16le');
    }
    case 0x1c: { // UniversalString: UCS-4, big-endian
      if (b.length % 4) return undefined;
      let s = '';
      for (let i = 0; i < b.length; i += 4) {
        const cp = b.readUInt32BE(i);
        if (cp > 0x10ffff) return undefined;
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return undefined;
  }
}

export interface NameAttribute {
  oid: string;
  /** undefined when the value is not a directory string */
  value: string | undefined;
}

export interface CertNames {
  /** the subject's attributes in certificate order */
  subject: NameAttribute[];
  /** subjectAltName rfc822Name (e-mail) entries */
  emails: string[];
}

/** Walks Certificate -> tbsCertificate to its subject and extensions. */
export function certNames(der: Buffer): CertNames {
  const cert = expect(tlv(der, 0, der.length), SEQUENCE, 'Certificate');
  const tbs = expect(children(der, cert)[0], SEQUENCE, 'tbsCertificate');
  const fields = children(der, tbs);
  // version is an optional [0]; then serial, signature, issuer, validity, subject
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = expect(fields[base + 4], SEQUENCE, 'subject');
  const names: NameAttribute[] = [];
  for (const rdn of children(der, subject)) {
    expect(rdn, SET, 'RelativeDistinguishedName');
    for (const atv of children(der, rdn)) {
      const [type, value] = children(der, expect(atv, SEQUENCE, 'AttributeTypeAndValue'));
      const oid = decodeOid(der.subarray(expect(type, OID, 'attribute type').start, type!.end));
      if (!value) throw new CertParseError('attribute without a value');
      names.push({ oid, value: decodeString(value.tag, der.subarray(value.start, value.end)) });
    }
  }
  const extensions = fields.slice(base + 6).find((f) => f.tag === CTX_EXTENSIONS);
  return { subject: names, emails: extensions ? sanEmails(der, extensions) : [] };
}

function sanEmails(der: Buffer, extensions: Tlv): string[] {
  const list = expect(children(der, extensions)[0], SEQUENCE, 'Extensions');
  for (const ext of children(der, list)) {
    const parts = children(der, expect(ext, SEQUENCE, 'Extension'));
    const oid = decodeOid(der.subarray(expect(parts[0], OID, 'extension id').start, parts[0]!.end));
    if (oid !== SUBJECT_ALT_NAME) continue;
    const value = expect(parts[1]?.tag === BOOLEAN ? parts[2] : parts[1], OCTET_STRING, 'extension value');
    const generalNames = tlv(der, value.start, value.end);
    expect(generalNames, SEQUENCE, 'GeneralNames');
    return children(der, generalNames).filter((g) => g.tag === SAN_RFC822).map((g) => der.subarray(g.start, g.end).toString('latin1'));
  }
  return [];
}
