/**
 * Client-certificate login (auth = "certificate") with Debian's openconnect `-c cert -k key`:
 * certificate alone, certificate and password together (in both orders), and certificate as
 * an alternative to the password (enable-auth); revoked, foreign and nameless certificates.
 * The plain certificate-only cases also run against Debian's ocserv, to show we match it.
 */
import t from 'tap';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, repoRoot, serverEnv, startServer,
  type AuthResult, type ServerHandle, type ServerKind, type Topology,
} from '../helpers/netns';
import { issueClientCert, makeCa, makeCrl, type CertFiles } from '../helpers/client-certs';

const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');
const PASSWORDS = { alice: 'alice pw', bob: 'bob pw' };
/** ocserv checks a chosen group against the password file's too */
const PASSWD_GROUPS: Record<string, string> = { alice: 'eng' };

let topo: Topology;
let certs: {
  alice: CertFiles; bob: CertFiles; carol: CertFiles; stranger: CertFiles; nameless: CertFiles;
  caPath: string; crlPath: string; passwdPath: string;
};

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  const dir = topo.tempDir('client-certs');
  const ca = makeCa(dir, 'clients', 'ocs-test client CA');
  const other = makeCa(dir, 'other', 'ocs-test other CA');
  const carol = issueClientCert(dir, ca, { name: 'carol', subject: '/UID=carol/CN=Carol' });
  certs = {
    alice: issueClientCert(dir, ca, { name: 'alice', kind: 'ecdsa', subject: '/UID=alice/CN=Alice Liddell/OU=eng/OU=ops' }),
    bob: issueClientCert(dir, ca, { name: 'bob', kind: 'rsa', subject: '/UID=bob/CN=Bob' }),
    carol,
    // same user name as alice's, from a CA the server does not trust
    stranger: issueClientCert(dir, other, { name: 'stranger', subject: '/UID=alice/CN=Alice Impostor' }),
    nameless: issueClientCert(dir, ca, { name: 'nameless', subject: '/CN=No UID Here/OU=eng' }),
    caPath: ca.certPath,
    crlPath: makeCrl(dir, ca, [carol]),
    passwdPath: join(dir, 'ocpasswd'),
  };
  // a password file of our own: the auth lines below replace the harness's default one
  for (const [name, pw] of Object.entries(PASSWORDS)) {
    const group = PASSWD_GROUPS[name] ? ['-g', PASSWD_GROUPS[name]!] : [];
    execFileSync('ocpasswd', ['-c', certs.passwdPath, ...group, name], { input: `${pw}\n${pw}\n` });
  }
});
t.teardown(async () => {
  await topo?.cleanup();
});

const certLines = () => [
  `ca-cert = ${certs.caPath}`,
  `crl = ${certs.crlPath}`,
  'cert-user-oid = 0.9.2342.19200300.100.1.1',
  'cert-group-oid = 2.5.4.11',
];

async function withServer(kind: ServerKind, auth: string[], body: (s: ServerHandle) => Promise<void>): Promise<void> {
  const server = await startServer(topo, { kind, users: [], extraConfig: [...auth, ...certLines()].join('\n') });
  try {
    await body(server);
  } finally {
    await server.stop();
  }
}

const withCert = (c?: CertFiles) => (c ? ['-c', c.certPath, '-k', c.keyPath] : []);

function login(server: ServerHandle, o: { cert?: CertFiles; user?: string; password?: string; group?: string }): Promise<AuthResult> {
  return openconnectAuthenticate(topo, {
    url: server.url, user: o.user ?? 'nobody-in-particular', password: o.password ?? '', servercert: server.pin,
    extraArgs: [...withCert(o.cert), ...(o.group ? [`--authgroup=${o.group}`] : [])],
  });
}

/** Waits for a line in the server's log (the worker logs after its reply went out). */
async function logged(server: ServerHandle, re: RegExp): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    if (re.test(server.output())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

t.test('auth = certificate: the certificate alone logs in, nothing else does', async (t) => {
  await withServer('ocserv-ts', ['auth = "certificate"'], async (server) => {
    const s = await connectOpenconnect(topo, {
      url: server.url, user: 'ignored', password: '', servercert: server.pin, noDtls: true, interfaceName: 'occert0', extraArgs: withCert(certs.alice),
    });
    try {
      t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 2 })).ok, 'ECDSA certificate: tunnel up, pings pass');
      const users = JSON.parse((await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, '-j', 'show', 'users'],
        { env: serverEnv(), check: true })).stdout) as Array<Record<string, unknown>>;
      t.match(users, [{ Username: 'alice', Groupname: 'eng' }], 'occtl: the user is the certificate UID, the group its first OU');
    } finally {
      await s.disconnect();
    }
    t.match(server.output(), /"user":"alice","groups":\["eng","ops"\][^\n]*client certificate verified/, 'the worker logs what it verified');

    const rsa = await login(server, { cert: certs.bob });
    t.ok(rsa.webvpn, 'RSA certificate: cookie without any form');
    t.notMatch(rsa.output, /Password:/, 'no password asked');
    t.ok(await logged(server, /"user":"bob"[^\n]*"msg":"user logged in"/), 'sec-mod logs bob in');

    const none = await login(server, {});
    t.notOk(none.webvpn, 'no certificate: no cookie');
    t.not(none.code, 0, 'openconnect fails');
    t.match(none.output, /A valid client certificate is required/, 'the client is told why');
    t.ok(await logged(server, /"reason":"the client sent no certificate"[^\n]*no valid client certificate/), 'the log says why');

    const revoked = await login(server, { cert: certs.carol });
    t.notOk(revoked.webvpn, 'revoked certificate: no cookie');
    t.ok(await logged(server, /"reason":"CERT_REVOKED[^\n]*UID=carol/), 'logged as revoked');

    const foreign = await login(server, { cert: certs.stranger });
    t.notOk(foreign.webvpn, 'certificate from another CA: no cookie, even with a known user name');
    t.ok(await logged(server, /"reason":"UNABLE_TO_VERIFY_LEAF_SIGNATURE[^\n]*Alice Impostor/), 'logged as unverifiable');

    const nameless = await login(server, { cert: certs.nameless });
    t.notOk(nameless.webvpn, 'certificate without a UID: no cookie');
    t.match(nameless.output, /Your certificate carries no user name/);
    t.ok(await logged(server, /"notes":\["no 0\.9\.2342\.19200300\.100\.1\.1 in the certificate"\]/), 'the worker notes the missing UID');
    t.ok(await logged(server, /"reason":"the client certificate has no user name \(cert-user-oid\)"[^\n]*failed login/), 'sec-mod refuses it');
  });
});

