import { randomBytes } from 'node:crypto';
import type { Config } from '../common/config';
import type { AuthFailure, AuthPrompt, SecmodToWorker, WorkerToSecmod } from '../ipc/messages';
import type { Logger } from '../common/log';
import { newSid } from './sessions';
import type { AuthBackend, Conversation, Identity, LoginRequest, SessionAttributes, Step } from './auth/backend';
import { createBackends } from './auth/registry';

type Reply = SecmodToWorker['auth.reply'];

/** The part of the configuration logins depend on; a reload replaces it as a whole. */
export type LoginConfig = Pick<Config, 'auth' | 'enableAuth' | 'selectGroups' | 'defaultSelectGroup' | 'autoSelectGroup' | 'authTimeout'>;

interface PendingLogin {
  authId: string;
  /** the session id this login will carry once it succeeds (occtl lists logins in progress by it) */
  sid: string;
  createdAt: number;
  req: LoginRequest;
  username?: string;
  failures: number;
  expiresAt: number;
  /** the backends that must all succeed, in order, and where we are in that chain */
  chain: AuthBackend[];
  index: number;
  conv: Conversation;
  identity?: Identity;
  /** the group the client chose in the form (select-group) */
  group?: string;
  /** true until the first form went out: that form carries the group choice */
  firstForm: boolean;
  /** why the last round failed, shown on the next form */
  retryError?: string;
}

export interface AuthSuccess {
  username: string;
  groupname: string;
  remoteAddr: string;
  sid: string;
  userAgent: string;
  attrs: SessionAttributes;
}

/** What main hears about logins: failures feed the ban scores, both feed `occtl show status`. */
export interface AuthEvents {
  failed(remoteAddr: string, username: string, why: AuthFailure): void;
  succeeded(remoteAddr: string, username: string, ms: number): void;
}

export interface PendingInfo {
  sid: string;
  username: string;
  remoteAddr: string;
  userAgent: string;
  createdAt: number;
  failures: number;
}

/** After this many wrong answers in one login the client must start over (ocserv: MAX_PASSWORD_TRIES). */
const MAX_TRIES = 3;

/**
 * The login conversations in progress. A worker only ever learns an opaque authId and,
 * at the end, the session cookie; the checks happen in the backends (src/secmod/auth).
 */
export class Authenticator {
  private readonly pending = new Map<string, PendingLogin>();
  private primary: AuthBackend[] = [];
  private alternatives: AuthBackend[] = [];
  private cfg!: LoginConfig;
  private retired: AuthBackend[] = [];

  constructor(
    cfg: LoginConfig,
    private readonly log: Logger,
    /** issues the cookie; may be asynchronous (a shared session store) and may fail (store unavailable) */
    private readonly onSuccess: (s: AuthSuccess) => { cookie: string } | Promise<{ cookie: string }>,
    private readonly events?: AuthEvents,
  ) {
    this.reconfigure(cfg);
  }

  /** A reloaded configuration: logins in progress finish with the backends they started with. */
  reconfigure(cfg: LoginConfig): void {
    this.retired.push(...this.primary, ...this.alternatives);
    this.cfg = cfg;
    this.primary = createBackends(cfg.auth, this.log);
    this.alternatives = createBackends(cfg.enableAuth, this.log);
    this.closeRetired();
  }

  /** Backends of an older configuration close once no login in progress uses them. */
  private closeRetired(): void {
    if (!this.retired.length) return;
    const inUse = new Set([...this.pending.values()].flatMap((l) => l.chain));
    this.retired = this.retired.filter((b) => {
      if (inUse.has(b)) return true;
      b.close?.();
      return false;
    });
  }

  close(): void {
    for (const l of this.pending.values()) l.conv.cancel();
    this.pending.clear();
    for (const b of [...this.primary, ...this.alternatives, ...this.retired]) b.close?.();
    this.retired = [];
  }

  /** Logins in progress, for occtl's session list. */
  inProgress(): PendingInfo[] {
    this.expire();
    return [...this.pending.values()].map((l) => ({
      sid: l.sid, username: l.username ?? '', remoteAddr: l.req.remoteAddr, userAgent: l.req.userAgent, createdAt: l.createdAt, failures: l.failures,
    }));
  }

