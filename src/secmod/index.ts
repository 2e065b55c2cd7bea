/**
 * sec-mod: the only process that sees passwords and issues session cookies.
 * Started by main with the config path as argument and its main channel on fd 3;
 * each worker's channel arrives later over that channel.
 */
import { loadConfig } from '../common/config';
import { createLogger } from '../common/log';
import { Channel } from '../ipc/channel';
import { workerToSecmod, type MainToSecmod, type SecmodToMain, type SecmodToWorker, type WorkerToSecmod } from '../ipc/messages';
import { Authenticator } from './auth';
import { CookieStore } from './sessions';

const MAIN_FD = 3;
const log = createLogger('sec-mod');
const configPath = process.argv[2];
if (!configPath) {
  log.fatal('sec-mod needs the config path as its argument');
  process.exit(2);
}
const config = loadConfig(configPath);
const cookies = new CookieStore(config.cookieTimeout);
const auth = new Authenticator(config.auth, config.authTimeout, log, (s) => cookies.issue(s.username, s.groupname, s.remoteAddr));

const main = new Channel<MainToSecmod, SecmodToMain>(MAIN_FD, { name: 'sec-mod<-main', log });
main.onClose((reason) => {
  log.info({ reason }, 'main went away; sec-mod exits');
  process.exit(0);
});

main.on('worker.attach', ({ workerId }, { fds }) => {
  const [fd] = fds;
  if (fd === undefined) return;
  const ch = new Channel<WorkerToSecmod, SecmodToWorker>(fd, { name: `sec-mod<-worker${workerId}`, log, validators: workerToSecmod });
  ch.on('auth.init', (body, ctx) => ctx.reply('auth.reply', auth.init(body)));
  ch.on('auth.cont', (body, ctx) => ctx.reply('auth.reply', auth.cont(body)));
});

main.on('session.open', ({ cookie, remoteAddr }, ctx) => {
  const s = cookies.lookup(cookie);
  if (!s) {
    log.warn({ ip: remoteAddr }, 'tunnel request with an unknown or expired cookie');
    ctx.reply('session.open.reply', { ok: false, reason: 'invalid cookie' });
    return;
  }
  if (config.maxSameClients > 0 && cookies.countForUser(s.username) >= config.maxSameClients && !s.inUse) {
    ctx.reply('session.open.reply', { ok: false, reason: `user ${s.username} already has ${config.maxSameClients} sessions (max-same-clients)` });
    return;
  }
  cookies.markInUse(s);
  ctx.reply('session.open.reply', { ok: true, username: s.username, groupname: s.groupname, sid: s.sid, cookieTimeout: config.cookieTimeout });
});

main.on('session.closed', ({ cookie, logout, reason }) => {
  const s = cookies.release(cookie, logout);
  if (s) log.info({ user: s.username, sid: s.sid, reason, logout }, 'session closed');
});

setInterval(() => cookies.expire(), 30_000).unref();
process.on('SIGINT', () => {}); // main decides when sec-mod ends (it closes our channel)
main.send('secmod.ready', { pid: process.pid });
log.info('sec-mod ready');
