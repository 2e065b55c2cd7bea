/** `auth = "plain[passwd=FILE]"`: an ocpasswd file. */
import type { Logger } from '../../common/log';
import { PasswdFile } from '../passwd';
import { passwordPrompts, type AuthBackend, type Conversation, type Identity, type LoginRequest, type Step } from './backend';

export class PlainBackend implements AuthBackend {
  readonly type = 'plain';
  private readonly passwd: PasswdFile;

  constructor(params: Record<string, string>, private readonly log: Logger) {
    this.passwd = new PasswdFile(params.passwd!);
  }

  begin(req: LoginRequest, prior: Identity | undefined): Conversation {
    const knownUser = prior?.username ?? req.username;
    return {
      start: async (): Promise<Step> => ({ kind: 'ask', message: 'Please enter your username and password.', prompts: passwordPrompts(knownUser) }),
      answer: async (answers): Promise<Step> => {
        const username = (knownUser ?? answers.username ?? '').trim();
        if (!username) return { kind: 'fail', reason: 'empty username', retry: true };
        const r = this.passwd.check(username, answers.password ?? '');
        if (r.result === 'ok') return { kind: 'ok', username, groups: r.groups };
        if (r.result === 'no-user' && this.passwd.lastError) this.log.error({ err: this.passwd.lastError }, 'password file problem');
        return { kind: 'fail', reason: r.result, retry: true, user: username };
      },
      cancel: () => {},
    };
  }
}
