import { parseArgs } from 'node:util';
import type { LogFormat } from '../common/log';

export interface CliOptions {
  configFile?: string;
  foreground: boolean;
  debug: number;
  pidFile?: string;
  /** undefined: text on a terminal, JSON otherwise */
  logFormat?: LogFormat;
  testConfig: boolean;
  version: boolean;
  help: boolean;
}

export const USAGE = `Usage: ocserv-ts [options]
OpenConnect/AnyConnect-compatible VPN server (ocserv-compatible configuration).

  -c, --config FILE     configuration file (ocserv.conf syntax; default /etc/ocserv-ts/ocserv.conf;
                        without one, a demo setup is created under /var/lib/ocserv-ts)
  -f, --foreground      do not fork into the background
  -d, --debug LEVEL     log verbosity as in ocserv (0-9; 3 debug, 4+ protocol detail);
                        overrides log-level in the configuration
  -p, --pid-file FILE   write the main process id to FILE
      --log-format FMT  json (one JSON object per line) or text; default: text on a
                        terminal, json otherwise (journald, files)
  -t, --test-config     check the configuration and exit
  -v, --version         print the version and exit
  -h, --help            this help
`;

/** ocserv's own flags, so init scripts and habits carry over. */
export function parseCli(argv: string[]): CliOptions {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string', short: 'c' },
      foreground: { type: 'boolean', short: 'f' },
      debug: { type: 'string', short: 'd' },
      'pid-file': { type: 'string', short: 'p' },
      'log-format': { type: 'string' },
      'test-config': { type: 'boolean', short: 't' },
      version: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const debug = values.debug === undefined ? 0 : Number(values.debug);
  if (!Number.isInteger(debug) || debug < 0 || debug > 9999) throw new Error(`-d expects a number, got '${values.debug}'`);
  const logFormat = values['log-format'];
  if (logFormat !== undefined && logFormat !== 'json' && logFormat !== 'text') throw new Error(`--log-format expects json or text, got '${logFormat}'`);
  return {
    configFile: values.config,
    foreground: values.foreground ?? false,
    debug,
    pidFile: values['pid-file'],
    ...(logFormat ? { logFormat } : {}),
    testConfig: values['test-config'] ?? false,
    version: values.version ?? false,
    help: values.help ?? false,
  };
}
