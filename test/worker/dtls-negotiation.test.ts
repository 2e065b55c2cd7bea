import t from 'tap';
import { chooseDtls, dtlsMtu } from '../../src/worker/dtls-negotiation';
import { DTLS0_9, DTLS1_2 } from '../../src/dtls/suites';

const secret = 'ab'.repeat(48);
// what openconnect 9.01 (GnuTLS) sends, see shared/PROTOCOL-OBSERVED.md
const OPENCONNECT = {
  'x-dtls-master-secret': secret,
  'x-dtls-ciphersuite': 'PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:OC2-DTLS1_2-CHACHA20-POLY1305:OC-DTLS1_2-AES128-GCM:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA',
  'x-dtls12-ciphersuite': 'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:AES256-SHA:AES128-SHA',
};
const all = { psk: true, legacy: true };

t.test('PSK-NEGOTIATE when both sides allow it', async (t) => {
  t.equal(chooseDtls(OPENCONNECT, all)?.kind, 'psk');
});

t.test('legacy: openconnect names first, then X-DTLS12 names, then DTLS 0.9', async (t) => {
  const legacy = chooseDtls(OPENCONNECT, { psk: false, legacy: true });
  t.match(legacy, { kind: 'legacy', name: 'OC-DTLS1_2-AES256-GCM', header: 'X-DTLS-CipherSuite', version: DTLS1_2 });
  if (legacy?.kind === 'legacy') t.equal(legacy.masterSecret.toString('hex'), secret);
  const anyconnect = chooseDtls({ 'x-dtls-master-secret': secret, 'x-dtls12-ciphersuite': 'ECDHE-RSA-AES256-GCM-SHA384:AES128-SHA' }, all);
  t.match(anyconnect, { kind: 'legacy', name: 'ECDHE-RSA-AES256-GCM-SHA384', header: 'X-DTLS12-CipherSuite', version: DTLS1_2 });
  const cbc12 = chooseDtls({ 'x-dtls-master-secret': secret, 'x-dtls12-ciphersuite': 'AES128-SHA' }, all);
  t.match(cbc12, { kind: 'legacy', name: 'AES128-SHA', header: 'X-DTLS12-CipherSuite', version: DTLS1_2 });
  const old = chooseDtls({ 'x-dtls-master-secret': secret, 'x-dtls-ciphersuite': 'AES256-SHA:AES128-SHA' }, all);
  t.match(old, { kind: 'legacy', name: 'AES256-SHA', header: 'X-DTLS-CipherSuite', version: DTLS0_9 });
});

t.test('no DTLS when it is switched off, unoffered, or the master secret is malformed', async (t) => {
  t.equal(chooseDtls(OPENCONNECT, { psk: false, legacy: false }), null);
  t.equal(chooseDtls({ 'x-dtls-ciphersuite': 'AES256-SHA' }, all), null, 'legacy without a master secret');
  t.equal(chooseDtls({ ...OPENCONNECT, 'x-dtls-master-secret': 'xyz' }, { psk: false, legacy: true }), null);
  t.equal(chooseDtls({ 'x-dtls-master-secret': secret, 'x-dtls-ciphersuite': 'RC4-MD5' }, all), null);
});

t.test('X-DTLS-MTU leaves room for the record overhead of the suite', async (t) => {
  t.equal(dtlsMtu(chooseDtls(OPENCONNECT, all)!, 1500), 1434, 'AES-GCM: 1500 - 20 - 8 - 13 - 24 - 1');
  const cbc = chooseDtls({ 'x-dtls-master-secret': secret, 'x-dtls-ciphersuite': 'AES128-SHA' }, all)!;
  t.equal(dtlsMtu(cbc, 1500), 1500 - 20 - 8 - 13 - (16 + 20 + 16) - 1);
});
