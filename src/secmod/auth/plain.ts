/**
 * `auth = "plain[passwd=FILE]"`: an ocpasswd file; with `otp=FILE` as well, a liboath
 * users file (oath.ts) supplies a one-time code, as ocserv does:
 * - a user with a password gets a second form for the code once the password is right;
 * - a user whose stored hash is empty answers the code in the password field alone;
 * - a user without a token in the OTP file cannot log in;
 * - a wrong or replayed code ends the login (no second try), like a failed login in ocserv.
 */
import type { Logger } from '../../common/log';
import { PasswdFile } from '../passwd';
import { passwordPrompts, type AuthBackend, type Conversation, type Identity, type LoginRequest, type Step } from './backend';
import { OathUsersFile, type OathResult } from './oath';

/** ocserv's wording, which clients show above the code field */
const OTP_MESSAGE = 'Please enter your OTP password.';
const OTP_REASONS: Record<Exclude<OathResult['result'], 'ok' | 'error'>, string> = {
  'unknown-user': 'no OTP token for the user',
  invalid: 'wrong OTP',
  replayed: 'OTP already used',
};

export class PlainBackend implements AuthBackend {
  readonly type = 'plain';
  readonly sameFirstForm = true;
  private readonly passwd: PasswdFile;
  private readonly otp?: OathUsersFile;

  constructor(params: Record<string, string>, private readonly log: Logger) {
    this.passwd = new PasswdFile(params.passwd!);
    if (params.otp) this.otp = new OathUsersFile(params.otp);
  }

  /** auto-select-group offers every group of the password file */
  groupList(): string[] {
    return this.passwd.allGroups();
  }

  begin(req: LoginRequest, prior: Identity | undefined): Conversation {
    const knownUser = prior?.username ?? req.username;
    /** set once the password is right and the code is asked for */
    let pending: { username: string; groups: string[] } | undefined;
    return {
      start: async (): Promise<Step> => ({ kind: 'ask', message: 'Please enter your username and password.', prompts: passwordPrompts(knownUser) }),
      answer: async (answers): Promise<Step> => {
        if (pending) return this.checkOtp(pending.username, pending.groups, answers.password ?? '');
        const username = (knownUser ?? answers.username ?? '').trim();
        if (!username) return { kind: 'fail', reason: 'empty username', retry: true };
        const otpOnly = this.otp && this.passwd.otpOnly(username);
        if (otpOnly) return this.checkOtp(username, otpOnly.groups, answers.password ?? '');
        const r = await this.passwd.check(username, answers.password ?? '');
        if (r.unsupported) this.log.warn({ user: username, file: this.passwd.path, reason: r.unsupported }, 'the password file holds a hash this system cannot check');
        if (r.result === 'ok') {
          if (!this.otp) return { kind: 'ok', username, groups: r.groups };
          pending = { username, groups: r.groups };
          return { kind: 'ask', message: OTP_MESSAGE, prompts: passwordPrompts(username) };
        }
        if (r.result === 'no-user' && this.passwd.lastError) this.log.error({ err: this.passwd.lastError }, 'password file problem');
        return { kind: 'fail', reason: r.result, retry: true, user: username };
      },
      cancel: () => { pending = undefined; },
    };
  }

  private checkOtp(username: string, groups: string[], code: string): Step {
    const r = this.otp!.authenticate(username, code);
    if (r.result === 'ok') return { kind: 'ok', username, groups };
    if (r.result === 'error') {
      this.log.error({ err: r.reason, user: username }, 'OTP file problem');
      return { kind: 'fail', reason: `OTP: ${r.reason}`, user: username };
    }
    return { kind: 'fail', reason: OTP_REASONS[r.result], user: username };
  }
}
