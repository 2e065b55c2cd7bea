/**
 * Random config files against the parser: whatever the text, reading it either works or
 * fails with a ConfigError that says where (a line > 0 unless the problem is the file as a
 * whole). Seeded, so a failure repeats; the regression cases at the end are inputs that once
 * crashed it.
 */
import t from 'tap';
import { ConfigError, buildConfig, parseConfigText, type ConfigWarning, type RawConfig } from '../../src/common/config';
import { certFileProblem } from '../../src/common/cert-config';
import { OPTIONS } from '../../src/common/config-schema';

/** mulberry32: a tiny PRNG, enough to make reproducible garbage */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = Object.keys(OPTIONS);
const VALID = `auth = "plain[passwd=/etc/ocserv/ocpasswd]"
server-cert = /etc/c.pem
server-key = /etc/k.pem
ipv4-network = 198.19.0.0/24
`;

// a problem with the file as a whole rather than with one of its lines
const FILE_LEVEL = [/^no 'auth' method/, /^no server-cert/];

function generator(seed: number) {
  const rnd = mulberry32(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  const chars = (n: number, alphabet: string) => Array.from({ length: n }, () => alphabet[int(alphabet.length)]).join('');
  const anyChar = () => String.fromCodePoint(pick([int(32), 32 + int(95), 0x80 + int(0x700), 0x4e00 + int(100), 0x1f600 + int(50), 0xfeff, 0x2028]));
  const noise = (n: number) => Array.from({ length: n }, anyChar).join('');
  const octet = () => String(pick([0, 1, 10, 127, 198, 255, 256, 999, -1, int(300)]));
  const ipv4 = () => pick([
    () => `${octet()}.${octet()}.${octet()}.${octet()}`,
    () => `${octet()}.${octet()}.${octet()}`,
    () => `0${int(9)}.${octet()}.0.${octet()}`,
    () => '0x7f.0.0.1',
    () => `${int(5000000000)}`,
    () => `198.${18 + int(2)}.${int(256)}.${int(256)}`,
  ])();
  const net = () => pick([
    () => `${ipv4()}/${int(40)}`,
    () => `${ipv4()}/${ipv4()}`,
    () => `${ipv4()}/255.255.${pick(['255.0', '0.255', '128.0', '255.254', '255.255'])}`,
    () => `${ipv4()}/${int(33)}/${int(33)}`,
    () => `${ipv4()}/`,
    () => `/${int(33)}`,
    () => pick(['default', 'fe80::/64', '::/0', 'fef4:db8:1000:1001::/64', '198.19.0.0/24', '198.19.0.0/16', '198.19.0.128/25']),
  ])();
  const value = (): string => pick([
    () => String(int(100000)),
    () => String(-int(1000)),
    () => '9'.repeat(1 + int(400)),
    () => pick(['true', 'FALSE', 'Yes', 'no', 'on', 'off', '1', '0', 'maybe', '']),
    () => ipv4(),
    () => net(),
    () => `"${noise(int(20))}"`,
    () => `${'"'.repeat(int(3000))}x${'"'.repeat(int(3000))}`,
    () => `x${' '.repeat(int(3000))}"y`,
    () => noise(int(40)),
    () => `${noise(5)}\0${noise(5)}`,
    () => `${noise(4)} # ${noise(6)}`,
    () => `"${noise(4)} # ${noise(4)}" # c`,
    () => pick(['plain', 'plain[', 'plain[]', 'plain[passwd=]', 'plain[/etc/x]', 'pam[gid-min=x]', 'pam[timeout=99]', 'pam[service=../x]',
      'radius', 'radius[]', 'radius[config=/nonexistent/radcli.conf]', 'radius[config=]', 'radius[groupconfig=true]', 'certificate', 'certificate[x]',
      'gssapi[keytab=/k]', 'oidc', 'magic', '[', ']', 'plain[passwd=/x,otp=/y]', 'PLAIN[PASSWD=/X]']),
    () => pick(['2.5.4.3', 'SAN(rfc822name)', '1.2.', 'x']),
    () => `${noise(3)}[${noise(3)}]`,
    () => chars(int(30), '=:[]#;"\\ \t'),
  ])();
  const key = () => pick([
    () => pick(KEYS),
    () => pick(KEYS).toUpperCase(),
    () => pick(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype', 'include', '']),
    () => noise(1 + int(12)),
    () => chars(1 + int(12), 'abcdefghijklmnopqrstuvwxyz-_'),
  ])();
  const line = (): string => pick([
    () => `${key()} = ${value()}`,
    () => `${key()} = ${value()}`,
    () => `${key()} = ${value()}`,
    () => `${key()}=${value()}`,
    () => `${key()}: ${value()}`,
    () => `  ${key()} = ${value()}`,
    () => `\t${value()}`,
    () => `# ${noise(int(30))}`,
    () => `; ${noise(10)}`,
    () => '',
    () => noise(int(60)),
    () => `${key()} ${value()}`,
    () => pick(['[vhost:www.example.com]', '[vhost:]', '[VHOST: Other ]', '[global]', '[', '[vhost:x', ']', '[]']),
    () => `ipv4-network = ${net()}`,
    () => `ipv4-netmask = ${pick([ipv4(), '255.255.255.0', '255.255.255.255', '0.0.0.0', '255.0.255.0'])}`,
    () => `route = ${net()}`,
    () => `no-route = ${net()}`,
    () => `dns = ${pick([ipv4(), 'fc00::4be0', 'dns.example.com'])}`,
    () => `auth = "${value()}"`,
    () => `\0\0\0`,
    () => `${key()} = ${value()}\r`,
  ])();
  // well-formed lines whose values are wrong only in meaning: these reach buildConfig
  const semantic = (): string => pick([
    () => `ipv4-network = ${net()}`,
    () => `ipv4-network = ${ipv4()}`,
    () => `ipv4-netmask = ${pick([ipv4(), '255.255.255.0', '255.255.255.252', '255.255.255.255', '0.0.0.0', '255.0.255.0'])}`,
    () => `route = ${net()}`,
    () => `no-route = ${net()}`,
    () => `dns = ${pick([ipv4(), 'fc00::4be0', 'dns.example.com', '::', '1.2.3.4%eth0'])}`,
    () => `listen-host = ${pick([ipv4(), '::1', 'vpn.example.com', '[::1]'])}`,
    () => `auth = "${value()}"`,
    () => `enable-auth = "${value()}"`,
    () => `acct = "${value()}"`,
    () => `select-group = ${value()}`,
    () => `cert-user-oid = ${value()}`,
    () => `cert-group-oid = ${value()}`,
    () => `ca-cert = /nonexistent/ca.pem`,
    () => `crl = ${pick(['/nonexistent/crl.pem', '/etc/hostname', '/dev/null'])}`,
    () => `server-cert = /etc/c${int(3)}.pem`,
    () => `server-key = /etc/k${int(3)}.pem`,
    () => `${pick(KEYS)} = ${pick(['1', 'true', '198.19.0.1', 'x'])}`,
  ])();
  return (): string => {
    const lines: string[] = [];
    if (rnd() < 0.5) lines.push(VALID);
    const n = int(25);
    const mostlyValid = rnd() < 0.5;
    for (let i = 0; i < n; i++) lines.push(mostlyValid && rnd() < 0.95 ? semantic() : line());
    // now and then a huge line, of a valid option or of noise
    if (rnd() < 0.01) lines.splice(int(lines.length + 1), 0, pick([`banner = ${'A'.repeat(200_000)}`, 'x'.repeat(200_000), `route = ${'1.'.repeat(50_000)}`, ` ${'#'.repeat(100_000)}`, `dns = ${'"'.repeat(100_000)}`]));
    return lines.join(pick(['\n', '\n', '\r\n']));
  };
}

interface Outcome { threw?: unknown; warnings: ConfigWarning[]; parsed: boolean }

function readIt(text: string): Outcome {
  const warnings: ConfigWarning[] = [];
  let parsed = false;
  try {
    const vhosts = new Map<string, RawConfig>();
    const raw = parseConfigText(text, 'fuzz.conf', warnings, vhosts);
    parsed = true;
    const c = buildConfig(raw, 'fuzz.conf');
    certFileProblem(c.raw);
  } catch (err) {
    return { threw: err, warnings, parsed };
  }
  return { warnings, parsed };
}

/** What is wrong with an outcome, or undefined. */
function problemOf(o: Outcome, text: string): string | undefined {
  for (const w of o.warnings) if (!(w.line > 0)) return `warning without a line: ${w.message}`;
  if (o.threw === undefined) return undefined;
  if (!(o.threw instanceof ConfigError)) return `threw ${(o.threw as Error)?.stack ?? String(o.threw)}`;
  const all = [o.threw, ...o.threw.also];
  for (const e of all) {
    if (!(e instanceof ConfigError)) return `'also' holds ${String(e)}`;
    if (e.line === 0 && e.file === 'fuzz.conf' && !FILE_LEVEL.some((re) => re.test(e.reason))) return `line 0 for a line's problem: ${e.message}`;
    // a message may quote its line, but must not grow beyond it
    if (e.message.length > text.length + 1000) return `a message of ${e.message.length} characters: ${e.message.slice(0, 120)}`;
  }
  return undefined;
}

t.test('20000 random files: only ConfigErrors, each naming its line', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? 20240611);
  const next = generator(seed);
  let errors = 0;
  let semanticErrors = 0;
  let ok = 0;
  const failures: string[] = [];
  for (let i = 0; i < 20000 && failures.length < 5; i++) {
    const text = next();
    const o = readIt(text);
    const p = problemOf(o, text);
    if (p) failures.push(`file #${i} (seed ${seed}): ${p}\n--- text (first 400 chars) ---\n${JSON.stringify(text.slice(0, 400))}`);
    else if (o.threw) {
      errors++;
      if (o.parsed) semanticErrors++;
    } else ok++;
  }
  t.same(failures, [], 'no crash and no error without a place');
  // the generator must reach every stage, or it tests little
  t.ok(errors - semanticErrors > 1000, `${errors - semanticErrors} files refused by the line reader`);
  t.ok(semanticErrors > 1000, `${semanticErrors} files refused by buildConfig`);
  t.ok(ok > 100, `${ok} files accepted`);
});

t.test('regression inputs', async (t) => {
  const cases: Array<[string, string, RegExp | null]> = [
    // Object.prototype's names are not options
    ['__proto__', `${VALID}__proto__ = 1\nconstructor = x\ntostring = 1\n`, null],
    // a long run of quotes inside a value took quadratic time to unquote
    ['quote run', `${VALID}banner = x${'"'.repeat(100_000)}y\n`, null],
    ['NUL byte', `${VALID}banner = a\0b\n`, /^fuzz\.conf:5: control character '\\x00'/],
    ['huge value in a message', `${VALID}tcp-port = ${'9'.repeat(100_000)}\n`, /^fuzz\.conf:5: tcp-port: '9{60}…' is above the maximum/],
  ];
  for (const [name, text, expect] of cases) {
    const o = readIt(text);
    t.equal(problemOf(o, text), undefined, name);
    if (expect) t.match((o.threw as Error)?.message, expect, name);
    else t.equal(o.threw, undefined, `${name}: accepted`);
  }
  const o = readIt(`${VALID}__proto__ = 1\nconstructor = x\n`);
  t.same(o.warnings.map((w) => w.message), ["unknown option '__proto__' ignored", "unknown option 'constructor' ignored"]);
});
