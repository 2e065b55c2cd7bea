/**
 * The ocserv options of issue 8's last batch, below the network: how each is read and what
 * it changes. compression's worker side (negotiation, bounds), log-level against -d,
 * server-stats-reset-time's periods, append-routes, select-group-by-url's URL rule, ban-time
 * as min-reauth-time, and the options ocserv-ts accepts but will not act on, with why.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { buildConfig, parseConfigText, type Config, type ConfigWarning } from '../../src/common/config';
import { lookupOption } from '../../src/common/config-schema';
import { debugLevel, levelFromDebug } from '../../src/common/log';
import { parseSessionConfig, resolveSession } from '../../src/common/session-config';
import { CODECS } from '../../src/common/compress';
import { ServerStats } from '../../src/main/server-stats';
import { CompressedPacketError, TunnelCompression, compressionConfig, encodingHeaders, inflate, negotiate } from '../../src/worker/compression';
import { CstpProtocolError } from '../../src/worker/cstp';
import { groupFromUrl } from '../../src/worker/group-url';
import { parseCli } from '../../src/main/cli';

function config(extra = '', warnings: ConfigWarning[] = []): Config {
  const text = [
    'auth = "plain[passwd=/dev/null]"', 'server-cert = /dev/null', 'server-key = /dev/null',
    'ipv4-network = 198.19.0.0/24', 'route = 198.19.0.0/24', 'no-route = 198.19.0.128/25', extra,
  ].join('\n');
  return buildConfig(parseConfigText(text, 'ocserv.conf', warnings), 'ocserv.conf');
}

const silent = { warn: () => {} } as unknown as Parameters<typeof compressionConfig>[1];

t.test('reading the options: defaults as ocserv', async (t) => {
  const c = config();
  t.equal(c.compression, false, 'compression off');
  t.equal(c.noCompressLimit, 256);
  t.equal(c.logLevel, 0);
  t.equal(c.serverStatsResetTime, 604800, 'weekly');
  t.equal(c.secModDbCleanupTime, 0, 'the built-in interval');
  t.equal(c.appendRoutes, false);
  t.equal(c.selectGroupByUrl, false);
  const d = config(['compression = true', 'no-compress-limit = 10', 'compression-algo-priority = lzs:100', 'compression-algo-priority = oc-lz4:120',
    'log-level = 3', 'server-stats-reset-time = 0', 'sec-mod-db-cleanup-time = 5', 'append-routes = true', 'select-group-by-url = true',
    'ban-time = 42'].join('\n'));
  t.equal(d.compression, true);
  t.equal(d.noCompressLimit, 64, 'raised to ocserv\'s minimum');
  t.same(d.compressionAlgoPriority, ['lzs:100', 'oc-lz4:120'], 'every line, in order');
  t.equal(d.logLevel, 3);
  t.equal(d.serverStatsResetTime, 0);
  t.equal(d.secModDbCleanupTime, 5);
  t.equal(d.appendRoutes, true);
  t.equal(d.selectGroupByUrl, true);
  t.equal(d.minReauthTime, 42, 'ban-time (ocserv 1.4.1) is min-reauth-time');
  t.throws(() => config('log-level = 10'), /above the maximum 9/);
});

t.test('every option of this batch acts now, or says why it never will', async (t) => {
  const acting = ['compression', 'compression-algo-priority', 'no-compress-limit', 'log-level', 'server-stats-reset-time',
    'sec-mod-db-cleanup-time', 'ban-time', 'append-routes', 'select-group-by-url'];
  for (const name of acting) t.not(lookupOption(name)?.implemented, false, `${name} acts`);
  const warnings: ConfigWarning[] = [];
  config(['pin-file = /etc/pin', 'key-pin = 1234', 'syslog-facility = local0', 'sec-mod-scale = 4', ...acting.map((n) => `${n} = 1`)].join('\n'), warnings);
  t.same(warnings.filter((w) => w.notYet), [], 'nothing is "not yet supported"');
  const reasons = Object.fromEntries(warnings.filter((w) => w.reason).map((w) => [w.option, w.reason]));
  t.match(reasons['pin-file'], /unencrypted key file.*PKCS #11/);
  t.match(reasons['key-pin'], /unencrypted key file.*PKCS #11/);
  t.match(reasons['syslog-facility'], /stderr.*SyslogFacility=/);
  t.match(reasons['sec-mod-scale'], /one sec-mod process/);
});

t.test('log-level: ocserv\'s scale on pino\'s levels, and -d wins', async (t) => {
  t.same([0, 1, 2, 3, 4, 5, 8, 9].map(levelFromDebug), ['info', 'info', 'info', 'debug', 'trace', 'trace', 'trace', 'trace']);
  t.equal(debugLevel(0, 3), 3, 'no -d: the file\'s log-level');
  t.equal(debugLevel(1, 3), 1, '-d 1 wins');
  t.equal(debugLevel(parseCli([]).debug, 4), 4, 'no -d on the command line');
  t.equal(debugLevel(parseCli(['-d', '2']).debug, 4), 2);
});

t.test('server-stats-reset-time: the period restarts, the totals go on', async (t) => {
  let now = 1_000_000;
  const st = new ServerStats(now, () => now);
  st.resetAfterS = 60;
  st.loginFailed();
  st.loginSucceeded(1500);
  st.sessionClosed({ reason: 'idle timeout', durationMs: 120_000, rxBytes: 10, txBytes: 20, mtu: 1400 });
  t.same([st.authFailures, st.totalAuthFailures, st.sessionsClosed, st.totalSessionsClosed, st.idleTimedOut, st.rxBytes], [1, 1, 1, 1, 1, 10]);
  now += 60_000;
  t.equal(st.current().authFailures, 1, 'exactly the period: not yet');
  now += 1;
  const cur = st.current();
  t.same([cur.authFailures, cur.totalAuthFailures, cur.sessionsClosed, cur.totalSessionsClosed, cur.idleTimedOut, cur.rxBytes, cur.maxAuthMs, cur.avgSessionMs],
    [0, 1, 0, 1, 0, 0, 0, 0], 'the period\'s figures start again; the totals do not');
  t.equal(cur.lastReset, now, 'Last stats reset');
  t.equal(cur.maxMtu, 1400, 'the MTUs seen stay (ocserv keeps them too)');
  st.loginFailed();
  t.same([st.authFailures, st.totalAuthFailures], [1, 2]);
  const never = new ServerStats(0, () => now);
  never.resetAfterS = 0;
  never.loginFailed();
  now += 10 ** 9;
  t.equal(never.current().authFailures, 1, '0: never');
});

t.test('append-routes: the server\'s routes and no-routes follow the session\'s own', async (t) => {
  const user = (text: string) => parseSessionConfig(text, 'alice').config;
  const off = config();
  const on = config('append-routes = true');
  const own = user('route = 10.1.0.0/16\nno-route = 10.1.5.0/24');
  const nets = (rs: Array<{ network: string; prefix: number }>) => rs.map((r) => `${r.network}/${r.prefix}`);
  const r0 = resolveSession(off, own, {}, { mobile: false });
  const r1 = resolveSession(on, own, {}, { mobile: false });
  if ('error' in r0 || 'error' in r1) throw new Error('resolve failed');
  t.same(nets(r0.routes), ['10.1.0.0/16'], 'off: the user\'s routes replace the server\'s');
  t.same(nets(r0.noRoutes), ['10.1.5.0/24']);
  t.same(nets(r1.routes), ['10.1.0.0/16', '198.19.0.0/24'], 'on: the server\'s follow');
  t.same(nets(r1.noRoutes), ['10.1.5.0/24', '198.19.0.128/25']);
  const radius = resolveSession(on, {}, { routes: ['10.9.0.0/16', '198.19.0.0/24'] }, { mobile: false });
  if ('error' in radius) throw new Error('resolve failed');
  t.same(nets(radius.routes), ['10.9.0.0/16', '198.19.0.0/24'], 'RADIUS routes too, without repeats');
  const plain = resolveSession(on, {}, {}, { mobile: false });
  if ('error' in plain) throw new Error('resolve failed');
  t.same(nets(plain.routes), ['198.19.0.0/24'], 'no routes of its own: the server\'s, once');
  const all = resolveSession(on, user('route = default'), {}, { mobile: false });
  if ('error' in all) throw new Error('resolve failed');
  t.same(all.routes, [], 'a user tunnelling everything still does');
});

t.test('select-group-by-url: which POST paths name a group', async (t) => {
  t.equal(groupFromUrl('/staff', true), 'staff');
  t.equal(groupFromUrl('/staff/', true), 'staff');
  t.equal(groupFromUrl('/Group%20Two?x=1', true), 'Group Two');
  t.equal(groupFromUrl('/staff', false), undefined, 'off');
  for (const own of ['/', '/auth', '/auth?a=b', '/?x', undefined]) t.equal(groupFromUrl(own, true), undefined, `${own}: login's own`);
  t.equal(groupFromUrl('/%E0%A4%A', true), undefined, 'a bad escape');
  t.equal(groupFromUrl('/a%0Ab', true), undefined, 'control characters');
  t.equal(groupFromUrl(`/${'g'.repeat(300)}`, true), undefined, 'longer than a group name may be');
});

t.test('compression in the worker: negotiation, the no-compress-limit, bounded decoding', async (t) => {
  const cfg = compressionConfig({ compression: true, noCompressLimit: 100, compressionAlgoPriority: ['lzs:100', 'nonsense'] }, silent)!;
  t.same(cfg, { priorities: { 'oc-lz4': 90, 'lzs': 100 }, noCompressLimit: 100 });
  t.equal(compressionConfig({ compression: false, noCompressLimit: 100, compressionAlgoPriority: [] }, silent), undefined);
  const headers = { 'x-cstp-accept-encoding': 'oc-lz4,lzs,deflate', 'x-dtls-accept-encoding': 'oc-lz4' };
  const n = negotiate(cfg, headers, true)!;
  t.equal(n.cstp?.name, 'lzs');
  t.equal(n.dtls?.name, 'oc-lz4');
  t.same(encodingHeaders(n), ['X-DTLS-Content-Encoding: oc-lz4', 'X-CSTP-Content-Encoding: lzs']);
  t.equal(negotiate(cfg, headers, false)?.dtls, undefined, 'no DTLS offered: no DTLS encoding');
  t.equal(negotiate(cfg, {}, true), undefined, 'a client offering nothing');
  t.equal(negotiate(undefined, headers, true), undefined, 'compression off');

  const z = new TunnelCompression(n, 100, 1500);
  const short = Buffer.alloc(100, 1);
  const long = Buffer.alloc(101, 1);
  t.equal(z.cstpFrame(short), undefined, 'at the limit: as it is');
  const frame = z.cstpFrame(long)!;
  t.same(frame.subarray(0, 4), Buffer.from('STF\x01', 'latin1'));
  t.equal(frame[6], 0x08, 'a compressed CSTP packet');
  t.equal(frame.readUInt16BE(4), frame.length - 8);
  t.same(z.inflate('cstp', frame.subarray(8)), long, 'decodes to the packet');
  t.equal(z.cstpFrame(randomBytes(500)), undefined, 'no gain: as it is');
  const d = z.dtlsPayload(long)!;
  t.same(z.inflate('dtls', d, 1), Buffer.concat([Buffer.from([0]), long]), 'DTLS: a data record again');
  const huge = Buffer.alloc(9000, 2);
  const big = Buffer.alloc(9100);
  const m = CODECS['oc-lz4'].compress(huge, big);
  t.throws(() => z.inflate('dtls', big.subarray(0, m)), /exceeds 1500/, 'never more than the tunnel\'s packet size');
  t.throws(() => z.inflate('cstp', Buffer.from([1, 2, 3])), CompressedPacketError);
  const lz4Only = new TunnelCompression({ dtls: CODECS['oc-lz4'] }, 100, 1500);
  t.throws(() => lz4Only.inflate('cstp', Buffer.from([0x10, 0x41])), /no compression was negotiated for it/);
  let thrown: unknown;
  try {
    inflate(undefined, 'cstp', Buffer.from([0x10, 0x41]));
  } catch (err) {
    thrown = err;
  }
  t.ok(thrown instanceof CstpProtocolError, 'a CstpProtocolError: the CSTP reader closes the tunnel with a log line');
});
