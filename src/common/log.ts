import { isatty } from 'node:tty';
import pino from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

/** 'json': one JSON object per line; 'text': one readable line per event (pino-pretty). */
export type LogFormat = 'text' | 'json';

/**
 * ocserv's levels (-d and log-level: 0 default, 1 basic, 2 info, 3 debug, 4 http, 5 packets,
 * 8 sensitive, 9 TLS) mapped onto pino's: 0-2 info, 3 debug, 4 and above trace (HTTP and
 * protocol detail). pino has nothing between info and warn for ocserv's "basic": ocserv-ts's
 * info events are the logins, tunnels and refusals an operator reads at any of these levels.
 */
export function levelFromDebug(debug: number): pino.Level {
  if (debug >= 4) return 'trace';
  if (debug >= 3) return 'debug';
  return 'info';
}

/** As ocserv: a -d on the command line (other than 0) wins over the file's log-level. */
export function debugLevel(cliDebug: number, configLogLevel: number): number {
  return cliDebug !== 0 ? cliDebug : configLogLevel;
}

/**
 * Readable lines for a person at a terminal; JSON for everything else (journald, files,
 * log shippers), where the fields must stay machine-readable. main decides once and passes
 * the choice to sec-mod and the workers (OCSERV_TS_LOG_FORMAT), which share its stderr.
 */
export function defaultLogFormat(): LogFormat {
  const f = process.env.OCSERV_TS_LOG_FORMAT;
  if (f === 'json' || f === 'text') return f;
  return isatty(2) ? 'text' : 'json';
}

/**
 * Every line carries the process kind and pid; events add user, ip (the client's address),
 * sid (the session) where known. Writes are synchronous so that the last lines before an
 * exit are never lost.
 */
export function createLogger(
  proc: string,
  level: pino.Level | string = process.env.OCSERV_TS_LOG_LEVEL ?? 'info',
  format: LogFormat = defaultLogFormat(),
): Logger {
  const options: pino.LoggerOptions = { level, base: { proc, pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'json') return pino(options, pino.destination({ fd: 2, sync: true }));
  const stream = pretty({
    destination: 2,
    sync: true,
    // colour only for a terminal: escape codes in journald or a file are noise
    colorize: isatty(2),
    singleLine: true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'proc,pid,hostname',
    messageFormat: '{proc}[{pid}]: {msg}',
  });
  return pino(options, stream);
}

/**
 * A crash becomes a log line like any other event (with the stack), then the process
 * exits as Node would have. main restarts sec-mod and workers; main itself is restarted by
 * its service manager (Restart=on-failure in config/systemd/ocserv-ts.service).
 */
export function logCrashes(log: Logger): void {
  process.on('uncaughtException', (err) => {
    try {
      log.fatal({ err: err?.message ?? String(err), stack: err?.stack }, 'crashed');
    } finally {
      process.exit(1);
    }
  });
}
