/**
 * occtl-ts's layouts against what Debian's occtl 1.1.6 printed for the same facts
 * (captured from a Debian ocserv with openconnect sessions; dates made local-time neutral).
 */
import t from 'tap';
import type { SecmodSessionInfo, StatusInfo, UserInfo } from '../../src/ipc/control';
import { dateTime } from '../../src/cli/occtl-print';
import { bansView, eventView, sessionView, sessionsView, statusView, userInfoView, usersView } from '../../src/cli/occtl-views';

const now = Date.now();
const at = now - 4000;
const when = dateTime(at);

const alice: UserInfo = {
  id: 29277, workerPid: 4242, username: 'alice', groupname: 'staff', state: 'connected', vhost: 'default', device: 'vpns0',
  mtu: 1334, remoteIp: '198.18.190.2', localDeviceIp: '198.18.190.1', ipv4: '198.19.0.50', ptpIpv4: '198.19.0.1',
  userAgent: 'Open AnyConnect VPN Agent v9.01-3', hostname: 'vm', rxBytes: 300, txBytes: 604, dpd: 90, keepalive: 32400,
  connectedAt: at, sid: 'q9zQkOjn+vFRWMSSr5zReSGOx0s=', tlsCipher: '(TLS1.3)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GC',
  dtlsCipher: '(DTLS1.2)-(PSK)-(AES-256-GCM)', dns: ['198.19.0.53'], nbns: [], splitDns: ['example.com'],
  routes: ['198.19.0.0/255.255.255.0', '10.77.0.0/255.255.0.0'], noRoutes: ['10.77.5.0/255.255.255.0'], iroutes: [],
  restrictToRoutes: false, restrictToPorts: [],
};
const bob: UserInfo = { ...alice, id: 29318, username: 'bob', groupname: '', ipv4: '198.19.0.106', device: 'vpns1', dtlsCipher: '', connectedAt: now - 1000 };

// Debian occtl's `show users` with these two sessions
const DEBIAN_USERS = [
  '      id     user    vhost             ip         vpn-ip device   since    dtls-cipher    status',
  '   29318      bob  default   198.18.190.2   198.19.0.106  vpns1     1s      (no-dtls) connected',
  '   29277    alice  default   198.18.190.2    198.19.0.50  vpns0     4s  (AES-256-GCM) connected',
  '',
].join('\n');

// Debian occtl's `show user alice`, plus the one line ocserv-ts adds
const DEBIAN_USER = [
  '\tID: 29277',
  '\tWorker PID: 4242',
  '\tUsername: alice   Groupname: staff',
  '\tState: connected',
  '\tvhost: default',
  '\tDevice: vpns0   MTU: 1334',
  '\tRemote IP: 198.18.190.2   Location: unknown',
  '\tLocal Device IP: 198.18.190.1',
  '\tIPv4: 198.19.0.50   P-t-P IPv4: 198.19.0.1',
  '\tUser-Agent: Open AnyConnect VPN Agent v9.01-3',
  '\tRX: 300 (300 bytes)   TX: 604 (604 bytes)',
  '\tAverage bandwidth RX: 75 bytes/sec  TX: 151 bytes/sec',
  '\tDPD: 90   KeepAlive: 32400',
  '\tHostname: vm',
  `\tConnected at: ${when} (    4s)`,
  '\tSession: q9zQkO',
  '\tTLS ciphersuite: (TLS1.3)-(ECDHE-SECP256R1)-(ECDSA-SECP256R1-SHA256)-(AES-256-GC',
  '\tDTLS cipher: (DTLS1.2)-(PSK)-(AES-256-GCM)',
  '',
  '\tDNS: 198.19.0.53',
  '\tSplit-DNS-Domains: example.com',
  '\tRoutes: 198.19.0.0/255.255.255.0',
  '\t\t10.77.0.0/255.255.0.0',
  '\tNo-routes: 10.77.5.0/255.255.255.0',
  '\tRestricted to routes: False',
  '',
  '',
].join('\n');

const DEBIAN_USER_KEYS = ['ID', 'Username', 'Groupname', 'State', 'vhost', 'Device', 'MTU', 'Remote IP', 'Location', 'Local Device IP',
  'IPv4', 'P-t-P IPv4', 'User-Agent', 'RX', 'TX', '_RX', '_TX', 'Average RX', 'Average TX', 'DPD', 'KeepAlive', 'Hostname',
  'Connected at', '_Connected at', 'Full session', 'Session', 'TLS ciphersuite', 'DTLS cipher', 'DNS', 'NBNS', 'Split-DNS-Domains',
  'Routes', 'No-routes', 'iRoutes', 'Restricted to routes', 'Restricted to ports'];

