/**
 * auth = "certificate" in the worker: names read from certificates (openssl-made ones and
 * hand-built DER for the odd cases), and the handshake's verdict read from a real node:tls
 * server socket made the way the worker makes them (bare TLSSocket, our secure context).
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { Duplex } from 'node:stream';
import { TLSSocket, connect } from 'node:tls';
import { CertParseError, certNames, decodeOid } from '../../src/worker/cert-names';
import { checkClientCert, identityFromDer, type CertCheck } from '../../src/worker/client-cert';
import { secureContextFor } from '../../src/worker/tls-context';
import { issueClientCert, makeCa, makeCrl, type CertFiles } from '../helpers/client-certs';
import { selfSigned } from '../helpers/tls-keys';
import { statusText } from '../../src/worker/http-auth';

const UID = '0.9.2342.19200300.100.1.1';
const CN = '2.5.4.3';
const OU = '2.5.4.11';

const dir = mkdtempSync(join(tmpdir(), 'ocs-clientcert-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const ca = makeCa(dir, 'ca');
const otherCa = makeCa(dir, 'other', 'Some Other CA');
const alice = issueClientCert(dir, ca, { name: 'alice', subject: '/UID=alice/CN=Alice Example/OU=eng/OU=ops' });
const bobRsa = issueClientCert(dir, ca, { name: 'bob', kind: 'rsa', subject: '/UID=bob/CN=Bob' });
const noUid = issueClientCert(dir, ca, { name: 'nouid', subject: '/CN=Nobody In Particular/OU=eng' });
const revoked = issueClientCert(dir, ca, { name: 'revoked', subject: '/UID=mallory/CN=Mallory' });
const stranger = issueClientCert(dir, otherCa, { name: 'stranger', subject: '/UID=alice/CN=Alice Impostor' });
const mailed = issueClientCert(dir, ca, { name: 'mailed', subject: '/CN=Zoë Ünïcode', san: 'email:zoe@example.test,DNS:zoe.example.test' });
const crl = readFileSync(makeCrl(dir, ca, [revoked]), 'utf8');

const der = (c: CertFiles) => new X509Certificate(c.certPem).raw;

t.test('user and groups from the subject, by OID', async (t) => {
  t.same(identityFromDer(der(alice), { userOid: UID, groupOid: OU }), { identity: { username: 'alice', groups: ['eng', 'ops'] }, notes: [] },
    'UID is the user, every OU a group, in certificate order');
  t.same(identityFromDer(der(alice), { userOid: CN }).identity, { username: 'Alice Example', groups: [] }, 'CN as the user; no cert-group-oid, no groups');
  t.same(identityFromDer(der(bobRsa), { userOid: UID, groupOid: OU }).identity, { username: 'bob', groups: [] }, 'RSA certificate, no OU');
  t.equal(identityFromDer(der(mailed), { userOid: CN }).identity.username, 'Zoë Ünïcode', 'UTF8String decoded');
  t.equal(identityFromDer(der(mailed), { userOid: 'SAN(rfc822name)' }).identity.username, 'zoe@example.test', 'SAN(rfc822name) as ocserv spells it');
});

t.test('a certificate without the user OID gives no user name, and says why', async (t) => {
  const r = identityFromDer(der(noUid), { userOid: UID, groupOid: OU });
  t.equal(r.identity.username, undefined);
  t.same(r.identity.groups, ['eng'], 'groups are still read');
  t.match(r.notes, [new RegExp(`no ${UID.replace(/\./g, '\\.')} in the certificate`)]);
  t.equal(identityFromDer(der(alice), { userOid: 'SAN(rfc822name)' }).identity.username, undefined, 'no subjectAltName e-mail');
});

// ---- hand-built DER: string types and OIDs openssl's -subj cannot make ----

function derTlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...c: Buffer[]) => derTlv(0x30, Buffer.concat(c));
function oidDer(oid: string): Buffer {
  const [a, b, ...rest] = oid.split('.').map(Number);
  const out: number[] = [];
  for (const arc of [40 * a! + b!, ...rest]) {
    const bytes = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) bytes.unshift((v & 0x7f) | 0x80);
    out.push(...bytes);
  }
  return derTlv(0x06, Buffer.from(out));
}
/** A skeleton certificate: only what the name walk looks at is meaningful. */
function fakeCert(attrs: [string, number, Buffer][]): Buffer {
  const subject = seq(...attrs.map(([oid, tag, value]) => derTlv(0x31, seq(oidDer(oid), derTlv(tag, value)))));
  const tbs = seq(derTlv(0xa0, derTlv(0x02, Buffer.from([2]))), derTlv(0x02, Buffer.from([1])), seq(), seq(), seq(), subject, seq());
  return seq(tbs, seq(), derTlv(0x03, Buffer.from([0])));
}
const bmp = (s: string) => Buffer.from(s, 'utf16le').swap16();

