import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, checkServerIdentity } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { certPin, ensureDefaultState, openconnectCommand } from '../../src/main/bootstrap';
import { PasswdFile, parsePasswd, verifyCrypt } from '../../src/secmod/passwd';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-bootstrap-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string) => execFileSync('bash', ['-c', script]).toString().trim();
const has = (cmd: string) => spawnSync('bash', ['-c', `command -v ${cmd}`]).status === 0;
const mode = (path: string) => statSync(path).mode & 0o777;
const opts = { hostnames: ['vpn.example.test', 'alt.example.test'], addresses: ['198.18.0.1', '2001:db8::1'] };

t.test('first run creates a consistent state directory', async (t) => {
  const stateDir = join(dir, 'a', 'state');
  const started = Date.now();
  const r = ensureDefaultState({ stateDir, ...opts });
  t.comment(`first run took ${Date.now() - started} ms (two RSA-2048 keys)`);
  t.ok(r.created);
  t.same(Object.keys(r).sort(), ['caPath', 'certPath', 'configPath', 'created', 'demoPassword', 'demoUser', 'keyPath', 'passwdPath', 'pin', 'stateDir']);
  t.equal(r.configPath, join(stateDir, 'ocserv.conf'));

  t.equal(mode(stateDir), 0o755);
  for (const f of ['ca-key.pem', 'server-key.pem', 'passwd', 'demo-password']) t.equal(mode(join(stateDir, f)), 0o600, `${f} is 0600`);
  for (const f of ['ca.pem', 'server-cert.pem', 'ocserv.conf']) t.equal(mode(join(stateDir, f)), 0o644, `${f} is 0644`);
  for (const f of readdirSync(stateDir)) t.equal(statSync(join(stateDir, f)).uid, process.getuid!(), `${f} owned by us`);
  t.same(readdirSync(stateDir).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');

  const q = (f: string) => `'${join(stateDir, f)}'`;
  t.equal(sh(`openssl verify -CAfile ${q('ca.pem')} ${q('server-cert.pem')}`), `${join(stateDir, 'server-cert.pem')}: OK`);
  t.equal(sh(`openssl x509 -in ${q('server-cert.pem')} -noout -pubkey`), sh(`openssl pkey -in ${q('server-key.pem')} -pubout`), 'key matches cert');
  t.equal(sh(`openssl x509 -in ${q('ca.pem')} -noout -pubkey`), sh(`openssl pkey -in ${q('ca-key.pem')} -pubout`), 'CA key matches CA');
  const san = sh(`openssl x509 -in ${q('server-cert.pem')} -noout -ext subjectAltName`);
  for (const n of ['DNS:vpn.example.test', 'DNS:alt.example.test', 'IP Address:198.18.0.1', 'IP Address:2001:DB8:0:0:0:0:0:1']) t.match(san, n);
  t.match(sh(`openssl x509 -in ${q('server-cert.pem')} -noout -subject`), /CN\s*=\s*vpn\.example\.test/);
  t.match(sh(`openssl x509 -in ${q('server-cert.pem')} -noout -ext extendedKeyUsage`), /TLS Web Server Authentication/);
  t.match(sh(`openssl x509 -in ${q('ca.pem')} -noout -ext basicConstraints`), /CA:TRUE/);

  const cert = new X509Certificate(readFileSync(r.certPath));
  t.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  const days = (Date.parse(cert.validTo) - Date.now()) / 86400e3;
  t.ok(days > 729 && days < 731, `valid for 2 years (${days.toFixed(1)} days)`);
  t.ok(Date.parse(cert.validFrom) < Date.now(), 'already valid');

  const pin = sh(`openssl x509 -in ${q('server-cert.pem')} -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`);
  t.equal(r.pin, `pin-sha256:${pin}`);
  t.equal(certPin(readFileSync(r.certPath, 'utf8')), r.pin);

  t.match(r.demoPassword, /^[A-Za-z0-9]{16}$/);
  t.equal(readFileSync(join(stateDir, 'demo-password'), 'utf8'), `${r.demoPassword}\n`);
  const { entries, errors } = parsePasswd(readFileSync(r.passwdPath, 'utf8'), r.passwdPath);
  t.same(errors, []);
  const demo = entries.get('demo')!;
  t.same(demo.groups, ['demo']);
  t.match(demo.hash, /^\$6\$/);
  t.ok(verifyCrypt(r.demoPassword, demo.hash));
  t.same(await new PasswdFile(r.passwdPath).check('demo', r.demoPassword), { result: 'ok', groups: ['demo'] });

  const conf = readFileSync(r.configPath, 'utf8');
  for (const line of [`auth = "plain[passwd=${r.passwdPath}]"`, `server-cert = ${r.certPath}`, `server-key = ${r.keyPath}`,
    'tcp-port = 443', 'udp-port = 443', 'run-as-user = nobody', 'run-as-group = nogroup', 'device = vpns', 'route = default',
    'keepalive = 32400', 'dpd = 90', 'mobile-dpd = 1800', 'try-mtu-discovery = false', 'cookie-timeout = 300',
    'max-clients = 128', 'max-same-clients = 2', 'predictable-ips = true', 'ipv4-network = 10.73.224.0', 'ipv4-netmask = 255.255.255.0']) {
    t.ok(conf.split('\n').includes(line), line);
  }

  t.test('Debian ocserv accepts the config', { skip: !has('ocserv') && 'ocserv not installed' }, async (t) => {
    const res = spawnSync('ocserv', ['-t', '-c', r.configPath], { encoding: 'utf8' });
    t.equal(res.status, 0, res.stderr);
    // ocserv -t exits 0 even for unknown options or missing files; its warnings are the real signal.
    t.notMatch(res.stderr + res.stdout, /warning|error|unknown|cannot/i);
  });

  t.test('a TLS client that trusts ca.pem accepts the server by name and address', async (t) => {
    const server = createServer({ key: readFileSync(r.keyPath), cert: readFileSync(r.certPath) }, (s) => s.end());
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    t.teardown(() => server.close());
    const sock = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername: 'vpn.example.test', ca: readFileSync(r.caPath) });
    await new Promise<void>((res, rej) => { sock.once('secureConnect', res); sock.once('error', rej); });
    t.ok(sock.authorized);
    const peer = sock.getPeerCertificate();
    sock.destroy();
    t.equal(checkServerIdentity('198.18.0.1', peer), undefined);
    t.equal(checkServerIdentity('alt.example.test', peer), undefined);
    t.type(checkServerIdentity('other.example.test', peer), Error);
  });

  t.test('second run reuses everything', async (t) => {
    const before = readdirSync(stateDir).map((f) => [f, readFileSync(join(stateDir, f), 'utf8'), statSync(join(stateDir, f)).mtimeMs]);
    const r2 = ensureDefaultState({ stateDir, hostnames: ['different.example.test'], addresses: [] });
    t.notOk(r2.created);
    t.same(r2, { ...r, created: false });
    t.same(readdirSync(stateDir).map((f) => [f, readFileSync(join(stateDir, f), 'utf8'), statSync(join(stateDir, f)).mtimeMs]), before);
  });

  t.test('missing pieces are filled in without touching the rest', async (t) => {
    const caBefore = readFileSync(r.caPath, 'utf8');
    unlinkSync(r.certPath);
    const r3 = ensureDefaultState({ stateDir, ...opts });
    t.ok(r3.created);
    t.equal(r3.pin, r.pin, 'new certificate for the kept key: same pin');
    t.equal(readFileSync(r.caPath, 'utf8'), caBefore);
    t.equal(sh(`openssl verify -CAfile ${q('ca.pem')} ${q('server-cert.pem')}`), `${r.certPath}: OK`);

    unlinkSync(join(stateDir, 'demo-password'));
    const r4 = ensureDefaultState({ stateDir, ...opts });
    t.notOk(r4.created, 'passwd exists, so no new demo password');
    t.equal(r4.demoPassword, '', 'unknown password is not invented');
    t.same((await new PasswdFile(r.passwdPath).check('demo', r.demoPassword)).result, 'ok', 'passwd untouched');
  });
});

