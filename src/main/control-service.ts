import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import type { HandlerContext } from '../ipc/channel';
import { LIST_PART_BYTES, type CtlEvent, type MainToCtl, type SecmodSessionInfo, type StatusInfo, type UserInfo } from '../ipc/control';
import { SESSION_INFO_BATCH, type SecmodToMain, type WorkerToMain } from '../ipc/messages';
import type { BanList } from './bans';
import type { ControlChannel } from './control-server';
import { disconnectReason } from './disconnect-reason';
import type { SecmodProcess } from './secmod-proc';
import type { ServerStats } from './server-stats';
import { BOOKKEEPING_DELAY_MS, type MainSession, type SessionEnd, type SessionTable } from './sessions';
import { terminateSession } from './terminate';
import { tunCounters, tunMtu } from './tun-stats';
import { askWorker, sessionTraffic } from './session-counters';
import { maxStats, snapshotOf, userInfo, type SessionSnapshot } from './user-info';
import type { WorkerPool } from './workers';
import type { Cluster } from './cluster/cluster';

/** The parts of main the control service reads and acts on. */
export interface ControlContext {
  log: Logger;
  config(): Config;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
  secmod: SecmodProcess;
  /** session-store: the other servers, for the cluster-wide commands */
  cluster(): Cluster | undefined;
  bans: BanList;
  stats: ServerStats;
  reload(): Promise<{ ok: boolean; message?: string }>;
  stop(): void;
}

type Ctx = HandlerContext<MainToCtl>;

const WORKER_ANSWER_MS = 1000;
const SECMOD_ANSWER_MS = 3000;
const SECMOD_PAGE = 50;
const ADMIN_REASON = 'disconnected by the administrator';

/**
 * What occtl-ts can ask of main. Every answer is built from main's own tables, the kernel's
 * tun counters and short requests to workers and sec-mod, all asynchronous: main never
 * waits on a control request while clients connect.
 */
export class ControlService {
  private readonly snaps = new Map<number, SessionSnapshot>();
  private readonly subscribers = new Set<ControlChannel>();
  private readonly unlisten: () => void;

  constructor(private readonly c: ControlContext) {
    // added: with the rest of a new session's bookkeeping (BOOKKEEPING_DELAY_MS), or when
    // occtl asks sooner; a session gone by then is not shown as connected
    this.unlisten = c.sessions.listen({
      added: (s) => setTimeout(() => this.settle(s), BOOKKEEPING_DELAY_MS),
      removed: (s, end) => this.removed(s, end),
    });
    this.clusterAnswers();
    c.secmod.onChannel((ch) => {
      ch.on('auth.failed', ({ remoteAddr, why }) => {
        c.stats.loginFailed(why);
        c.bans.addPoints(remoteAddr, c.config().banPointsWrongPassword);
      });
      ch.on('auth.succeeded', ({ ms }) => c.stats.loginSucceeded(ms));
    });
  }

  close(): void {
    this.unlisten();
    for (const ch of this.subscribers) ch.close('server stopping');
  }

