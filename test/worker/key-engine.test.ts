/**
 * The worker's TLS key engine against a real KeyService in another process, with node:tls
 * on both ends: ECDSA and RSA keys, TLS 1.2 and 1.3, several certificates chosen by the
 * client's signature algorithms, and what happens when sec-mod is gone, slow, or refuses.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, connect, type SecureContext, type SecureVersion } from 'node:tls';
import { closeFd, seqpacketPair } from '../../src/native';
import { KeySlot } from '../../src/worker/key-slot';
import { secureContextFor } from '../../src/worker/tls-context';
import { selfSigned, type TestKeyPair } from '../helpers/tls-keys';

const dir = mkdtempSync(join(tmpdir(), 'ocs-engine-'));
const ec = selfSigned(dir, 'ecdsa');
const rsa = selfSigned(dir, 'rsa');
const children = new Set<ChildProcess>();
const servers = new Set<Server>();
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a stand-in sec-mod holding these keys; returns its process and our end of the key channel. */
function signer(pairs: TestKeyPair[], delayFirstMs = 0): { proc: ChildProcess; fd: number } {
  const [mine, theirs] = seqpacketPair();
  const args = [...(delayFirstMs ? [`--delay-first=${delayFirstMs}`] : []), ...pairs.flatMap((p) => [p.certPath, p.keyPath])];
  const proc = spawn(process.execPath, [join(__dirname, '..', 'helpers', 'key-service-child.js'), ...args], {
    stdio: ['ignore', 'inherit', 'inherit', theirs],
  });
  closeFd(theirs);
  children.add(proc);
  return { proc, fd: mine };
}

interface Served { port: number; errors: Error[] }

function serve(ctx: SecureContext): Promise<Served> {
  const errors: Error[] = [];
  const server = createServer((raw) => {
    const s = new TLSSocket(raw, { isServer: true, secureContext: ctx });
    s.on('secure', () => s.end('ok'));
    s.on('error', (err) => { errors.push(err); s.destroy(); });
  });
  servers.add(server);
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as AddressInfo).port, errors })));
}

interface Outcome { ok: boolean; version?: string; keyType?: string; error?: string }

function handshake(port: number, o: { version: SecureVersion; sigalgs?: string; ciphers?: string }): Promise<Outcome> {
  return new Promise((resolve) => {
    const c = connect({
      port, host: '127.0.0.1', ca: [ec.certPem, rsa.certPem], checkServerIdentity: () => undefined,
      minVersion: o.version, maxVersion: o.version, sigalgs: o.sigalgs, ciphers: o.ciphers,
    }, () => {
      resolve({ ok: true, version: c.getProtocol() ?? undefined, keyType: c.getPeerX509Certificate()?.publicKey.asymmetricKeyType });
      c.destroy();
    });
    c.on('error', (err) => resolve({ ok: false, error: err.message }));
  });
}

t.test('ECDSA and RSA keys over TLS 1.2 and 1.3, several certificates in one context', async (t) => {
  const slot = new KeySlot();
  slot.attach(signer([ec, rsa]).fd);
  const { port, errors } = await serve(secureContextFor({ certs: [ec.certPem, rsa.certPem] }, slot.fd));
  const cases: Array<[SecureVersion, string, string]> = [
    ['TLSv1.2', 'ECDSA+SHA256', 'ec'],
    ['TLSv1.3', 'ECDSA+SHA256', 'ec'],
    ['TLSv1.2', 'RSA-PSS+SHA256', 'rsa'],
    ['TLSv1.3', 'RSA-PSS+SHA256', 'rsa'],
    ['TLSv1.2', 'RSA+SHA256', 'rsa'],
    ['TLSv1.3', 'RSA-PSS+SHA384', 'rsa'],
    ['TLSv1.2', 'ECDSA+SHA384', 'ec'],
  ];
  for (const [version, sigalgs, keyType] of cases) {
    const r = await handshake(port, { version, sigalgs });
    t.same({ ok: r.ok, version: r.version, keyType: r.keyType }, { ok: true, version, keyType }, `${version} ${sigalgs}`, { error: r.error });
  }
  const kRSA = await handshake(port, { version: 'TLSv1.2', sigalgs: 'RSA+SHA256', ciphers: 'AES128-GCM-SHA256' });
  t.notOk(kRSA.ok, 'static-RSA key exchange is not offered (it would need a private decryption)');
  t.same(errors.filter((e) => !/no shared cipher/.test(e.message)).map((e) => e.message), [], 'no other server-side errors');
});

t.test('sec-mod gone: handshakes fail at once with the reason; a new channel on the slot recovers them', async (t) => {
  const slot = new KeySlot();
  const first = signer([ec]);
  slot.attach(first.fd);
  const { port, errors } = await serve(secureContextFor({ certs: [ec.certPem] }, slot.fd));
  t.ok((await handshake(port, { version: 'TLSv1.3' })).ok, 'works while sec-mod is up');
  first.proc.kill('SIGKILL');
  await new Promise((r) => first.proc.once('exit', r));
  const started = Date.now();
  const down = await handshake(port, { version: 'TLSv1.3' });
  t.notOk(down.ok, 'fails while sec-mod is down');
  t.ok(Date.now() - started < 1000, 'fails fast: a dead peer is not a timeout');
  t.match(errors.at(-1)?.message, /sec-mod unavailable for the private-key operation/, 'the worker sees why');
  slot.attach(signer([ec]).fd);
  t.ok((await handshake(port, { version: 'TLSv1.3' })).ok, 'the same context works again with the new channel');
  t.ok((await handshake(port, { version: 'TLSv1.2' })).ok);
});

t.test('no slot yet: handshakes fail cleanly', async (t) => {
  const slot = new KeySlot();
  const { port, errors } = await serve(secureContextFor({ certs: [ec.certPem] }, slot.fd));
  t.notOk((await handshake(port, { version: 'TLSv1.3' })).ok);
  t.match(errors.at(-1)?.message, /sec-mod unavailable/);
});

t.test('a slow answer times out; the late answer does not confuse the next handshake', async (t) => {
  const slot = new KeySlot();
  slot.attach(signer([ec], 600).fd);
  const { port, errors } = await serve(secureContextFor({ certs: [ec.certPem] }, slot.fd, 200));
  const started = Date.now();
  t.notOk((await handshake(port, { version: 'TLSv1.3' })).ok, 'the first signature comes too late');
  t.ok(Date.now() - started < 550, 'the handshake gave up at the timeout');
  t.match(errors.at(-1)?.message, /did not answer the private-key operation in time/);
  await new Promise((r) => setTimeout(r, 600));
  t.ok((await handshake(port, { version: 'TLSv1.3' })).ok, 'the next handshake gets its own answer');
});

t.test('sec-mod refuses a key it does not hold', async (t) => {
  const slot = new KeySlot();
  slot.attach(signer([ec]).fd);
  const { port, errors } = await serve(secureContextFor({ certs: [ec.certPem, rsa.certPem] }, slot.fd));
  t.ok((await handshake(port, { version: 'TLSv1.3', sigalgs: 'ECDSA+SHA256' })).ok, 'key #0 is held');
  t.notOk((await handshake(port, { version: 'TLSv1.3', sigalgs: 'RSA-PSS+SHA256' })).ok, 'key #1 is not');
  t.match(errors.at(-1)?.message, /sec-mod refused the private-key operation/);
});