  async init(msg: WorkerToSecmod['auth.init']): Promise<Reply> {
    this.expire();
    const req: LoginRequest = {
      remoteAddr: msg.remoteAddr,
      userAgent: msg.userAgent,
      username: msg.username,
      groupname: msg.groupname || undefined,
      cert: msg.cert ? { username: msg.cert.username, groups: msg.cert.groups } : undefined,
    };
    const chain = this.chooseChain(req);
    const login: PendingLogin = {
      authId: '',
      sid: newSid(),
      createdAt: Date.now(),
      req,
      username: msg.username,
      failures: 0,
      expiresAt: Date.now() + this.cfg.authTimeout * 1000,
      chain,
      index: 0,
      conv: chain[0]!.begin(req, undefined),
      group: this.chosenGroup(req.groupname),
      // select-group-by-url: the URL named the group, so no form offers the list (as ocserv)
      firstForm: msg.groupFromUrl !== true,
    };
    const reply = await this.advance(login, () => login.conv.start());
    if (reply.status !== 'continue') return reply;
    // the worker served this first form itself, and the client's answers are here already
    // (the login was begun just now for this very client: no proof to compare)
    if (msg.answers && Object.keys(msg.answers).length) return this.cont({ authId: reply.authId, answers: msg.answers });
    return this.sameForEveryone(msg, chain) && reply.error === undefined ? { ...reply, shared: true } : reply;
  }

  /**
   * Whether a login begun this way shows every client the same first form: no user name,
   * group or certificate of its own, and a first backend whose opening question is fixed.
   */
  private sameForEveryone(msg: WorkerToSecmod['auth.init'], chain: AuthBackend[]): boolean {
    return !msg.username && !msg.groupname && !msg.cert && msg.groupFromUrl !== true && chain === this.primary && chain[0]?.sameFirstForm === true;
  }

  async cont(msg: WorkerToSecmod['auth.cont']): Promise<Reply> {
    const login = this.pending.get(msg.authId);
    if (login && msg.proof && msg.proof.remoteAddr !== login.req.remoteAddr) {
      // another client's login id (a worker that learnt it): refused, and the login stays its owner's
      this.log.warn({ ip: msg.proof.remoteAddr, loginIp: login.req.remoteAddr, sid: login.sid }, 'login step from another address than the login\'s; refused');
      return { status: 'fail', message: 'Login session expired; please start again.' };
    }
    this.pending.delete(msg.authId);
    if (!login || login.expiresAt <= Date.now()) {
      login?.conv.cancel();
      return { status: 'fail', message: 'Login session expired; please start again.' };
    }
    const { group_list: group, ...answers } = msg.answers;
    if (group !== undefined && this.offeredGroups().length) login.group = this.chosenGroup(group);
    if (answers.username) login.username = answers.username.trim();
    return this.advance(login, () => login.conv.answer(answers));
  }

  /**
   * `enable-auth = certificate`: a client with a verified certificate may use it alone;
   * everyone else goes through the `auth` lines.
   */
  private chooseChain(req: LoginRequest): AuthBackend[] {
    const alt = this.alternatives.find((b) => b.type === 'certificate' && req.cert);
    return alt ? [alt] : this.primary;
  }

  /** Runs one step of the current backend and turns its outcome into the worker's reply. */
  private async advance(login: PendingLogin, step: () => Promise<Step>): Promise<Reply> {
    let s: Step;
    try {
      s = await step();
    } catch (err) {
      s = { kind: 'fail', reason: `${login.chain[login.index]!.type}: ${(err as Error).message}` };
    }
    if (login.expiresAt <= Date.now()) {
      login.conv.cancel();
      return { status: 'fail', message: 'Login session expired; please start again.' };
    }
    switch (s.kind) {
      case 'ask':
        return this.ask(login, s.message, s.prompts, s.error);
      case 'fail':
        return this.failed(login, s);
      case 'ok':
        return this.passed(login, s);
    }
  }

  private ask(login: PendingLogin, message: string, prompts: AuthPrompt[], error?: string): Reply {
    // A fresh id per round means a replayed auth-reply cannot ride on an old form.
    login.authId = randomBytes(24).toString('base64url');
    this.pending.set(login.authId, login);
    error ??= login.retryError;
    login.retryError = undefined;
    const groupPrompt = login.firstForm ? this.groupPrompt(login) : undefined;
    login.firstForm = false;
    return { status: 'continue', authId: login.authId, message, prompts: groupPrompt ? [groupPrompt, ...prompts] : prompts, error };
  }

  private groupPrompt(login: PendingLogin): AuthPrompt | undefined {
    const groups = this.offeredGroups();
    if (!groups.length) return undefined;
    const options = this.cfg.defaultSelectGroup ? [{ value: '', label: this.cfg.defaultSelectGroup }, ...groups] : [...groups];
    // the client's --authgroup choice goes first so a non-interactive client keeps it
    if (login.group) options.sort((a, b) => Number(b.value === login.group) - Number(a.value === login.group));
    return { name: 'group_list', label: 'Group:', type: 'select', options };
  }

