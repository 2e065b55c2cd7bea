/**
 * `auth = "pam[gid-min=N,service=NAME,timeout=SECONDS]"`: the system's PAM stack
 * (/etc/pam.d/NAME, default `ocserv`). Each login runs in its own helper process
 * (pam-helper.ts); every PAM prompt becomes one form for the client, so a stack that asks
 * for a password and then a one-time code works. docs/PAM.md has the details.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../../common/log';
import { AUTH_STEP_TIMEOUT_MS, type AuthPrompt } from '../../ipc/messages';
import type { AuthBackend, Conversation, Identity, LoginRequest, Step } from './backend';
import { findHelper, MAX_FRAME, PamHelper, type HelperEvent } from './pam-helper';

/** 60 s leaves room for push-style second factors (a phone to approve) */
export const PAM_DEFAULTS = { service: 'ocserv', gidMin: 0, timeoutSeconds: 60 };
/** A worker waits AUTH_STEP_TIMEOUT_MS for each answer; PAM must give up before that. */
export const PAM_MAX_TIMEOUT = Math.floor(AUTH_STEP_TIMEOUT_MS / 1000) - 10;
/**
 * A form nobody answers ends the conversation (and its helper) after this long: a client
 * that gives up at a PAM prompt (openconnect --non-inter after a wrong password) says
 * nothing, and sec-mod hears of no disconnect.
 */
const IDLE_MS = 240_000;
/**
 * Helpers alive at once across sec-mod. At the limit the one waiting longest for its
 * client's answer makes room, so idle logins cannot lock everyone out.
 */
const MAX_HELPERS = 128;
const live = new Set<PamConversation>();
/** PAM messages kept for one form; a chattier module is cut short */
const MAX_NOTES = 16;

export interface PamSettings {
  service: string;
  gidMin: number;
  timeoutSeconds: number;
}

/** config.ts checked the values; this only fills in defaults. */
export function pamSettings(params: Record<string, string>): PamSettings {
  const num = (v: string | undefined, d: number) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : d);
  return {
    service: params.service || PAM_DEFAULTS.service,
    gidMin: num(params['gid-min'], PAM_DEFAULTS.gidMin),
    timeoutSeconds: Math.min(num(params.timeout, PAM_DEFAULTS.timeoutSeconds), PAM_MAX_TIMEOUT),
  };
}

export class PamBackend implements AuthBackend {
  readonly type = 'pam';
  readonly sameFirstForm = true;
  private readonly settings: PamSettings;
  private readonly helperPath: string | undefined;

  constructor(params: Record<string, string>, private readonly log: Logger) {
    this.settings = pamSettings(params);
    this.helperPath = findHelper();
    if (!this.helperPath) log.error('PAM helper (build/Release/ocserv_pam_helper) not found; PAM logins will fail. Build it with `npx node-gyp rebuild`');
    const { service } = this.settings;
    if (!['/etc/pam.d', '/usr/lib/pam.d'].some((d) => fs.existsSync(path.join(d, service)))) {
      log.warn({ service }, `no PAM service file /etc/pam.d/${service}: PAM uses /etc/pam.d/other instead`);
    }
  }

  begin(req: LoginRequest, prior: Identity | undefined): Conversation {
    return new PamConversation(this.settings, this.helperPath, this.log, req, prior?.username ?? req.username);
  }
}

type Fail = Extract<Step, { kind: 'fail' }>;

class PamConversation implements Conversation {
  private helper?: PamHelper;
  private user?: string;
  /** the prompt the client's form answers */
  private asked?: AuthPrompt;
  private idleTimer?: NodeJS.Timeout;
  /** when the current form went out (undefined while PAM works) */
  private waitingSince?: number;
  private abandoned?: string;
  /** once PAM decided (or was stopped), this conversation answers nothing more */
  private over = false;

  constructor(
    private readonly s: PamSettings,
    private readonly helperPath: string | undefined,
    private readonly log: Logger,
    private readonly req: LoginRequest,
    private readonly knownUser: string | undefined,
  ) {}

  async start(): Promise<Step> {
    // PAM needs the user name before it can ask anything else
    if (!this.knownUser) return { kind: 'ask', message: 'Please enter your username.', prompts: [{ name: 'username', label: 'Username:', type: 'text' }] };
    return this.begin(this.knownUser);
  }

  async answer(answers: Record<string, string>): Promise<Step> {
    clearTimeout(this.idleTimer);
    this.waitingSince = undefined;
    if (this.abandoned) return this.fail(this.abandoned, false, 'Login session expired; please start again.');
    if (this.over) return { kind: 'fail', reason: 'the PAM conversation is over', user: this.user };
    if (!this.helper) return this.begin((answers.username ?? '').trim());
    const asked = this.asked;
    if (!asked) return this.fail('an answer while PAM was still working', false);
    this.asked = undefined;
    // openconnect posts a field named 'answer' back as <password>, like Cisco's clients
    const value = answers[asked.name] ?? answers.password ?? '';
    const bytes = Buffer.from(value, 'utf8');
    if (bytes.length > MAX_FRAME || value.includes('\0')) return this.fail(`an answer of ${bytes.length} bytes or with a NUL byte`, true);
    this.helper.answer(bytes);
    return this.run();
  }

