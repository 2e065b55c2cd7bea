/**
 * ocserv.conf compatibility: Debian's own ocserv configuration reads cleanly, every option
 * of it (commented-out ones included) is known, the syntax details ocserv's parser allows
 * work, and the generated option reference and example file match the option table.
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ConfigError, buildConfig, loadConfig, parseConfigText, type ConfigWarning, type RawConfig } from '../../src/common/config';
import { OPTIONS } from '../../src/common/config-schema';
import { OPTION_GROUPS } from '../../src/common/config-docs';

const ROOT = join(__dirname, '..', '..', '..');

// Where Debian's ocserv package puts its sample configuration, by version
const DEBIAN_FILES = [
  '/etc/ocserv/ocserv.conf',
  '/usr/share/doc/ocserv/examples/sample.config',
  '/usr/share/doc/ocserv/examples/sample.config.gz',
  '/usr/share/doc/ocserv/sample.config',
  '/usr/share/doc/ocserv/sample.config.gz',
];

function debianFiles(): Array<{ path: string; text: string }> {
  return DEBIAN_FILES.filter((p) => existsSync(p)).map((path) => ({
    path,
    text: path.endsWith('.gz') ? gunzipSync(readFileSync(path)).toString('utf8') : readFileSync(path, 'utf8'),
  }));
}

/** The sample with every `#option = value` line switched on (prose in comments stays). */
function uncommented(text: string): string {
  const option = /^#\s?[a-z][a-z0-9_-]*\s*=/;
  const vhost = /^#\s?\[vhost:[^\]]*\]\s*$/;
  return text.split('\n').map((l) => (option.test(l) || vhost.test(l) ? l.replace(/^#\s?/, '') : l)).join('\n');
}

const unknown = (ws: ConfigWarning[]) => ws.filter((w) => /unknown/.test(w.message));

function errorOf(fn: () => unknown): ConfigError {
  try { fn(); } catch (err) { if (err instanceof ConfigError) return err; throw err; }
  throw new Error('expected a ConfigError');
}

t.test("Debian's ocserv configuration", async (t) => {
  const files = debianFiles();
  t.ok(files.length > 0, `the ocserv package's configuration is installed (${DEBIAN_FILES.join(', ')})`);
  for (const { path, text } of files) {
    const warnings: ConfigWarning[] = [];
    const raw = parseConfigText(text, path, warnings);
    t.same(unknown(warnings), [], `${path}: every option is known`);
    t.ok(raw.get('auth')?.length, `${path}: its auth line is read`);
    // like ocserv itself, we need a certificate: the package leaves server-cert commented out
    const withCert = `${text}\nserver-cert = /etc/ssl/certs/ssl-cert-snakeoil.pem\nserver-key = /etc/ssl/private/ssl-cert-snakeoil.key\n`;
    const c = buildConfig(parseConfigText(withCert, path, []), path);
    t.ok(c.auth.length > 0 && c.tcpPort > 0, `${path}: builds into a configuration`);
    if (!/server-cert\s*=/.test(text.split('\n').filter((l) => !l.startsWith('#')).join('\n'))) {
      t.match(errorOf(() => buildConfig(raw, path)).message, /no server-cert/, `${path}: without a certificate it is refused, as ocserv does`);
    }

    const all = uncommented(text);
    const enabled = new Set(all.split('\n').map((l) => /^([a-z][a-z0-9_-]*)\s*=/.exec(l)?.[1]).filter((k): k is string => !!k));
    t.ok(enabled.size >= 90, `${path}: ${enabled.size} options found in it`);
    const allWarnings: ConfigWarning[] = [];
    const vhosts = new Map<string, RawConfig>();
    parseConfigText(all, path, allWarnings, vhosts);
    t.same(unknown(allWarnings), [], `${path}: its commented-out options are known too`);
    t.same([...enabled].filter((k) => !Object.prototype.hasOwnProperty.call(OPTIONS, k)), [], 'each one is in OPTIONS');
    if (/^#\[vhost:/m.test(text)) t.ok(vhosts.size === 1 && allWarnings.some((w) => w.vhost), 'its example virtual host is read and warned about');
  }
});

t.test('syntax: separators, quotes, comments, case, line ends', async (t) => {
  const base = 'auth = "plain[passwd=/p]"\nserver-cert = /c\nserver-key = /k\n';
  const c = buildConfig(parseConfigText(`\uFEFF${base}`
    + 'tcp-port=4443\n'
    + 'udp-port: 4443\n'
    + 'dns = 198.19.0.1 # the first one\n'
    + 'dns=198.19.0.2\n'
    + 'banner = "Welcome to #1 VPN"   # comment after a quoted value\n'
    + '; a semicolon comment\n'
    + '   # an indented comment\n'
    + 'predictable-ips = FALSE\r\n'
    + 'deny-roaming = Yes   \t\n'
    + 'DPD = 42\n'
    + 'default-domain = ""example.com""\n', 't.conf'), 't.conf');
  t.equal(c.tcpPort, 4443, 'name=value without spaces');
  t.equal(c.udpPort, 4443, 'name: value');
  t.same(c.dns, ['198.19.0.1', '198.19.0.2'], 'end-of-line comment');
  t.equal(c.banner, 'Welcome to #1 VPN', "a '#' inside quotes is kept");
  t.equal(c.predictableIps, false, 'booleans in any case, CRLF line end');
  t.equal(c.denyRoaming, true, 'yes, trailing white space');
  t.equal(c.dpd, 42, 'option names in any case');
  t.equal(c.defaultDomain, 'example.com', 'quotes at both ends are dropped, as ocserv does');

  const raw = parseConfigText('banner = a#b\n', 't.conf');
  t.equal(raw.get('banner')?.[0].value, 'a#b', "'#' not after white space is part of the value");
});

t.test('syntax: an indented line continues the option above', async (t) => {
  const w: ConfigWarning[] = [];
  const raw = parseConfigText('route = 198.19.0.0/24\n    198.19.1.0/24\n\t198.19.2.0/24 # third\n  dns = 198.19.0.1\n', 't.conf', w);
  t.same(raw.get('route')?.map((e) => [e.value, e.line]), [['198.19.0.0/24', 1], ['198.19.1.0/24', 2], ['198.19.2.0/24', 3]]);
  t.same(raw.get('dns')?.map((e) => e.value), ['198.19.0.1'], 'an indented known option is that option');
  t.same(w, []);
  // with nothing above it, an indented line without '=' is an error of its own line
  t.match(errorOf(() => parseConfigText('# c\n   stray words\n', 't.conf')).message, /^t\.conf:2: expected 'option = value'/);
});

t.test('virtual hosts: checked, kept apart, warned about', async (t) => {
  const w: ConfigWarning[] = [];
  const vhosts = new Map<string, RawConfig>();
  const text = 'auth = "plain[passwd=/p]"\nserver-cert = /c\nserver-key = /k\nipv4-network = 198.19.0.0/24\n'
    + '[vhost:VPN.example.com]\nauth = "certificate"\nipv4-network = 198.19.9.0/24\n'
    + '[ vhost:other ]\ntcp-port = 1\n';
  const raw = parseConfigText(text, 't.conf', w, vhosts);
  t.same([...vhosts.keys()], ['vpn.example.com', 'other']);
  t.equal(vhosts.get('vpn.example.com')?.get('auth')?.[0].value, 'certificate');
  t.same(raw.get('ipv4-network')?.map((e) => e.value), ['198.19.0.0/24'], 'the default host keeps its own values');
  t.match(w, [{ line: 5, vhost: 'vpn.example.com', message: /virtual hosts are not served by ocserv-ts/ }, { line: 8, vhost: 'other' }]);
  t.match(errorOf(() => parseConfigText('[vhost:x]\ntcp-port = many\n', 't.conf')).message, /^t\.conf:2: tcp-port/, 'its values are checked');
  t.match(errorOf(() => parseConfigText('[vhost:x\n', 't.conf')).message, /^t\.conf:1: section header '\[vhost:x' has no closing/);
  t.match(errorOf(() => parseConfigText('[vhost:]\n', 't.conf')).message, /^t\.conf:1: virtual host section without a name/);
  const w2: ConfigWarning[] = [];
  const raw2 = parseConfigText('[global]\ntcp-port = not-checked\n[vhost:a]\ndpd = 1\n', 't.conf', w2);
  t.equal(raw2.size, 0);
  t.match(w2[0], { line: 1, message: /unknown section '\[global\]': its options are skipped/ });

  const dir = t.testdir({ 'v.conf': `${text}` });
  const c = loadConfig(join(dir, 'v.conf'), []);
  t.same(c.vhosts, ['vpn.example.com', 'other'], 'loadConfig names them');
});

t.test('no include directive, as in ocserv', async (t) => {
  const w: ConfigWarning[] = [];
  parseConfigText('include = /etc/ocserv/other.conf\n', 't.conf', w);
  t.match(w, [{ line: 1, message: "unknown option 'include' ignored" }]);
});

t.test('options that will not act say why, once; aliases; choices', async (t) => {
  const w: ConfigWarning[] = [];
  const raw = parseConfigText('cgroup = "cpuset,cpu:test"\ncgroup = "cpu:x"\nuse-utmp = true\nkkdcp = "/K R udp@127.0.0.1:88"\nkkdcp = "/L R udp@127.0.0.1:88"\n'
    + 'ipv4-dns = 198.19.0.1\nipv6-dns = fc00::1\nuse-dbus = true\ncompression = true\ncompression = false\n'
    + 'included-http-headers = Clear-Site-Data: "cache","cookies"\ncamouflage-secret = s3cret\n', 't.conf', w);
  t.match(w.filter((x) => x.reason), [
    { line: 1, option: 'cgroup', message: /option 'cgroup' is ignored: .*systemd slice/ },
    { line: 3, option: 'use-utmp', message: /ignored: .*utmp/ },
    { line: 4, option: 'kkdcp', message: /ignored: .*Kerberos/ },
  ], 'each once, with the reason');
  const notYet = w.filter((x) => x.notYet).map((x) => x.option!);
  t.same(notYet.filter((k, i) => notYet.indexOf(k) !== i), [], 'a not-yet option is noted once however often it appears');
  t.same(notYet.filter((k) => OPTIONS[k].implemented !== false), [], 'and only when it does not act');
  t.same(raw.get('dns')?.map((e) => e.value), ['198.19.0.1', 'fc00::1'], 'ipv4-dns and ipv6-dns are dns');
  t.equal(raw.get('use-occtl')?.[0].value, true, 'use-dbus is use-occtl');
  t.match(w.find((x) => x.option === 'use-dbus'), { line: 8, message: /'use-dbus' is read as 'use-occtl'/ });
  t.equal(raw.get('included-http-headers')?.[0].value, 'Clear-Site-Data: "cache","cookies"', 'header values keep their quotes');
  t.equal(raw.get('camouflage_secret')?.[0].value, 's3cret');
  t.match(errorOf(() => parseConfigText('rekey-method = sometimes\n', 't.conf')).message, /rekey-method: 'sometimes' is not one of ssl, new-tunnel/);
});

t.test('every problem of a file is collected, in line order', async (t) => {
  const err = errorOf(() => parseConfigText('tcp-port = x\nok = 1\nnonsense\ndpd = -5\nbanner = "a\u0007"\n', 't.conf'));
  t.equal(err.message, "t.conf:1: tcp-port: 'x' is not a whole number");
  t.same(err.also.map((e) => e.line), [3, 4, 5]);
  t.match(err.also[2].message, /control character '\\x07'/);
  t.equal(new ConfigError('f.conf', 0, 'whole file').message, 'f.conf: whole file', 'no line 0 in messages');
});

t.test('the option table is complete and documented', async (t) => {
  const documented = OPTION_GROUPS.flatMap((g) => Object.keys(g.options));
  t.same(documented.filter((k, i) => documented.indexOf(k) !== i), [], 'each option in one group only');
  t.same(Object.keys(OPTIONS).filter((k) => !documented.includes(k)), [], 'every option has words in config-docs.ts');
  t.same(documented.filter((k) => !Object.prototype.hasOwnProperty.call(OPTIONS, k)), [], 'config-docs.ts names only options');
  for (const [name, spec] of Object.entries(OPTIONS)) {
    if (spec.alias) {
      t.ok(OPTIONS[spec.alias] && !OPTIONS[spec.alias].alias, `${name}: alias of a real option`);
      continue;
    }
    const d = OPTION_GROUPS.find((g) => name in g.options)!.options[name];
    t.ok(d.doc.length > 10, `${name}: described`);
    const literalDefault = d.default !== undefined && !d.default.startsWith('(');
    t.ok(d.example !== undefined || literalDefault, `${name}: the example file can show a value`);
    if (d.set) t.not(spec.implemented, false, `${name}: the example sets only options that act`);
    if (spec.reason) t.ok(spec.reason.length > 10, `${name}: says why it is ignored`);
    t.equal(spec.doc, d.doc, `${name}: doc is on its OptionSpec`);
  }
});

t.test('docs/CONFIG-REFERENCE.md and ocserv.conf.example are generated from the table', async (t) => {
  const gen = require(join(ROOT, 'scripts', 'config-reference.js')) as {
    renderReference: (o: typeof OPTIONS, g: typeof OPTION_GROUPS) => string;
    renderExample: (o: typeof OPTIONS, g: typeof OPTION_GROUPS) => string;
    FILES: { reference: string; example: string };
  };
  const hint = 'run `npx tsc -p tsconfig.json && node scripts/config-reference.js`';
  t.equal(readFileSync(gen.FILES.reference, 'utf8'), gen.renderReference(OPTIONS, OPTION_GROUPS), `docs/CONFIG-REFERENCE.md is current (${hint})`);
  const example = readFileSync(gen.FILES.example, 'utf8');
  t.equal(example, gen.renderExample(OPTIONS, OPTION_GROUPS), `ocserv.conf.example is current (${hint})`);

  const w: ConfigWarning[] = [];
  const c = loadConfig(gen.FILES.example, w);
  t.same(w, [], 'the example reads without a single warning');
  t.equal(c.auth[0].type, 'plain');
  const shown = new Set(example.split('\n').map((l) => /^#?([a-z][a-z0-9_-]*) = /.exec(l)?.[1]).filter(Boolean));
  t.same(Object.keys(OPTIONS).filter((k) => !OPTIONS[k].alias && !shown.has(k)), [], 'every option appears in the example');
  const onAll: ConfigWarning[] = [];
  parseConfigText(uncommented(example), 'x.conf', onAll);
  t.same(unknown(onAll), [], 'every example value is of the right type (all switched on)');
});
