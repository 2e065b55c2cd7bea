/**
 * custom-header: lines ocserv adds, as written, to its answer to CONNECT (the tunnel's
 * parameters), %{U} and %{G} replaced by the user's and group's names.
 */

/** one header line: no line break may come from a name or the configuration */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ');
}

export function customHeaderLines(templates: string[] | undefined, user: string, group: string): string[] {
  return (templates ?? [])
    .map((t) => oneLine(t.replace(/%\{U\}/g, user).replace(/%\{G\}/g, group)).trim())
    // a line that is not "Name: value" would break the answer's header block
    .filter((l) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+:/.test(l));
}

/** `answer` with the lines added at the end of its header block */
export function withCustomHeaders(answer: string, lines: string[]): string {
  if (!lines.length) return answer;
  const end = answer.lastIndexOf('\r\n\r\n');
  if (end < 0) return answer;
  return answer.slice(0, end) + '\r\n' + lines.join('\r\n') + answer.slice(end);
}