t.test('auth = certificate + plain: both are needed, for the same user', async (t) => {
  await withServer('ocserv-ts', ['auth = "certificate"', `auth = "plain[passwd=${certs.passwdPath}]"`], async (server) => {
    const both = await login(server, { cert: certs.alice, user: 'alice', password: PASSWORDS.alice });
    t.ok(both.webvpn, 'certificate and right password: cookie');
    t.notMatch(both.output, /Username:/, 'the certificate names the user: only the password is asked');
    t.notOk((await login(server, { cert: certs.alice, user: 'alice', password: 'wrong' })).webvpn, 'wrong password: no cookie');
    t.notOk((await login(server, { user: 'alice', password: PASSWORDS.alice })).webvpn, 'password without certificate: no cookie');
    // the form asks only alice's password: the certificate fixed the user
    t.notOk((await login(server, { cert: certs.alice, user: 'bob', password: PASSWORDS.bob })).webvpn, "bob's password with alice's certificate: no cookie");
    t.notOk((await login(server, { cert: certs.carol, user: 'carol', password: 'x' })).webvpn, 'revoked certificate: no cookie');
  });
  await withServer('ocserv-ts', [`auth = "plain[passwd=${certs.passwdPath}]"`, 'auth = "certificate"'], async (server) => {
    t.ok((await login(server, { cert: certs.alice, user: 'alice', password: PASSWORDS.alice })).webvpn, 'password first, then certificate: cookie');
    const r = await login(server, { cert: certs.alice, user: 'bob', password: PASSWORDS.bob });
    t.notOk(r.webvpn, "bob's right password with alice's certificate: no cookie");
    t.ok(await logged(server, /"reason":"certificate user 'alice' is not 'bob'"/), 'the mismatch is logged');
  });
});

t.test('enable-auth = certificate: a certificate instead of the password', async (t) => {
  await withServer('ocserv-ts', [`auth = "plain[passwd=${certs.passwdPath}]"`, 'enable-auth = "certificate"'], async (server) => {
    const byCert = await login(server, { cert: certs.alice, user: 'alice', password: 'not used' });
    t.ok(byCert.webvpn, 'valid certificate: cookie without a password');
    t.notMatch(byCert.output, /Password:/, 'no password asked');
    t.ok((await login(server, { user: 'bob', password: PASSWORDS.bob })).webvpn, 'no certificate: the password works');
    t.notOk((await login(server, { user: 'bob', password: 'wrong' })).webvpn, 'no certificate, wrong password: no cookie');
    t.ok((await login(server, { cert: certs.carol, user: 'bob', password: PASSWORDS.bob })).webvpn, 'revoked certificate: back to the password');
  });
});

t.test("Debian's ocserv behaves the same with auth = certificate", async (t) => {
  await withServer('ocserv', ['auth = "certificate"'], async (server) => {
    // ocserv asks a user with several groups (OU=eng, OU=ops) to pick one; ours takes the first
    t.ok((await login(server, { cert: certs.alice, group: 'eng' })).webvpn, 'valid ECDSA certificate: cookie');
    t.ok((await login(server, { cert: certs.bob })).webvpn, 'valid RSA certificate: cookie');
    t.notOk((await login(server, {})).webvpn, 'no certificate: no cookie');
    t.notOk((await login(server, { cert: certs.carol })).webvpn, 'revoked: no cookie');
    t.notOk((await login(server, { cert: certs.stranger })).webvpn, 'another CA: no cookie');
    t.notOk((await login(server, { cert: certs.nameless })).webvpn, 'no UID: no cookie');
  });
});

t.test("Debian's ocserv with certificate and password", async (t) => {
  await withServer('ocserv', ['auth = "certificate"', `auth = "plain[passwd=${certs.passwdPath}]"`], async (server) => {
    t.ok((await login(server, { cert: certs.alice, user: 'alice', password: PASSWORDS.alice, group: 'eng' })).webvpn, 'certificate and password: cookie');
    t.notOk((await login(server, { cert: certs.alice, user: 'alice', password: 'wrong', group: 'eng' })).webvpn, 'wrong password: no cookie');
    t.notOk((await login(server, { cert: certs.alice, user: 'bob', password: PASSWORDS.bob, group: 'eng' })).webvpn, "bob's password, alice's certificate: no cookie");
  });
  await withServer('ocserv', [`auth = "plain[passwd=${certs.passwdPath}]"`, 'enable-auth = "certificate"'], async (server) => {
    t.ok((await login(server, { cert: certs.bob, user: 'bob', password: 'not used' })).webvpn, 'enable-auth: certificate alone');
    t.ok((await login(server, { user: 'bob', password: PASSWORDS.bob })).webvpn, 'enable-auth: password alone');
  });
});
