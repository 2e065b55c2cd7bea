/**
 * ocserv-ts main process: the command line, configuration, privilege checks, then MainServer.
 */
import '../common/jit';
import { spawn } from 'node:child_process';
import { existsSync, openSync, unlinkSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, loadConfig, type Config, type ConfigWarning } from '../common/config';
import { createLogger, debugLevel, defaultLogFormat, levelFromDebug, logCrashes, type Logger } from '../common/log';
import { ensureDefaultState, openconnectCommand } from './bootstrap';
import { parseCli, USAGE, type CliOptions } from './cli';
import { configSummary, errorLines } from './config-report';
import { checkCodeReadable, resolveRunAs } from './privileges';
import { MainServer } from './server';
import { sessionStatus, SystemdError, SystemdNotifier, takeListenFds, type InheritedSockets } from './systemd';

const DEFAULT_CONFIG = '/etc/ocserv-ts/ocserv.conf';
const ROOT = resolve(__dirname, '..', '..', '..');
const VERSION = '0.1.0';

/** the server's logger once it exists: start-up failures are log events like any other */
let startLog: Logger | undefined;

function fail(msg: string, code = 1): never {
  if (startLog) {
    startLog.fatal(msg);
    process.exit(code);
  }
  process.stderr.write(`ocserv-ts: ${msg}\n`);
  process.exit(code);
}

function primaryAddress(): string {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/** `log`: the server's logger (warnings become log events); without it (-t) plain lines on stderr */
function loadOrBootstrap(cli: CliOptions, log?: Logger): { config: Config; banner?: string; warnings: ConfigWarning[] } {
  let file = cli.configFile;
  let banner: string | undefined;
  if (!file && existsSync(DEFAULT_CONFIG)) file = DEFAULT_CONFIG;
  if (!file) {
    const host = primaryAddress();
    const state = ensureDefaultState({ stateDir: process.env.OCSERV_TS_STATE_DIR, addresses: [host] });
    file = state.configPath;
    banner = [
      `No configuration given: running the embedded default from ${state.stateDir}`,
      `  (${state.created ? 'created now' : 'reused'}: certificate, password file with user '${state.demoUser}', ocserv.conf).`,
      `Connect with:`,
      `  ${openconnectCommand(state, host, 443)}`,
    ].join('\n');
  }
  const warnings: ConfigWarning[] = [];
  const config = loadConfig(file, warnings);
  // Options ocserv knows but ocserv-ts does not act on yet go on one line, not one each.
  const later = warnings.filter((w) => w.notYet);
  for (const w of warnings.filter((x) => !x.notYet)) {
    if (log) log.warn({ file: w.file, line: w.line, option: w.option }, w.message);
    else process.stderr.write(`ocserv-ts: ${w.file}:${w.line}: warning: ${w.message}\n`);
  }
  if (later.length) {
    const options = later.map((w) => w.option);
    if (log) log.info({ file, options }, 'options accepted but not yet acted on');
    else process.stderr.write(`ocserv-ts: ${file}: note: accepted but not yet acted on: ${options.join(', ')}\n`);
  }
  return { config, banner, warnings };
}

/**
 * Children get a small, known environment: nothing a parent's NODE_OPTIONS or test runner
 * injects should run inside a worker that faces the network.
 */
function childEnvironment(level: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', OCSERV_TS_LOG_LEVEL: level };
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('OCSERV_TS_') && k !== 'OCSERV_TS_LOG_LEVEL') env[k] = v;
  if (process.env.LANG) env.LANG = process.env.LANG;
  return env;
}

