import t from 'tap';
import { camouflageUrl } from '../../src/worker/camouflage';
import { customHeaderLines, withCustomHeaders } from '../../src/worker/custom-headers';
import { profileManifestXml, profileUri } from '../../src/worker/user-profile';
import { authRequestXml, authSuccessXml } from '../../src/worker/auth-xml';

t.test('camouflage: only a query that is exactly the secret opens the door', async (t) => {
  t.equal(camouflageUrl('/?mysecret', 'mysecret'), '/');
  t.equal(camouflageUrl('/auth?mysecret', 'mysecret'), '/auth', 'the path stays');
  t.equal(camouflageUrl('?mysecret', 'mysecret'), '/');
  for (const u of ['/', '/?', '/?mysecre', '/?mysecretX', '/?mysecret&a=1', '/?a=1&mysecret', '/mysecret', undefined]) {
    t.equal(camouflageUrl(u, 'mysecret'), undefined, String(u));
  }
});

t.test('custom-header: %{U} and %{G}, one line each, nothing injected', async (t) => {
  t.same(customHeaderLines(['X-My-Header: hi %{U}', 'X-Group: %{G} %{G}'], 'alice', 'staff'), ['X-My-Header: hi alice', 'X-Group: staff staff']);
  t.same(customHeaderLines(['X-User: %{U}'], 'eve\r\nSet-Cookie: x=1', 'g'), ['X-User: eve Set-Cookie: x=1'], 'a name cannot start a header of its own');
  t.same(customHeaderLines(['not a header', ': empty name', 'X-Ok: 1'], 'u', 'g'), ['X-Ok: 1'], 'lines that are not "Name: value" are left out');
  t.same(customHeaderLines(undefined, 'u', 'g'), []);
  const answer = 'HTTP/1.1 200 CONNECTED\r\nX-CSTP-Version: 1\r\n\r\n';
  t.equal(withCustomHeaders(answer, ['X-A: 1', 'X-B: 2']), 'HTTP/1.1 200 CONNECTED\r\nX-CSTP-Version: 1\r\nX-A: 1\r\nX-B: 2\r\n\r\n');
  t.equal(withCustomHeaders(answer, []), answer);
});

t.test('user-profile manifest and banners in the login XML', async (t) => {
  const p = { name: 'my profile.xml', xml: '<x/>', sha1: 'ABCDEF' };
  t.equal(profileUri(p), '/profiles/my%20profile.xml');
  const ok = authSuccessXml('Welcome', profileManifestXml(p));
  t.match(ok, /<\/auth><config client="vpn" type="private"><vpn-profile-manifest><vpn rev="1.0"><file type="profile" service-type="user"><uri>\/profiles\/my%20profile.xml<\/uri><hash type="sha1">ABCDEF<\/hash><\/file><\/vpn><\/vpn-profile-manifest><\/config>\n<\/config-auth>/);
  t.match(ok, /<banner>Welcome<\/banner>/);
  t.notMatch(authSuccessXml(), /vpn-profile-manifest/);
  const form = authRequestXml('Please enter your username.', [], undefined, 'Authorised <users> only');
  t.match(form, /<auth id="main">\n<banner>Authorised &lt;users&gt; only<\/banner>\n<message>/, 'pre-login banner before the message, escaped');
  t.notMatch(authRequestXml('m', []), /<banner>/);
});
