/**
 * The edits ocpasswd makes to a password file, line by line and with its rules: a line is
 * `user:group:hash`; a line without a ':' is dropped when the file is rewritten; every line
 * of the user is replaced (or removed, locked, unlocked); other lines stay as they were.
 */
export type PasswdEdit =
  | { op: 'set'; user: string; group: string; hash: string }
  | { op: 'delete'; user: string }
  | { op: 'lock'; user: string }
  | { op: 'unlock'; user: string };

function lines(text: string): string[] {
  if (text === '') return [];
  const out = text.split('\n');
  if (out[out.length - 1] === '') out.pop();
  return out;
}

const userOf = (line: string): string | undefined => {
  const i = line.indexOf(':');
  return i < 0 ? undefined : line.slice(0, i);
};

/** The file's new text. `text` is undefined when the file does not exist (only `set` may create it). */
export function applyEdit(text: string | undefined, e: PasswdEdit): string {
  const out: string[] = [];
  let found = false;
  for (const line of lines(text ?? '')) {
    const user = userOf(line);
    if (user === undefined) continue;
    if (user !== e.user) {
      out.push(line);
      continue;
    }
    found = true;
    if (e.op === 'set') out.push(`${e.user}:${e.group}:${e.hash}`);
    else if (e.op === 'lock' || e.op === 'unlock') {
      const second = line.indexOf(':', user.length + 1);
      if (second < 0) continue;
      const head = line.slice(0, second + 1);
      const hash = line.slice(second + 1);
      if (e.op === 'lock') out.push(hash.startsWith('!') ? line : `${head}!${hash}`);
      else out.push(hash.startsWith('!') ? `${head}${hash.slice(1)}` : line);
    }
    // delete: the line is left out
  }
  if (e.op === 'set' && !found) out.push(`${e.user}:${e.group}:${e.hash}`);
  return out.map((l) => `${l}\n`).join('');
}
