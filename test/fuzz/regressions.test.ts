/**
 * Hostile inputs kept as regression cases for the fuzz targets (bench/fuzz/targets): the
 * shrunk inputs of past failures, and hand-made worst cases for each parser. Each must pass
 * through its target: refused in the parser's own way, never a throw of anything else.
 */
import t from 'tap';
import { replay } from '../../bench/fuzz/engine';
import { targetByName } from '../../bench/fuzz/targets';
import { proxyV2 } from '../../src/main/proxy-protocol';
import { helloBody, hsHeader, recHeader } from '../../bench/fuzz/dtls-gen';
import { framed } from '../../bench/fuzz/gen';

const hex = (s: string) => Buffer.from(s, 'latin1').toString('hex');
const lol = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>';
const post = (body: string, type = 'application/xml') => `POST /auth HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

/** a ClientHello datagram whose session id length byte says 255 */
const longSid = (() => {
  const body = helloBody({ version: 0xfefd, sid: Buffer.alloc(32, 1), cookie: Buffer.alloc(0), suites: [0x00a9], compression: [0], extensions: null });
  body[34] = 255;
  const hs = Buffer.concat([hsHeader(1, body.length, 0, 0, body.length), body]);
  return Buffer.concat([recHeader(22, 0xfefd, 0, 0, hs.length), hs]);
})();
/** after a legacy handshake, a protected handshake record whose fragment lies outside its message */
const badFragment = Buffer.concat([Buffer.from([0x05]), framed([Buffer.concat([Buffer.from([1, 22, 0, 1]), hsHeader(20, 12, 5, 10, 12), Buffer.alloc(12, 9)])])]);
/** a signed Access-Accept whose Microsoft vendor attribute holds a sub-attribute claiming 255 bytes */
const badVsa = (() => {
  const vsa = Buffer.concat([Buffer.from([26, 12, 0, 0, 0x01, 0x37, 28, 255]), Buffer.from([1, 2, 3, 4])]);
  const ma = Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16)]);
  const head = Buffer.alloc(20);
  head[0] = 2;
  head[1] = 7;
  head.writeUInt16BE(20 + vsa.length + ma.length, 2);
  return Buffer.concat([Buffer.from([0b1101]), head, vsa, ma]);
})();

const CASES: Array<[target: string, name: string, inputHex: string]> = [
  // a PROXY v1 line whose NULs the error message quotes escaped (six characters each): once tripped a too strict length check of the harness
  ['proxy-protocol', 'v1 line with NULs', '50524f5859200000000000000000000000000000000000000000000000000000000000000000000000000054435036003a3a31203a3a31203020300d0a'],
  ['proxy-protocol', 'v2 declaring 65535 bytes', proxyV2().subarray(0, 14).toString('hex') + 'ffff'],
  ['proxy-protocol', 'v1 without end', hex(`PROXY TCP4 ${'1'.repeat(200)}`)],
  ['http-auth', 'billion laughs in a login', hex(post(`${lol}<config-auth type="auth-reply"><auth><username>&d;</username></auth></config-auth>`))],
  ['http-auth', '5000 nested elements', hex(post(`<config-auth type="auth-reply"><auth>${'<a>'.repeat(5000)}${'</a>'.repeat(5000)}</auth></config-auth>`))],
  ['http-auth', '__proto__ answer', hex(post('<config-auth type="auth-reply"><auth><__proto__><polluted>1</polluted></__proto__></auth></config-auth>'))],
  ['http-auth', '__proto__ form field', hex(post('__proto__=x&constructor=y&group_list=z', 'application/x-www-form-urlencoded'))],
  ['http-auth', 'CONNECT with absurd headers', hex(`CONNECT /CSCOSSLC/tunnel HTTP/1.1\r\nCookie: webvpn=\r\nX-CSTP-Base-MTU: 1e400\r\nX-DTLS-Master-Secret: ${'0'.repeat(96)}\r\nX-DTLS12-CipherSuite: ${':'.repeat(3000)}\r\n\r\n`)],
  ['cstp', 'a frame claiming 65535 bytes, read a byte at a time', `01${'5354460' + '1ffff0000'}${'00'.repeat(40)}`],
  ['cstp', 'IPv4 header with IHL 15 and nothing after it', `00${'53544601001400004f' + '00'.repeat(19)}`],
  ['dtls', 'ClientHello whose session id claims 255 bytes', Buffer.concat([Buffer.from([0]), framed([Buffer.concat([Buffer.from([0]), longSid])])]).toString('hex')],
  ['dtls', 'handshake fragment past its message, after a legacy handshake', badFragment.toString('hex')],
  ['dtls-peek', 'ClientHello whose session id claims 255 bytes', longSid.toString('hex')],
  ['dtls-peek', 'record shorter than its header says', longSid.subarray(0, 60).toString('hex')],
  ['ipc', 'nesting 20000 deep', '94a461757468' + '0000' + '91'.repeat(20000) + 'c0'],
  ['ipc', 'map with __proto__ key as a body', '94ac73657373696f6e2e6f70656e0000' + '81a95f5f70726f746f5f5f81a8706f6c6c75746564c3'],
  ['config', 'a run of 100000 quotes', hex(`auth = "plain[passwd=/x]"\nbanner = x${'"'.repeat(100_000)}y\n`)],
  ['radius', 'signed Access-Accept with a vendor sub-attribute that claims 255 bytes', badVsa.toString('hex')],
];

for (const [name, what, input] of CASES) {
  t.test(`${name}: ${what}`, async (t) => {
    const target = targetByName(name);
    t.ok(target, `${name} is a target`);
    t.equal(replay(target!, input), undefined, 'passes through the target');
  });
}
