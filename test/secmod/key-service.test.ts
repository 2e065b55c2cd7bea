/**
 * The real sec-mod process as the key service: it signs only for key channels main gave
 * it, only with keys it was configured with and only in the forms a TLS handshake signs;
 * and it believes a worker's login request only with main's proof of the client.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { constants, createHash, publicDecrypt, randomBytes, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel } from '../../src/ipc/channel';
import type { KeyToSecmod, SecmodToKey } from '../../src/ipc/key-messages';
import type { MainToSecmod, SecmodToMain, SecmodToWorker, WorkerToSecmod } from '../../src/ipc/messages';
import { provePeer } from '../../src/ipc/peer-proof';
import { until } from '../helpers/wait';
import { createLogger } from '../../src/common/log';
import { closeFd, seqpacketPair } from '../../src/native';
import { selfSigned } from '../helpers/tls-keys';

const dir = mkdtempSync(join(tmpdir(), 'ocs-keysvc-'));
const ec = selfSigned(dir, 'ecdsa');
const rsa = selfSigned(dir, 'rsa');
writeFileSync(join(dir, 'passwd'), '');
const log = createLogger('test', 'fatal');
const procs = new Set<ChildProcess>();
t.teardown(() => {
  for (const p of procs) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
const secmodScript = join(__dirname, '..', '..', 'src', 'secmod', 'index.js');

function config(pairs: Array<[string, string]>): string {
  const file = join(dir, `ocserv-${procs.size}.conf`);
  const lines = [`auth = "plain[passwd=${join(dir, 'passwd')}]"`, ...pairs.flatMap(([c, k]) => [`server-cert = ${c}`, `server-key = ${k}`])];
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

function startSecmod(conf: string): { proc: ChildProcess; main: Channel<SecmodToMain, MainToSecmod>; ready: Promise<void>; output: () => string } {
  const [mine, theirs] = seqpacketPair();
  const proc = spawn(process.execPath, [secmodScript, conf], { stdio: ['ignore', 'pipe', 'pipe', theirs], env: { PATH: process.env.PATH } });
  closeFd(theirs);
  procs.add(proc);
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const main = new Channel<SecmodToMain, MainToSecmod>(mine, { name: 'test-main', log });
  const ready = new Promise<void>((resolve) => main.on('secmod.ready', () => resolve()));
  return { proc, main, ready, output: () => out };
}

function attach<In extends object, Out extends object>(main: Channel<SecmodToMain, MainToSecmod>, type: 'key.attach' | 'worker.attach'): Channel<In, Out> {
  const [mine, theirs] = seqpacketPair();
  main.send(type, { workerId: 1 }, [theirs]);
  closeFd(theirs);
  return new Channel<In, Out>(mine, { name: `test-${type}`, log });
}

const closed = (ch: { onClose(cb: (r: string) => void): unknown }) => new Promise<string>((r) => ch.onClose(r));

t.test('signs for an attached key channel, in the handshake forms only', async (t) => {
  const s = startSecmod(config([[ec.certPath, ec.keyPath], [rsa.certPath, rsa.keyPath]]));
  await s.ready;
  const keys = attach<SecmodToKey, KeyToSecmod>(s.main, 'key.attach');
  const ask = async (body: KeyToSecmod['key.sign']) => (await keys.request<'key.sign', SecmodToKey['key.signed'] & SecmodToKey['key.error']>('key.sign', body)).body;

  const message = Buffer.from('handshake transcript');
  const digest = createHash('sha256').update(message).digest();
  const ecSig = await ask({ key: 0, op: 'ecdsa', data: digest });
  t.ok(ecSig.sig && verify('sha256', message, ec.certPem, ecSig.sig), 'ECDSA over the digest verifies');

  const pss = sign('sha256', message, { key: rsa.keyPem, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  const block = publicDecrypt({ key: rsa.certPem, padding: constants.RSA_NO_PADDING }, pss);
  const pssSig = await ask({ key: 1, op: 'rsa-pss', data: block });
  t.ok(pssSig.sig && Buffer.from(pssSig.sig).equals(pss), 'the raw operation on a PSS block is that PSS signature');

  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), digest]);
  const p1 = await ask({ key: 1, op: 'rsa-pkcs1', data: digestInfo });
  t.ok(p1.sig && verify('sha256', message, rsa.certPem, p1.sig), 'PKCS#1 v1.5 over a DigestInfo verifies');

  const refusals: Array<[string, KeyToSecmod['key.sign'], RegExp]> = [
    ['a key it was not configured with', { key: 2, op: 'ecdsa', data: digest }, /no server-key #2/],
    ['ECDSA on the RSA key', { key: 1, op: 'ecdsa', data: digest }, /on an RSA key/],
    ['RSA on the EC key', { key: 0, op: 'rsa-pss', data: block }, /not an ECDSA digest/],
    ['a "digest" of odd length', { key: 0, op: 'ecdsa', data: randomBytes(33) }, /not an ECDSA digest/],
    ['a raw operation on anything but a PSS block', { key: 1, op: 'rsa-pss', data: randomBytes(256) }, /not an EMSA-PSS block/],
    ['PKCS#1 padding of anything but a DigestInfo', { key: 1, op: 'rsa-pkcs1', data: randomBytes(51) }, /not a DigestInfo/],
  ];
  for (const [what, req, reason] of refusals) {
    const r = await ask(req);
    t.notOk(r.sig, `${what}: no signature`);
    t.match(r.reason, reason, `${what}: refused`);
  }
  t.notOk(keys.isClosed, 'refusals keep the channel: they are what a confused engine could send');
  // sec-mod's log comes through its stderr pipe, which may be read after the reply arrived
  t.ok(await until('the refusal in the log', () => /private-key operation refused/.test(s.output()), 5_000), 'and are logged');

  const gone = closed(keys);
  keys.send('auth.init' as 'key.sign', { key: 0, op: 'ecdsa', data: digest });
  t.match(await gone, /peer closed/, 'any other message on a key channel closes it');
  s.main.close();
});

t.test('a login request needs main\'s proof of the client', async (t) => {
  const s = startSecmod(config([[ec.certPath, ec.keyPath]]));
  await s.ready;
  const peerKey = randomBytes(32);
  s.main.send('peer.key', { key: peerKey });
  const worker = attach<SecmodToWorker, WorkerToSecmod>(s.main, 'worker.attach');
  const proof = provePeer(peerKey, { connId: 3, remoteAddr: '198.18.0.2', cert: 'none' });
  const ok = await worker.request<'auth.init', SecmodToWorker['auth.reply']>('auth.init', { remoteAddr: '198.18.0.2', proof, userAgent: 'test' });
  t.equal(ok.body.status, 'continue', 'a proven client gets the login form');

  const gone = closed(worker);
  worker.send('auth.init', { remoteAddr: '198.18.0.9', proof, userAgent: 'test' });
  t.match(await gone, /peer closed/, 'claiming another address than main saw closes the worker\'s channel');
  t.ok(await until('the refusal in the log', () => /login request without main's proof of its client/.test(s.output()), 5_000), 'and is logged');

  const forger = attach<SecmodToWorker, WorkerToSecmod>(s.main, 'worker.attach');
  const forged = closed(forger);
  forger.send('auth.init', { remoteAddr: '198.18.0.9', proof: provePeer(randomBytes(32), { connId: 3, remoteAddr: '198.18.0.9', cert: 'none' }), userAgent: 'test' });
  t.match(await forged, /peer closed/, 'a proof under another key is refused too');
  s.main.close();
});

t.test('a key that does not belong to its certificate stops sec-mod at start', async (t) => {
  const s = startSecmod(config([[ec.certPath, rsa.keyPath]]));
  // 'close', not 'exit': by then its stderr has been read to the end
  const code = await new Promise((r) => s.proc.once('close', r));
  t.equal(code, 1);
  t.match(s.output(), /does not belong to server-cert/);
});
