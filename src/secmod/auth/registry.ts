/** Which backend serves which `auth = "..."` method. A new backend is one file and one line here. */
import type { AuthMethod } from '../../common/config';
import type { Logger } from '../../common/log';
import type { AuthBackend, Conversation, Step } from './backend';
import { CertificateBackend } from './certificate';
import { PamBackend } from './pam';
import { PlainBackend } from './plain';
import { RadiusBackend } from './radius';

type Factory = (params: Record<string, string>, log: Logger) => AuthBackend;

const FACTORIES: Record<string, Factory> = {
  plain: (params, log) => new PlainBackend(params, log),
  pam: (params, log) => new PamBackend(params, log),
  radius: (params, log) => new RadiusBackend(params, log),
  certificate: () => new CertificateBackend(),
};

/** A method ocserv has and we do not (gssapi, oidc): logins through it fail with a clear reason. */
class UnsupportedBackend implements AuthBackend {
  constructor(readonly type: string) {}
  begin(): Conversation {
    const fail = async (): Promise<Step> => ({ kind: 'fail', reason: `auth method '${this.type}' is not supported by ocserv-ts` });
    return { start: fail, answer: fail, cancel: () => {} };
  }
}

export function createBackends(methods: AuthMethod[], log: Logger): AuthBackend[] {
  return methods.map((m) => {
    const factory = FACTORIES[m.type];
    if (factory) return factory(m.params, log);
    log.warn({ method: m.type }, 'auth method not supported; logins through it will fail');
    return new UnsupportedBackend(m.type);
  });
}
