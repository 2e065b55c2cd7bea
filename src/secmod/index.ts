/**
 * sec-mod: the only process that sees passwords and issues session cookies.
 * Started by main with the config path as argument and its main channel on fd 3;
 * each worker's channel arrives later over that channel.
 */
import '../common/jit';
import { loadConfig } from '../common/config';
import { createLogger, logCrashes } from '../common/log';
import { Channel } from '../ipc/channel';
import { workerToSecmod, zeroStats, type MainToSecmod, type SecmodToMain, type SecmodToWorker, type WorkerToSecmod } from '../ipc/messages';
import { Authenticator } from './login';
import { sessionList } from './session-list';
import { MemorySessionStore, type SessionStore } from './sessions';
import { RedisSessionStore } from './sessions-redis';
import { StoreUnavailableError } from '../common/redis';
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
// a cluster (session-store) keeps sessions in Redis, where every server finds them
let cookies: SessionStore;
try {
  cookies = config.sessionStore
    ? new RedisSessionStore(config.sessionStore, log, config.cookieTimeout, {
      orphaned: (s, othersUp) => accounting.tunnelClosed(s, s.acct?.current ?? zeroStats(), 'nas-error', othersUp),
    })
    : new MemorySessionStore(config.cookieTimeout);
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'cannot set up the session store');
  process.exit(1);
}
cookies.onEnd = (s, kind) => {
  log.info({ user: s.username, ip: s.remoteAddr, sid: s.sid, kind }, 'session ended');
  accounting.emit(accounting.ended(s, kind));
};
/** A store that cannot be reached answers the client with the reason; anything else is a bug and propagates. */
const unavailable = (err: unknown): string => {
  if (err instanceof StoreUnavailableError) return err.message;
  throw err;
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
  await cookies.close();
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
  try {
    ctx.reply('session.open.reply', await openSession(cookie, remoteAddr));
  } catch (err) {
    const reason = unavailable(err);
    log.error({ ip: remoteAddr, err: reason }, 'tunnel refused: the session store is unavailable');
    ctx.reply('session.open.reply', { ok: false, reason });
  }
});

async function openSession(cookie: string, remoteAddr: string): Promise<SecmodToMain['session.open.reply']> {
  const known = await cookies.lookup(cookie);
  if (!known) {
    log.warn({ ip: remoteAddr }, 'tunnel request with an unknown or expired cookie');
    return { ok: false, reason: 'invalid cookie' };
  }
  // read at every tunnel, as ocserv: an edited file applies to the next session
  const sup = await supConfig.read(config, known.username, known.groupname);
  if (!sup.ok) {
    log.warn({ user: known.username, group: known.groupname, ip: remoteAddr, reason: sup.reason }, 'session refused: bad per-user/group settings');
    return { ok: false, reason: `per-user/group settings: ${sup.reason}` };
  }
  const denyRoaming = sup.config.denyRoaming ?? config.denyRoaming;
  if (denyRoaming && known.remoteAddr !== remoteAddr) {
    log.warn({ user: known.username, ip: remoteAddr, loginIp: known.remoteAddr }, 'cookie used from another address (deny-roaming)');
    return { ok: false, reason: 'this session belongs to another address (deny-roaming)' };
  }
  const maxSame = sup.config.maxSameClients ?? config.maxSameClients;
  if (maxSame > 0 && !known.inUse && await cookies.countForUser(known.username) >= maxSame) {
    return { ok: false, reason: `user ${known.username} already has ${maxSame} sessions (max-same-clients)` };
  }
  // the cookie may have gone while the files were read
  const s = await cookies.markInUse(cookie);
  if (!s) return { ok: false, reason: 'invalid cookie' };
  return {
    ok: true, username: s.username, groupname: s.groupname, sid: s.sid, cookieTimeout: config.cookieTimeout, attrs: s.attrs, loginAt: s.createdAt, lastIpv4: s.lastIpv4, lastIpv6: s.lastIpv6,
    config: sup.config,
  };
}