t.test('show users: the same table as occtl', async (t) => {
  t.equal(usersView([bob, alice], false, now), DEBIAN_USERS);
  t.equal(usersView([], false, now), '', 'nothing at all without users');
});

t.test('show user: the same lines as occtl, and Worker PID', async (t) => {
  const v = userInfoView([alice], false, now);
  t.equal(v.code, 0);
  t.equal(v.out, DEBIAN_USER);
  t.same(userInfoView([], false, now), { out: 'user or ID not found\n', code: 2 });
  t.same(userInfoView([], true, now), { out: '[\n]\n', code: 2 });
});

t.test('-j show users: occtl\'s keys in occtl\'s order, valid JSON, values as occtl types them', async (t) => {
  const out = usersView([bob, alice], true, now);
  const parsed = JSON.parse(out) as Array<Record<string, unknown>>;
  t.equal(parsed.length, 2);
  t.same(Object.keys(parsed[1]).filter((k) => k !== 'Worker PID'), DEBIAN_USER_KEYS);
  t.same(Object.keys(parsed[0]).filter((k) => k !== 'Worker PID'), DEBIAN_USER_KEYS.filter((k) => k !== 'DTLS cipher'), 'no DTLS cipher without DTLS, as occtl');
  t.match(parsed[1], { ID: 29277, 'Worker PID': 4242, Username: 'alice', MTU: '1334', RX: '300', _RX: '300 bytes', DPD: '90', 'Full session': alice.sid, Session: 'q9zQkO', Routes: alice.routes, NBNS: [] });
  t.equal(parsed[0].Groupname, '(none)');
  t.match(out, /^\[\n  \{\n    "ID":  29318,\n/, 'occtl\'s indentation');
  t.match(out, /\n  \},\n\n  \{\n/, 'a blank line between records, as occtl');
  const all = JSON.parse(usersView([{ ...alice, routes: [] }], true, now))[0];
  t.equal(all.Routes, 'defaultroute', 'a full tunnel reads as occtl\'s parsed value');
});

t.test('show sessions and show session', async (t) => {
  const s: SecmodSessionInfo = {
    sid: 'q9zQkOjn+vFRWMSSr5zReSGOx0s=', username: 'alice', groupname: 'staff', userAgent: 'Open AnyConnect VPN Agent v9.01-3',
    remoteAddr: '198.18.190.2', createdAt: now - 3000, expiresAt: 0, state: 'authenticated', inUse: true, activated: true,
  };
  t.equal(sessionsView([s], false, now), [
    'session     user    vhost             ip               user agent  created   status',
    'q9zQkO    alice  default   198.18.190.2 Open AnyConnect VPN Agen       3s authenticated',
    '',
  ].join('\n'));
  t.equal(sessionView([s], false).out, [
    '\tSession: q9zQkO',
    '\tFull session ID: q9zQkOjn+vFRWMSSr5zReSGOx0s=',
    `\tCreated: ${dateTime(s.createdAt)}`,
    '\tState: authenticated',
    '\tUsername: alice   Groupname: staff',
    '\tvhost: default   User-Agent: Open AnyConnect VPN Agent v9.01-3',
    '\tRemote IP: 198.18.190.2   Location: unknown',
    '\tIn use: True   Activated: True',
    '\tCertificate auth: False',
    '',
  ].join('\n'));
  const j = JSON.parse(sessionsView([s, { ...s, sid: 'xT+Nkn0000', state: 'authenticating', inUse: false, activated: false }], true, now));
  t.same(Object.keys(j[0]), ['Session', 'Full session', 'Created', 'State', 'Username', 'Groupname', 'vhost', 'User-Agent', 'Remote IP', 'Location', 'session_is_open', 'tls_auth_ok', 'in_use']);
  t.match(j[1], { Session: 'xT+Nkn', State: 'authenticating', in_use: 0 });
  t.same(sessionView([], false), { out: 'Session ID not found or expired\n', code: 2 });
});

t.test('show ip bans and show ip ban points', async (t) => {
  const exp = now + 300_000;
  const list = [{ ip: '198.18.190.2', score: 40, expiresAt: exp }, { ip: '198.18.7.9', score: 3 }];
  t.equal(bansView(list, false, false, now), `            IP          score                        expires\n  198.18.190.2             40 ${dateTime(exp).padStart(30)} ( 5m:00s)\n`);
  t.equal(bansView(list, false, true, now), '            IP          score\n  198.18.190.2             40\n    198.18.7.9              3\n');
  t.same(JSON.parse(bansView(list, true, false, now)), [{ IP: '198.18.190.2', Since: dateTime(exp), _Since: ' 5m:00s', Score: 40 }]);
  t.same(JSON.parse(bansView(list, true, true, now)), [{ IP: '198.18.190.2', Score: 40 }, { IP: '198.18.7.9', Score: 3 }]);
  t.equal(bansView([], false, false, now), '');
});

t.test('show status: occtl\'s sections and keys, live figures, the worker counts', async (t) => {
  const s: StatusInfo = {
    pid: 10, secmodPid: 11, startedAt: now - 5000, lastReset: now - 5000, activeSessions: 2, totalSessions: 3, sessionsHandled: 3,
    timedOut: 0, idleTimedOut: 0, closedByError: 0, totalAuthFailures: 4, authFailures: 4, bannedIps: 1, secmodEntries: 5,
    avgAuthTime: 1, maxAuthTime: 2, avgSessionTime: 70, maxSessionTime: 3700, minMtu: 1334, maxMtu: 1400, rxBytes: 1500, txBytes: 0,
    workers: 4, clientsPerWorker: 1,
  };
  const text = statusView(s, false, false, now);
  t.match(text, /^General info:\n\tStatus: online\n\tServer PID: 10\n\tSec-mod PID: 11\n\tSec-mod instance count: 1\n\tWorker count: 4\n\tClients per worker: 1\n/);
  t.match(text, /\tActive sessions: 2\n\tTotal sessions: 3\n\tTotal authentication failures: 4\n\tIPs in ban list: 1\n\nCurrent stats period:\n/);
  t.match(text, /\tAverage session time:  1m:10s\n\tMax session time:  1h:01m\n\tMin MTU: 1334\n\tMax MTU: 1400\n\tRX: 1.5 KB\n\tTX: 0 bytes\n$/);
  t.notMatch(text, /Sec-mod client entries/);
  t.match(statusView(s, false, true, now), /\tSec-mod client entries: 5\n/, '--debug adds the sec-mod entries');
  const j = JSON.parse(statusView(s, true, false, now));
  const debianKeys = ['Status', 'Server PID', 'Sec-mod PID', 'Sec-mod instance count', 'Up since', '_Up since', 'raw_up_since', 'uptime',
    'Active sessions', 'Total sessions', 'Total authentication failures', 'IPs in ban list', 'Last stats reset', '_Last stats reset',
    'raw_last_stats_reset', 'Sessions handled', 'Timed out sessions', 'Timed out (idle) sessions', 'Closed due to error sessions',
    'Authentication failures', 'Average auth time', 'raw_avg_auth_time', 'Max auth time', 'raw_max_auth_time', 'Average session time',
    'raw_avg_session_time', 'Max session time', 'raw_max_session_time', 'Min MTU', 'Max MTU', 'RX', 'raw_rx', 'TX', 'raw_tx'];
  t.same(Object.keys(j).filter((k) => k !== 'Worker count' && k !== 'Clients per worker'), debianKeys);
  t.match(j, { 'Worker count': 4, 'Clients per worker': 1, raw_rx: 1500, uptime: 5 });
});

t.test('show events lines', async (t) => {
  t.equal(eventView({ connected: true, user: alice }, false, now), "default: connected user 'alice' (29277) from 198.18.190.2 with IP 198.19.0.50\n");
  t.equal(eventView({ connected: false, user: alice, reason: 'user disconnected' }, false, now),
    "default: disconnect user 'alice' (29277) from 198.18.190.2 with IP 198.19.0.50 (reason: user disconnected, time:     4s)\n");
  const j = JSON.parse(eventView({ connected: false, user: alice, reason: 'DPD timeout' }, true, now));
  t.match(j[0], { Event: 'disconnected', Reason: 'DPD timeout', ID: 29277, Username: 'alice' });
});
