/**
 * `auth = "certificate"`: the worker's TLS handshake verified the client's certificate
 * against `ca-cert` and `crl`; the names come from the subject (`cert-user-oid`,
 * `cert-group-oid`). Without such a certificate there is nothing to ask, so no form.
 */
import type { AuthBackend, Conversation, Identity, LoginRequest, Step } from './backend';

export class CertificateBackend implements AuthBackend {
  readonly type = 'certificate';

  begin(req: LoginRequest, prior: Identity | undefined): Conversation {
    const verdict = (): Step => {
      if (!req.cert) return { kind: 'fail', reason: 'no valid client certificate', message: 'A valid client certificate is required.' };
      if (!req.cert.username) return { kind: 'fail', reason: 'the client certificate has no user name (cert-user-oid)', message: 'Your certificate carries no user name.' };
      if (prior && prior.username !== req.cert.username) {
        return { kind: 'fail', reason: `certificate user '${req.cert.username}' is not '${prior.username}'`, user: prior.username };
      }
      return { kind: 'ok', username: req.cert.username, groups: req.cert.groups };
    };
    return { start: async () => verdict(), answer: async () => verdict(), cancel: () => {} };
  }
}
