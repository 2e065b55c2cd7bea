/**
 * The contract every authentication backend of sec-mod fulfils. A backend is one file in
 * this folder; `login.ts` drives the conversations and chains backends when several
 * `auth` lines must all succeed (e.g. certificate then password, or password then OTP).
 */
import type { AuthPrompt } from '../../ipc/messages';

/** What a verified client certificate says about its holder (from the worker's TLS handshake). */
export interface CertIdentity {
  /** the value of `cert-user-oid` in the subject, when present */
  username?: string;
  /** the values of `cert-group-oid` in the subject */
  groups: string[];
}

/** What sec-mod knows about the client when a login starts. */
export interface LoginRequest {
  remoteAddr: string;
  userAgent: string;
  /** a user name the client sent before any form (rare) */
  username?: string;
  /** the group the client asked for (`--authgroup` / group-select) */
  groupname?: string;
  /** set only when the worker verified a client certificate against `ca-cert` (and `crl`) */
  cert?: CertIdentity;
}

/**
 * Settings a backend (RADIUS mostly) gives one session; they override the server's and
 * the group's configuration for that session. Times in seconds.
 */
export interface SessionAttributes {
  /** Framed-IP-Address: the client's tunnel IPv4 address */
  ipv4?: string;
  /** Framed-IPv6-Prefix / Framed-IPv6-Address */
  ipv6?: string;
  /** networks in CIDR form (Framed-Route, Framed-IPv6-Route) */
  routes?: string[];
  dns?: string[];
  sessionTimeout?: number;
  idleTimeout?: number;
  /** Acct-Interim-Interval */
  interimInterval?: number;
  /** RADIUS Class attributes, echoed verbatim in accounting (base64 of each value) */
  radiusClass?: string[];
}

/** An identity earned by the backends so far in a chain. */
export interface Identity {
  username: string;
  groups: string[];
  attrs: SessionAttributes;
}

export type Step =
  /** show the client a form; `answer` gets the field values keyed by prompt name */
  | { kind: 'ask'; message: string; prompts: AuthPrompt[]; error?: string }
  /** this backend is satisfied */
  | { kind: 'ok'; username: string; groups?: string[]; attrs?: SessionAttributes }
  /**
   * this backend refuses. `retry`: the client may try again with a fresh form (a wrong
   * password); without it the login ends (no certificate, server unreachable).
   * `reason` goes to the log, `message` (optional) to the client.
   */
  | { kind: 'fail'; reason: string; message?: string; retry?: boolean; user?: string };

/** One login's conversation with one backend. */
export interface Conversation {
  start(): Promise<Step>;
  answer(answers: Record<string, string>): Promise<Step>;
  /** the login was abandoned or timed out: free what the conversation holds */
  cancel(): void;
}

export interface AuthBackend {
  /** the method's name in `auth = "..."` */
  readonly type: string;
  /**
   * A conversation begun without a user name asks everyone the same first question, with
   * no I/O and no state of its own: workers may then serve that first form themselves.
   */
  readonly sameFirstForm?: boolean;
  /** `prior`: what earlier backends of the chain established (their user name binds this one) */
  begin(req: LoginRequest, prior: Identity | undefined): Conversation;
  /** the server is stopping or the configuration changed */
  close?(): void;
  /** every group this method knows of, for `auto-select-group` (ocserv: the first auth method's list) */
  groupList?(): string[];
}

/** The username+password form most backends start with. */
export function passwordPrompts(knownUser: string | undefined): AuthPrompt[] {
  const password: AuthPrompt = { name: 'password', label: 'Password:', type: 'password' };
  return knownUser ? [password] : [{ name: 'username', label: 'Username:', type: 'text' }, password];
}
