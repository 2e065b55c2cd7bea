import type { Logger } from '../common/log';
import type { TerminateCause } from '../ipc/messages';
import type { MainSession, SessionTable } from './sessions';
import type { WorkerPool } from './workers';

/** A worker that ignores a disconnect this long is killed, so the lease is freed anyway. */
const TERMINATE_GRACE_MS = 3000;

export interface TerminateContext {
  log: Logger;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
}

/**
 * main ends a session (administrator, timeout, shutdown): the worker sends the client a
 * TERMINATE and reports the end; the cause main chose wins over the worker's account of it.
 */
export function terminateSession(c: TerminateContext, s: MainSession, reason: string, cause: TerminateCause): void {
  s.endCause ??= cause;
  const w = c.workers()?.get(s.workerId);
  if (!w) return;
  w.channel.send('session.terminate', { sessionId: s.sessionId, reason });
  setTimeout(() => {
    if (c.sessions.get(s.sessionId) !== s) return;
    c.log.warn({ user: s.username, worker: w.id }, 'worker did not end the session when told to; killing it');
    w.proc.kill('SIGKILL');
  }, TERMINATE_GRACE_MS).unref();
}

/** How a worker's account of a tunnel's end reads as a RADIUS cause, when main did not end it. */
export function causeFromWorker(reason: string, logout: boolean): TerminateCause {
  if (logout) return 'user-request';
  if (/^(tun error|protocol error)/.test(reason)) return 'nas-error';
  return 'lost-carrier';
}