t.test('a demo password changed by the admin is not repeated', async (t) => {
  const stateDir = join(dir, 'b');
  const r = ensureDefaultState({ stateDir, ...opts });
  t.not(r.demoPassword, '');
  execFileSync('ocpasswd', ['-c', r.passwdPath, '-g', 'demo', 'demo'], { input: 'changed-by-admin\n' });
  t.equal(ensureDefaultState({ stateDir, ...opts }).demoPassword, '');
  execFileSync('ocpasswd', ['-c', r.passwdPath, '-d', 'demo']);
  t.equal(ensureDefaultState({ stateDir, ...opts }).demoPassword, '');
});

t.test('inconsistent files are refused, not replaced', async (t) => {
  const stateDir = join(dir, 'c');
  const r = ensureDefaultState({ stateDir, ...opts });
  const key = readFileSync(r.keyPath, 'utf8');
  writeFileSync(r.keyPath, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
  t.throws(() => ensureDefaultState({ stateDir, ...opts }), /does not belong/);
  unlinkSync(r.keyPath);
  t.throws(() => ensureDefaultState({ stateDir, ...opts }), /exists without/);
  writeFileSync(r.keyPath, key, { mode: 0o600 });
  t.equal(ensureDefaultState({ stateDir, ...opts }).pin, r.pin);
  t.throws(() => ensureDefaultState({ stateDir: join(dir, 'd'), addresses: ['not-an-ip'] }), /not an IP address/);
});

t.test('defaults: this host name and addresses', async (t) => {
  const r = ensureDefaultState({ stateDir: join(dir, 'e') });
  t.match(new X509Certificate(readFileSync(r.certPath)).subjectAltName ?? '', `DNS:${hostname()}`);
});

t.test('openconnectCommand', async (t) => {
  const r = ensureDefaultState({ stateDir: join(dir, 'b'), ...opts });
  const base = { ...r, demoPassword: 'Abc123', pin: 'pin-sha256:AAAA+/=' };
  t.equal(openconnectCommand(base, 'vpn.example.test', 443),
    "echo Abc123 | sudo openconnect --protocol=anyconnect --user=demo --passwd-on-stdin --servercert pin-sha256:AAAA+/= https://vpn.example.test/");
  t.equal(openconnectCommand(base, '2001:db8::1', 8443),
    "echo Abc123 | sudo openconnect --protocol=anyconnect --user=demo --passwd-on-stdin --servercert pin-sha256:AAAA+/= https://[2001:db8::1]:8443/");
  t.equal(openconnectCommand({ ...base, demoPassword: "it's" }, '198.18.0.1', 443).slice(0, 16), `echo 'it'\\''s' |`);
  t.equal(openconnectCommand({ ...base, demoPassword: '' }, '198.18.0.1', 4443),
    'sudo openconnect --protocol=anyconnect --user=demo --servercert pin-sha256:AAAA+/= https://198.18.0.1:4443/');
  t.notMatch(openconnectCommand(base, 'h', 443), /\n/);
});
