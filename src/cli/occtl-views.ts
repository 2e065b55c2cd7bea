/**
 * occtl's layouts for each answer of the server: the same lines, columns and JSON keys as
 * ocserv's occtl prints them, plus `Worker PID` (and the worker figures of `show status`).
 */
import type { BanInfo, CtlEvent, SecmodSessionInfo, StatusInfo, UserInfo } from '../ipc/control';
import { Block, bytes2human, dateTime, interval7, jsonArray, pad, since } from './occtl-print';

const NONE = '(none)';
const or = (v: string, dflt: string): string => (v === '' ? dflt : v);

/** The DTLS column of `show users`: the cipher alone, as occtl cuts it from the description. */
function dtlsColumn(desc: string): string {
  const m = /^\(DTLS[^)]*\)-\((?:RSA|PSK)\)-(.+)$/.exec(desc);
  return m ? m[1] : '(no-dtls)';
}

export function statusView(s: StatusInfo, json: boolean, debug: boolean, now: number): string {
  const b = new Block(json);
  b.raw('General info:\n');
  b.single('Status', 'online');
  b.int('Server PID', s.pid);
  b.int('Sec-mod PID', s.secmodPid);
  b.int('Sec-mod instance count', 1);
  b.int('Worker count', s.workers);
  b.int('Clients per worker', s.clientsPerWorker);
  b.ex('Up since', dateTime(s.startedAt), interval7(since(now, s.startedAt)));
  if (json) {
    b.int('raw_up_since', Math.floor(s.startedAt / 1000));
    b.int('uptime', since(now, s.startedAt));
  }
  b.int('Active sessions', s.activeSessions);
  b.int('Total sessions', s.totalSessions);
  b.int('Total authentication failures', s.totalAuthFailures);
  b.int('IPs in ban list', s.bannedIps);
  if (debug) b.int('Sec-mod client entries', s.secmodEntries);
  b.separator();
  b.raw('Current stats period:\n');
  b.ex('Last stats reset', dateTime(s.lastReset), interval7(since(now, s.lastReset)));
  if (json) b.int('raw_last_stats_reset', Math.floor(s.lastReset / 1000));
  b.int('Sessions handled', s.sessionsHandled);
  b.int('Timed out sessions', s.timedOut);
  b.int('Timed out (idle) sessions', s.idleTimedOut);
  b.int('Closed due to error sessions', s.closedByError);
  b.int('Authentication failures', s.authFailures);
  const times: Array<[string, string, number]> = [
    ['Average auth time', 'raw_avg_auth_time', s.avgAuthTime],
    ['Max auth time', 'raw_max_auth_time', s.maxAuthTime],
    ['Average session time', 'raw_avg_session_time', s.avgSessionTime],
    ['Max session time', 'raw_max_session_time', s.maxSessionTime],
  ];
  for (const [name, raw, secs] of times) {
    b.single(name, interval7(secs));
    if (json) b.int(raw, secs);
  }
  if (s.minMtu > 0) b.int('Min MTU', s.minMtu);
  if (s.maxMtu > 0) b.int('Max MTU', s.maxMtu);
  b.single('RX', bytes2human(s.rxBytes));
  if (json) b.int('raw_rx', s.rxBytes);
  b.single('TX', bytes2human(s.txBytes));
  if (json) b.int('raw_tx', s.txBytes);
  return json ? `${b.render()}\n` : b.render();
}

export function offlineStatusView(json: boolean): string {
  return json ? '  {\n    "Status":  "offline"\n  }\n' : '\tStatus: offline\n';
}

