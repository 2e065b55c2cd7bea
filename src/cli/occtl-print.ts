/**
 * The output primitives of ocserv's occtl (its print.c), so that occtl-ts prints the same
 * lines and the same JSON: a tab before `Name: value`, two spaces after the colon in
 * JSON, empty values left out. The JSON is always well formed, also where ocserv's is not.
 */

/** printf's `%Ns`: right-aligned in N columns, never cut. */
export const pad = (v: string | number, n: number): string => String(v).padStart(n);

const two = (n: number): string => String(n).padStart(2, '0');

/** occtl's DATE_TIME_FMT, `%Y-%m-%d %H:%M` in local time. */
export function dateTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}`;
}

/** occtl's compact 7-column interval (from procps' w): `   42s`, ` 5m:03s`, ` 2h:10m`, ` 3days`. */
export function interval7(seconds: number): string {
  const t = Math.floor(seconds);
  if (t < 0) return '   ?   ';
  if (t >= 48 * 3600) return `${pad(Math.floor(t / 86400), 2)}days`;
  if (t >= 3600) return `${pad(Math.floor(t / 3600), 2)}h:${two(Math.floor(t / 60) % 60)}m`;
  if (t > 60) return `${pad(Math.floor(t / 60), 2)}m:${two(t % 60)}s`;
  return `${pad(t, 5)}s`;
}

/** Seconds from `then` to `now` (epoch ms), as occtl computes them. */
export const since = (now: number, then: number): number => Math.floor(now / 1000) - Math.floor(then / 1000);

/** occtl's bytes2human: decimal units, one decimal. */
export function bytes2human(bytes: number, suffix = ''): string {
  if (bytes > 1000 && bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} KB${suffix}`;
  if (bytes >= 1e6 && bytes < 1e9) return `${(bytes / 1e6).toFixed(1)} MB${suffix}`;
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB${suffix}`;
  return `${Math.floor(bytes)} bytes${suffix}`;
}

const q = (v: string): string => JSON.stringify(v);

/**
 * One record (`{ ... }` in JSON, tab-indented lines otherwise). Methods mirror print.c's
 * print_single_value, print_pair_value, print_list_entries and friends.
 */
export class Block {
  private readonly jsonLines: string[] = [];
  private text = '';

  constructor(readonly json: boolean) {}

  single(name: string, value: string): this {
    if (value === '') return this;
    if (this.json) this.jsonLines.push(`    ${q(name)}:  ${q(value)}`);
    else this.text += `\t${name}: ${value}\n`;
    return this;
  }

  int(name: string, value: number): this {
    if (this.json) this.jsonLines.push(`    ${q(name)}:  ${value}`);
    else this.text += `\t${name}: ${value}\n`;
    return this;
  }

  /** A value and its human form: `"Name": v, "_Name": ex` or `Name: v (ex)`. */
  ex(name: string, value: string, ex: string): this {
    if (value === '') return this;
    if (this.json) this.jsonLines.push(`    ${q(name)}:  ${q(value)}`, `    ${q(`_${name}`)}:  ${q(ex)}`);
    else this.text += `\t${name}: ${value} (${ex})\n`;
    return this;
  }

  pair(name1: string, value1: string, name2: string, value2: string): this {
    if (this.json) {
      if (value1 !== '') this.jsonLines.push(`    ${q(name1)}:  ${q(value1)}`);
      if (value2 !== '') this.jsonLines.push(`    ${q(name2)}:  ${q(value2)}`);
      return this;
    }
    if (value1 !== '') this.text += `\t${name1}: ${value1}`;
    if (value2 !== '') this.text += `   ${name2}: ${value2}`;
    if (value1 !== '' || value2 !== '') this.text += '\n';
    return this;
  }

  /** JSON always has the key (an empty list too); the text form prints nothing for none. */
  list(name: string, values: string[]): this {
    if (this.json) {
      this.jsonLines.push(`    ${q(name)}:\t[${values.map(q).join(', ')}]`);
      return this;
    }
    values.forEach((v, i) => { this.text += i === 0 ? `\t${name}: ${v}\n` : `\t\t${v}\n`; });
    return this;
  }

  /** print_fwport_entries: one line, which stays (empty) when there are none. */
  ports(name: string, values: string[]): this {
    if (this.json) {
      this.jsonLines.push(`    ${q(name)}:\t[${values.map(q).join(', ')}]`);
      return this;
    }
    this.text += values.length ? `\t${name}: ${values.join(', ')}\n` : '\n';
    return this;
  }

  /** An already formatted line for the text form only. */
  raw(line: string): this {
    if (!this.json) this.text += line;
    return this;
  }

  /** An already formatted JSON member, for the JSON form only. */
  rawJson(member: string): this {
    if (this.json) this.jsonLines.push(`    ${member}`);
    return this;
  }

  separator(): this {
    if (!this.json) this.text += '\n';
    return this;
  }

  render(): string {
    if (!this.json) return this.text;
    return this.jsonLines.length ? `  {\n${this.jsonLines.join(',\n')}\n  }` : '  {\n  }';
  }
}

/** A JSON array of blocks, laid out as occtl lays out its lists. */
export function jsonArray(blocks: Block[], blankBetween: boolean): string {
  if (blocks.length === 0) return '[\n]\n';
  return `[\n${blocks.map((b) => b.render()).join(blankBetween ? ',\n\n' : ',\n')}\n]\n`;
}