  register(ch: ControlChannel): void {
    const on = <K extends keyof typeof handlers>(type: K) => ch.on(type, async (body, ctx) => {
      try {
        await (handlers[type] as (b: typeof body, ctx: Ctx, ch: ControlChannel) => Promise<void> | void)(body, ctx, ch);
      } catch (err) {
        this.c.log.error({ err: (err as Error).message, request: type }, 'occtl request failed');
        ctx.reply('ctl.result', { ok: false, message: `server error: ${(err as Error).message}` });
      }
    });
    const handlers = {
      'ctl.status': async (_b: unknown, ctx: Ctx) => ctx.reply('ctl.status.reply', await this.status()),
      'ctl.users': async ({ cluster }: { cluster?: boolean }, ctx: Ctx, ch: ControlChannel) =>
        sendList(ch, ctx, cluster ? await this.clusterUsers() : await this.users(() => true)),
      'ctl.user': async ({ name }: { name: string }, ctx: Ctx, ch: ControlChannel) => sendList(ch, ctx, await this.users((s) => s.username === name)),
      'ctl.id': async ({ id }: { id: number }, ctx: Ctx, ch: ControlChannel) => sendList(ch, ctx, await this.users((s) => s.sessionId === id)),
      'ctl.sessions': async ({ all }: { all: boolean }, ctx: Ctx, ch: ControlChannel) => {
        const list = await this.secmodSessions();
        sendList(ch, ctx, all ? list : list.filter((x) => x.state === 'authenticated'));
      },
      'ctl.session': async ({ sid }: { sid: string }, ctx: Ctx, ch: ControlChannel) => {
        const list = sid === '' ? [] : (await this.secmodSessions()).filter((x) => x.sid.startsWith(sid));
        sendList(ch, ctx, list);
      },
      'ctl.bans': (_b: unknown, ctx: Ctx, ch: ControlChannel) => sendList(ch, ctx, this.c.bans.list()),
      'ctl.unban': ({ ip }: { ip: string }, ctx: Ctx) => {
        const cluster = this.c.cluster();
        // in a cluster the score is shared: the address is free wherever it connects
        cluster?.unban(ip);
        ctx.reply('ctl.result', { ok: this.c.bans.unban(ip) || cluster !== undefined });
      },
      'ctl.disconnect.user': async ({ name }: { name: string }, ctx: Ctx) => {
        const here = this.disconnectUser(name);
        // a user's cookie is valid on every server: so is the disconnection
        const there = await this.c.cluster()?.bus.rpc('disconnect-user', { name }) ?? [];
        const total = here + there.reduce((n, r) => n + (r.count ?? 0), 0);
        ctx.reply('ctl.result', { ok: total > 0 });
      },
      'ctl.disconnect.id': ({ id }: { id: number }, ctx: Ctx) => {
        const s = this.c.sessions.get(id);
        this.c.log.info({ id, user: s?.username }, 'occtl: disconnect id');
        if (s) this.terminate(s, ADMIN_REASON);
        ctx.reply('ctl.result', { ok: s !== undefined });
      },
      'ctl.terminate.session': async ({ sid }: { sid: string }, ctx: Ctx) => ctx.reply('ctl.result', await this.terminateSid(sid)),
      'ctl.reload': async (_b: unknown, ctx: Ctx) => ctx.reply('ctl.result', await this.c.reload()),
      'ctl.stop': (_b: unknown, ctx: Ctx) => {
        this.c.log.info('occtl: stop now');
        ctx.reply('ctl.result', { ok: true });
        setTimeout(() => this.c.stop(), 50);
      },
      'ctl.events': async (_b: unknown, ctx: Ctx, ch: ControlChannel) => {
        sendList(ch, ctx, await this.users(() => true));
        this.subscribers.add(ch);
        ch.onClose(() => this.subscribers.delete(ch));
      },
    };
    for (const type of Object.keys(handlers) as Array<keyof typeof handlers>) on(type);
  }

  // ---------- session bookkeeping ----------

  /** the session's snapshot, made now if its bookkeeping is still waiting; undefined once it is gone */
  private settle(s: MainSession): SessionSnapshot | undefined {
    if (this.c.sessions.get(s.sessionId) !== s) return undefined;
    if (!this.snaps.has(s.sessionId)) this.added(s);
    return this.snaps.get(s.sessionId);
  }

  private added(s: MainSession): void {
    try {
      const snap = snapshotOf(this.c.config(), tunMtu(s.tunName), s.settings);
      this.snaps.set(s.sessionId, snap);
      this.c.stats.noteMtu(snap.mtu);
      this.broadcast(() => ({ connected: true, user: this.info(s, snap) }));
    } catch (err) {
      this.c.log.error({ err: (err as Error).message }, 'occtl bookkeeping failed for a new session');
    }
  }

  private removed(s: MainSession, end?: SessionEnd): void {
    try {
      // a session that ends before its bookkeeping was done is announced first
      if (!this.snaps.has(s.sessionId)) this.added(s);
      const snap = this.snaps.get(s.sessionId) ?? snapshotOf(this.c.config(), undefined, s.settings);
      this.snaps.delete(s.sessionId);
      // main still holds the tun here, so the kernel's final counters are readable; main's
      // own account of the end has just read them
      snap.stats = maxStats(snap.stats, end?.stats ?? tunCounters(s.tunName));
      this.c.stats.sessionClosed({
        reason: end?.reason ?? '',
        durationMs: Date.now() - s.startedAt,
        rxBytes: snap.stats.rxBytes,
        txBytes: snap.stats.txBytes,
        mtu: snap.mtu,
      });
      this.broadcast(() => ({ connected: false, user: this.info(s, snap), reason: disconnectReason(end?.reason ?? '') }));
    } catch (err) {
      this.c.log.error({ err: (err as Error).message }, 'occtl bookkeeping failed for an ended session');
    }
  }