function userBlock(u: UserInfo, json: boolean, now: number, event?: CtlEvent): Block {
  const b = new Block(json);
  if (event) {
    b.rawJson(`"Event":  ${JSON.stringify(event.connected ? 'connected' : 'disconnected')}`);
    if (event.reason) b.rawJson(`"Reason":  ${JSON.stringify(event.reason)}`);
  }
  if (u.node !== undefined) b.single('Server', u.node);
  b.int('ID', u.id);
  b.int('Worker PID', u.workerPid);
  b.pair('Username', or(u.username, NONE), 'Groupname', or(u.groupname, NONE));
  b.single('State', u.state);
  b.single('vhost', u.vhost);
  if (u.mtu > 0) b.pair('Device', u.device, 'MTU', String(u.mtu));
  else b.single('Device', u.device);
  b.pair('Remote IP', u.remoteIp, 'Location', 'unknown');
  b.single('Local Device IP', u.localDeviceIp);
  if (u.ipv4 && u.ptpIpv4) b.pair('IPv4', u.ipv4, 'P-t-P IPv4', u.ptpIpv4);
  if (u.ipv6 && u.ptpIpv6) b.pair('IPv6', u.ipv6, 'P-t-P IPv6', u.ptpIpv6);
  b.single('User-Agent', u.userAgent);
  const secs = since(now, u.connectedAt);
  const rate = (n: number) => bytes2human(secs > 0 ? Math.floor(n / secs) : 0, '/sec');
  if (json) {
    b.single('RX', String(u.rxBytes)).single('TX', String(u.txBytes));
    b.single('_RX', bytes2human(u.rxBytes)).single('_TX', bytes2human(u.txBytes));
    b.single('Average RX', rate(u.rxBytes)).single('Average TX', rate(u.txBytes));
  } else {
    b.raw(`\tRX: ${u.rxBytes} (${bytes2human(u.rxBytes)})   TX: ${u.txBytes} (${bytes2human(u.txBytes)})\n`);
    b.raw(`\tAverage bandwidth RX: ${rate(u.rxBytes)}  TX: ${rate(u.txBytes)}\n`);
  }
  b.pair('DPD', String(u.dpd), 'KeepAlive', String(u.keepalive));
  b.single('Hostname', u.hostname);
  b.ex('Connected at', dateTime(u.connectedAt), interval7(secs));
  if (json) b.single('Full session', u.sid);
  b.single('Session', u.sid.slice(0, 6));
  b.single('TLS ciphersuite', u.tlsCipher);
  b.single('DTLS cipher', u.dtlsCipher);
  b.separator();
  b.list('DNS', u.dns);
  b.list('NBNS', u.nbns);
  b.list('Split-DNS-Domains', u.splitDns);
  // occtl prints the word where a client tunnels everything
  if (u.routes.length) b.list('Routes', u.routes);
  else b.single('Routes', 'defaultroute');
  b.list('No-routes', u.noRoutes);
  b.list('iRoutes', u.iroutes);
  b.single('Restricted to routes', u.restrictToRoutes ? 'True' : 'False');
  b.ports('Restricted to ports', u.restrictToPorts);
  return b;
}

/** The VPN address occtl's tables show: IPv4, else IPv6. */
const vpnIp = (u: UserInfo): string => u.ipv4 || u.ipv6 || '';

/** `show user`, `show id` and `-j show users`. Exit code 2 when nothing matched, as occtl. */
export function userInfoView(users: UserInfo[], json: boolean, now: number): { out: string; code: number } {
  const blocks = users.map((u) => userBlock(u, json, now));
  if (json) return { out: jsonArray(blocks, true), code: users.length ? 0 : 2 };
  if (!users.length) return { out: 'user or ID not found\n', code: 2 };
  return { out: blocks.map((b) => b.render()).join('\n'), code: 0 };
}

/** `show users`: occtl's table (JSON: the full records). */
/** `show users`; `cluster`: a first column names the server of each user (show cluster users). */
export function usersView(users: UserInfo[], json: boolean, now: number, cluster = false): string {
  if (json) return userInfoView(users, true, now).out;
  if (!users.length) return '';
  const server = (u?: UserInfo) => (cluster ? `${pad(u ? u.node ?? '' : 'server', 10)} ` : '');
  let out = `${server()}${pad('id', 8)} ${pad('user', 8)} ${pad('vhost', 8)} ${pad('ip', 14)} ${pad('vpn-ip', 14)} ${pad('device', 6)} ${pad('since', 7)} ${pad('dtls-cipher', 14)} ${pad('status', 9)}\n`;
  for (const u of users) {
    out += `${server(u)}${pad(u.id, 8)} ${pad(or(u.username, NONE), 8)} ${pad(u.vhost, 8)} ${pad(u.remoteIp, 14)} ${pad(vpnIp(u), 14)} ${pad(u.device, 6)} `;
    out += `${interval7(since(now, u.connectedAt))} ${pad(dtlsColumn(u.dtlsCipher), 14)} ${pad(u.state, 9)}\n`;
  }
  return out;
}

export function eventView(ev: CtlEvent, json: boolean, now: number): string {
  if (json) return jsonArray([userBlock(ev.user, true, now, ev)], true);
  const u = ev.user;
  const who = `${u.vhost}: %s user '${u.username}' (${u.id}) from ${u.remoteIp} with IP ${vpnIp(u)}`;
  if (ev.connected) return `${who.replace('%s', 'connected')}\n`;
  return `${who.replace('%s', 'disconnect')} (reason: ${ev.reason ?? 'unknown'}, time: ${interval7(since(now, u.connectedAt))})\n`;
}