  cancel(): void {
    clearTimeout(this.idleTimer);
    this.stop();
  }

  private begin(user: string): Promise<Step> | Step {
    if (!user) return { kind: 'fail', reason: 'empty username', retry: true };
    if (Buffer.byteLength(user) > 256 || /[\0-\x1f\x7f]/.test(user)) return this.fail('the user name is too long or has control characters', true);
    this.user = user;
    if (!this.helperPath) return this.fail('the PAM helper is not built (build/Release/ocserv_pam_helper)', false);
    if (live.size >= MAX_HELPERS && !evictIdlest(this.log)) {
      return this.fail(`${MAX_HELPERS} PAM logins are already running`, false, 'The server is busy; please try again later.');
    }
    this.helper = new PamHelper(this.helperPath, this.s.service, user, this.req.remoteAddr);
    live.add(this);
    return this.run();
  }

  /** Reads the helper until PAM asks something or decides; each wait is bounded by `timeout`. */
  private async run(): Promise<Step> {
    const notes: string[] = [];
    let finalUser = this.user!;
    const groups: string[] = [];
    for (;;) {
      const ev: HelperEvent | undefined = await this.helper!.next(this.s.timeoutSeconds * 1000);
      if (!ev) {
        this.log.error({ service: this.s.service, user: this.user, ip: this.req.remoteAddr, seconds: this.s.timeoutSeconds },
          'PAM gave no prompt or verdict in time (a module hangs?); stopped its helper');
        return this.fail(`PAM service '${this.s.service}' did not answer within ${this.s.timeoutSeconds} s`, false);
      }
      switch (ev.kind) {
        case 'info':
          if (notes.length < MAX_NOTES) notes.push(ev.text);
          break;
        case 'prompt':
          return this.ask(ev, notes);
        case 'user':
          finalUser = ev.name;
          break;
        case 'group':
          if (ev.gid >= this.s.gidMin && !groups.includes(ev.name)) groups.push(ev.name);
          break;
        case 'ok':
          this.stop(true);
          return { kind: 'ok', username: finalUser, groups };
        case 'fail':
          // PAM's own error messages (an expired password, say) are meant for the user
          return this.fail(`${this.s.service}: ${ev.text}`, ev.retry, notes.length ? notes.join('\n') : undefined, true);
        case 'gone':
          return this.fail(ev.why, false);
      }
    }
  }

  private ask(ev: Extract<HelperEvent, { kind: 'prompt' }>, notes: string[]): Step {
    this.asked = ev.echo
      ? { name: 'answer', label: ev.text, type: 'text' }
      : { name: 'password', label: ev.text, type: 'password' };
    this.waitingSince = Date.now();
    this.idleTimer = setTimeout(() => this.abandon(`the form went unanswered for ${IDLE_MS / 1000} s`), IDLE_MS);
    this.idleTimer.unref();
    const message = notes.length ? notes.join('\n') : ev.echo ? 'Please enter your answer.' : 'Please enter your password.';
    return { kind: 'ask', message, prompts: [this.asked] };
  }

  private fail(reason: string, retry: boolean, message?: string, decided = false): Fail {
    this.stop(decided);
    return { kind: 'fail', reason, retry, message, user: this.user };
  }

  /** Ends a conversation whose client is away; its next answer (if any) gets "expired". */
  abandon(why: string): void {
    clearTimeout(this.idleTimer);
    this.waitingSince = undefined;
    this.abandoned = why;
    this.stop();
  }

  idleSince(): number | undefined {
    return this.waitingSince;
  }

  /** decided: PAM gave its verdict, so the helper is finishing by itself */
  private stop(decided = false): void {
    this.over = true;
    if (!this.helper) return;
    if (decided) this.helper.release();
    else this.helper.kill();
    this.helper = undefined;
    live.delete(this);
  }
}

/** Makes room by ending the conversation that has waited longest for its client; false if none waits. */
function evictIdlest(log: Logger): boolean {
  let idlest: PamConversation | undefined;
  for (const c of live) {
    const since = c.idleSince();
    if (since !== undefined && (idlest === undefined || since < idlest.idleSince()!)) idlest = c;
  }
  if (!idlest) return false;
  log.warn({ max: MAX_HELPERS }, 'too many PAM logins at once; ended the one waiting longest for its client');
  idlest.abandon(`ended to make room: ${MAX_HELPERS} PAM logins were running`);
  return true;
}
