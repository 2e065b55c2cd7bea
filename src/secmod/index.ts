/**
 * sec-mod: the only process that sees passwords and issues session cookies.
 * Started by main with the config path as argument and its main channel on fd 3;
 * each worker's channel arrives later over that channel.
 */
import { loadConfig } from '../common/config';
import { createLogger, logCrashes } from '../common/log';
import { Channel } from '../ipc/channel';
import { workerToSecmod, type MainToSecmod, type SecmodToMain, type SecmodToWorker, type WorkerToSecmod } from '../ipc/messages';
import { Authenticator } from './login';
import { sessionList } from './session-list';
import { CookieStore } from './sessions';
import { Accounting } from './accounting';
import { RadiusAccounting } from './acct/radius-acct';
import { KeyService, keyPairs } from './key-service';
import { PeerCheck } from './peer-check';
import { SupConfigReader } from './sup-config';
import { dropSecmodCapabilities } from './privileges';
import { closeFd } from '../native';

const MAIN_FD = 3;
const log = createLogger('sec-mod');
logCrashes(log);
const configPath = process.argv[2];
if (!configPath) {
  log.fatal('sec-mod needs the config path as its argument');
  process.exit(2);
}
let config = loadConfig(configPath);
const cookies = new CookieStore(config.cookieTimeout);
// key isolation (issue 4): the server's private keys live here and never in a worker
let keys: KeyService | undefined;
try {
  keys = config.keyIsolation ? new KeyService(keyPairs(config), log) : undefined;
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'cannot load the server keys');
  process.exit(1);
}
const peers = new PeerCheck();
const supConfig = new SupConfigReader(log);
let acctSink: RadiusAccounting | undefined;
try {
  acctSink = config.acct ? new RadiusAccounting(config.acct.params, log) : undefined;
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'cannot set up RADIUS accounting');
  process.exit(1);
}
const accounting = new Accounting(acctSink);
cookies.onEnd = (s, kind) => {
  log.info({ user: s.username, ip: s.remoteAddr, sid: s.sid, kind }, 'session ended');
  accounting.ended(s, kind);
};
dropSecmodCapabilities(log);
const main = new Channel<MainToSecmod, SecmodToMain>(MAIN_FD, { name: 'sec-mod<-main', log });
const auth = new Authenticator(config, log,
  (s) => cookies.issue(s.username, s.groupname, s.remoteAddr, { sid: s.sid, userAgent: s.userAgent, attrs: s.attrs }),
  {
    // main keeps the ban scores and the statistics occtl shows
    failed: (remoteAddr, username, why) => main.send('auth.failed', { remoteAddr, username, why }),
    succeeded: (remoteAddr, username, ms) => main.send('auth.succeeded', { remoteAddr, username, ms }),
  });
/** Accounting Stops still queued get a few seconds to reach the server before sec-mod goes. */
async function exit(why: string): Promise<never> {
  log.info({ why }, 'sec-mod exits');
  await accounting.flush(5000);
  process.exit(0);
}
main.onClose((reason) => void exit(`main went away (${reason})`));
process.on('SIGTERM', () => void exit('SIGTERM'));

main.on('worker.attach', ({ workerId }, { fds }) => {
  const [fd] = fds;
  if (fd === undefined) return;
  const ch = new Channel<WorkerToSecmod, SecmodToWorker>(fd, { name: `sec-mod<-worker${workerId}`, log, validators: workerToSecmod });
  ch.on('auth.init', async (body, ctx) => {
    if (!peers.proven(body)) {
      log.warn({ worker: workerId, ip: body.remoteAddr }, 'login request without main\'s proof of its client; closing the worker\'s channel');
      ch.close('unproven peer');
      return;
    }
    ctx.reply('auth.reply', await auth.init(body));
  });
  ch.on('auth.cont', async (body, ctx) => {
    if (!body.proof || !peers.proven({ remoteAddr: body.proof.remoteAddr, proof: body.proof })) {
      log.warn({ worker: workerId }, 'login step without main\'s proof of its client; closing the worker\'s channel');
      ch.close('unproven peer');
      return;
    }
    ctx.reply('auth.reply', await auth.cont(body));
  });
});

main.on('key.attach', ({ workerId }, { fds }) => {
  const [fd] = fds;
  if (fd === undefined) return;
  if (keys) keys.attach(workerId, fd);
  else closeFd(fd);
});
main.on('peer.key', ({ key }) => peers.setKey(key));

