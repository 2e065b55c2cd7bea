/**
 * `ocserv-ts -t -c FILE`: a summary of what would be served, or every error as
 * file:line: reason, with exit code 0 or 1. Runs the real binary.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'ocserv-ts');
const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });

const good = (ca: string) => `auth = "plain[passwd=/etc/ocpasswd]"
auth = "certificate"
ca-cert = ${ca}
enable-auth = "plain[passwd=/etc/other]"
server-cert = /a.pem
server-key = /b.pem
tcp-port = 4443
udp-port = 4443
listen-host = 198.18.0.1
ipv4-network = 198.19.0.0/22
route = 198.19.0.0/16
no-route = 198.19.200.0/24
dns = 198.19.0.1
compression = true
cgroup = "cpu:vpn"
[vhost:other.example.com]
auth = "certificate"
`;

t.test('-t on a good file: OK and what will be served', async (t) => {
  const dir = t.testdir({});
  // certificate auth makes -t read ca-cert: it must be a real certificate
  const ca = join(dir, 'ca.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(dir, 'ca.key'), '-out', ca, '-subj', '/CN=test CA', '-days', '2'], { encoding: 'utf8' });
  t.equal(made.status, 0, made.stderr);
  const file = join(dir, 'good.conf');
  writeFileSync(file, good(ca));
  const r = run('-t', '-c', file);
  t.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  t.match(out, `${file}: configuration OK`);
  t.match(out, /listen: +TCP 4443, UDP 4443 \(DTLS\), on 198\.18\.0\.1/);
  t.match(out, /auth: +plain\[passwd=\/etc\/ocpasswd\] \+ certificate \(all must succeed\)/);
  t.match(out, /or else: +plain\[passwd=\/etc\/other\]/);
  t.match(out, /pool: +198\.19\.0\.0\/22 \(1021 client addresses\)/);
  t.match(out, /routes: +198\.19\.0\.0\/16; not: 198\.19\.200\.0\/24/);
  t.notMatch(out, /not acted on yet/, 'compression acts: nothing is left for later');
  t.match(out, /ignored: +cgroup/);
  t.match(out, /not served: \[vhost:other\.example\.com\]/);
  // warnings stay on stderr, in the server's usual form
  t.match(r.stderr, `${file}:15: warning: option 'cgroup' is ignored: `);
  t.match(r.stderr, `${file}:16: warning: [vhost:other.example.com]: virtual hosts are not served`);
});

t.test('-t on a bad file: every error with file:line, exit 1', async (t) => {
  const dir = t.testdir({ 'bad.conf': 'auth = "plain[passwd=/p]"\ntcp-port = https\nthis is not an option line\ndpd = -1\nrekey-method = often\n' });
  const file = join(dir, 'bad.conf');
  const r = run('-t', '-c', file);
  t.equal(r.status, 1);
  t.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  t.same(lines, [
    `ocserv-ts: ${file}:2: tcp-port: 'https' is not a whole number`,
    `ocserv-ts: ${file}:3: expected 'option = value', got 'this is not an option line'`,
    `ocserv-ts: ${file}:4: dpd: '-1' is below the minimum 0`,
    `ocserv-ts: ${file}:5: rekey-method: 'often' is not one of ssl, new-tunnel`,
    '4 errors in the configuration. The server was not started.',
  ]);
});

t.test("-t on Debian's ocserv.conf: refused like ocserv, for the missing certificate", async (t) => {
  const debian = '/etc/ocserv/ocserv.conf';
  t.ok(existsSync(debian), 'the ocserv package is installed');
  const r = run('-t', '-c', debian);
  t.equal(r.status, 1);
  t.match(r.stderr, `ocserv-ts: ${debian}: no server-cert / server-key configured`);
  t.notMatch(r.stderr, /unknown option/);

  const dir = t.testdir({});
  const copy = join(dir, 'ocserv.conf');
  writeFileSync(copy, `${readFileSync(debian, 'utf8')}\nserver-cert = /etc/ssl/certs/ssl-cert-snakeoil.pem\nserver-key = /etc/ssl/private/ssl-cert-snakeoil.key\n`);
  const ok = run('-t', '-c', copy);
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, /pool: +192\.168\.1\.0\/24/);
  t.notMatch(ok.stderr, /unknown option/);
});