  /**
   * The groups the form offers: the select-group lines, or with auto-select-group every
   * group the first auth method knows (ocserv replaces the lines with that list).
   */
  private offeredGroups(): { value: string; label: string }[] {
    const all = this.cfg.autoSelectGroup ? this.primary[0]?.groupList?.() : undefined;
    return all ? all.map((g) => ({ value: g, label: g })) : this.cfg.selectGroups;
  }

  /**
   * The group a client's choice names. The default-select-group choice means none; some
   * AnyConnect clients send a choice's label rather than its value (ocserv maps it too).
   */
  private chosenGroup(choice: string | undefined): string | undefined {
    if (!choice || choice === this.cfg.defaultSelectGroup) return undefined;
    const offered = this.offeredGroups();
    if (offered.some((g) => g.value === choice)) return choice;
    return offered.find((g) => g.label === choice)?.value ?? choice;
  }

  private async failed(login: PendingLogin, s: Extract<Step, { kind: 'fail' }>): Promise<Reply> {
    const user = s.user ?? login.identity?.username ?? login.username ?? '';
    login.failures++;
    this.log.warn({ user, ip: login.req.remoteAddr, method: login.chain[login.index]!.type, reason: s.reason }, 'failed login');
    this.events?.failed(login.req.remoteAddr, user, { method: login.chain[login.index]!.type, reason: s.retry ? 'credentials' : 'refused' });
    login.conv.cancel();
    if (!s.retry || login.failures >= MAX_TRIES) return { status: 'fail', message: s.message ?? 'Login failed.' };
    // start the chain over: a second factor never outlives a failed first one
    login.index = 0;
    login.identity = undefined;
    login.conv = login.chain[0]!.begin(login.req, undefined);
    login.retryError = s.message ?? 'Login failed.';
    return this.advance(login, () => login.conv.start());
  }

  private async passed(login: PendingLogin, s: Extract<Step, { kind: 'ok' }>): Promise<Reply> {
    const prior = login.identity;
    if (prior && prior.username !== s.username) {
      return this.failed(login, { kind: 'fail', reason: `user name '${s.username}' differs from '${prior.username}' established by ${login.chain[0]!.type}` });
    }
    login.identity = {
      username: s.username,
      groups: prior ? [...prior.groups, ...(s.groups ?? [])] : (s.groups ?? []),
      attrs: { ...prior?.attrs, ...s.attrs },
    };
    login.username = s.username;
    if (++login.index < login.chain.length) {
      login.conv = login.chain[login.index]!.begin(login.req, login.identity);
      return this.advance(login, () => login.conv.start());
    }
    return this.finish(login, login.identity);
  }

  private async finish(login: PendingLogin, id: Identity): Promise<Reply> {
    const groupname = this.pickGroup(login, id);
    if (groupname === undefined) {
      this.log.warn({ user: id.username, ip: login.req.remoteAddr, group: login.group }, 'failed login: user is not a member of the selected group');
      this.events?.failed(login.req.remoteAddr, id.username, { method: 'select-group', reason: 'group' });
      return { status: 'fail', message: `You are not a member of group ${login.group}.` };
    }
    let cookie: string;
    try {
      ({ cookie } = await this.onSuccess({
        username: id.username, groupname, remoteAddr: login.req.remoteAddr, sid: login.sid, userAgent: login.req.userAgent, attrs: id.attrs,
      }));
    } catch (err) {
      // the credentials were right: no ban points, and the client is told why
      this.log.error({ user: id.username, ip: login.req.remoteAddr, err: (err as Error).message }, 'login succeeded but no session could be created');
      return { status: 'fail', message: `Cannot create a session now (${(err as Error).message}); try again later.` };
    }
    // after the answer, which the client waits for (the worker's channel is written when this
    // resolves): the log line and main's statistics can come a moment later
    const ms = Date.now() - login.createdAt;
    setImmediate(() => {
      this.log.info({ user: id.username, group: groupname, ip: login.req.remoteAddr }, 'user logged in');
      this.events?.succeeded(login.req.remoteAddr, id.username, ms);
    });
    return { status: 'ok', cookie, username: id.username };
  }

  /**
   * The session's group: the one the client selected, if the user belongs to it; with no
   * selection the user's first group. undefined = selected a group the user is not in.
   */
  private pickGroup(login: PendingLogin, id: Identity): string | undefined {
    const chosen = login.group;
    if (!chosen) return id.groups[0] ?? '';
    return id.groups.includes(chosen) ? chosen : undefined;
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, l] of this.pending) {
      if (l.expiresAt > now) continue;
      l.conv.cancel();
      this.pending.delete(id);
    }
    this.closeRetired();
  }
}