  /** The event is made only when someone listens (occtl's `show events`): most of the time no one does. */
  private broadcast(event: () => CtlEvent): void {
    if (this.subscribers.size === 0) return;
    const ev = event();
    for (const ch of this.subscribers) ch.send('ctl.event', ev);
  }

  private info(s: MainSession, snap: SessionSnapshot): UserInfo {
    const pid = this.c.workers()?.get(s.workerId)?.proc.pid ?? 0;
    return userInfo(s, snap, pid, this.c.config().listenHost);
  }

  // ---------- answers ----------

  /** Newest first, as ocserv lists them. */
  private async users(match: (s: MainSession) => boolean): Promise<UserInfo[]> {
    const list = [...this.c.sessions.all()].filter(match).sort((a, b) => b.sessionId - a.sessionId);
    await this.askWorkers(list);
    const out: UserInfo[] = [];
    for (const s of list) {
      const snap = this.settle(s);
      if (snap) out.push(this.info(s, this.refreshCounters(s, snap)));
    }
    return out;
  }

  /** What the worker last reported, held to the kernel's counters (src/main/session-counters.ts). */
  private refreshCounters(s: MainSession, snap: SessionSnapshot): SessionSnapshot {
    snap.stats = maxStats(snap.stats, sessionTraffic(tunCounters(s.tunName), snap.info?.stats));
    return snap;
  }

  private async askWorkers(list: MainSession[]): Promise<void> {
    const byWorker = new Map<number, MainSession[]>();
    for (const s of list) byWorker.set(s.workerId, [...(byWorker.get(s.workerId) ?? []), s]);
    await Promise.all([...byWorker].map(async ([workerId, ss]) => {
      const w = this.c.workers()?.get(workerId);
      if (!w) return;
      for (let i = 0; i < ss.length; i += SESSION_INFO_BATCH) {
        const ids = ss.slice(i, i + SESSION_INFO_BATCH).map((s) => s.sessionId);
        // a worker that cannot answer now is shown with what it said before
        for (const info of await askWorker(w, ids, WORKER_ANSWER_MS)) {
          const s = this.c.sessions.get(info.sessionId);
          const snap = s && s.workerId === workerId ? this.settle(s) : undefined;
          if (snap) snap.info = info;
        }
      }
    }));
  }

  private async status(): Promise<StatusInfo> {
    // a new statistics period may have begun (server-stats-reset-time)
    const st = this.c.stats.current();
    const cfg = this.c.config();
    let rx = st.rxBytes;
    let tx = st.txBytes;
    for (const s of this.c.sessions.all()) {
      const snap = this.settle(s);
      if (!snap) continue;
      this.refreshCounters(s, snap);
      rx += snap.stats.rxBytes;
      tx += snap.stats.txBytes;
    }
    let secmodEntries = 0;
    try {
      secmodEntries = (await this.secmodPage(0, 0)).total;
    } catch {
      // the count is a detail; the rest of the status is still right
    }
    const toS = (ms: number) => Math.round(ms / 1000);
    return {
      pid: process.pid,
      secmodPid: this.c.secmod.proc?.pid ?? 0,
      startedAt: st.startedAt,
      lastReset: st.lastReset,
      activeSessions: this.c.sessions.size,
      totalSessions: st.totalSessionsClosed,
      sessionsHandled: st.sessionsClosed,
      timedOut: st.timedOut,
      idleTimedOut: st.idleTimedOut,
      closedByError: st.closedByError,
      totalAuthFailures: st.totalAuthFailures,
      authFailures: st.authFailures,
      bannedIps: this.c.bans.bannedCount(),
      secmodEntries,
      avgAuthTime: toS(st.avgAuthMs),
      maxAuthTime: toS(st.maxAuthMs),
      avgSessionTime: toS(st.avgSessionMs),
      maxSessionTime: toS(st.maxSessionMs),
      minMtu: st.minMtu,
      maxMtu: st.maxMtu,
      rxBytes: rx,
      txBytes: tx,
      workers: this.c.workers()?.size ?? 0,
      clientsPerWorker: cfg.clientsPerWorker,
    };
  }

