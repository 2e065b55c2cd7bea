/**
 * A strict reader for the small XML documents AnyConnect clients post (config-auth): elements,
 * attributes, text, CDATA, comments and processing instructions, the five predefined entities
 * and character references. Anything else (a DOCTYPE, an unknown entity, a tag left open or
 * closed out of order, text outside the root) is an XmlError, so a truncated or malformed
 * document is refused rather than half-read; with no DTD there is no entity expansion to abuse.
 *
 * Why not a library: fast-xml-parser took about 0.2 ms per document even when warm, and its
 * large functions cost each worker some 20 ms of optimising compiles over its first logins,
 * for two documents of a few hundred bytes per login (docs/DEPENDENCIES.md).
 */

export interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  children: XmlElement[];
  /** the element's own character data (text and CDATA, not its children's), as written */
  text: string;
}

export class XmlError extends Error { override name = 'XmlError'; }

/** deeper nesting than any client sends; bounds the work a hostile document can ask for */
const MAX_DEPTH = 64;

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d;
}

const HEX_REF = /^#x[0-9a-fA-F]{1,6}$/;
const DEC_REF = /^#[0-9]{1,7}$/;

function codePoint(ref: string): string {
  const hex = ref[1] === 'x';
  const n = hex ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
  const digits = hex ? HEX_REF : DEC_REF;
  const legal = n === 0x9 || n === 0xa || n === 0xd || (n >= 0x20 && n <= 0xd7ff) || (n >= 0xe000 && n <= 0xfffd) || (n >= 0x10000 && n <= 0x10ffff);
  if (!digits.test(ref) || !legal) throw new XmlError(`bad character reference &${ref};`);
  return String.fromCodePoint(n);
}

/** character data with its references replaced; `<` is never in it (the caller cut there) */
function decode(raw: string): string {
  if (!raw.includes('&')) return raw;
  let out = '';
  let from = 0;
  for (let amp = raw.indexOf('&'); amp >= 0; amp = raw.indexOf('&', from)) {
    const semi = raw.indexOf(';', amp);
    if (semi < 0 || semi - amp > 10) throw new XmlError('unterminated entity reference');
    const ref = raw.slice(amp + 1, semi);
    const ch = ref[0] === '#' ? codePoint(ref) : ENTITIES[ref];
    if (ch === undefined) throw new XmlError(`unknown entity &${ref};`);
    out += raw.slice(from, amp) + ch;
    from = semi + 1;
  }
  return out + raw.slice(from);
}

class Reader {
  private at = 0;

  constructor(private readonly s: string) {}

  document(): XmlElement {
    if (this.s.charCodeAt(0) === 0xfeff) this.at = 1;
    this.misc();
    if (this.s.charCodeAt(this.at) !== 0x3c /* < */ || !isNameStart(this.s.charCodeAt(this.at + 1))) {
      throw new XmlError(this.at >= this.s.length ? 'no root element' : `no root element at offset ${this.at}`);
    }
    const root = this.element();
    this.misc();
    if (this.at < this.s.length) throw new XmlError(`content after the root element at offset ${this.at}`);
    return root;
  }

  /** whitespace, comments and processing instructions, before or after the root */
  private misc(): void {
    for (;;) {
      while (isSpace(this.s.charCodeAt(this.at))) this.at++;
      if (this.s.startsWith('<?', this.at)) this.skipPast('?>', 'processing instruction');
      else if (this.s.startsWith('<!--', this.at)) this.skipPast('-->', 'comment');
      else if (this.s.startsWith('<!', this.at)) throw new XmlError('DOCTYPE and other declarations are not accepted');
      else return;
    }
  }

  private skipPast(end: string, what: string): string {
    const close = this.s.indexOf(end, this.at);
    if (close < 0) throw new XmlError(`unterminated ${what}`);
    const inner = this.s.slice(this.at, close);
    this.at = close + end.length;
    return inner;
  }

