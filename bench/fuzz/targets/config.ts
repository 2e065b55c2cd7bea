/**
 * The configuration reader (src/common/config.ts, config-syntax.ts, cert-config.ts): an
 * administrator's file, and what `occtl reload` re-reads while clients are connected, so a
 * bad file must be refused with a ConfigError that names its line, never crash main. The
 * same contract as test/common/config-fuzz.test.ts, with fast-check's generators and
 * shrinking and far more inputs.
 */
import fc from 'fast-check';
import { ConfigError, buildConfig, parseConfigText, type ConfigWarning, type RawConfig } from '../../../src/common/config';
import { certFileProblem } from '../../../src/common/cert-config';
import { OPTIONS } from '../../../src/common/config-schema';
import { mix, textOf } from '../gen';
import { check, type FuzzTarget } from '../target';

// a problem with the file as a whole rather than with one of its lines
const FILE_LEVEL = [/^no 'auth' method/, /^no server-cert/];

export function fuzz(input: Buffer): void {
  const text = input.toString('utf8');
  const warnings: ConfigWarning[] = [];
  try {
    const raw = parseConfigText(text, 'fuzz.conf', warnings, new Map<string, RawConfig>());
    buildConfig(raw, 'fuzz.conf');
    certFileProblem(raw);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const e of [err, ...err.also]) {
      check(e instanceof ConfigError, 'every reported problem is a ConfigError');
      check(e.line > 0 || e.file !== 'fuzz.conf' || FILE_LEVEL.some((re) => re.test(e.reason)), `a line's problem names its line: ${e.message.slice(0, 200)}`);
      check(e.message.length <= text.length + 1000, 'a message does not grow beyond its line');
    }
  }
  for (const w of warnings) check(w.line > 0, `a warning names its line: ${w.message.slice(0, 200)}`);
}

// ---------- inputs ----------

const KEYS = Object.keys(OPTIONS);
const VALID = 'auth = "plain[passwd=/etc/ocserv/ocpasswd]"\nserver-cert = /etc/c.pem\nserver-key = /etc/k.pem\nipv4-network = 198.19.0.0/24\n';
const octet = fc.constantFrom('0', '1', '10', '127', '198', '255', '256', '999', '-1', '007');
const ipv4 = fc.oneof(fc.tuple(octet, octet, octet, octet).map((o) => o.join('.')), fc.tuple(octet, octet).map((o) => o.join('.')),
  fc.constantFrom('0x7f.0.0.1', '4294967296', '198.19.0.1', 'fe80::1', '::', '1.2.3.4%eth0'));
const net = fc.oneof(
  fc.tuple(ipv4, fc.integer({ min: -1, max: 140 })).map(([a, n]) => `${a}/${n}`),
  fc.tuple(ipv4, ipv4).map(([a, m]) => `${a}/${m}`),
  fc.constantFrom('default', 'fe80::/64', '::/0', '198.19.0.0/24', '198.19.0.128/25', '/8', '1.2.3.4/'));
const value = fc.oneof(
  fc.integer().map(String), fc.constantFrom('9'.repeat(400), 'true', 'FALSE', 'yes', 'maybe', '', '""', '"', '\\', '[', ']'),
  ipv4, net,
  textOf('"=#;[], \t\\:abc/', 40),
  fc.constantFrom('plain', 'plain[', 'plain[]', 'plain[passwd=]', 'pam[gid-min=x]', 'pam[timeout=99]', 'radius[config=/nonexistent]', 'radius[groupconfig=true]',
    'certificate', 'gssapi[keytab=/k]', 'oidc', 'magic', 'plain[passwd=/x,otp=/y]', '"plain[passwd=/x]"', 'SAN(rfc822name)', '2.5.4.3'),
  fc.constantFrom(`${'"'.repeat(3000)}x`, `x${' '.repeat(3000)}"y`, 'a\0b', 'x # comment', '"a # b" # c'),
);
const key = fc.oneof({ arbitrary: fc.constantFrom(...KEYS), weight: 8 }, { arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'include', ''), weight: 1 },
  { arbitrary: textOf('abcdefghijklmnopqrstuvwxyz-_', 14), weight: 1 });
const line = fc.oneof(
  { arbitrary: fc.tuple(key, fc.constantFrom(' = ', '=', ': ', ' ', ' =  '), value).map(([k, s, v]) => `${k}${s}${v}`), weight: 10 },
  { arbitrary: fc.constantFrom('', '# comment', '[vhost:www.example.com]', '[vhost:]', '[global]', '[', '\t  indented', '\0\0'), weight: 2 },
  { arbitrary: fc.tuple(fc.constantFrom('route', 'no-route', 'ipv4-network', 'iroute', 'dns', 'listen-host', 'ipv4-netmask'), fc.oneof(net, ipv4)).map(([k, v]) => `${k} = ${v}`), weight: 4 },
  { arbitrary: fc.tuple(fc.constantFrom('auth', 'enable-auth', 'acct'), value).map(([k, v]) => `${k} = "${v}"`), weight: 2 },
);
const file = fc.tuple(fc.boolean(), fc.array(line, { maxLength: 25 }), fc.constantFrom('\n', '\r\n', '\n\\\n'))
  .map(([valid, lines, sep]) => Buffer.from((valid ? VALID : '') + lines.join(sep), 'utf8'));

export const target: FuzzTarget = {
  name: 'config',
  surface: 'ocserv.conf text (start-up and occtl reload): syntax, option values, auth methods, routes and networks',
  sources: ['common/config.js', 'common/config-syntax.js', 'common/cert-config.js'],
  fuzz,
  inputs: mix(file, 1024),
};
