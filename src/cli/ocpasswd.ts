/**
 * ocpasswd-ts: ocserv's ocpasswd for ocserv-ts. Same options, messages and file format, so
 * either tool reads what the other wrote: `user:group:$5$…` (SHA-256 crypt, as ocpasswd
 * writes), `*` for no group, `!` before the hash for a locked account.
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { hashPassword } from '../secmod/passwd';
import { applyEdit, type PasswdEdit } from './passwd-edit';
import { InputEndedError, promptHidden, readFirstLine } from './read-secret';

export const DEFAULT_PASSWD = '/etc/ocserv-ts/ocpasswd';
const VERSION = '0.1.0';

export class OcpasswdError extends Error {
  override name = 'OcpasswdError';
  constructor(message: string, readonly code = 1) { super(message); }
}

export function usage(): string {
  return [
    'ocpasswd-ts - OpenConnect server password utility (ocserv-ts)',
    'Usage:  ocpasswd-ts [ -<flag> [<val>] | --<name>[{=| }<val>] ]... [username]',
    '',
    `   -c, --passwd=file          Password file (default ${DEFAULT_PASSWD})`,
    "   -g, --groupname=str        User's group name",
    '   -d, --delete               Delete user',
    '   -l, --lock                 Lock user',
    '   -u, --unlock               Unlock user',
    '   -v, --version              output version information and exit',
    '   -h, --help                 display extended usage information and exit',
    '',
    'Options are specified by doubled hyphens and their name or by a single',
    'hyphen and the flag character.',
    '',
    'The password is read from the terminal (asked twice) or, when standard input is',
    "not a terminal, from its first line. The file format is ocpasswd's, so ocserv's",
    'ocpasswd and ocpasswd-ts manage the same files.',
  ].join('\n') + '\n';
}

export interface OcpasswdArgs {
  file: string;
  user: string;
  group: string;
  action: 'set' | 'delete' | 'lock' | 'unlock';
}

/** ocpasswd's command line (getopt_long "c:g:dluvh"); undefined means help or version was printed. */
export function parseOcpasswdArgs(argv: string[]): OcpasswdArgs | 'help' | 'version' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        passwd: { type: 'string', short: 'c', multiple: true },
        groupname: { type: 'string', short: 'g', multiple: true },
        delete: { type: 'boolean', short: 'd', multiple: true },
        lock: { type: 'boolean', short: 'l', multiple: true },
        unlock: { type: 'boolean', short: 'u', multiple: true },
        version: { type: 'boolean', short: 'v' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new OcpasswdError(`${(err as Error).message}\n${usage()}`);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v.version) return 'version';
  if ((v.passwd?.length ?? 0) > 1) throw new OcpasswdError('-c option cannot be specified multiple time');
  if ((v.groupname?.length ?? 0) > 1) throw new OcpasswdError('-g option cannot be specified multiple time');
  const actions = (['delete', 'lock', 'unlock'] as const).filter((a) => v[a]?.length);
  if (actions.length > 1 || actions.some((a) => (v[a]?.length ?? 0) > 1)) throw new OcpasswdError(usage());
  if (parsed.positionals.length !== 1) throw new OcpasswdError(usage());
  const user = parsed.positionals[0];
  const group = v.groupname?.[0] ?? '*';
  // these would split or end the line and so corrupt every later entry
  if (user === '' || /[:\n\r]/.test(user)) throw new OcpasswdError(`invalid user name '${user}'`);
  if (/[:\n\r]/.test(group)) throw new OcpasswdError(`invalid group name '${group}'`);
  return { file: v.passwd?.[0] ?? DEFAULT_PASSWD, user, group, action: actions[0] ?? 'set' };
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const line = await readFirstLine();
    if (line === undefined || line === '') throw new OcpasswdError('Please specify a password');
    return line;
  }
  let first: string;
  let again: string;
  try {
    first = await promptHidden('Enter password: ');
    again = await promptHidden('Re-enter password: ');
  } catch (err) {
    if (err instanceof InputEndedError) throw new OcpasswdError('Please specify a password');
    throw err;
  }
  if (first !== again) throw new OcpasswdError('Passwords do not match');
  if (first === '') throw new OcpasswdError('Please specify a password');
  return first;
}

/**
 * Rewrites the file through FILE.tmp and a rename, as ocpasswd does: an existing FILE.tmp
 * means another run is editing it, and the server never sees a half-written file.
 */
export function rewrite(file: string, edit: PasswdEdit): void {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    if (edit.op !== 'set') throw new OcpasswdError(`Cannot open '${file}' for reading.`);
  }
  const tmp = `${file}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OcpasswdError(`file '${file}' is locked.`);
    throw new OcpasswdError(`Cannot open '${tmp}' for writing.`);
  }
  try {
    writeSync(fd, applyEdit(text, edit));
    closeSync(fd);
    renameSync(tmp, file);
  } catch {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw new OcpasswdError(`Cannot write to '${file}'.`);
  }
}

export async function main(argv: string[]): Promise<number> {
  try {
    const a = parseOcpasswdArgs(argv);
    if (a === 'help') { process.stderr.write(usage()); return 0; }
    if (a === 'version') { process.stderr.write(`ocpasswd-ts - ${VERSION}\n`); return 0; }
    if (a.action === 'set') {
      const password = await readPassword();
      rewrite(a.file, { op: 'set', user: a.user, group: a.group, hash: hashPassword(password, 'sha256') });
    } else {
      rewrite(a.file, { op: a.action, user: a.user });
    }
    return 0;
  } catch (err) {
    if (!(err instanceof OcpasswdError)) throw err;
    process.stderr.write(err.message.endsWith('\n') ? err.message : `${err.message}\n`);
    return err.code;
  }
}

/** Entry point of bin/ocpasswd-ts. */
export function run(): void {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: Error) => {
    process.stderr.write(`ocpasswd-ts: ${err.stack ?? err}\n`);
    process.exitCode = 1;
  });
}

if (require.main === module) run();
