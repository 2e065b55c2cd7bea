/**
 * A client's bytes after the TLS handshake, before login: HTTP requests as the worker's
 * node:http server parses them (llhttp with the worker's 16 KiB header limit, strict mode),
 * then everything the worker reads from a request: cookies, the CONNECT headers (client
 * identity, DTLS offer, MTU), the camouflage and profile URL checks, and the body through
 * the XML (src/worker/auth-xml.ts parseClientAuth) or form (parseFormAuth) reader, within the
 * worker's 64 KiB body cap. llhttp reports its errors by return value (the worker answers 400
 * or 431); AuthXmlError is the XML reader's refusal; nothing else may be thrown.
 */
import fc from 'fast-check';
import { IncomingMessage } from 'node:http';
import { AuthXmlError, parseClientAuth, parseFormAuth } from '../../../src/worker/auth-xml';
import { cookieValue } from '../../../src/worker/http-auth';
import { clientHeaders } from '../../../src/worker/session-info';
import { chooseDtls } from '../../../src/worker/dtls-negotiation';
import { camouflageUrl } from '../../../src/worker/camouflage';
import { isProfileRequest } from '../../../src/worker/user-profile';
import { bytesOf, mix, rarely, textOf } from '../gen';
import { check, type FuzzTarget } from '../target';

// node's own binding of llhttp, the parser behind http.createServer
interface LlhttpParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  execute(b: Buffer): number | Error;
  finish(): number | Error | undefined;
  close(): void;
  [k: number]: unknown;
}
const common = require('_http_common') as {
  HTTPParser: { new(): LlhttpParser; REQUEST: number; kOnHeaders: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number };
  methods: string[];
};
const { HTTPParser, methods } = common;

const MAX_HEADER = 16 * 1024;
const MAX_BODY = 64 * 1024;

interface Req { method: string; url: string; headers: string[]; body: Buffer[]; bodyBytes: number; upgrade: boolean }

function handle(r: Req): void {
  const req = new IncomingMessage(undefined as never);
  // node's own header folding (joined cookies, dropped duplicates), as the server applies it
  (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(r.headers, r.headers.length);
  req.method = r.method;
  req.url = r.url;
  cookieValue(req, 'webvpn');
  cookieValue(req, 'webvpncontext');
  camouflageUrl(req.url, 's3cret');
  isProfileRequest(req);
  if (r.method === 'CONNECT') {
    const h = clientHeaders(req);
    check(h.userAgent.length <= 512 && h.hostname.length <= 256, 'client headers are clipped');
    chooseDtls(req.headers, { psk: true, legacy: true });
    chooseDtls(req.headers, { psk: false, legacy: true });
    return;
  }
  if (r.method !== 'POST' || r.bodyBytes > MAX_BODY) return;
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY) return;
  const body = Buffer.concat(r.body).toString('utf8');
  try {
    const ct = String(req.headers['content-type'] ?? '');
    const msg = ct.includes('x-www-form-urlencoded') ? parseFormAuth(body) : parseClientAuth(body);
    check(typeof msg.type === 'string' && msg.type.length > 0, 'a message has a type');
    for (const [k, v] of Object.entries(msg.answers)) check(typeof k === 'string' && typeof v === 'string', 'answers are strings');
    check(msg.groupSelect === undefined || typeof msg.groupSelect === 'string', 'group-select is a string');
  } catch (err) {
    if (!(err instanceof AuthXmlError)) throw err;
  }
}

