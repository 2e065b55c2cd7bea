import ipaddr from 'ipaddr.js';

export type CommandId =
  | 'disconnect-user' | 'disconnect-id' | 'terminate-session' | 'unban-ip' | 'reload' | 'status' | 'users'
  | 'ip-bans' | 'ip-ban-points' | 'iroutes' | 'sessions-all' | 'sessions-valid' | 'session' | 'user' | 'id'
  | 'events' | 'stop' | 'reset' | 'help' | 'exit' | 'cluster-users';

type ArgKind = 'NAME' | 'ID' | 'IP' | 'SID' | 'now';

interface CommandSpec {
  name: string;
  arg?: ArgKind;
  id: CommandId;
  doc: string;
  /** 1: in every help; 0: interactive help only; -1: an alias, never listed */
  show: 1 | 0 | -1;
}

/** occtl's commands in occtl's order (its help lists them so), plus `terminate session`. */
export const COMMANDS: CommandSpec[] = [
  { name: 'disconnect user', arg: 'NAME', id: 'disconnect-user', doc: 'Disconnect the specified user', show: 1 },
  { name: 'disconnect id', arg: 'ID', id: 'disconnect-id', doc: 'Disconnect the specified ID', show: 1 },
  { name: 'terminate session', arg: 'SID', id: 'terminate-session', doc: 'Terminates the specified session and invalidates its cookie', show: 1 },
  { name: 'unban ip', arg: 'IP', id: 'unban-ip', doc: 'Unban the specified IP', show: 1 },
  { name: 'reload', id: 'reload', doc: 'Reloads the server configuration', show: 1 },
  { name: 'show status', id: 'status', doc: 'Prints the status and statistics of the server', show: 1 },
  { name: 'show users --cluster', id: 'cluster-users', doc: 'Alias for show cluster users', show: -1 },
  { name: 'show users', id: 'users', doc: 'Prints the connected users', show: 1 },
  { name: 'show cluster users', id: 'cluster-users', doc: 'Prints the connected users of every server of the cluster', show: 1 },
  { name: 'show ip bans', id: 'ip-bans', doc: 'Prints the banned IP addresses', show: 1 },
  { name: 'show ip ban points', id: 'ip-ban-points', doc: 'Prints all the known IP addresses which have points', show: 1 },
  { name: 'show iroutes', id: 'iroutes', doc: 'Prints the routes provided by users of the server', show: 1 },
  { name: 'show sessions all', id: 'sessions-all', doc: 'Prints all the session IDs', show: 1 },
  { name: 'show sessions valid', id: 'sessions-valid', doc: 'Prints all the valid for reconnection sessions', show: 1 },
  { name: 'show session', arg: 'SID', id: 'session', doc: 'Prints information on the specified session', show: 1 },
  { name: 'show user', arg: 'NAME', id: 'user', doc: 'Prints information on the specified user', show: 1 },
  { name: 'show id', arg: 'ID', id: 'id', doc: 'Prints information on the specified ID', show: 1 },
  { name: 'show events', id: 'events', doc: 'Provides information about connecting users', show: 1 },
  { name: 'stop', arg: 'now', id: 'stop', doc: 'Terminates the server', show: 1 },
  { name: 'reset', id: 'reset', doc: 'Resets the screen and terminal', show: 0 },
  { name: 'help', id: 'help', doc: 'Prints this help', show: 0 },
  { name: 'exit', id: 'exit', doc: 'Exits this application', show: 0 },
  { name: '?', id: 'help', doc: 'Prints this help', show: -1 },
  { name: 'quit', id: 'exit', doc: 'Exits this application', show: -1 },
  { name: 'show cookies all', id: 'sessions-all', doc: 'Alias for show sessions all', show: -1 },
  { name: 'show cookies valid', id: 'sessions-valid', doc: 'Alias for show sessions valid', show: -1 },
];

function helpLine(c: CommandSpec): string {
  const arg = c.name === 'help' ? 'or ?' : c.arg === 'now' ? 'now' : c.arg ? `[${c.arg}]` : undefined;
  return arg ? ` ${c.name.padStart(12)} ${arg}\t${c.doc.padStart(16)}\n` : ` ${c.name.padStart(16)}\t${c.doc.padStart(16)}\n`;
}

export function commandList(interactive: boolean): string {
  return 'Available Commands\n' + COMMANDS.filter((c) => c.show === 1 || (interactive && c.show === 0)).map(helpLine).join('');
}

/** occtl's check_cmd_help: the help lines of the commands the typed words begin. */
export function helpFor(line: string): string {
  const typed = normalise(line).replace(/[\s?]+$/, '');
  return COMMANDS.filter((c) => c.show >= 0 && c.name.startsWith(typed.slice(0, c.name.length))).map(helpLine).join('');
}

const normalise = (line: string): string => line.trim().replace(/\s+/g, ' ').toLowerCase();

export type Parsed =
  | { ok: true; id: CommandId; arg: string }
  | { ok: false; kind: 'unknown' | 'usage'; message: string; help: string };

/**
 * Matches a command line as occtl does (case and runs of spaces do not matter), but a
 * command must be followed by a space or the end, and each argument is checked here, so a
 * mistake prints the command's usage instead of reaching the server.
 */
export function parseCommand(line: string): Parsed {
  const trimmed = line.trim().replace(/\s+/g, ' ');
  const lower = trimmed.toLowerCase();
  const spec = COMMANDS.find((c) => lower === c.name || lower.startsWith(`${c.name} `));
  if (!spec) {
    const help = lower === '' ? '' : helpFor(lower);
    return { ok: false, kind: help ? 'usage' : 'unknown', message: `unknown command: ${trimmed}`, help };
  }
  // arguments keep their case: user names and session ids are case-sensitive
  const arg = trimmed.slice(spec.name.length).trim();
  const usage = (why: string): Parsed => ({ ok: false, kind: 'usage', message: `${spec.name}: ${why}`, help: helpLine(spec) });
  if (arg === '?') return usage('usage');
  switch (spec.arg) {
    case undefined:
      return arg === '' ? { ok: true, id: spec.id, arg } : usage(`takes no argument (got '${arg}')`);
    case 'now':
      return arg.toLowerCase() === 'now' ? { ok: true, id: spec.id, arg } : usage("say 'stop now' to stop the server");
    case 'ID':
      return /^[1-9]\d{0,9}$/.test(arg) && Number(arg) <= 0xffffffff ? { ok: true, id: spec.id, arg } : usage(arg ? `'${arg}' is not an ID` : 'needs an ID');
    case 'IP':
      if (!arg) return usage('needs an IP address');
      return ipaddr.isValid(arg) ? { ok: true, id: spec.id, arg } : { ok: false, kind: 'usage', message: `Cannot parse IP: ${arg}`, help: helpLine(spec) };
    default:
      if (!arg) return usage(`needs a ${spec.arg === 'SID' ? 'session ID' : 'user name'}`);
      if (arg.length > (spec.arg === 'SID' ? 64 : 256)) return usage('argument too long');
      return { ok: true, id: spec.id, arg };
  }
}
