/**
 * What a worker gives up. It already runs as run-as-user with no capabilities (main starts
 * it so); at once it sets no_new_privs, so nothing it could exec regains any, and with
 * isolate-workers, once its code and TLS engine are loaded, a seccomp filter leaves it
 * only the system calls that serving its sockets needs.
 */
import { noNewPrivs, seccompWorker } from '../native';

export function confineWorker(): void {
  noNewPrivs();
}

export function isolateWorker(): void {
  seccompWorker();
}
