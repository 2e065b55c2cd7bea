/**
 * radcli's radiusclient.conf and servers file as ocserv users have them, and the
 * `auth = "radius[...]"` line: what is accepted, and errors that name file and line.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRadcliConfig, radiusMethodParams, readRadcliConfig, RadcliConfigError } from '../../src/secmod/radius/radcli-config';
import { ConfigError, parseAuth } from '../../src/common/config';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-radcli-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const parse = (text: string, servers = '') => parseRadcliConfig(text, '/etc/radcli/radiusclient.conf', () => servers);
const errorOf = (fn: () => unknown): RadcliConfigError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof RadcliConfigError) return err;
    throw err;
  }
  throw new Error('no error');
};

t.test("Debian's shipped radiusclient.conf and servers file", async (t) => {
  // the file as the radcli package installs it on this machine, unchanged
  const cfg = readRadcliConfig('/etc/radcli/radiusclient.conf');
  t.same(cfg.authServers.map((s) => [s.host, s.port]), [['localhost', 1812]]);
  t.same(cfg.acctServers.map((s) => [s.host, s.port]), [['localhost', 1813]]);
  t.equal(cfg.timeout, 10);
  t.equal(cfg.retries, 3);
  t.equal(cfg.bindAddr, undefined, "bindaddr * is 'any'");
  t.equal(cfg.defaultRealm, undefined, 'empty default_realm');
  t.equal(cfg.serversFile, '/etc/radcli/servers');
  t.equal(cfg.dictionary, '/etc/radcli/dictionary');
});

t.test('server lists: several per line, ports, inline secrets, IPv6', async (t) => {
  const cfg = parse([
    '# comment',
    'authserver 198.18.0.1:1645:s3cr:et, radius2.example.com ,[2001:db8::1]:2000:v6secret,[::1]',
    'acctserver\t198.18.0.1::acct-secret',
    'servers ./servers',
    'nas-identifier vpn-gw',
    'nas-ip 198.18.0.9',
    'bindaddr 198.18.0.9',
    'radius_timeout 2',
    'radius_retries 4',
    'radius_deadtime 30',
    'default_realm example.com',
    'require-message-authenticator yes',
    'clientdebug 0',
    'seqfile /var/run/radius.seq',
    '',
  ].join('\n'), 'radius2.example.com  name-secret\n# x\n::1 loop-secret\n');
  t.same(cfg.authServers.map((s) => [s.host, s.port, s.secret, s.line]), [
    ['198.18.0.1', 1645, 's3cr:et', 2],
    ['radius2.example.com', 1812, 'name-secret', 2],
    ['2001:db8::1', 2000, 'v6secret', 2],
    ['::1', 1812, 'loop-secret', 2],
  ]);
  t.same(cfg.acctServers.map((s) => [s.host, s.port, s.secret]), [['198.18.0.1', 1813, 'acct-secret']], 'empty port: the default');
  t.equal(cfg.serversFile, '/etc/radcli/servers', 'relative to the config file');
  t.equal(cfg.nasIdentifier, 'vpn-gw');
  t.equal(cfg.nasIp, '198.18.0.9');
  t.equal(cfg.bindAddr, '198.18.0.9');
  t.equal(cfg.timeout, 2);
  t.equal(cfg.retries, 4);
  t.equal(cfg.deadtime, 30);
  t.equal(cfg.defaultRealm, 'example.com');
  t.equal(cfg.requireMessageAuthenticator, true);
});

t.test('defaults', async (t) => {
  const cfg = parse('authserver 127.0.0.1:1812:x\n');
  t.equal(cfg.timeout, 3);
  t.equal(cfg.retries, 3);
  t.equal(cfg.deadtime, 0);
  t.equal(cfg.requireMessageAuthenticator, false, 'FreeRADIUS before 3.2.5 sends none');
  t.same(cfg.acctServers, [], 'accounting is optional');
});

t.test('a servers-file host named differently waits for an address match', async (t) => {
  const cfg = parse('authserver 127.0.0.1\nservers /etc/radcli/servers\n', 'localhost secret1\n');
  t.equal(cfg.authServers[0]!.secret, undefined);
  t.same(cfg.serverSecrets, [{ host: 'localhost', secret: 'secret1', line: 1 }]);
});

t.test('errors name the file and line', async (t) => {
  const cases: [string, string, number, RegExp][] = [
    ['unknown keyword', 'authserver a:1:s\nfrobnicate 1\n', 2, /unrecognized keyword 'frobnicate'/],
    ['duplicate', 'authserver a:1:s\nauthserver b:1:s\n', 2, /duplicate option 'authserver' \(first at line 1\)/],
    ['bad port', 'authserver a:99999:s\n', 1, /port '99999'/],
    ['junk port', 'authserver a:x:s\n', 1, /port 'x'/],
    ['unclosed bracket', 'authserver [::1:1812\n', 1, /without '\]'/],
    ['not IPv6 in brackets', 'authserver [nothere]:1812:s\n', 1, /not an IPv6 address/],
    ['timeout 0', 'authserver a:1:s\nradius_timeout 0\n', 2, /greater than 0/],
    ['retries junk', 'authserver a:1:s\nradius_retries three\n', 2, /not a whole number/],
    ['bindaddr', 'authserver a:1:s\nbindaddr somewhere\n', 2, /bindaddr/],
    ['nas-ip', 'authserver a:1:s\nnas-ip 300.1.1.1\n', 2, /nas-ip/],
    ['tcp', 'authserver a:1:s\nserv-type tcp\n', 2, /UDP only/],
    ['namespace', 'authserver a:1:s\nnamespace blue\n', 2, /namespace/],
    ['no secret, no servers file', '\nauthserver 10.0.0.1\n', 2, /has no secret/],
    ['no secret in servers file', 'authserver 10.0.0.1\nservers /x\n', 1, /not inline and not in \/x/],
    ['empty value', 'authserver a:1:s\nradius_timeout\n', 2, /no value/],
    ['require-message-authenticator', 'authserver a:1:s\nrequire-message-authenticator maybe\n', 2, /yes or no/],
  ];
  for (const [what, text, line, re] of cases) {
    const e = errorOf(() => parse(text, what === 'no secret in servers file' ? '10.0.0.2 other\n' : ''));
    t.equal(e.file, '/etc/radcli/radiusclient.conf', `${what}: file`);
    t.equal(e.line, line, `${what}: line`);
    t.match(e.reason, re, `${what}: reason`);
  }
  const none = errorOf(() => parse('# nothing\nservers /etc/radcli/servers\n'));
  t.equal(none.line, 0);
  t.match(none.message, /radiusclient\.conf: no authserver specified/);
});

t.test('an unreadable file or servers file', async (t) => {
  const missing = errorOf(() => readRadcliConfig(join(dir, 'nope.conf')));
  t.match(missing.message, /cannot read radius config .*nope\.conf: ENOENT/);
  const conf = file('r.conf', 'authserver 10.0.0.1\nservers ./no-servers\n');
  const noServers = errorOf(() => readRadcliConfig(conf));
  t.equal(noServers.file, conf);
  t.equal(noServers.line, 2, "names the 'servers' line");
  t.match(noServers.reason, /cannot read servers file .*no-servers: ENOENT/);
  file('servers', 'other.example 1\n10.0.0.1\tsecret-from-file\n');
  const ok = readRadcliConfig(file('ok.conf', 'authserver 10.0.0.1\nservers servers\n'));
  t.equal(ok.authServers[0]!.secret, 'secret-from-file');
});

t.test('auth = "radius[...]" in ocserv.conf', async (t) => {
  const conf = file('client.conf', 'authserver 127.0.0.1:1812:abc\n');
  const m = parseAuth(`radius[config=${conf},groupconfig=true,nas-identifier=gw1]`, '/etc/ocserv/ocserv.conf', 7);
  t.same(m.params, { config: conf, groupconfig: 'true', 'nas-identifier': 'gw1' });
  t.same(parseAuth(`radius[${conf},groupconfig]`, 'o.conf', 1).params, { config: conf, groupconfig: 'true' }, 'the legacy form');
  t.same(parseAuth(`radius[config=${conf}]`, 'o.conf', 1).params, { config: conf });

  const err = (spec: string) => {
    try {
      parseAuth(spec, '/etc/ocserv/ocserv.conf', 7);
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
    throw new Error('accepted: ' + spec);
  };
  t.match(err('radius').message, /ocserv\.conf:7: auth: radius: no radcli configuration/);
  t.match(err(`radius[config=${conf},colour=blue]`).message, /unknown option 'colour'/);
  t.match(err(`radius[config=${conf},groupconfig=perhaps]`).message, /groupconfig/);
  const missing = err(`radius[config=${join(dir, 'absent.conf')}]`);
  t.equal(missing.file, '/etc/ocserv/ocserv.conf', 'an unreadable radcli file: our auth line');
  t.equal(missing.line, 7);
  t.match(missing.reason, /absent\.conf: ENOENT/);
  const bad = file('bad.conf', 'authserver 127.0.0.1:1812:abc\nradius_retries 0\n');
  const inner = err(`radius[config=${bad}]`);
  t.equal(inner.file, bad, 'a bad line: the radcli file');
  t.equal(inner.line, 2);
  t.match(inner.reason, /radius_retries/);
  if (process.getuid?.() === 0) {
    // root reads anything; an unreadable file is simulated by a directory
    t.match(err(`radius[config=${dir}]`).reason, /EISDIR/);
  } else {
    const locked = file('locked.conf', 'authserver a:1:s\n');
    chmodSync(locked, 0);
    t.match(err(`radius[config=${locked}]`).reason, /EACCES/);
  }
});

t.test('radiusMethodParams alone', async (t) => {
  t.same(radiusMethodParams('config=/a,groupconfig=', { config: '/a', groupconfig: '' }), { params: { config: '/a', groupconfig: 'true' } });
  t.same(radiusMethodParams('/a,nonsense', { '/a': '', nonsense: '' }), { error: "unknown option in '/a,nonsense'" });
});
