/**
 * Runs one occtl command against the server and prints the answer as occtl does. Returns
 * the exit code (occtl's: 0 done, 1 failed or bad syntax, 2 nothing found).
 */
import type { BanInfo, CtlEvent, SecmodSessionInfo, StatusInfo, UserInfo } from '../ipc/control';
import { ControlClient, ControlConnectError, ControlRefusedError, ControlUnreachableError, ERR_SERVER_UNREACHABLE, isServerFailure } from './control-client';
import { commandList, parseCommand, type CommandId } from './occtl-commands';
import { bansView, eventView, iroutesView, offlineStatusView, sessionView, sessionsView, statusView, userInfoView, usersView } from './occtl-views';
import { page } from './pager';

export interface OcctlOptions {
  socket: string;
  json: boolean;
  noPager: boolean;
  debug: boolean;
  interactive: boolean;
}

const err = (s: string) => process.stderr.write(s.endsWith('\n') ? s : `${s}\n`);
const items = <T>(body: unknown): T[] => (body as { items: T[] }).items;

export async function runLine(line: string, o: OcctlOptions): Promise<number> {
  const p = parseCommand(line);
  if (!p.ok) {
    if (p.kind === 'unknown') {
      err(p.message);
      err("use help or '?' to get a list of the available commands");
      if (!o.interactive) err(`\n${commandList(false)}`);
    } else {
      err(p.message);
      process.stdout.write(p.help);
    }
    return 1;
  }
  switch (p.id) {
    case 'help':
      process.stdout.write(commandList(true));
      return 0;
    case 'reset':
      // what readline's terminal reset amounts to: a full reset of the screen
      process.stdout.write('\x1bc');
      return 0;
    case 'exit':
      process.exit(0);
  }
  let client: ControlClient;
  try {
    client = ControlClient.connect(o.socket);
  } catch (e) {
    if (p.id === 'status') process.stdout.write(offlineStatusView(o.json));
    err((e as Error).message);
    return 1;
  }
  try {
    return await execute(client, p.id, p.arg, o);
  } catch (e) {
    if (e instanceof ControlRefusedError) err(`occtl-ts: ${e.message}`);
    else if (e instanceof ControlUnreachableError || e instanceof ControlConnectError) err(e.message);
    else throw e;
    if (p.id === 'status' && !(e instanceof ControlRefusedError)) process.stdout.write(offlineStatusView(o.json));
    return 1;
  } finally {
    client.close();
  }
}

/** Prints a yes/no answer in occtl's words. */
function verdict(body: unknown, yes: string, no: string): number {
  const r = body as { ok: boolean; message?: string };
  if (r.ok) {
    process.stdout.write(`${yes}\n`);
    return 0;
  }
  process.stdout.write(`${no}\n`);
  if (r.message) err(r.message);
  return 1;
}

async function execute(c: ControlClient, id: CommandId, arg: string, o: OcctlOptions): Promise<number> {
  const now = () => Date.now();
  const ask = async (...a: Parameters<ControlClient['request']>): Promise<unknown> => {
    const body = await c.request(...a);
    if (isServerFailure(body)) throw new ControlUnreachableError(`${ERR_SERVER_UNREACHABLE} (${body.message})`);
    return body;
  };
  switch (id) {
    case 'status': {
      const s = (await ask('ctl.status', {})) as StatusInfo;
      process.stdout.write(statusView(s, o.json, o.debug, now()));
      return 0;
    }
    case 'users':
      await page(usersView(items<UserInfo>(await ask('ctl.users', {})), o.json, now()), o.noPager);
      return 0;
    case 'cluster-users':
      await page(usersView(items<UserInfo>(await ask('ctl.users', { cluster: true })), o.json, now(), true), o.noPager);
      return 0;
    case 'user':
    case 'id': {
      const body = id === 'user' ? await ask('ctl.user', { name: arg }) : await ask('ctl.id', { id: Number(arg) });
      const v = userInfoView(items<UserInfo>(body), o.json, now());
      await page(v.out, o.noPager);
      return v.code;
    }
    case 'sessions-all':
    case 'sessions-valid':
      await page(sessionsView(items<SecmodSessionInfo>(await ask('ctl.sessions', { all: id === 'sessions-all' })), o.json, now()), o.noPager);
      return 0;
    case 'session': {
      const v = sessionView(items<SecmodSessionInfo>(await ask('ctl.session', { sid: arg })), o.json);
      await page(v.out, o.noPager);
      return v.code;
    }
    case 'ip-bans':
    case 'ip-ban-points':
      await page(bansView(items<BanInfo>(await ask('ctl.bans', {})), o.json, id === 'ip-ban-points', now()), o.noPager);
      return 0;
    case 'iroutes':
      await page(iroutesView(items<UserInfo>(await ask('ctl.users', {})), o.json), o.noPager);
      return 0;
    case 'unban-ip':
      return verdict(await c.request('ctl.unban', { ip: arg }), `IP '${arg}' was unbanned`, `could not unban IP '${arg}'`);
    case 'disconnect-user':
      return verdict(await c.request('ctl.disconnect.user', { name: arg }), `user '${arg}' was disconnected`, `could not disconnect user '${arg}'`);
    case 'disconnect-id':
      return verdict(await c.request('ctl.disconnect.id', { id: Number(arg) }), `connection ID '${arg}' was disconnected`, `could not disconnect ID '${arg}'`);
    case 'terminate-session':
      return verdict(await c.request('ctl.terminate.session', { sid: arg }), `session '${arg}' was terminated`, `could not terminate session '${arg}'`);
    case 'reload':
      return verdict(await c.request('ctl.reload', {}), 'Server scheduled to reload', 'Error scheduling reload');
    case 'stop':
      return verdict(await c.request('ctl.stop', {}), 'Server scheduled to stop', 'Error scheduling server stop');
    case 'events':
      return events(c, o);
    default:
      return 1;
  }
}

/** `show events`: the users now, then a line per connect and disconnect until 'q', CTRL+C or the server goes. */
async function events(c: ControlClient, o: OcctlOptions): Promise<number> {
  const current = items<UserInfo>(await c.request('ctl.events', {}));
  process.stdout.write(usersView(current, o.json, Date.now()));
  // on stderr in JSON mode, so that stdout stays a stream of JSON documents
  (o.json ? process.stderr : process.stdout).write("\nPress 'q' or CTRL+C to quit\n\n");
  c.onEvent((ev: CtlEvent) => process.stdout.write(eventView(ev, o.json, Date.now())));
  const stdin = process.stdin;
  const raw = stdin.isTTY && !stdin.isRaw;
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number) => {
      if (done) return;
      done = true;
      stdin.off('data', onKey);
      process.off('SIGINT', onInt);
      if (raw) stdin.setRawMode(false);
      stdin.pause();
      resolve(code);
    };
    const onKey = (d: Buffer) => {
      const s = d.toString();
      if (/[qQ\x03]/.test(s)) finish(0);
    };
    const onInt = () => finish(0);
    c.onClose(() => {
      if (!done) err('events: server closed the connection');
      finish(0);
    });
    if (raw) stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
    process.on('SIGINT', onInt);
  });
}
