/**
 * The worker's seccomp filter in a throw-away Node process: what serving sockets needs
 * still works (reading files, threads, timers, socketpairs handed in); new processes, new
 * sockets, writing files and signalling others fail with EPERM (even as root).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const native = join(__dirname, '..', '..', 'src', 'native', 'index.js');
const probe = `
const n = require(${JSON.stringify(native)});
const fs = require('fs');
const out = {};
const attempt = (name, f) => { try { f(); out[name] = 'ok'; } catch (e) { out[name] = e.code || e.message; } };
const [a, b] = n.seqpacketPair();
n.seccompWorker();
attempt('read a file', () => fs.readFileSync('/etc/hostname'));
attempt('write a file', () => fs.writeFileSync('/tmp/ocs-seccomp-probe', 'x'));
attempt('spawn a process', () => { const r = require('child_process').spawnSync('/bin/true'); if (r.error) throw r.error; });
attempt('send on a socket it holds', () => { if (n.PacketIO && new n.PacketIO(a, { mode: 'msg', maxPacket: 64, batch: 1 }, { onPackets() {} }).write(Buffer.from('x')) < 0) throw new Error('write'); });
attempt('signal another process', () => process.kill(1, 0));
const srv = require('net').createServer();
srv.on('error', (e) => { out['listen on TCP'] = e.code; finish(); });
srv.listen(0, '127.0.0.1', () => { out['listen on TCP'] = 'ok'; srv.close(); finish(); });
function finish() {
  const { Worker } = require('worker_threads');
  const w = new Worker('require("worker_threads").parentPort.postMessage(1)', { eval: true });
  w.on('message', () => { out['start a thread'] = 'ok'; w.terminate(); print(); });
  w.on('error', (e) => { out['start a thread'] = e.code || e.message; print(); });
}
function print() { setTimeout(() => { process.stdout.write(JSON.stringify(out)); process.exit(0); }, 10); }
`;

t.test('a worker-confined process', async (t) => {
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, 'the process itself keeps running', { stderr: r.stderr });
  const out = JSON.parse(r.stdout || '{}') as Record<string, string>;
  t.equal(out['read a file'], 'ok', 'files can be read');
  t.equal(out['send on a socket it holds'], 'ok', 'sockets it holds still work');
  t.equal(out['start a thread'], 'ok', 'threads (libuv, V8, worker_threads) still start');
  t.equal(out['write a file'], 'EPERM', 'no writing files');
  t.equal(out['spawn a process'], 'EPERM', 'no new processes');
  t.equal(out['listen on TCP'], 'EPERM', 'no new sockets');
  t.equal(out['signal another process'], 'EPERM', 'no signals to other processes');
});
