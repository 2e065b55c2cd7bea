/**
 * metrics-listen and status-listen as options (ADDRESS:PORT, errors with their line), and
 * the status page's HTML: what a user name or address could inject is escaped, sizes and
 * rates read right. The live endpoints are in test/integration/metrics.test.ts and
 * status-page.test.ts.
 */
import t from 'tap';
import { buildConfig, ConfigError, parseConfigText } from '../../src/common/config';
import { isLoopback, parseListenAddress } from '../../src/common/listen-address';
import { createLogger } from '../../src/common/log';
import { SessionTable, type MainSession } from '../../src/main/sessions';
import { bytesText, durationText, ratesOf, StatusPage, trafficSvg } from '../../src/main/status-page';
import { TrafficBook, TrafficHistory } from '../../src/main/traffic';

const BASE = 'auth = "plain[passwd=/etc/ocpasswd]"\nserver-cert = /c.pem\nserver-key = /k.pem\nipv4-network = 198.19.0.0/24\n';
const parse = (text: string) => buildConfig(parseConfigText(text, 'test.conf'), 'test.conf');

t.test('ADDRESS:PORT values', async (t) => {
  t.same(parseListenAddress('127.0.0.1:9616'), { host: '127.0.0.1', port: 9616 });
  t.same(parseListenAddress('[::1]:9617'), { host: '::1', port: 9617 });
  t.same(parseListenAddress('9616'), { host: '127.0.0.1', port: 9616 }, 'a bare port is localhost');
  t.same(parseListenAddress('localhost:80'), { host: '127.0.0.1', port: 80 });
  t.match(parseListenAddress('::1:9616'), { error: /\[ADDRESS\]:PORT/ });
  t.match(parseListenAddress('metrics.example.com:9616'), { error: /not an IP address/ });
  t.match(parseListenAddress('127.0.0.1:99999'), { error: /not between 1 and 65535/ });
  t.match(parseListenAddress('127.0.0.1:'), { error: /not a port number/ });
  t.ok(isLoopback('127.0.0.1') && isLoopback('::1'));
  t.notOk(isLoopback('0.0.0.0') || isLoopback('198.18.0.1'));

  const c = parse(`${BASE}metrics-listen = 127.0.0.1:9616\nstatus-listen = [::1]:9617\n`);
  t.same(c.metricsListen, { host: '127.0.0.1', port: 9616 });
  t.same(c.statusListen, { host: '::1', port: 9617 });
  const none = parse(BASE);
  t.equal(none.metricsListen, undefined, 'off unless set');
  t.equal(none.statusListen, undefined);
  try {
    parse(`${BASE}\nmetrics-listen = everywhere\n`);
    t.fail('a bad value is an error');
  } catch (err) {
    t.type(err, ConfigError);
    t.match((err as ConfigError).message, /metrics-listen: 'everywhere' is not ADDRESS:PORT/);
    t.equal((err as ConfigError).line, 6);
  }
});

t.test('sizes, durations and rates', async (t) => {
  t.equal(bytesText(0), '0 B');
  t.equal(bytesText(1023), '1023 B');
  t.equal(bytesText(1536), '1.50 KiB');
  t.equal(bytesText(300 * 1024 * 1024), '300.0 MiB');
  t.equal(durationText(42_000), '42s');
  t.equal(durationText(125_000), '2m 5s');
  t.equal(durationText(3 * 3600_000 + 60_000), '3h 1m');
  t.equal(durationText(50 * 3600_000), '2d 2h');
  t.same(ratesOf([
    { at: 0, rxBytes: 0, txBytes: 0, sessions: 0 },
    { at: 10_000, rxBytes: 10_000, txBytes: 20_000, sessions: 1 },
  ]), [{ at: 10_000, rx: 1000, tx: 2000 }]);
  const svg = trafficSvg([
    { at: 1_000, rxBytes: 0, txBytes: 0, sessions: 0 },
    { at: 11_000, rxBytes: 10_000, txBytes: 0, sessions: 1 },
    { at: 21_000, rxBytes: 30_000, txBytes: 5_000, sessions: 1 },
  ], 21_000, 3_600_000);
  t.match(svg, /<polyline points="[\d.]+,[\d.]+ [\d.]+,[\d.]+" class="rx"\/>/, 'a line of two rates');
  t.notMatch(svg, /collecting samples/);
  t.match(trafficSvg([], 0, 3_600_000), /collecting samples/, 'an empty graph says why');
});

t.test('the page escapes what clients and users control', async (t) => {
  const sessions = new SessionTable();
  const traffic = new TrafficBook(sessions);
  const history = new TrafficHistory(traffic, sessions);
  const page = new StatusPage({
    log: createLogger('test', 'silent'), sessions, workers: () => undefined, traffic, history, startedAt: Date.now() - 5000, version: 'ocserv-ts 0.1.0',
  }, { host: '127.0.0.1', port: 1 });
  t.match(page.render(), /<p id="users" class="empty">Nobody is connected\.<\/p>/);
  sessions.add({
    sessionId: sessions.newId(), workerId: 1, connId: 1, cookie: 'c', sid: 'sid', username: '<img src=x onerror=alert(1)>', groupname: 'a&b',
    remoteAddr: '198.18.0.2', lease: { local: '198.19.0.1', remote: '198.19.0.2' }, tunName: 'vpns-none', tunFd: -1, startedAt: Date.now(), dtlsId: 'd',
    dtlsCipher: '"><script>', client: { userAgent: '', hostname: '', deviceType: '', platform: '', mobile: false }, loginAt: Date.now(),
    idleTimeout: 0, sessionTimeout: 0, lastActivity: 0, lastRxPackets: 0, lastReport: 0, reportEvery: 0, script: {} as MainSession['script'],
  } as MainSession);
  const html = page.render();
  t.notMatch(html, /<img|<script/, 'no markup from a user name or cipher text');
  t.match(html, /<td class="user">&#60;img src=x onerror=alert\(1\)&#62;<\/td>/);
  t.match(html, /<td>a&#38;b<\/td>/);
  t.match(html, /<td id="session-count">1<\/td>/);
  traffic.stop();
});