/** Changes that must not be lost while the store is away are retried; a few, in order. */
const later: Array<() => Promise<void>> = [];
const MAX_LATER = 10_000;
async function saveOrRetry(what: string, change: () => Promise<void>): Promise<void> {
  try {
    if (later.length === 0) return await change();
  } catch (err) {
    log.warn({ err: unavailable(err), what }, 'session change kept until the session store is back');
  }
  if (later.length < MAX_LATER) later.push(change);
  else log.error({ what }, 'too many session changes waiting for the session store; this one is lost');
}
async function retryLater(): Promise<void> {
  while (later.length > 0) {
    try {
      await later[0]!();
    } catch (err) {
      if (err instanceof StoreUnavailableError) return;
      log.error({ err: (err as Error).message }, 'a kept session change failed');
    }
    later.shift();
  }
}

main.on('session.started', ({ cookie, ipv4, ipv6 }) => void saveOrRetry('tunnel up', async () => {
  const r = await cookies.update(cookie, (s) => {
    s.lastIpv4 = ipv4;
    s.lastIpv6 = ipv6;
    return accounting.started(s, ipv4, ipv6);
  });
  accounting.emit(r?.result);
}));

main.on('session.stats', async ({ cookie, stats }) => {
  try {
    const r = await cookies.update(cookie, (s) => accounting.report(s, stats));
    accounting.emit(r?.result);
  } catch (err) {
    // the next report or the Stop carries the totals
    log.warn({ err: unavailable(err) }, 'interim accounting skipped: session store unavailable');
  }
});

main.on('session.closed', ({ cookie, logout, reason, stats, cause }) => void saveOrRetry('tunnel closed', async () => {
  // persistent-cookies: the client's own logout leaves the cookie valid until it expires
  const spent = logout && !(config.persistentCookies && cause === 'user-request');
  const r = await cookies.update(cookie, (s) => accounting.tunnelClosed(s, stats, cause, s.tunnels > 1));
  if (!r) return;
  await cookies.release(cookie, spent);
  log.info({ user: r.s.username, sid: r.s.sid, reason, cause, spent }, 'tunnel closed');
}));

main.on('ctl.sessions', async ({ offset, limit }, ctx) => {
  let known: Awaited<ReturnType<SessionStore['list']>> = [];
  try {
    known = await cookies.list();
  } catch (err) {
    log.warn({ err: unavailable(err) }, 'occtl: sessions listed without the session store');
  }
  const all = sessionList(known, auth.inProgress());
  ctx.reply('ctl.sessions.reply', { total: all.length, sessions: all.slice(offset, offset + limit) });
});

main.on('ctl.drop', async ({ sid }, ctx) => {
  let dropped: Awaited<ReturnType<SessionStore['dropSid']>> = [];
  try {
    dropped = await cookies.dropSid(sid);
  } catch (err) {
    log.warn({ err: unavailable(err), sid }, 'occtl: cannot drop the session: session store unavailable');
  }
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
  clearInterval(sweepTimer);
  sweepTimer = setInterval(sweep, sweepEvery(config)).unref();
  log.info('configuration reloaded');
  ctx.reply('config.reload.reply', { ok: true, keyBase });
});

const sweep = (): void => {
  void retryLater().then(() => cookies.expire()).catch((err: unknown) => {
    if (!(err instanceof StoreUnavailableError)) log.error({ err: (err as Error).message }, 'session sweep failed');
  });
};
// sec-mod-db-cleanup-time (0: the default), set again on reload
const sweepEvery = (c: typeof config): number => (c.secModDbCleanupTime > 0 ? c.secModDbCleanupTime * 1000 : c.sessionStore ? 5_000 : 30_000);
let sweepTimer = setInterval(sweep, sweepEvery(config)).unref();
process.on('SIGINT', () => {}); // main decides when sec-mod ends (it closes our channel)
main.send('secmod.ready', { pid: process.pid });
log.info('sec-mod ready');
