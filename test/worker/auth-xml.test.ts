import t from 'tap';
import { AuthXmlError, authRequestXml, parseClientAuth, parseFormAuth } from '../../src/worker/auth-xml';

t.test('reads openconnect init and auth-reply documents', async (t) => {
  const init = parseClientAuth(`<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="init" aggregate-auth-version="2"><version who="vpn">v9.01</version>
<device-id>linux-64</device-id><group-access>https://198.18.0.1/</group-access></config-auth>`);
  t.equal(init.type, 'init');
  const reply = parseClientAuth(`<?xml version="1.0" encoding="UTF-8"?>
<config-auth client="vpn" type="auth-reply" aggregate-auth-version="2"><version who="vpn">v9.01</version>
<auth><username>alice</username><password>12345</password></auth></config-auth>`);
  t.equal(reply.type, 'auth-reply');
  t.same(reply.answers, { username: 'alice', password: '12345' }, 'a numeric password stays a string');
  const amp = parseClientAuth('<config-auth type="auth-reply"><auth><password>a&amp;b&lt;</password></auth></config-auth>');
  t.equal(amp.answers.password, 'a&b<');
  const spaced = parseClientAuth('<config-auth type="auth-reply"><auth><username> bob</username><password><![CDATA[ p w ]]></password></auth></config-auth>');
  t.same(spaced.answers, { username: ' bob', password: ' p w ' }, 'answers are not trimmed');
  const group = parseClientAuth('<config-auth client="vpn" type="init"><group-select>staff</group-select></config-auth>');
  t.equal(group.groupSelect, 'staff');
  t.equal(group.answers.__proto__, Object.prototype, 'an answer named __proto__ is ignored');
  const proto = parseClientAuth('<config-auth type="auth-reply"><auth><__proto__>x</__proto__></auth></config-auth>');
  t.same(Object.keys(proto.answers), []);
});

t.test('malformed or truncated XML is an AuthXmlError', async (t) => {
  for (const bad of ['', '<config-auth type="init">', 'not xml at all', '<config-auth><auth></config-auth>', '<other type="init"/>', '<config-auth/>', '<!DOCTYPE x><config-auth type="init"/>']) {
    t.throws(() => parseClientAuth(bad), AuthXmlError, JSON.stringify(bad));
  }
});

t.test('form posts and the login form', async (t) => {
  t.same(parseFormAuth('username=bob&password=p%26w').answers, { username: 'bob', password: 'p&w' });
  const xml = authRequestXml('Hi <you>', [{ name: 'username', label: 'Username:', type: 'text' }], 'Login failed.');
  t.match(xml, /<input type="text" name="username" label="Username:" \/>/);
  t.match(xml, /Hi &lt;you&gt;/);
  t.match(xml, /<error id="main"[^>]*>Login failed.<\/error>/);
  t.match(xml, /<form method="post" action="\/auth">/);
});