  private async secmodPage(offset: number, limit: number): Promise<SecmodToMain['ctl.sessions.reply']> {
    const ch = this.c.secmod.channel;
    if (!ch || ch.isClosed) throw new Error('sec-mod is not available');
    return (await ch.request<'ctl.sessions', SecmodToMain['ctl.sessions.reply']>('ctl.sessions', { offset, limit }, undefined, SECMOD_ANSWER_MS)).body;
  }

  private async secmodSessions(): Promise<SecmodSessionInfo[]> {
    const out: SecmodSessionInfo[] = [];
    for (let page = 0; page < 10_000; page++) {
      const r = await this.secmodPage(out.length, SECMOD_PAGE);
      out.push(...r.sessions);
      if (r.sessions.length === 0 || out.length >= r.total) break;
    }
    return out;
  }

  private async terminateSid(prefix: string): Promise<{ ok: boolean; message?: string }> {
    if (prefix === '') return { ok: false };
    const sids = new Set((await this.secmodSessions()).map((x) => x.sid).filter((sid) => sid.startsWith(prefix)));
    // sec-mod may have been restarted and forgotten a session that still has a tunnel
    for (const s of this.c.sessions.all()) if (s.sid.startsWith(prefix)) sids.add(s.sid);
    if (sids.size > 1) return { ok: false, message: `'${prefix}' matches ${sids.size} sessions; give more of the session id` };
    const [sid] = [...sids];
    if (sid === undefined) return { ok: false };
    const ch = this.c.secmod.channel;
    const dropped = ch && !ch.isClosed
      ? (await ch.request<'ctl.drop', SecmodToMain['ctl.drop.reply']>('ctl.drop', { sid }, undefined, SECMOD_ANSWER_MS)).body.dropped
      : 0;
    const live = [...this.c.sessions.all()].filter((s) => s.sid === sid);
    this.c.log.info({ sid, tunnels: live.length }, 'occtl: terminate session');
    for (const s of live) this.terminate(s, 'session terminated by the administrator');
    const there = await this.c.cluster()?.bus.rpc('terminate-sid', { sid }) ?? [];
    return { ok: dropped > 0 || live.length > 0 || there.some((r) => (r.count ?? 0) > 0) };
  }

  private terminate(s: MainSession, reason: string): void {
    terminateSession(this.c, s, reason, 'admin-reset');
  }

  private disconnectUser(name: string): number {
    const hit = [...this.c.sessions.all()].filter((s) => s.username === name);
    this.c.log.info({ user: name, sessions: hit.length }, 'occtl: disconnect user');
    for (const s of hit) this.terminate(s, ADMIN_REASON);
    return hit.length;
  }

  /** This server's users, then every other living server's, each marked with its server. */
  private async clusterUsers(): Promise<UserInfo[]> {
    const cluster = this.c.cluster();
    const mine = (await this.users(() => true)).map((u) => ({ ...u, node: cluster?.node ?? '' }));
    if (!cluster) return mine;
    const others = await cluster.bus.rpc('users');
    return [...mine, ...others.flatMap((r) => (r.users ?? []).map((u) => ({ ...u, node: r.from })))];
  }

  /** What the other servers of a cluster may ask of this one. */
  private clusterAnswers(): void {
    const cluster = this.c.cluster();
    if (!cluster) return;
    cluster.bus.answer('users', async () => ({ users: await this.users(() => true) }));
    cluster.bus.answer('disconnect-user', async ({ name, from }) => {
      this.c.log.info({ user: name, server: from }, 'disconnect user asked by another server of the cluster');
      return { count: name === undefined ? 0 : this.disconnectUser(name) };
    });
    cluster.bus.answer('terminate-sid', async ({ sid }) => {
      const live = [...this.c.sessions.all()].filter((s) => s.sid === sid);
      for (const s of live) this.terminate(s, 'session terminated by the administrator');
      return { count: live.length };
    });
  }
}

/** Long lists go out in parts so that no message nears the IPC size limit. */
function sendList(ch: ControlChannel, ctx: Ctx, items: unknown[]): void {
  let part: unknown[] = [];
  let size = 0;
  for (const item of items) {
    const n = JSON.stringify(item).length;
    if (part.length > 0 && size + n > LIST_PART_BYTES) {
      ch.send('ctl.part', { items: part });
      part = [];
      size = 0;
    }
    part.push(item);
    size += n;
  }
  ctx.reply('ctl.list', { items: part });
}