t.test('any OID, other string types, limits', async (t) => {
  const ROLE = '1.3.6.1.4.1.99999.7';
  const cert = fakeCert([
    [UID, 0x1e, bmp('jürgen')],
    [ROLE, 0x13, Buffer.from('role-a')],
    [ROLE, 0x0c, Buffer.from('role-b')],
    [ROLE, 0x13, Buffer.from('role-a')],
  ]);
  t.same(identityFromDer(cert, { userOid: UID, groupOid: ROLE }).identity, { username: 'jürgen', groups: ['role-a', 'role-b'] },
    'BMPString user, an OID OpenSSL has no name for, duplicates once');
  const many = fakeCert([[CN, 0x0c, Buffer.from('x'.repeat(300))], ...Array.from({ length: 40 }, (_, i): [string, number, Buffer] => [OU, 0x0c, Buffer.from(`g${i}`)])]);
  const r = identityFromDer(many, { userOid: CN, groupOid: OU });
  t.equal(r.identity.username, undefined, 'a user name longer than sec-mod accepts is dropped, not sent');
  t.equal(r.identity.groups.length, 32, 'groups capped at what auth.init carries');
  t.equal(r.notes.length, 2);
  t.same(identityFromDer(fakeCert([[CN, 0x04, Buffer.from('raw')]]), { userOid: CN }).identity.username, undefined, 'a non-string value is no name');
});

t.test('OIDs and malformed DER', async (t) => {
  for (const oid of [CN, UID, '2.999.3', '1.2.840.113549.1.9.1']) t.equal(decodeOid(oidDer(oid).subarray(2)), oid);
  t.throws(() => decodeOid(Buffer.from([0x55, 0x84])), CertParseError, 'unterminated arc');
  const good = der(alice);
  t.throws(() => certNames(good.subarray(0, 40)), CertParseError, 'truncated');
  t.throws(() => certNames(Buffer.from([0x30, 0x80, 0, 0])), CertParseError, 'indefinite length');
  t.throws(() => certNames(Buffer.from([0x02, 0x01, 0x00])), CertParseError, 'not a SEQUENCE');
  t.same(certNames(good).subject.map((a) => a.oid), [UID, CN, OU, OU]);
});

// ---- the handshake's verdict ----

const server = selfSigned(dir, 'ecdsa', 'server');
const policy = { userOid: UID, groupOid: OU };

function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (i: number) => new Duplex({
    read() {},
    write(chunk, _enc, cb) { ends[1 - i]!.push(chunk); cb(); },
    final(cb) { ends[1 - i]!.push(null); cb(); },
  });
  ends.push(make(0), make(1));
  return [ends[0]!, ends[1]!];
}

/** One handshake against a socket made as src/worker/index.ts makes them. */
async function verdict(client: CertFiles | undefined, o: { crl?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<CertCheck> {
  const ctx = secureContextFor({ certs: [server.certPem], keys: [server.keyPem], ca: ca.certPem, crl: o.crl }, -1);
  const [a, b] = duplexPair();
  const s = new TLSSocket(a, { isServer: true, secureContext: ctx, requestCert: true, rejectUnauthorized: false });
  const c = connect({ socket: b, rejectUnauthorized: false, maxVersion: o.maxVersion, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) });
  c.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => { s.once('secure', resolve); s.once('error', reject); });
    return checkClientCert(s, policy);
  } finally {
    c.destroy();
    s.destroy();
  }
}

t.test('the verification result of the handshake', async (t) => {
  for (const maxVersion of ['TLSv1.2', 'TLSv1.3'] as const) {
    const ok = await verdict(alice, { crl, maxVersion });
    t.same(ok, { ok: true, identity: { username: 'alice', groups: ['eng', 'ops'] }, notes: [] }, `${maxVersion}: a valid ECDSA certificate`);
  }
  t.same(await verdict(bobRsa, { crl }), { ok: true, identity: { username: 'bob', groups: [] }, notes: [] }, 'a valid RSA certificate');
  t.match(await verdict(undefined, { crl }), { ok: false, reason: /sent no certificate/ }, 'no certificate');
  t.match(await verdict(revoked, { crl }), { ok: false, reason: /CERT_REVOKED/ }, 'revoked by the CRL');
  t.match(await verdict(revoked), { ok: true }, 'the same certificate without a crl line');
  t.match(await verdict(stranger, { crl }), { ok: false, reason: /UNABLE_TO_VERIFY_LEAF_SIGNATURE.*Alice Impostor/ }, 'another CA, named in the reason');
  t.match(await verdict(noUid, { crl }), { ok: true, identity: { username: undefined, groups: ['eng'] } }, 'valid but no user: sec-mod gives the reason');
});

t.test("a refusal's message fits an HTTP status line (openconnect prints that, not the body)", async (t) => {
  t.equal(statusText('A valid client certificate is required.'), 'A valid client certificate is required.');
  t.equal(statusText('line one\r\nline two'), 'line one line two');
  t.equal(statusText('Zoë\u0000'), 'Zo');
  t.equal(statusText(''), 'Unauthorized');
  t.equal(statusText('x'.repeat(500)).length, 120);
});
