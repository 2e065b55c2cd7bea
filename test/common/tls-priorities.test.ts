import t from 'tap';
import { createSecureContext } from 'node:tls';
import { DEFAULT_TLS_POLICY, tlsPolicy } from '../../src/common/tls-priorities';
import { policyOptions } from '../../src/worker/tls-context';

t.test('no string: the defaults', async (t) => {
  t.same(tlsPolicy(undefined), { policy: DEFAULT_TLS_POLICY, ignored: [] });
  t.same(tlsPolicy('  ').policy, DEFAULT_TLS_POLICY);
});

t.test("ocserv's sample string", async (t) => {
  const { policy, ignored } = tlsPolicy('NORMAL:%SERVER_PRECEDENCE:%COMPAT:-VERS-SSL3.0:-VERS-TLS1.0:-VERS-TLS1.1');
  t.same(ignored, [], 'everything in it has a meaning here');
  t.equal(policy.minVersion, 'TLSv1.2');
  t.equal(policy.maxVersion, 'TLSv1.3');
  t.equal(policy.honorCipherOrder, true);
  const suites = policy.ciphers!.split(':');
  t.same(suites.slice(0, 3), ['TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256', 'TLS_AES_128_GCM_SHA256'], 'TLS 1.3 first, in NORMAL\'s cipher order');
  t.ok(suites.includes('ECDHE-ECDSA-AES256-GCM-SHA384'));
  t.ok(suites.includes('AES128-SHA'), 'NORMAL keeps static RSA and SHA1 CBC suites');
  t.notOk(suites.some((s) => s.endsWith('-SHA256') && !s.includes('GCM')), 'NORMAL has no HMAC-SHA256 CBC suites');
  t.doesNotThrow(() => createSecureContext(policyOptions({ policy })), 'OpenSSL takes it');
});

t.test('versions', async (t) => {
  let p = tlsPolicy('NORMAL:-VERS-TLS1.3').policy;
  t.equal(p.maxVersion, 'TLSv1.2');
  t.notOk(p.ciphers!.includes('TLS_'), 'no TLS 1.3 suite listed for a version that is off');
  p = tlsPolicy('NORMAL:-VERS-TLS1.2:-VERS-TLS1.1:-VERS-TLS1.0').policy;
  t.equal(p.minVersion, 'TLSv1.3');
  t.equal(p.maxVersion, 'TLSv1.3');
  t.doesNotThrow(() => createSecureContext(policyOptions({ policy: p })), 'a TLS 1.3-only context works');
  p = tlsPolicy('NONE:+VERS-TLS1.2:+AES-128-GCM:+ECDHE-RSA:+ECDHE-ECDSA:+AEAD:+SIGN-ALL:+COMP-NULL:+GROUP-SECP256R1').policy;
  t.same([p.minVersion, p.maxVersion], ['TLSv1.2', 'TLSv1.2']);
  t.equal(p.ciphers, 'ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256', 'in the order the string adds them');
  t.equal(p.ecdhCurve, 'P-256');
});

t.test('key exchange and cipher removals', async (t) => {
  const pfs = tlsPolicy('NORMAL:%SERVER_PRECEDENCE:%COMPAT:-RSA:-VERS-SSL3.0:-ARCFOUR-128').policy;
  t.notOk(pfs.ciphers!.split(':').some((s) => /^AES(128|256)-/.test(s)), '-RSA drops static RSA key exchange');
  t.ok(pfs.ciphers!.includes('ECDHE-RSA-AES128-GCM-SHA256'));
  const p = tlsPolicy('SECURE256:-CHACHA20-POLY1305:-DHE-RSA').policy;
  t.notOk(p.ciphers!.includes('CHACHA20'));
  t.notOk(p.ciphers!.includes('AES128'), 'SECURE256 keeps 256-bit ciphers only');
  t.notOk(p.ciphers!.split(':').some((c) => c.startsWith('DHE-RSA-')), '-DHE-RSA');
  t.ok(p.ciphers!.includes('ECDHE-RSA-AES256-GCM-SHA384'));
  t.same(tlsPolicy('PFS').policy.ciphers, tlsPolicy('NORMAL:-RSA').policy.ciphers);
});

t.test('unknown and unmapped tokens are reported, never fatal', async (t) => {
  const r = tlsPolicy('NORMAL:+FROBNICATE:%NO_EXTENSIONS:-SIGN-RSA-SHA1:+3DES-CBC:BOGUSKEYWORD:-VERS-DTLS1.0:+COMP-NULL');
  t.equal(r.ignored.length, 5);
  t.match(r.ignored.join('\n'), /\+FROBNICATE \(unknown\)/);
  t.match(r.ignored.join('\n'), /%NO_EXTENSIONS/);
  t.match(r.ignored.join('\n'), /SIGN-RSA-SHA1/);
  t.match(r.ignored.join('\n'), /\+3DES-CBC \(not offered/);
  t.match(r.ignored.join('\n'), /BOGUSKEYWORD/);
  t.equal(r.policy.minVersion, 'TLSv1.2', 'the rest still applies');
});

t.test('a string that leaves nothing gives the defaults with a note', async (t) => {
  for (const s of ['NONE', 'NORMAL:-VERS-ALL', 'NORMAL:-CIPHER-ALL', 'NONE:+VERS-TLS1.0:+AES-128-CBC:+RSA:+SHA1']) {
    const r = tlsPolicy(s);
    t.same(r.policy, DEFAULT_TLS_POLICY, s);
    t.match(r.ignored.join('\n'), /the defaults apply/);
  }
});

t.test('%NO_TICKETS and group lists', async (t) => {
  const p = tlsPolicy('NORMAL:%NO_TICKETS:-GROUP-ALL:+GROUP-X25519:+GROUP-SECP384R1').policy;
  t.equal(p.noTickets, true);
  t.equal(p.ecdhCurve, 'X25519:P-384');
  t.doesNotThrow(() => createSecureContext(policyOptions({ policy: p })));
  t.equal(tlsPolicy('NORMAL').policy.ecdhCurve, undefined, 'no group token: OpenSSL\'s own list');
});

t.test('random strings never throw', async (t) => {
  const parts = ['NORMAL', 'NONE', 'SECURE128', '+VERS-TLS1.2', '-VERS-TLS1.3', '+AES-128-GCM', '-AES-256-GCM', '-RSA', '+ECDHE-RSA', '%SERVER_PRECEDENCE', '!SHA1', '+AEAD', '-GROUP-ALL', '+GROUP-FFDHE2048', 'junk', '', '+', '-', '%'];
  let seed = 3;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  for (let i = 0; i < 2000; i++) {
    const s = Array.from({ length: rnd(8) }, () => parts[rnd(parts.length)]).join(':');
    const { policy } = tlsPolicy(s);
    // never an empty or upside-down policy
    if (policy.ciphers === '' || (policy.minVersion === 'TLSv1.3' && policy.maxVersion === 'TLSv1.2')) t.fail(s);
  }
  t.pass('2000 strings');
});
