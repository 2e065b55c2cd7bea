/**
 * The worker's shared first form (src/worker/first-form.ts), with sec-mod's real login code
 * (src/secmod/login.ts) behind HttpAuth in one process and a real HTTP server on loopback:
 * which requests reach sec-mod, and what the client is sent.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Authenticator } from '../../src/secmod/login';
import { hashPassword } from '../../src/secmod/passwd';
import { parseAuth } from '../../src/common/config';
import { HttpAuth, type SecmodAuthClient } from '../../src/worker/http-auth';
import { FirstFormCache } from '../../src/worker/first-form';
import type { WorkerConfig } from '../../src/ipc/messages';
import type { PeerProof } from '../../src/ipc/peer-proof';
import type { CertIdentity } from '../../src/worker/client-cert';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-first-form-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const passwd = join(dir, 'ocpasswd');
writeFileSync(passwd, `alice:eng:${hashPassword('alice-pw')}\n`);
const log = pino({ level: 'silent' });

interface Reply { status: number; cookies: string[]; body: string }

async function serve(t: Test, cert?: CertIdentity): Promise<{ calls: string[]; post(path: string, xml: string, cookie?: string): Promise<Reply> }> {
  const auth = new Authenticator({
    auth: [parseAuth(`plain[passwd=${passwd}]`, 'test.conf', 1)],
    enableAuth: [], selectGroups: [], defaultSelectGroup: undefined, autoSelectGroup: false, authTimeout: 60,
  }, log, (s) => ({ cookie: `cookie-of-${s.username}` }), { failed: () => {}, succeeded: () => {} });
  const calls: string[] = [];
  const secmod: SecmodAuthClient = {
    init: (req) => { calls.push(req.answers ? 'init+answers' : 'init'); return auth.init(req); },
    cont: (req) => { calls.push('cont'); return auth.cont(req); },
  };
  const config = { authTimeout: 60, maxBodyBytes: 65536, preLoginBanner: 'Authorised users only' } as WorkerConfig;
  const http = new HttpAuth(secmod, config, log);
  const proof = { remoteAddr: '127.0.0.1' } as PeerProof;
  const server: Server = createServer((req, res) => void http.handle(req, res, proof, cert));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const post = (path: string, xml: string, cookie?: string) => new Promise<Reply>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'application/xml', ...(cookie ? { Cookie: cookie } : {}) } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, cookies: [res.headers['set-cookie'] ?? []].flat(), body }));
    });
    req.on('error', reject);
    req.end(xml);
  });
  return { calls, post };
}

const INIT = '<config-auth client="vpn" type="init"><version who="vpn">test</version></config-auth>';
const answers = (user: string, pw: string) =>
  `<config-auth client="vpn" type="auth-reply"><auth><username>${user}</username><password>${pw}</password></auth></config-auth>`;
const loginId = (r: Reply) => r.cookies.map((c) => /^webvpncontext=([^;]+)/.exec(c)?.[1]).find(Boolean);

t.test('the first form comes from sec-mod once, then from the worker; answers to it log in with one request', async (t) => {
  const s = await serve(t);
  const first = await s.post('/', INIT);
  t.same(s.calls, ['init'], 'the first client\'s init reaches sec-mod');
  t.ok(loginId(first), 'and its form carries a login id');
  t.match(first.body, /name="username"[\s\S]*name="password"/);

  const second = await s.post('/', INIT);
  t.same(s.calls, ['init'], 'the next client\'s init is answered by the worker');
  t.equal(second.status, 200);
  t.equal(second.body, first.body, 'with the same form, banner included');
  t.notOk(loginId(second), 'no login exists yet, so no login id');
  t.ok(second.cookies.some((c) => /^webvpncontext=;/.test(c)), 'a stale login id of an earlier attempt is cleared');

  const ok = await s.post('/auth', answers('alice', 'alice-pw'));
  t.same(s.calls, ['init', 'init+answers'], 'the answers begin the login in sec-mod and are taken in the same request');
  t.ok(ok.cookies.some((c) => c.startsWith('webvpn=cookie-of-alice')), 'the session cookie');

  const wrong = await s.post('/auth', answers('alice', 'nope'));
  t.match(wrong.body, /Login failed/, 'a wrong password: the form again with the reason');
  const id = loginId(wrong);
  t.ok(id, 'now with a login id');
  const retry = await s.post('/auth', answers('alice', 'alice-pw'), `webvpncontext=${id}`);
  t.same(s.calls.slice(-1), ['cont'], 'which the retry goes on with');
  t.ok(retry.cookies.some((c) => c.startsWith('webvpn=')));
});

t.test('a client with a certificate always gets its own first form from sec-mod', async (t) => {
  const s = await serve(t, { username: 'alice', groups: [] });
  await s.post('/', INIT);
  await s.post('/', INIT);
  t.same(s.calls, ['init', 'init']);
});

t.test('the form is kept a few seconds only', async (t) => {
  let now = 1000;
  const cache = new FirstFormCache(10_000, () => now);
  cache.learn({ status: 'continue', authId: 'x', message: 'm', prompts: [] });
  t.equal(cache.get(), undefined, 'a form sec-mod did not mark shared is not kept');
  cache.learn({ status: 'continue', authId: 'x', message: 'm', prompts: [], shared: true });
  t.match(cache.get(), { message: 'm' });
  now += 10_000;
  t.equal(cache.get(), undefined, 'gone after the time to live');
});
