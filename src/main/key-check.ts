/**
 * Start-up checks of server-cert / server-key: the files exist, the worker user cannot
 * read a key (a worker that could would defeat key isolation), and OpenSSL can serve the
 * certificates side by side (one per key type).
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Config } from '../common/config';
import type { Logger } from '../common/log';
import type { RunAs } from './privileges';
import { secureContextFor } from '../worker/tls-context';

export class ServerKeyError extends Error { override name = 'ServerKeyError'; }

/** Opens the file as the workers would: their uid and gid, no supplementary groups. */
export function readableAs(file: string, who: RunAs): boolean {
  const r = spawnSync(process.execPath, ['-e', 'const fs = require("fs"); fs.closeSync(fs.openSync(process.argv[1], "r"))', file], {
    uid: who.uid, gid: who.gid, cwd: '/', env: {}, stdio: 'ignore', timeout: 10_000,
  });
  return r.status === 0;
}

export function checkServerKeys(c: Config, runAs: RunAs, log: Logger): void {
  const types = new Map<string, string>();
  c.serverCert.forEach((certFile, i) => {
    let type: string | undefined;
    try {
      type = new X509Certificate(readFileSync(certFile)).publicKey.asymmetricKeyType;
    } catch (err) {
      throw new ServerKeyError(`server-cert ${certFile}: ${(err as Error).message}`);
    }
    const other = types.get(type ?? '');
    if (other) throw new ServerKeyError(`server-cert ${certFile} and ${other} both have ${type} keys; only one certificate per key type can be served`);
    types.set(type ?? '', certFile);
    checkKeyFile(c.serverKey[i], runAs, log);
  });
  if (c.keyIsolation) checkKeyEngine(c.serverCert);
  else {
    log.warn('key-isolation = false: every worker holds the server private keys, so a compromised worker exposes them; use only where Node has no OpenSSL engine support');
  }
}

/**
 * Builds the workers' TLS context here once, so a Node without OpenSSL engine support, or
 * a missing engine, stops the start with a reason instead of every worker dying at init.
 * Nothing is signed: the engine reaches for sec-mod only during a handshake.
 */
function checkKeyEngine(certFiles: string[]): void {
  try {
    secureContextFor({ certs: certFiles.map((f) => readFileSync(f, 'utf8')) }, 0);
  } catch (err) {
    throw new ServerKeyError(`key isolation: cannot use the key engine (${(err as Error).message}); `
      + 'this Node may lack OpenSSL engine support — set key-isolation = false to run with the keys in the workers');
  }
}

function checkKeyFile(keyFile: string, runAs: RunAs, log: Logger): void {
  let mode: number;
  let uid: number;
  try {
    ({ mode, uid } = statSync(keyFile));
  } catch (err) {
    throw new ServerKeyError(`server-key ${keyFile}: ${(err as Error).message}`);
  }
  if (runAs.uid === 0) {
    log.warn({ key: keyFile }, 'workers run as root: nothing keeps them from the server key');
    return;
  }
  const problems: string[] = [];
  if (uid === runAs.uid) problems.push(`it is owned by run-as-user '${runAs.user}'`);
  if (readableAs(keyFile, runAs)) problems.push(`run-as-user '${runAs.user}' can read it`);
  else if (mode & 0o004) problems.push('it is readable by every user');
  if (problems.length) {
    log.warn({ key: keyFile, mode: (mode & 0o777).toString(8) },
      `server-key: ${problems.join(' and ')}; a compromised worker could take the key (chown root and chmod 600)`);
  }
}
