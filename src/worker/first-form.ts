import type { AuthPrompt, SecmodToWorker } from '../ipc/messages';

type AuthReply = SecmodToWorker['auth.reply'];

export interface FirstForm { message: string; prompts: AuthPrompt[] }

/**
 * The first login form, when sec-mod says every client without a user name, group or
 * certificate of its own is shown the same one (a `shared` auth.reply). The worker then
 * answers such clients' first request itself, as ocserv's workers do, which spares every
 * login one round trip to sec-mod; the answers come back without a login id and go to
 * sec-mod with auth.init, which begins the login and takes them in one step. A form is kept
 * for a few seconds only, so that a reloaded configuration or an edited password file
 * (auto-select-group's list of groups) shows in the form soon after.
 */
export class FirstFormCache {
  private form?: FirstForm & { until: number };

  constructor(private readonly ttlMs = 10_000, private readonly now: () => number = Date.now) {}

  get(): FirstForm | undefined {
    const f = this.form;
    if (!f) return undefined;
    if (this.now() < f.until) return f;
    this.form = undefined;
    return undefined;
  }

  /** Keeps the form of a `shared` reply; returns the reply for chaining. */
  learn(reply: AuthReply): AuthReply {
    if (reply.status === 'continue' && reply.shared) {
      this.form = { message: reply.message, prompts: reply.prompts, until: this.now() + this.ttlMs };
    }
    return reply;
  }
}
