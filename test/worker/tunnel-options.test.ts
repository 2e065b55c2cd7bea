/**
 * The tunnel options of ocserv.conf (src/worker/tunnel-options.ts): how they are read, what
 * the CONNECT reply says about them, and the per-user client-bypass-protocol.
 */
import t from 'tap';
import { buildConfig, ConfigError, parseConfigText, type Config } from '../../src/common/config';
import { parseSessionConfig, resolveSession } from '../../src/common/session-config';
import { connectedResponse } from '../../src/worker/connect-headers';
import { connectExtras, DEFAULT_REKEY_TIME, headerOf, rekeyOffer } from '../../src/worker/tunnel-options';
import { chooseDtls } from '../../src/worker/dtls-negotiation';
import type { SessionParams } from '../../src/ipc/messages';

function config(extra = ''): Config {
  const text = ['auth = "plain[passwd=/dev/null]"', 'server-cert = /dev/null', 'server-key = /dev/null', 'ipv4-network = 198.19.0.0/24', extra].join('\n');
  return buildConfig(parseConfigText(text, 'ocserv.conf'), 'ocserv.conf');
}

function configError(extra: string): ConfigError {
  try {
    config(extra);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('no ConfigError');
}

const params: SessionParams = {
  sessionId: 1, username: 'alice', groupname: 'eng', tunName: 'vpns0',
  ipv4: { local: '198.19.0.1', remote: '198.19.0.7', netmask: '255.255.255.0', network: '198.19.0.0', prefix: 24 },
  dns: [], routes: [], noRoutes: [], mtu: 1400, dpd: 90, mobileDpd: 90, keepalive: 300, idleTimeout: 0, sessionTimeout: 0, dtlsId: 'ab',
};

/** the reply's header lines for the given extras, with DTLS (PSK) offered */
function reply(c: Config, p: SessionParams, tls: string | null): string[] {
  const plan = chooseDtls({ 'x-dtls-ciphersuite': 'PSK-NEGOTIATE' }, { psk: true, legacy: false })!;
  return connectedResponse(p, 'test', 1500, { plan, port: 443 }, undefined, connectExtras(c.tunnel, p, tls)).split('\r\n');
}

t.test('defaults are ocserv 1.1.6\'s for a file that sets none of the options', async (t) => {
  const o = config().tunnel;
  t.same(o, {
    switchToTcpTimeout: 0, tryMtuDiscovery: false, rekeyTime: DEFAULT_REKEY_TIME, rekeyMethod: 'new-tunnel', dynDns: false,
    clientBypassProtocol: false, httpHeaders: [], ciscoClientCompat: false, certOnEveryConnection: false, matchTlsDtlsCiphers: false,
  });
  t.equal(DEFAULT_REKEY_TIME, 86400);
  t.equal(config().dtlsLegacy, true);
});

t.test('values as written', async (t) => {
  const o = config([
    'switch-to-tcp-timeout = 25', 'try-mtu-discovery = true', 'rekey-time = 172800', 'rekey-method = ssl', 'listen-host-is-dyndns = true',
    'proxy-url = http://proxy.example/%{G}/%{U}.pac', 'client-bypass-protocol = true',
    'included-http-headers = Strict-Transport-Security: max-age=31536000 ; includeSubDomains',
    'included-http-headers = Clear-Site-Data: "cache","cookies"',
    'included-http-headers = "X-Frame-Options: deny"',
  ].join('\n')).tunnel;
  t.match(o, {
    switchToTcpTimeout: 25, tryMtuDiscovery: true, rekeyTime: 172800, rekeyMethod: 'ssl', dynDns: true,
    proxyUrl: 'http://proxy.example/%{G}/%{U}.pac', clientBypassProtocol: true,
  });
  t.same(o.httpHeaders, [
    ['Strict-Transport-Security', 'max-age=31536000 ; includeSubDomains'],
    ['Clear-Site-Data', '"cache","cookies"'],
    ['X-Frame-Options', 'deny'],
  ], 'quotes inside the value stay; quotes around the whole line go');
});

t.test('an included-http-headers line that is not a header is a config error with its line', async (t) => {
  const e = configError('dpd = 90\nincluded-http-headers = no colon here');
  t.equal(e.line, 6);
  t.match(e.reason, /included-http-headers: .* is not "Name: value"/);
  t.equal(headerOf('Bad Name: x'), undefined, 'a space in the name');
  t.equal(headerOf(': x'), undefined, 'no name');
  t.same(headerOf('X-A:b'), ['X-A', 'b']);
});

t.test('cisco-client-compat: implies dtls-legacy; a certificate login needs no certificate on the tunnel\'s connection', async (t) => {
  t.equal(config('dtls-legacy = false\ncisco-client-compat = true').dtlsLegacy, true, 'dtls-legacy forced on');
  t.equal(config('dtls-legacy = false').dtlsLegacy, false);
  const certOnly = 'auth = "certificate"\nca-cert = /dev/null\ncert-user-oid = 2.5.4.3';
  const strict = buildConfig(parseConfigText(`${certOnly}\nserver-cert = /dev/null\nserver-key = /dev/null\nipv4-network = 198.19.0.0/24`, 'f'), 'f');
  t.equal(strict.tunnel.certOnEveryConnection, true, 'auth = certificate, cisco-client-compat unset (false)');
  const lax = buildConfig(parseConfigText(`${certOnly}\ncisco-client-compat = true\nserver-cert = /dev/null\nserver-key = /dev/null\nipv4-network = 198.19.0.0/24`, 'f'), 'f');
  t.equal(lax.tunnel.certOnEveryConnection, false, 'cisco-client-compat = true');
  t.equal(config().tunnel.certOnEveryConnection, false, 'password logins: nothing to present');
});

t.test('match-tls-dtls-ciphers cannot apply to the legacy DTLS (ocserv refuses to start)', async (t) => {
  t.match(configError('match-tls-dtls-ciphers = true').reason, /set dtls-legacy = false/);
  t.match(configError('match-tls-dtls-ciphers = true\ndtls-legacy = false\ncisco-client-compat = true').reason, /dtls-legacy/);
  t.equal(config('match-tls-dtls-ciphers = true\ndtls-legacy = false').tunnel.matchTlsDtlsCiphers, true);
});

t.test('rekey: ±29 s over 30 s; "ssl" on TLS 1.3 only; none for 0', async (t) => {
  const o = { rekeyTime: 172800, rekeyMethod: 'ssl' as const };
  t.same(rekeyOffer(o, 'TLSv1.3', () => 0), { time: 172800 - 29, method: 'ssl' });
  t.same(rekeyOffer(o, 'TLSv1.3', () => 0.99999999), { time: 172800 + 29, method: 'ssl' });
  t.same(rekeyOffer(o, 'TLSv1.3', () => 0.5), { time: 172800, method: 'ssl' });
  t.same(rekeyOffer(o, 'TLSv1.2', () => 0.5), { time: 172800, method: 'new-tunnel' }, 'no renegotiation on TLS 1.2');
  t.same(rekeyOffer({ rekeyTime: 30, rekeyMethod: 'new-tunnel' }, 'TLSv1.3', () => 0), { time: 30, method: 'new-tunnel' }, 'short periods as given');
  t.same(rekeyOffer({ rekeyTime: 0, rekeyMethod: 'ssl' }, 'TLSv1.3'), { time: 0, method: 'none' });
});

t.test('the CONNECT reply: rekey, dynamic DNS, proxy PAC URL, client bypass', async (t) => {
  const c = config('rekey-time = 20\nrekey-method = ssl\nlisten-host-is-dyndns = true\nproxy-url = http://p.example/%{G}/%{U}.pac');
  const lines = reply(c, params, 'TLSv1.3');
  for (const l of ['X-CSTP-Rekey-Time: 20', 'X-CSTP-Rekey-Method: ssl', 'X-CSTP-DynDNS: true', 'X-CSTP-MSIE-Proxy-PAC-URL: http://p.example/eng/alice.pac',
    'X-CSTP-Client-Bypass-Protocol: false', 'X-DTLS-Rekey-Time: 30']) t.ok(lines.includes(l), l);
  t.notOk(lines.some((l) => l.startsWith('X-DTLS-Rekey-Method')), 'no DTLS rekey method: the client starts a new DTLS session after its rekey');
  t.ok(reply(c, params, 'TLSv1.2').includes('X-CSTP-Rekey-Method: new-tunnel'));

  const none = reply(config('rekey-time = 0'), params, 'TLSv1.3');
  t.ok(none.includes('X-CSTP-Rekey-Method: none'));
  t.notOk(none.some((l) => /Rekey-Time|DynDNS|Proxy/.test(l)));

  const byUser = reply(config('client-bypass-protocol = true'), { ...params, clientBypassProtocol: false }, null);
  t.ok(byUser.includes('X-CSTP-Client-Bypass-Protocol: false'), 'a per-user value wins over the server\'s');
  t.ok(reply(config('client-bypass-protocol = true'), params, null).includes('X-CSTP-Client-Bypass-Protocol: true'));
  t.ok(connectedResponse(params, 'test', 1500).includes('X-CSTP-Rekey-Time: 86400'), 'without the options: ocserv\'s defaults');
});

t.test('client-bypass-protocol in per-user and per-group files', async (t) => {
  const r = parseSessionConfig('client-bypass-protocol = true\n', 'alice');
  t.same(r.errors, []);
  t.same(r.warnings, []);
  t.equal(r.config.clientBypassProtocol, true);
  const c = config();
  const eff = resolveSession(c, r.config, {}, { mobile: false });
  t.equal('error' in eff ? undefined : eff.clientBypassProtocol, true);
  const plain = resolveSession(config('client-bypass-protocol = true'), {}, {}, { mobile: false });
  t.equal('error' in plain ? undefined : plain.clientBypassProtocol, true, 'the server\'s value otherwise');
});
