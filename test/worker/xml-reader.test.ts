import t from 'tap';
import { readXml, XmlError } from '../../src/worker/xml-reader';

// What AnyConnect (Cisco Secure Client) posts: more than openconnect, with comments and attributes.
const ANYCONNECT = `\ufeff<?xml version="1.0" encoding="UTF-8"?>
<!-- client document -->
<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2">
  <version who="vpn">5.1.2.42</version>
  <device-id computer-name="host" device-type="VMware, Inc. VMware" platform-version="6.5" unique-id="AB12">linux-64</device-id>
  <mac-address-list><mac-address public-interface="true">00-0c-29-aa-bb-cc</mac-address></mac-address-list>
  <session-token/><session-id/>
  <opaque is-for='sg'><tunnel-group>staff</tunnel-group></opaque>
  <auth><username>alice</username><password><![CDATA[p<&>w]]></password></auth>
  <capabilities><auth-method>single-sign-on-v2</auth-method><auth-method>multiple-cert</auth-method></capabilities>
</config-auth>
`;

t.test('reads elements, attributes, text, CDATA and skips comments and declarations', async (t) => {
  const root = readXml(ANYCONNECT);
  t.equal(root.name, 'config-auth');
  t.same([...root.attrs], [['client', 'vpn'], ['type', 'auth-reply'], ['aggregate-auth-version', '2']]);
  t.same(root.children.map((c) => c.name), ['version', 'device-id', 'mac-address-list', 'session-token', 'session-id', 'opaque', 'auth', 'capabilities']);
  const [version, device] = root.children;
  t.equal(version.text, '5.1.2.42');
  t.equal(device.attrs.get('device-type'), 'VMware, Inc. VMware');
  t.equal(root.children[5].attrs.get('is-for'), 'sg', 'single-quoted attribute');
  t.equal(root.children[3].text, '', 'self-closed element');
  const auth = root.children[6];
  t.same(auth.children.map((c) => [c.name, c.text]), [['username', 'alice'], ['password', 'p<&>w']]);
  t.equal(root.children[7].children.length, 2, 'repeated elements are all kept');
});

t.test('entities and character references are decoded; text is kept as written', async (t) => {
  const root = readXml('<a x="&quot;&apos;&lt;&gt;&amp;">  &#65;&#x42;&#x1F600; <!-- c --> <?pi x?>z </a>');
  t.equal(root.attrs.get('x'), `"'<>&`);
  t.equal(root.text, '  AB\u{1F600}  z ');
});

t.test('malformed documents are XmlErrors that say why', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /no root element/],
    ['   ', /no root element/],
    ['text', /no root element/],
    ['<a>', /not closed/],
    ['<a><b></a>', /<\/a> closes <b>/],
    ['<a></b>', /<\/b> closes <a>/],
    ['<a/><b/>', /content after the root/],
    ['<a/>trailing', /content after the root/],
    ['<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', /DOCTYPE/],
    ['<a><!DOCTYPE a></a>', /DOCTYPE/],
    ['<a>&nbsp;</a>', /unknown entity &nbsp;/],
    ['<a>&amp</a>', /unterminated entity/],
    ['<a>&#0;</a>', /bad character reference/],
    ['<a>&#x110000;</a>', /bad character reference/],
    ['<a>&#xZZ;</a>', /bad character reference/],
    ['<a x=1/>', /not quoted/],
    ['<a x/>', /has no value/],
    ['<a x="1" x="2"/>', /repeated/],
    ['<a x="1"y="2"/>', /expected a space/],
    ['<a x="<"/>', /'<' in attribute/],
    ['<a x="1', /unterminated attribute/],
    ['<a', /unterminated start tag/],
    ['<a><!-- x</a>', /unterminated comment/],
    ['<a><![CDATA[x</a>', /unterminated CDATA/],
    ['<?xml version="1.0"', /unterminated processing instruction/],
    ['<1a/>', /no root element/],
    ['<a><1/></a>', /expected a name/],
    ['<a></ a>', /expected a name/],
    [`${'<a>'.repeat(65)}${'</a>'.repeat(65)}`, /nested deeper than 64/],
  ];
  for (const [doc, why] of bad) t.throws(() => readXml(doc), { name: 'XmlError', message: why }, JSON.stringify(doc));
});

t.test('no mutation of a client document throws anything but an XmlError', async (t) => {
  // a small fixed-seed fuzz: byte flips, cuts and splices of markup characters
  let seed = 0x2545f491;
  const rand = (n: number) => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) % n; };
  const pieces = ['<', '>', '/', '&', ';', '"', "'", '=', '<!--', '-->', '<![CDATA[', ']]>', '<?', '?>', '&#x', ' ', 'a'];
  let parsed = 0;
  for (let i = 0; i < 20000; i++) {
    let doc = ANYCONNECT;
    for (let k = 1 + rand(3); k > 0; k--) {
      const at = rand(doc.length);
      const op = rand(3);
      if (op === 0) doc = doc.slice(0, at) + doc.slice(at + 1 + rand(8));
      else if (op === 1) doc = doc.slice(0, at) + pieces[rand(pieces.length)] + doc.slice(at);
      else doc = doc.slice(0, at);
    }
    try {
      readXml(doc);
      parsed++;
    } catch (err) {
      if (!(err instanceof XmlError)) t.fail(`${(err as Error).name}: ${(err as Error).message} on ${JSON.stringify(doc)}`);
    }
  }
  t.ok(parsed > 0, `some mutations stay well-formed (${parsed})`);
});
