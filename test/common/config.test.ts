import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, buildConfig, loadConfig, parseConfigText, type ConfigWarning } from '../../src/common/config';

const BASE = `auth = "plain[passwd=/etc/ocserv/ocpasswd]"
server-cert = /etc/c.pem
server-key = /etc/k.pem
ipv4-network = 198.19.0.0
ipv4-netmask = 255.255.255.0
`;

function parse(text: string, warnings: ConfigWarning[] = []) {
  return buildConfig(parseConfigText(text, 'test.conf', warnings), 'test.conf');
}

function errorOf(fn: () => unknown): ConfigError {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return err; throw err; }
  throw new Error('expected a ConfigError');
}

t.test('reads ocserv syntax: comments, quotes, repeated options', async (t) => {
  const c = parse(`${BASE}
# a comment
tcp-port = 4443
udp-port = 4443
dns = 198.19.0.1
dns = 198.19.0.2
route = 198.19.0.0/255.255.255.0
route = 198.18.10.0/24
no-route = 198.19.0.128/25
banner = "Welcome, friend"
predictable-ips = false
keepalive = 60
`);
  t.equal(c.tcpPort, 4443);
  t.equal(c.udpPort, 4443);
  t.same(c.dns, ['198.19.0.1', '198.19.0.2']);
  t.same(c.routes.map((r) => `${r.network}/${r.netmask}`), ['198.19.0.0/255.255.255.0', '198.18.10.0/255.255.255.0']);
  t.same(c.noRoutes.map((r) => `${r.network}/${r.prefix}`), ['198.19.0.128/25']);
  t.equal(c.banner, 'Welcome, friend');
  t.equal(c.predictableIps, false);
  t.equal(c.keepalive, 60);
  t.same(c.ipv4, { network: '198.19.0.0', prefix: 24, netmask: '255.255.255.0' });
  t.same(c.auth[0], { type: 'plain', params: { passwd: '/etc/ocserv/ocpasswd' }, raw: 'plain[passwd=/etc/ocserv/ocpasswd]' });
});

t.test('ipv4-network accepts CIDR and normalises the network address', async (t) => {
  const c = parse(BASE.replace('ipv4-network = 198.19.0.0\nipv4-netmask = 255.255.255.0\n', 'ipv4-network = 198.19.5.77/20\n'));
  t.same(c.ipv4, { network: '198.19.0.0', prefix: 20, netmask: '255.255.240.0' });
});

t.test('route = default means a full tunnel (no split-include)', async (t) => {
  const c = parse(`${BASE}route = default\nroute = 198.19.0.0/24\n`);
  t.same(c.routes, []);
});

t.test('unknown options are warnings with their line', async (t) => {
  const warnings: ConfigWarning[] = [];
  parse(`${BASE}frobnicate = 1\ncompression = true\n`, warnings);
  t.match(warnings, [
    { file: 'test.conf', line: 6, message: /unknown option 'frobnicate'/ },
  ]);
  t.equal(warnings.length, 1, 'compression acts: no warning for it');
});

t.test('bad values are errors naming file, line and reason', async (t) => {
  const cases: Array<[string, number, RegExp]> = [
    [`${BASE}tcp-port = https\n`, 6, /tcp-port: 'https' is not a whole number/],
    [`${BASE}tcp-port = 70000\n`, 6, /above the maximum/],
    [`${BASE}predictable-ips = maybe\n`, 6, /not true or false/],
    [`${BASE}dns = not-an-ip\n`, 6, /dns: 'not-an-ip' is not an IP address/],
    [`${BASE}route = 198.19.0.0/33\n`, 6, /longer than 32/],
    [`${BASE}route = 198.19.0.0/255.0.255.0\n`, 6, /not a valid netmask/],
    [`${BASE}this line has no equals sign\n`, 6, /expected 'option = value'/],
    [`auth = "magic"\nserver-cert = /a\nserver-key = /b\n`, 1, /unknown method 'magic'/],
    [`auth = "plain"\nserver-cert = /a\nserver-key = /b\n`, 1, /plain needs \[passwd=/],
    [`${BASE}listen-host = vpn example com\n`, 6, /neither an IP address nor a host name/],
    [`${BASE}camouflage = true\n`, 6, /camouflage = true needs camouflage_secret/],
  ];
  for (const [text, line, reason] of cases) {
    const err = errorOf(() => parse(text));
    t.equal(err.file, 'test.conf');
    t.equal(err.line, line, `line for ${reason}`);
    t.match(err.message, reason);
    t.match(err.message, new RegExp(`^test\\.conf:${line}: `));
  }
});

t.test('missing essentials are refused', async (t) => {
  t.match(errorOf(() => parse('tcp-port = 443\n')).message, /no 'auth' method/);
  t.match(errorOf(() => parse('auth = "plain[passwd=/x]"\n')).message, /no server-cert/);
  t.match(errorOf(() => parse('auth = "plain[passwd=/x]"\nserver-cert = /a\nserver-cert = /b\nserver-key = /k\n')).message, /in pairs/);
});

t.test('loadConfig reads a file and reports an unreadable one', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ocs-conf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const f = join(dir, 'ocserv.conf');
  writeFileSync(f, BASE);
  t.equal(loadConfig(f).tcpPort, 443);
  t.match(errorOf(() => loadConfig(join(dir, 'missing.conf'))).message, /cannot read/);
});

t.test('the shipped example parses without errors', async (t) => {
  const warnings: ConfigWarning[] = [];
  const c = loadConfig(join(__dirname, '..', '..', '..', 'ocserv.conf.example'), warnings);
  t.equal(c.auth[0].type, 'plain');
  t.same(warnings.filter((w) => /unknown/.test(w.message)), []);
});