  private name(): string {
    const start = this.at;
    if (!isNameStart(this.s.charCodeAt(this.at))) throw new XmlError(`expected a name at offset ${this.at}`);
    do this.at++; while (isNameChar(this.s.charCodeAt(this.at)));
    return this.s.slice(start, this.at);
  }

  private spaces(): boolean {
    const start = this.at;
    while (isSpace(this.s.charCodeAt(this.at))) this.at++;
    return this.at > start;
  }

  /** `<name attrs>` or `<name attrs/>`; true when the element is empty (self-closed) */
  private startTag(el: XmlElement): boolean {
    for (;;) {
      const spaced = this.spaces();
      const c = this.s.charCodeAt(this.at);
      if (c === 0x3e /* > */) { this.at++; return false; }
      if (c === 0x2f /* / */ && this.s.charCodeAt(this.at + 1) === 0x3e) { this.at += 2; return true; }
      if (Number.isNaN(c)) throw new XmlError(`unterminated start tag <${el.name}>`);
      if (!spaced) throw new XmlError(`expected a space before an attribute in <${el.name}>`);
      const key = this.name();
      this.spaces();
      if (this.s.charCodeAt(this.at) !== 0x3d /* = */) throw new XmlError(`attribute ${key} of <${el.name}> has no value`);
      this.at++;
      this.spaces();
      const quote = this.s[this.at];
      if (quote !== '"' && quote !== "'") throw new XmlError(`attribute ${key} of <${el.name}> is not quoted`);
      const close = this.s.indexOf(quote, this.at + 1);
      if (close < 0) throw new XmlError(`unterminated attribute ${key} of <${el.name}>`);
      const raw = this.s.slice(this.at + 1, close);
      if (raw.includes('<')) throw new XmlError(`'<' in attribute ${key} of <${el.name}>`);
      if (el.attrs.has(key)) throw new XmlError(`attribute ${key} repeated in <${el.name}>`);
      el.attrs.set(key, decode(raw));
      this.at = close + 1;
    }
  }

  /** the element that starts at `<`, read with an explicit stack (no recursion to exhaust) */
  private element(): XmlElement {
    const open: XmlElement[] = [];
    let root: XmlElement | undefined;
    do {
      const lt = this.s.indexOf('<', this.at);
      if (lt < 0) throw new XmlError(`<${open[open.length - 1]?.name ?? '?'}> is not closed`);
      const top = open[open.length - 1];
      if (top) top.text += decode(this.s.slice(this.at, lt));
      this.at = lt;
      const s = this.s;
      if (s.startsWith('</', lt)) {
        this.at = lt + 2;
        const name = this.name();
        this.spaces();
        if (s.charCodeAt(this.at) !== 0x3e || !top || top.name !== name) {
          throw new XmlError(top ? `</${name}> closes <${top.name}>` : `stray </${name}>`);
        }
        this.at++;
        open.pop();
      } else if (s.startsWith('<!--', lt)) {
        this.skipPast('-->', 'comment');
      } else if (s.startsWith('<![CDATA[', lt)) {
        this.at = lt + 9;
        const data = this.skipPast(']]>', 'CDATA section');
        if (top) top.text += data;
      } else if (s.startsWith('<?', lt)) {
        this.skipPast('?>', 'processing instruction');
      } else if (s.startsWith('<!', lt)) {
        throw new XmlError('DOCTYPE and other declarations are not accepted');
      } else {
        this.at = lt + 1;
        const el: XmlElement = { name: this.name(), attrs: new Map(), children: [], text: '' };
        if (top) top.children.push(el);
        else root = el;
        if (!this.startTag(el)) {
          if (open.length >= MAX_DEPTH) throw new XmlError(`elements nested deeper than ${MAX_DEPTH}`);
          open.push(el);
        }
      }
    } while (open.length);
    if (!root) throw new XmlError('no root element');
    return root;
  }
}

/** The document's root element; an XmlError says why a document is not well-formed. */
export function readXml(doc: string): XmlElement {
  return new Reader(doc).document();
}