export function fuzz(input: Buffer): void {
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {}, MAX_HEADER, 0);
  const done: Req[] = [];
  let cur: Req | undefined;
  let pendingHeaders: string[] = [];
  let pendingUrl = '';
  parser[HTTPParser.kOnHeaders] = (headers: string[], url: string) => {
    pendingHeaders = pendingHeaders.concat(headers);
    pendingUrl += url;
  };
  parser[HTTPParser.kOnHeadersComplete] = (_maj: number, _min: number, headers: string[] | undefined, method: number, url: string | undefined,
    _sc: unknown, _sm: unknown, upgrade: boolean) => {
    cur = { method: methods[method] ?? '?', url: url ?? pendingUrl, headers: headers ?? pendingHeaders, body: [], bodyBytes: 0, upgrade };
    pendingHeaders = [];
    pendingUrl = '';
    // CONNECT: the rest of the stream is CSTP, not HTTP (the cstp target reads that)
    return 0;
  };
  parser[HTTPParser.kOnBody] = (b: Buffer) => {
    if (!cur) return;
    cur.bodyBytes += b.length;
    if (cur.bodyBytes <= MAX_BODY) cur.body.push(Buffer.from(b));
  };
  parser[HTTPParser.kOnMessageComplete] = () => {
    if (cur) done.push(cur);
    cur = undefined;
  };
  try {
    const r = parser.execute(input);
    if (!(r instanceof Error) && !done.some((d) => d.upgrade)) parser.finish();
  } finally {
    parser.close();
  }
  // the worker handles one request at a time; a connection sends a few
  for (const r of done.slice(0, 8)) {
    handle(r);
    if (r.method === 'CONNECT') break;
  }
}

// ---------- inputs ----------

const xmlText = textOf('abc<>&;"\'=/ #x0123456789ABCDEF!-[]?\u00e9\u4e2d\u0000', 30);
const entity = fc.constantFrom('&amp;', '&lt;', '&#x41;', '&#65;', '&#xFFFFFFFF;', '&#0;', '&bogus;', '&', '&#x110000;', '&lol9;', '&#55296;');
const leaf = fc.oneof(xmlText, entity, fc.constant('<![CDATA[x]]>'), fc.constant('<!-- c -->'));
const answerEl = fc.tuple(fc.constantFrom('username', 'password', 'secondary_password', 'group_list', 'answer', '__proto__', 'constructor', '@type', '#text', 'a:b', ''),
  fc.array(leaf, { maxLength: 3 }), fc.boolean())
  .map(([name, parts, attr]) => `<${name}${attr ? ' type="x"' : ''}>${parts.join('')}</${name}>`);
const doctype = fc.constantFrom('',
  '<!DOCTYPE x [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>',
  '<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/shadow">]>',
  '<!DOCTYPE x [<!ENTITY a "<auth><username>x</username></auth>">]>',
  '<?xml version="1.0" encoding="UTF-8"?>\n');
const xmlBody = fc.record({
  head: doctype,
  type: fc.constantFrom('init', 'auth-reply', 'logout', '', 'x"y', '&lol9;'),
  answers: fc.array(answerEl, { maxLength: 6 }),
  group: fc.option(fc.array(leaf, { maxLength: 2 }).map((p) => p.join(''))),
  nest: fc.constantFrom(0, 0, 0, 3, 200, 5000),
  cut: rarely(fc.nat()),
}).map((d) => {
  const deep = '<a>'.repeat(d.nest) + '</a>'.repeat(d.nest);
  const doc = `${d.head}<config-auth client="vpn" type="${d.type}" aggregate-auth-version="2"><version who="vpn">v9</version>`
    + `<auth>${d.answers.join('')}${deep}</auth>${d.group !== null ? `<group-select>${d.group}</group-select>` : ''}</config-auth>`;
  return d.cut === null ? doc : doc.slice(0, d.cut % (doc.length + 1));
});
const formBody = fc.array(fc.tuple(textOf('abc_=&%+2F', 10), textOf('xyz=&%+00é', 10)), { maxLength: 6 })
  .map((kv) => kv.map(([k, v]) => `${k}=${v}`).join('&'));

