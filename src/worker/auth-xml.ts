import type { AuthPrompt } from '../ipc/messages';
import { readXml, XmlError, type XmlElement } from './xml-reader';

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

/** Reads a client's config-auth document; anything else is an AuthXmlError. */
export function parseClientAuth(body: string): ClientAuthMessage {
  let root: XmlElement;
  try {
    root = readXml(body);
  } catch (err) {
    if (!(err instanceof XmlError)) throw err;
    throw new AuthXmlError(`malformed XML: ${err.message}`);
  }
  if (root.name !== 'config-auth') throw new AuthXmlError('no config-auth element');
  const type = root.attrs.get('type');
  if (!type) throw new AuthXmlError('config-auth without a type');
  // Answers stay as sent, untrimmed: a password may begin or end with a space.
  const answers: Record<string, string> = {};
  let groupSelect: string | undefined;
  for (const el of root.children) {
    if (el.name === 'group-select') groupSelect = el.text;
    if (el.name !== 'auth') continue;
    for (const answer of el.children) if (answer.name !== '__proto__') answers[answer.name] = answer.text;
  }
  return { type, answers, groupSelect };
}

/** Old-style clients post a urlencoded form instead of XML. */
export function parseFormAuth(body: string): ClientAuthMessage {
  const answers: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(body)) answers[k] = v;
  return { type: 'auth-reply', answers, groupSelect: answers.group_list };
}