function sessionBlock(s: SecmodSessionInfo, json: boolean): Block {
  const b = new Block(json);
  const sid = s.sid.slice(0, 6);
  b.single('Session', sid);
  b.single(json ? 'Full session' : 'Full session ID', s.sid);
  b.pair('Created', s.createdAt ? dateTime(s.createdAt) : '', 'Expires', s.expiresAt ? dateTime(s.expiresAt) : '');
  b.single('State', s.state);
  b.pair('Username', or(s.username, NONE), 'Groupname', or(s.groupname, NONE));
  b.pair('vhost', 'default', 'User-Agent', s.userAgent);
  b.pair('Remote IP', s.remoteAddr, 'Location', 'unknown');
  if (json) {
    b.int('session_is_open', s.activated ? 1 : 0);
    b.int('tls_auth_ok', 0);
    b.int('in_use', s.inUse ? 1 : 0);
  } else {
    b.pair('In use', s.inUse ? 'True' : 'False', 'Activated', s.activated ? 'True' : 'False');
    b.single('Certificate auth', 'False');
  }
  return b;
}

/** `show sessions all|valid`. */
export function sessionsView(list: SecmodSessionInfo[], json: boolean, now: number): string {
  if (json) return jsonArray(list.map((s) => sessionBlock(s, true)), true);
  if (!list.length) return '';
  let out = `${pad('session', 6)} ${pad('user', 8)} ${pad('vhost', 8)} ${pad('ip', 14)} ${pad('user agent', 24)} ${pad('created', 8)} ${pad('status', 8)}\n`;
  for (const s of list) {
    out += `${s.sid.slice(0, 6)} ${pad(or(s.username, NONE), 8)} ${pad('default', 8)} ${pad(s.remoteAddr, 14)} ${s.userAgent.slice(0, 24)} `;
    out += `${pad(interval7(since(now, s.createdAt)), 8)} ${pad(s.state, 8)}\n`;
  }
  return out;
}

/** `show session SID`. */
export function sessionView(list: SecmodSessionInfo[], json: boolean): { out: string; code: number } {
  const blocks = list.map((s) => sessionBlock(s, json));
  if (json) return { out: jsonArray(blocks, true), code: list.length ? 0 : 2 };
  if (!list.length) return { out: 'Session ID not found or expired\n', code: 2 };
  return { out: blocks.map((b) => b.render()).join('\n'), code: 0 };
}

/** `show ip bans` (banned addresses only) and `show ip ban points` (every scored address). */
export function bansView(list: BanInfo[], json: boolean, points: boolean, now: number): string {
  const rows = points ? list : list.filter((b) => b.expiresAt !== undefined);
  if (json) {
    return jsonArray(rows.map((r) => {
      const b = new Block(true).single('IP', r.ip);
      if (!points) b.ex('Since', dateTime(r.expiresAt!), interval7(since(r.expiresAt!, now)));
      return b.int('Score', r.score);
    }), false);
  }
  if (!rows.length) return '';
  if (points) return `${pad('IP', 14)} ${pad('score', 14)}\n${rows.map((r) => `${pad(r.ip, 14)} ${pad(r.score, 14)}\n`).join('')}`;
  return `${pad('IP', 14)} ${pad('score', 14)} ${pad('expires', 30)}\n` +
    rows.map((r) => `${pad(r.ip, 14)} ${pad(r.score, 14)} ${pad(dateTime(r.expiresAt!), 30)} (${interval7(since(r.expiresAt!, now))})\n`).join('');
}

/** `show iroutes`: the routes users provide. */
export function iroutesView(users: UserInfo[], json: boolean): string {
  if (json) {
    return jsonArray(users.map((u) => new Block(true)
      .int('ID', u.id).single('Username', or(u.username, NONE)).single('vhost', u.vhost)
      .single('Device', u.device).single('IP', vpnIp(u)).list('iRoutes', u.iroutes)), false);
  }
  if (!users.length) return '';
  let out = `${pad('id', 6)} ${pad('user', 8)} ${pad('vhost', 8)} ${pad('device', 6)} ${pad('vpn-ip', 16)} ${pad('iroute', 28)}\n`;
  for (const u of users) {
    for (const r of u.iroutes) out += `${pad(u.id, 6)} ${pad(or(u.username, NONE), 8)} ${pad(u.vhost, 8)} ${pad(u.device, 6)} ${pad(vpnIp(u), 16)} ${pad(r, 28)}\n`;
  }
  return out;
}
