/**
 * occtl-ts: ocserv's occtl for ocserv-ts. Same options, commands, layouts and JSON; it talks
 * to main over the control socket (occtl-socket-file). Without a command it is interactive,
 * with a prompt, history and completion of command names.
 */
import { createInterface, type Interface } from 'node:readline';
import { DEFAULT_OCCTL_SOCKET } from '../ipc/control';
import { COMMANDS, commandList } from './occtl-commands';
import { runLine, type OcctlOptions } from './occtl-run';

const VERSION = '0.1.0';

export class OcctlUsageError extends Error { override name = 'OcctlUsageError'; }

export function usage(): string {
  return [
    'occtl-ts: [OPTIONS...] {COMMAND}',
    '',
    "  -s --socket-file       Specify the server's occtl socket file",
    `                         (default ${DEFAULT_OCCTL_SOCKET})`,
    '  -h --help              Show this help',
    '     --debug             Enable more verbose information in some commands',
    '  -v --version           Show the program\'s version',
    '  -j --json              Use JSON formatting for output',
    '  -n --no-pager          No pager will be used over output data',
    '',
    commandList(false),
  ].join('\n') + '\n';
}

function version(): string {
  return [
    `OpenConnect server control (occtl-ts) version ${VERSION}, for ocserv-ts`,
    'Compatible with occtl of ocserv 1.1.',
    '',
    "For help type ? or 'help'",
    '==================================================================',
  ].join('\n') + '\n';
}

export interface ParsedArgs { opts: OcctlOptions; command: string[]; help?: boolean; version?: boolean }

/** occtl's option rules: options come before the command; everything after is the command. */
export function parseArgs(argv: string[]): ParsedArgs {
  const opts: OcctlOptions = { socket: DEFAULT_OCCTL_SOCKET, json: false, noPager: false, debug: false, interactive: false };
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const a = argv[i];
    if (a === '-j' || a === '--json') opts.json = true;
    else if (a === '-n' || a === '--no-pager') opts.noPager = true;
    else if (a === '--debug') opts.debug = true;
    else if (a === '-h' || a === '--help') return { opts, command: [], help: true };
    else if (a === '-v' || a === '--version') return { opts, command: [], version: true };
    else if (a === '-s' || a === '--socket-file') {
      const v = argv[++i];
      if (v === undefined) throw new OcctlUsageError(`${a} needs a file name`);
      opts.socket = v;
    } else if (a.startsWith('--socket-file=')) opts.socket = a.slice('--socket-file='.length);
    else throw new OcctlUsageError(`unknown option '${a}'`);
  }
  return { opts, command: argv.slice(i) };
}

function completer(line: string): [string[], string] {
  const typed = line.replace(/^\s+/, '').replace(/\s+/g, ' ').toLowerCase();
  const hits = COMMANDS.filter((c) => c.show >= 0 && c.name.startsWith(typed)).map((c) => c.name);
  return [hits.length ? hits : [], line];
}

/** The prompt: each line is one command, run to completion before the next is read. */
async function interactive(opts: OcctlOptions): Promise<void> {
  process.stderr.write(version());
  const rl: Interface = createInterface({
    input: process.stdin, output: process.stdout, prompt: '> ', completer, historySize: 500, terminal: process.stdin.isTTY,
  });
  // CTRL+C clears the line, as in occtl; CTRL+D (end of input) leaves
  rl.on('SIGINT', () => { rl.write(null, { ctrl: true, name: 'u' }); process.stdout.write('\n'); rl.prompt(); });
  const queue: string[] = [];
  let ended = false;
  let wake: (() => void) | undefined;
  rl.on('line', (l) => { queue.push(l); wake?.(); });
  rl.on('close', () => { ended = true; wake?.(); });
  rl.prompt();
  for (;;) {
    if (queue.length === 0) {
      if (ended) return;
      await new Promise<void>((r) => { wake = r; });
      wake = undefined;
      continue;
    }
    const line = queue.shift()!;
    if (line.trim() !== '') {
      rl.pause();
      await runLine(line, { ...opts, interactive: true });
      // keys typed while a command ran (the 'q' that ends show events) are not a new command
      if (process.stdin.isTTY) rl.write(null, { ctrl: true, name: 'u' });
      rl.resume();
    }
    if (!ended) rl.prompt();
  }
}

export async function main(): Promise<void> {
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`occtl-ts: ${(e as Error).message}\n\n${usage()}`);
    process.exit(1);
  }
  if (parsed.help) { process.stdout.write(usage()); return; }
  if (parsed.version) { process.stderr.write(version()); return; }
  if (parsed.command.length === 0) {
    await interactive({ ...parsed.opts, json: false });
    process.exit(0);
  }
  // exit at once: a paused standard input (show events read keys from it) would keep node alive
  process.exit(await runLine(parsed.command.join(' '), parsed.opts));
}

/** Entry point of bin/occtl-ts. */
export function run(): void {
  main().catch((e) => {
    process.stderr.write(`occtl-ts: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}

if (require.main === module) run();
