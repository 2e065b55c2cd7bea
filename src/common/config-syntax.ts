/**
 * The line syntax of ocserv.conf. ocserv reads its file with the inih library, configured so
 * that these rules hold, and an administrator's file may rely on any of them:
 *  - `name = value` or `name: value` (the first '=' or ':' separates), spaces optional;
 *  - lines starting with '#' or ';' are comments; ' #' (a '#' after white space) starts a
 *    comment at the end of a line;
 *  - a line starting with white space after an option line continues that option: it is one
 *    more value of it (inih's multi-line values);
 *  - `[vhost:NAME]` starts a virtual host section; other `[...]` sections are skipped;
 *  - a UTF-8 byte order mark before the first line is ignored.
 * There is no `include`. Two deliberate differences, both only for files ocserv would have
 * misread: a '#' inside a double-quoted value does not start a comment, and an indented line
 * that starts with a known option name is that option, not a continuation.
 * Option names and values are interpreted by config.ts; this module only splits lines.
 */

export type SyntaxItem =
  | { kind: 'option'; line: number; name: string; value: string; continued: boolean }
  | { kind: 'section'; line: number; name: string };

export interface SyntaxProblem { line: number; reason: string }

// C0 controls other than tab, and DEL: a NUL or an escape byte in an option line means a
// damaged file, and a path with a NUL would only fail later, far from its line
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;

/** A value as it may appear in a message: bounded, quoted, control characters made visible. */
export function show(value: string, max = 60): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return `'${cut.replace(/[\0-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\v' || c === '\f';

/** Index of the first '=' or ':' before any end-of-line comment, or -1. */
function separatorAt(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '=' || c === ':') return i;
    if (c === '#' && i > 0 && isSpace(s[i - 1])) return -1;
  }
  return -1;
}

/** Drops an end-of-line comment; a leading double-quoted part is kept whole. */
function withoutComment(v: string): string {
  let from = 0;
  const lead = v.length - v.trimStart().length;
  if (v[lead] === '"') {
    const close = v.indexOf('"', lead + 1);
    if (close > 0) from = close + 1;
  }
  for (let i = Math.max(from, 1); i < v.length; i++) {
    if (v[i] === '#' && isSpace(v[i - 1])) return v.slice(0, i);
  }
  return v;
}

/**
 * Splits a config file into options and section headers. `isKnown` tells an indented option
 * line from a continuation (it gets the lower-cased name).
 */
export function readConfigSyntax(text: string, isKnown: (name: string) => boolean): { items: SyntaxItem[]; problems: SyntaxProblem[] } {
  const items: SyntaxItem[] = [];
  const problems: SyntaxProblem[] = [];
  let prevName = '';
  const lines = text.split('\n');
  for (let idx = 0; idx < lines.length; idx++) {
    const line = idx + 1;
    let s = lines[idx];
    if (s.endsWith('\r')) s = s.slice(0, -1);
    if (idx === 0 && s.startsWith('\uFEFF')) s = s.slice(1);
    const t = s.trim();
    if (t === '' || t[0] === '#' || t[0] === ';') continue;
    const bad = CONTROL.exec(t);
    if (bad) {
      problems.push({ line, reason: `control character ${show(bad[0])} in an option line (is the file damaged?)` });
      continue;
    }
    if (t[0] === '[') {
      const close = t.indexOf(']');
      if (close < 0) problems.push({ line, reason: `section header ${show(t)} has no closing ']'` });
      else items.push({ kind: 'section', line, name: t.slice(1, close).trim() });
      prevName = '';
      continue;
    }
    const sep = separatorAt(t);
    const name = sep > 0 ? t.slice(0, sep).trim() : '';
    if (isSpace(s[0]) && prevName !== '' && !(name !== '' && isKnown(name.toLowerCase()))) {
      items.push({ kind: 'option', line, name: prevName, value: withoutComment(t).trim(), continued: true });
      continue;
    }
    if (sep < 0) {
      problems.push({ line, reason: `expected 'option = value', got ${show(t)}` });
      continue;
    }
    if (name === '') {
      problems.push({ line, reason: `no option name before '${t[sep]}'` });
      continue;
    }
    items.push({ kind: 'option', line, name, value: withoutComment(t.slice(sep + 1)).trim(), continued: false });
    prevName = name;
  }
  return { items, problems };
}
