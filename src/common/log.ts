import pino from 'pino';

export type Logger = pino.Logger;

/**
 * ocserv's -d levels mapped onto pino's: 0-2 info (what an operator needs), 3 debug,
 * 4 and above trace (HTTP and protocol detail). One JSON line per event on stderr so
 * journald and log shippers keep the fields.
 */
export function levelFromDebug(debug: number): pino.Level {
  if (debug >= 4) return 'trace';
  if (debug >= 3) return 'debug';
  return 'info';
}

export function createLogger(proc: string, level: pino.Level | string = process.env.OCSERV_TS_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    { level, base: { proc, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ fd: 2, sync: true }),
  );
}