async function main(): Promise<void> {
  let cli: CliOptions;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (cli.help) { process.stdout.write(USAGE); return; }
  if (cli.version) { process.stdout.write(`ocserv-ts ${VERSION}\n`); return; }

  // The server logs from here on (the configuration's warnings too), in one format for main,
  // sec-mod and the workers, which share its stderr (childEnvironment passes the choice on).
  // -t is a report for a person and keeps plain lines.
  let level = levelFromDebug(cli.debug);
  process.env.OCSERV_TS_LOG_FORMAT = cli.logFormat ?? defaultLogFormat();
  const serverLog = cli.testConfig ? undefined : createLogger('main', level);
  if (serverLog) logCrashes(serverLog);
  startLog = serverLog;

  let loaded: ReturnType<typeof loadOrBootstrap>;
  try {
    loaded = loadOrBootstrap(cli, serverLog);
  } catch (err) {
    if (err instanceof ConfigError && serverLog) {
      const lines = errorLines(err);
      for (const l of lines) serverLog.fatal(l);
      serverLog.fatal('the server was not started');
      process.exit(1);
    }
    if (err instanceof ConfigError) {
      const lines = errorLines(err);
      for (const l of lines.slice(0, -1)) process.stderr.write(`ocserv-ts: ${l}\n`);
      const n = 1 + err.also.length;
      fail(`${lines[lines.length - 1]}\n${n > 1 ? `${n} errors in the configuration. ` : ''}The server was not started.`);
    }
    throw err;
  }
  const { config } = loaded;
  // log-level from the file, unless -d said otherwise; sec-mod and workers get it from childEnvironment
  level = levelFromDebug(debugLevel(cli.debug, config.logLevel));
  if (serverLog) serverLog.level = level;
  if (cli.testConfig) {
    process.stdout.write(`${configSummary(config, loaded.warnings).join('\n')}\n`);
    return;
  }
  if (process.getuid && process.getuid() !== 0) fail('must run as root (it creates tun devices and binds privileged ports)');
  const runAs = resolveRunAs(config.runAsUser, config.runAsGroup);
  const workerScript = join(ROOT, 'dist', 'src', 'worker', 'index.js');
  try {
    checkCodeReadable(ROOT, ['dist/src/worker/index.js', 'build/Release/ocserv_native.node', 'build/Release/ocserv_keyfwd.so', 'node_modules/msgpackr/package.json'], runAs);
  } catch (err) {
    fail((err as Error).message);
  }

  if (loaded.banner) process.stdout.write(`${loaded.banner}\n`);
  // Under systemd (Type=notify, socket activation) main is the service's main process:
  // detaching would hand both to a process systemd does not know.
  const underSystemd = !!process.env.NOTIFY_SOCKET || process.env.LISTEN_PID === String(process.pid);
  if (!cli.foreground && !underSystemd) {
    // No fork() in Node: start ourselves again, detached, with -f; logs go to a file.
    const logFile = process.env.OCSERV_TS_LOG_FILE ?? '/var/log/ocserv-ts.log';
    const out = openSync(logFile, 'a');
    const args = process.argv.slice(2).concat(['-f']);
    if (!cli.configFile) args.push('-c', config.file);
    const child = spawn(process.execPath, [process.argv[1], ...args], { detached: true, stdio: ['ignore', out, out] });
    child.unref();
    process.stdout.write(`ocserv-ts started in the background (pid ${child.pid}); logs in ${logFile}\n`);
    return;
  }

  const log = serverLog!;
  let listenFds: InheritedSockets | undefined;
  try {
    listenFds = takeListenFds();
  } catch (err) {
    if (!(err instanceof SystemdError)) throw err;
    log.fatal({ err: err.message }, 'cannot use the sockets systemd passed');
    process.exit(1);
  }
  const systemd = new SystemdNotifier(log);
  const pidFile = cli.pidFile ?? config.pidFile;
  if (pidFile) writeFileSync(pidFile, `${process.pid}\n`);
  const server = new MainServer({
    config,
    log,
    runAs,
    workerScript,
    secmodScript: join(ROOT, 'dist', 'src', 'secmod', 'index.js'),
    childEnv: childEnvironment(level),
    listenFds,
    onSessionCount: (n) => systemd.status(sessionStatus(n)),
  });
  let stopping = false;
  const stop = (sig: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, 'shutting down');
    systemd.stopping();
    server.stop().finally(() => {
      if (pidFile) try { unlinkSync(pidFile); } catch { /* already gone */ }
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  try {
    await server.start();
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start');
    await server.stop().catch(() => {});
    process.exit(1);
  }
  log.info({ version: VERSION, config: config.file }, 'ocserv-ts is up');
  systemd.ready(sessionStatus(0));
}

main().catch((err) => fail((err as Error).stack ?? String(err)));
