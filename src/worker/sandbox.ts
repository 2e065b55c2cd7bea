/**
 * What a worker gives up. It normally already runs as run-as-user with no capabilities
 * (main starts it so); at once it sets no_new_privs, so nothing it could exec regains any,
 * and with isolate-workers, once its code and TLS engine are loaded, a seccomp filter
 * leaves it only the system calls that serving its sockets needs.
 *
 * With chroot-dir main starts it as root instead, because only root can chroot: once
 * initialised it confines itself to the directory and becomes run-as-user (as ocserv's
 * workers do), before it reads anything a client sends. Whatever it needs from the file
 * system must be loaded by then: its modules are loaded at start (static imports, nothing
 * required later), the native addon and the OpenSSL key engine with the TLS context.
 */
import { becomeUser, chrootTo, noNewPrivs, seccompWorker } from '../native';

export function confineWorker(): void {
  noNewPrivs();
}

export function isolateWorker(): void {
  seccompWorker();
}

/** chroot-dir: into the directory, then run-as-user for good; throws if anything fails. */
export function enterChroot(c: { dir: string; uid: number; gid: number }): void {
  if (process.getuid?.() !== 0) throw new Error('the worker was not started as root, so it cannot chroot');
  chrootTo(c.dir);
  becomeUser(c.uid, c.gid);
  // never serve a client as root: say so rather than trust the calls above
  if (process.getuid() !== c.uid || process.geteuid?.() !== c.uid || process.getgid?.() !== c.gid) {
    throw new Error(`still uid ${process.getuid()} gid ${process.getgid?.()} after becoming ${c.uid}:${c.gid}`);
  }
}