const header = fc.oneof(
  fc.constantFrom('Host: vpn', 'User-Agent: Open AnyConnect VPN Agent v9.12', 'User-Agent: AnyConnect Android 4.10', 'Connection: keep-alive',
    'X-Transcend-Version: 1', 'X-Aggregate-Auth: 1', 'X-CSTP-Version: 1', 'X-CSTP-Base-MTU: 1500', 'X-CSTP-Base-MTU: -1', 'X-CSTP-Base-MTU: 99999999999999999999',
    'X-CSTP-Address-Type: IPv6,IPv4', 'X-DTLS-CipherSuite: PSK-NEGOTIATE:OC-DTLS1_2-AES256-GCM:AES128-SHA',
    'X-DTLS12-CipherSuite: ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256', `X-DTLS-Master-Secret: ${'ab'.repeat(48)}`, `X-DTLS-Master-Secret: ${'zz'.repeat(48)}`,
    'X-AnyConnect-Identifier-DeviceType: iPhone', 'X-AnyConnect-Identifier-Platform: android', 'Transfer-Encoding: chunked', 'Content-Length: 0',
    'Content-Length: -1', 'Content-Length: 99999999999999999999', 'Content-Length: 10, 11', 'Expect: 100-continue', 'Upgrade: websocket'),
  fc.tuple(fc.constantFrom('Cookie', 'cookie', 'COOKIE'), fc.array(fc.tuple(fc.constantFrom('webvpn', 'webvpncontext', 'x', ''), textOf('abcAZ09-_=;, ', 20)), { maxLength: 4 }))
    .map(([n, kv]) => `${n}: ${kv.map(([k, v]) => `${k}=${v}`).join('; ')}`),
  fc.tuple(fc.constantFrom('X-CSTP-Hostname', 'User-Agent', 'X-DTLS-CipherSuite', 'X-DTLS-Master-Secret', 'Content-Type', 'X-Junk'), textOf('ab:;,- \t\u00ff', 600))
    .map(([n, v]) => `${n}: ${v}`),
);
const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'POST', 'CONNECT', 'HEAD', 'PUT', 'get', 'PROPFIND', 'P0ST'),
  url: fc.constantFrom('/', '/auth', '/CSCOSSLC/tunnel', '/profiles/p.xml', '/profiles', '/?s3cret', '/auth?x', '*', 'http://vpn/', '/%00', '/' + 'a'.repeat(9000)),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/1.1 x'),
  headers: fc.array(header, { maxLength: 10 }),
  body: fc.oneof(xmlBody, formBody, fc.constant(''), fc.string({ maxLength: 100 })),
  contentType: fc.constantFrom('application/xml', 'text/xml', 'application/x-www-form-urlencoded', ''),
  framing: fc.constantFrom('length', 'length', 'chunked', 'none', 'lie'),
}).map((r) => {
  let body = r.body;
  const hs = [...r.headers];
  if (r.contentType) hs.push(`Content-Type: ${r.contentType}`);
  if (r.framing === 'length') hs.push(`Content-Length: ${Buffer.byteLength(body)}`);
  if (r.framing === 'lie') hs.push(`Content-Length: ${Buffer.byteLength(body) + 5}`);
  if (r.framing === 'chunked') {
    hs.push('Transfer-Encoding: chunked');
    body = body ? `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n` : '0\r\n\r\n';
  }
  return `${r.method} ${r.url} ${r.version}\r\n${hs.join('\r\n')}${hs.length ? '\r\n' : ''}\r\n${body}`;
});
const connection = fc.tuple(fc.array(request, { minLength: 1, maxLength: 3 }), bytesOf(0, 16))
  .map(([reqs, tail]) => Buffer.concat([Buffer.from(reqs.join(''), 'utf8'), tail]));

export const target: FuzzTarget = {
  name: 'http-auth',
  surface: 'HTTP requests on a TLS connection before login: headers, cookies, CONNECT settings, XML and form login bodies',
  sources: ['worker/auth-xml.js', 'worker/http-auth.js', 'worker/session-info.js', 'worker/dtls-negotiation.js', 'worker/camouflage.js', 'worker/user-profile.js'],
  fuzz,
  inputs: mix(connection, 2048),
};
