/** The configuration of certificate authentication: what stops the server at start, with file:line: reason. */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/common/config';
import { makeCa, makeCrl } from '../helpers/client-certs';

const dir = mkdtempSync(join(tmpdir(), 'ocs-certconf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ca = makeCa(dir, 'ca');
const crl = makeCrl(dir, ca, []);

const BASE = `server-cert = /etc/c.pem
server-key = /etc/k.pem
ipv4-network = 198.19.0.0/24
`;

let n = 0;
function load(text: string) {
  const file = join(dir, `c${n++}.conf`);
  writeFileSync(file, BASE + text);
  return { file, load: () => loadConfig(file) };
}

function errorOf(fn: () => unknown): ConfigError {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return err; throw err; }
  throw new Error('expected a ConfigError');
}

t.test('a working certificate configuration', async (t) => {
  const c = load(`auth = "certificate"\nca-cert = ${ca.certPath}\ncrl = ${crl}\ncert-user-oid = 0.9.2342.19200300.100.1.1\ncert-group-oid = 2.5.4.11\n`).load();
  t.equal(c.certUserOid, '0.9.2342.19200300.100.1.1');
  t.equal(c.certGroupOid, '2.5.4.11');
  t.equal(c.crl, crl);
  t.equal(load(`auth = "certificate"\nca-cert = ${ca.certPath}\n`).load().certUserOid, '2.5.4.3', 'CN by default');
  t.ok(load(`auth = "certificate"\nca-cert = ${ca.certPath}\ncert-user-oid = SAN(rfc822name)\n`).load(), 'SAN(rfc822name) as in ocserv');
});

t.test('certificate auth without ca-cert names the auth line', async (t) => {
  const a = load('auth = "certificate"\n');
  t.equal(errorOf(a.load).message, `${a.file}:4: auth method 'certificate' needs ca-cert = FILE (the CA that signs the client certificates)`);
  const b = load('auth = "plain[passwd=/etc/ocserv/ocpasswd]"\nenable-auth = certificate\n');
  t.match(errorOf(b.load).message, `${b.file}:5: auth method 'certificate'`);
  t.ok(load('auth = "plain[passwd=/etc/ocserv/ocpasswd]"\n').load(), 'no ca-cert needed without certificate auth');
});

t.test('bad files and values stop the start with file:line: reason', async (t) => {
  const notCrl = join(dir, 'not-a-crl.pem');
  writeFileSync(notCrl, 'hello\n');
  const badCrl = join(dir, 'bad-crl.pem');
  writeFileSync(badCrl, '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n');
  const cases: [string, RegExp][] = [
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncrl = ${join(dir, 'missing.pem')}\n`, /:6: crl: cannot read .*missing\.pem: ENOENT/],
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncrl = ${notCrl}\n`, /:6: crl: .*not-a-crl\.pem holds no PEM CRL/],
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncrl = ${badCrl}\n`, /:6: crl: .*bad-crl\.pem: .*CRL/],
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncrl = ${ca.certPath}\n`, /:6: crl: .* holds no PEM CRL/],
    [`auth = "certificate"\nca-cert = ${crl}\n`, /:5: ca-cert: .* holds no PEM certificate/],
    [`auth = "certificate"\nca-cert = ${join(dir, 'nope.pem')}\n`, /:5: ca-cert: cannot read/],
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncert-user-oid = UID\n`, /:6: cert-user-oid: 'UID' is neither an OID/],
    [`auth = "certificate"\nca-cert = ${ca.certPath}\ncert-group-oid = 2.5.4.\n`, /:6: cert-group-oid: '2\.5\.4\.' is not an OID/],
    // a crl is checked whatever the auth method: a broken file is a mistake either way
    [`auth = "plain[passwd=/etc/ocserv/ocpasswd]"\ncrl = ${notCrl}\n`, /:5: crl: /],
  ];
  for (const [text, re] of cases) {
    const c = load(text);
    const err = errorOf(c.load);
    t.ok(err.message.startsWith(c.file + ':'), 'names the file');
    t.match(err.message, re);
  }
});
