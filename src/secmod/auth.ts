import { randomBytes } from 'node:crypto';
import type { AuthMethod } from '../common/config';
import type { AuthPrompt, SecmodToWorker, WorkerToSecmod } from '../ipc/messages';
import type { Logger } from '../common/log';
import { PasswdFile } from './passwd';
import { newSid } from './sessions';

type Reply = SecmodToWorker['auth.reply'];

interface PendingLogin {
  authId: string;
  /** the session id this login will carry once it succeeds (occtl lists logins in progress by it) */
  sid: string;
  createdAt: number;
  remoteAddr: string;
  userAgent: string;
  username?: string;
  failures: number;
  expiresAt: number;
}

export interface AuthSuccess { username: string; groupname: string; remoteAddr: string; sid: string; userAgent: string }

/** What main hears about logins: failures feed the ban scores, both feed `occtl show status`. */
export interface AuthEvents {
  failed(remoteAddr: string, username: string): void;
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

const LOGIN_PROMPTS: AuthPrompt[] = [
  { name: 'username', label: 'Username:', type: 'text' },
  { name: 'password', label: 'Password:', type: 'password' },
];

/**
 * The login conversations in progress. A worker only ever learns an opaque authId and,
 * at the end, the session cookie; the password check happens here.
 */
export class Authenticator {
  private readonly pending = new Map<string, PendingLogin>();
  private passwd?: PasswdFile;

  constructor(
    methods: AuthMethod[],
    private authTimeoutS: number,
    private readonly log: Logger,
    private readonly onSuccess: (s: AuthSuccess) => { cookie: string },
    private readonly events?: AuthEvents,
  ) {
    this.setMethods(methods);
  }

  /** A reloaded configuration: logins in progress carry on with the new backend. */
  reconfigure(methods: AuthMethod[], authTimeoutS: number): void {
    this.authTimeoutS = authTimeoutS;
    this.setMethods(methods);
  }

  private setMethods(methods: AuthMethod[]): void {
    const plain = methods.find((m) => m.type === 'plain');
    this.passwd = plain ? new PasswdFile(plain.params.passwd) : undefined;
    const other = methods.filter((m) => m.type !== 'plain').map((m) => m.type);
    if (other.length) this.log.warn({ methods: other }, 'auth methods not yet supported are ignored');
  }

  /** Logins in progress, for occtl's session list. */
  inProgress(): PendingInfo[] {
    this.expire();
    return [...this.pending.values()].map((l) => ({
      sid: l.sid, username: l.username ?? '', remoteAddr: l.remoteAddr, userAgent: l.userAgent, createdAt: l.createdAt, failures: l.failures,
    }));
  }

  init(req: WorkerToSecmod['auth.init']): Reply {
    this.expire();
    const authId = randomBytes(24).toString('base64url');
    this.pending.set(authId, {
      authId,
      sid: newSid(),
      createdAt: Date.now(),
      remoteAddr: req.remoteAddr,
      userAgent: req.userAgent,
      username: req.username,
      failures: 0,
      expiresAt: Date.now() + this.authTimeoutS * 1000,
    });
    return { status: 'continue', authId, message: 'Please enter your username and password.', prompts: LOGIN_PROMPTS };
  }

  cont(req: WorkerToSecmod['auth.cont']): Reply {
    const login = this.pending.get(req.authId);
    if (!login || login.expiresAt <= Date.now()) {
      this.pending.delete(req.authId);
      return { status: 'fail', message: 'Login session expired; please start again.' };
    }
    const username = (req.answers.username ?? login.username ?? '').trim();
    const password = req.answers.password ?? '';
    login.username = username || undefined;
    const verdict = this.checkPassword(username, password);
    if (verdict.ok) {
      this.pending.delete(req.authId);
      const { cookie } = this.onSuccess({ username, groupname: verdict.groupname, remoteAddr: login.remoteAddr, sid: login.sid, userAgent: login.userAgent });
      this.log.info({ user: username, ip: login.remoteAddr }, 'user logged in');
      this.events?.succeeded(login.remoteAddr, username, Date.now() - login.createdAt);
      return { status: 'ok', cookie, username };
    }
    login.failures++;
    this.log.warn({ user: username, ip: login.remoteAddr, reason: verdict.reason }, 'failed login');
    this.events?.failed(login.remoteAddr, username);
    // A fresh id per round means a replayed auth-reply cannot ride on an old form.
    this.pending.delete(req.authId);
    login.authId = randomBytes(24).toString('base64url');
    this.pending.set(login.authId, login);
    return { status: 'continue', authId: login.authId, message: 'Please enter your username and password.', prompts: LOGIN_PROMPTS, error: 'Login failed.' };
  }

  private checkPassword(username: string, password: string): { ok: true; groupname: string } | { ok: false; reason: string } {
    if (!this.passwd) return { ok: false, reason: 'no password backend configured' };
    if (!username) return { ok: false, reason: 'empty username' };
    const r = this.passwd.check(username, password);
    if (r.result === 'ok') return { ok: true, groupname: r.groups[0] ?? '' };
    if (r.result === 'no-user' && this.passwd.lastError) this.log.error({ err: this.passwd.lastError }, 'password file problem');
    return { ok: false, reason: r.result };
  }

  private expire(): void {
    const now = Date.now();
    for (const [id, l] of this.pending) if (l.expiresAt <= now) this.pending.delete(id);
  }
}
