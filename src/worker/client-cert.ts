/**
 * `auth = "certificate"` on the worker's side: whether the client's certificate passed
 * OpenSSL's verification against ca-cert (and crl) during the handshake, and which user
 * and groups its subject names. sec-mod gets only that outcome (auth.init's `cert`).
 */
import type { TLSSocket } from 'node:tls';
import type { WorkerConfig, WorkerToSecmod } from '../ipc/messages';
import { CertParseError, certNames } from './cert-names';

export type CertIdentity = NonNullable<WorkerToSecmod['auth.init']['cert']>;
export type ClientCertPolicy = NonNullable<WorkerConfig['clientCert']>;

/** ocserv's name for "the e-mail address in subjectAltName" as cert-user-oid */
export const SAN_EMAIL = 'san(rfc822name)';

/** What auth.init's validator in sec-mod accepts; a longer value must not cost the worker its channel. */
const MAX_NAME = 256;
const MAX_GROUPS = 32;

export type CertCheck =
  | { ok: true; identity: CertIdentity; notes: string[] }
  | { ok: false; reason: string };

interface TlsHandle { verifyError?(): (Error & { code?: string }) | null }

/**
 * The handshake's verdict on the client certificate. node:tls sets `authorized` only on
 * sockets a tls.Server made; ours are made from fds main hands over, so we ask the handle
 * the same question tls.Server does (OpenSSL's verify result, kept with the session).
 */
export function checkClientCert(socket: TLSSocket, policy: ClientCertPolicy): CertCheck {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return { ok: false, reason: 'the client sent no certificate' };
  const handle = (socket as unknown as { _handle?: TlsHandle })._handle;
  // fail closed if a Node upgrade took this away; test/worker/client-cert.test.ts notices
  if (typeof handle?.verifyError !== 'function') return { ok: false, reason: 'cannot read the TLS verification result' };
  const err = handle.verifyError();
  if (err) return { ok: false, reason: `${err.code ?? 'verification failed'}: ${err.message} (subject ${cert.subject.replace(/\n/g, ', ')})` };
  try {
    return { ok: true, ...identityFromDer(cert.raw, policy) };
  } catch (e) {
    if (!(e instanceof CertParseError)) throw e;
    return { ok: false, reason: `cannot read the certificate's names: ${e.message}` };
  }
}

/** User (cert-user-oid, first value) and groups (cert-group-oid, every value) of a certificate. */
export function identityFromDer(der: Buffer, policy: ClientCertPolicy): { identity: CertIdentity; notes: string[] } {
  const names = certNames(der);
  const notes: string[] = [];
  const valuesOf = (oid: string) => names.subject.filter((a) => a.oid === oid).map((a) => a.value);
  const userValues = policy.userOid.toLowerCase() === SAN_EMAIL ? names.emails : valuesOf(policy.userOid);
  let username = userValues.find((v) => v !== undefined && v !== '');
  if (username === undefined) notes.push(`no ${policy.userOid} in the certificate`);
  else if (username.length > MAX_NAME) {
    notes.push(`the user name (${policy.userOid}) is longer than ${MAX_NAME} characters`);
    username = undefined;
  }
  const groups: string[] = [];
  for (const g of policy.groupOid ? valuesOf(policy.groupOid) : []) {
    if (!g || groups.includes(g)) continue;
    if (g.length > MAX_NAME) notes.push(`a group name (${policy.groupOid}) longer than ${MAX_NAME} characters was ignored`);
    else if (groups.length === MAX_GROUPS) notes.push(`only the first ${MAX_GROUPS} groups (${policy.groupOid}) are used`);
    else groups.push(g);
  }
  return { identity: { username, groups }, notes: [...new Set(notes)] };
}
