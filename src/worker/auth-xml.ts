import { XMLParser } from 'fast-xml-parser';
import type { AuthPrompt } from '../ipc/messages';

/** The XML "aggregate auth" documents of the AnyConnect protocol (config-auth). */

const XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n';
const SERVER_VERSION = '<version who="sg">0.1(1)</version>\n';

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' }[c]!));
}

/** banner: pre-login-banner, which ocserv puts in the first form only, before its message */
export function authRequestXml(message: string, prompts: AuthPrompt[], error?: string, banner?: string): string {
  const inputs = prompts.map(promptXml).join('\n');
  return XML_HEAD
    + '<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">\n'
    + SERVER_VERSION
    + '<auth id="main">\n'
    + (banner ? `<banner>${escapeXml(banner)}</banner>\n` : '')
    + `<message>${escapeXml(message)}</message>\n`
    + (error ? `<error id="main" param1="${escapeXml(error)}" param2="">${escapeXml(error)}</error>\n` : '')
    + '<form method="post" action="/auth">\n'
    + inputs + '\n'
    + '</form></auth>\n'
    + '</config-auth>\n';
}

function promptXml(p: AuthPrompt): string {
  if (p.type !== 'select') return `<input type="${p.type}" name="${escapeXml(p.name)}" label="${escapeXml(p.label)}" />`;
  const options = (p.options ?? []).map((o) => `<option value="${escapeXml(o.value)}">${escapeXml(o.label)}</option>`).join('');
  return `<select name="${escapeXml(p.name)}" label="${escapeXml(p.label)}">${options}</select>`;
}

/** config: an element that follows </auth> (the user-profile manifest) */
export function authSuccessXml(banner?: string, config = ''): string {
  return XML_HEAD
    + '<config-auth client="vpn" type="complete" aggregate-auth-version="2">\n'
    + SERVER_VERSION
    + '<auth id="success">\n'
    + (banner ? `<banner>${escapeXml(banner)}</banner>\n` : '')
    + '<title>SSL VPN Service</title></auth>' + config + '</config-auth>\n';
}

export function authFailXml(message: string): string {
  return XML_HEAD
    + '<config-auth client="vpn" type="auth-request" aggregate-auth-version="2">\n'
    + SERVER_VERSION
    + `<auth id="main"><error id="main" param1="${escapeXml(message)}" param2="">${escapeXml(message)}</error></auth>\n`
    + '</config-auth>\n';
}

export interface ClientAuthMessage {
  /** 'init' or 'auth-reply' (AnyConnect also sends 'logout'). */
  type: string;
  /** Form answers keyed by input name. */
  answers: Record<string, string>;
  groupSelect?: string;
}

export class AuthXmlError extends Error { override name = 'AuthXmlError'; }

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: true,
  htmlEntities: false,
  // Answers must stay strings: a numeric password is still a password.
  isArray: () => false,
});

function text(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (typeof v === 'object' && '#text' in (v as Record<string, unknown>)) return String((v as Record<string, unknown>)['#text']);
  if (typeof v === 'object') return '';
  return undefined;
}

/** Reads a client's config-auth document; anything else is an AuthXmlError. */
export function parseClientAuth(body: string): ClientAuthMessage {
  let doc: Record<string, unknown>;
  try {
    doc = parser.parse(body, true) as Record<string, unknown>;
  } catch (err) {
    throw new AuthXmlError(`malformed XML: ${(err as Error).message}`);
  }
  const root = doc['config-auth'] as Record<string, unknown> | undefined;
  if (!root || typeof root !== 'object') throw new AuthXmlError('no config-auth element');
  const type = text(root['@type']);
  if (!type) throw new AuthXmlError('config-auth without a type');
  const answers: Record<string, string> = {};
  const auth = root['auth'];
  if (auth && typeof auth === 'object') {
    for (const [k, v] of Object.entries(auth as Record<string, unknown>)) {
      if (k.startsWith('@')) continue;
      const t = text(v);
      if (t !== undefined) answers[k] = t;
    }
  }
  const groupSelect = text(root['group-select']);
  return { type, answers, groupSelect };
}

/** Old-style clients post a urlencoded form instead of XML. */
export function parseFormAuth(body: string): ClientAuthMessage {
  const answers: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) answers[k] = v;
  return { type: 'auth-reply', answers, groupSelect: answers.group_list };
}