main.on('session.open', async ({ cookie, remoteAddr }, ctx) => {
  const known = cookies.lookup(cookie);
  if (!known) {
    log.warn({ ip: remoteAddr }, 'tunnel request with an unknown or expired cookie');
    ctx.reply('session.open.reply', { ok: false, reason: 'invalid cookie' });
    return;
  }
  // read at every tunnel, as ocserv: an edited file applies to the next session
  const sup = await supConfig.read(config, known.username, known.groupname);
  // the cookie may have gone while the files were read
  const s = cookies.lookup(cookie);
  if (!s) {
    ctx.reply('session.open.reply', { ok: false, reason: 'invalid cookie' });
    return;
  }
  if (!sup.ok) {
    log.warn({ user: s.username, group: s.groupname, ip: remoteAddr, reason: sup.reason }, 'session refused: bad per-user/group settings');
    ctx.reply('session.open.reply', { ok: false, reason: `per-user/group settings: ${sup.reason}` });
    return;
  }
  const denyRoaming = sup.config.denyRoaming ?? config.denyRoaming;
  if (denyRoaming && s.remoteAddr !== remoteAddr) {
    log.warn({ user: s.username, ip: remoteAddr, loginIp: s.remoteAddr }, 'cookie used from another address (deny-roaming)');
    ctx.reply('session.open.reply', { ok: false, reason: 'this session belongs to another address (deny-roaming)' });
    return;
  }
  const maxSame = sup.config.maxSameClients ?? config.maxSameClients;
  if (maxSame > 0 && cookies.countForUser(s.username) >= maxSame && !s.inUse) {
    ctx.reply('session.open.reply', { ok: false, reason: `user ${s.username} already has ${maxSame} sessions (max-same-clients)` });
    return;
  }
  cookies.markInUse(s);
  ctx.reply('session.open.reply', {
    ok: true, username: s.username, groupname: s.groupname, sid: s.sid, cookieTimeout: config.cookieTimeout, attrs: s.attrs, loginAt: s.createdAt, lastIpv4: s.lastIpv4, lastIpv6: s.lastIpv6,
    config: sup.config,
  });
});

main.on('session.started', ({ cookie, ipv4, ipv6 }) => {
  const s = cookies.lookup(cookie);
  if (!s) return;
  s.lastIpv4 = ipv4;
  s.lastIpv6 = ipv6;
  accounting.started(s, ipv4, ipv6);
});

main.on('session.stats', ({ cookie, stats }) => {
  const s = cookies.lookup(cookie);
  if (s) accounting.report(s, stats);
});

main.on('session.closed', ({ cookie, logout, reason, stats, cause }) => {
  const s = cookies.lookup(cookie);
  if (!s) return;
  // persistent-cookies: the client's own logout leaves the cookie valid until it expires
  const spent = logout && !(config.persistentCookies && cause === 'user-request');
  accounting.tunnelClosed(s, stats, cause, s.tunnels > 1);
  cookies.release(cookie, spent);
  log.info({ user: s.username, sid: s.sid, reason, cause, spent }, 'tunnel closed');
});

main.on('ctl.sessions', ({ offset, limit }, ctx) => {
  const all = sessionList(cookies.list(), auth.inProgress());
  ctx.reply('ctl.sessions.reply', { total: all.length, sessions: all.slice(offset, offset + limit) });
});

main.on('ctl.drop', ({ sid }, ctx) => {
  const dropped = cookies.dropSid(sid);
  for (const s of dropped) log.info({ user: s.username, sid: s.sid }, 'session terminated by the administrator');
  ctx.reply('ctl.drop.reply', { dropped: dropped.length });
});

main.on('config.reload', (_body, ctx) => {
  let next: typeof config;
  let keyBase: number | undefined;
  try {
    next = loadConfig(configPath);
    keyBase = keys?.reload(keyPairs(next));
  } catch (err) {
    ctx.reply('config.reload.reply', { ok: false, message: (err as Error).message });
    return;
  }
  config = next;
  auth.reconfigure(config);
  cookies.setTimeout(config.cookieTimeout);
  log.info('configuration reloaded');
  ctx.reply('config.reload.reply', { ok: true, keyBase });
});

setInterval(() => cookies.expire(), 30_000).unref();
process.on('SIGINT', () => {}); // main decides when sec-mod ends (it closes our channel)
main.send('secmod.ready', { pid: process.pid });
log.info('sec-mod ready');
