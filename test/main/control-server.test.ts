/**
 * The control socket by itself: who may use it, and what a malformed message does (it closes
 * that connection only).
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack } from 'msgpackr';
import pino from 'pino';
import { ControlClient } from '../../src/cli/control-client';
import type { StatusInfo } from '../../src/ipc/control';
import { ControlServer } from '../../src/main/control-server';
import { PacketIO, seqpacketConnect } from '../../src/native';
import { asNobody } from '../cli/as-nobody';

const log = pino({ level: 'silent' });
const STATUS: StatusInfo = {
  pid: 1, secmodPid: 2, startedAt: Date.now(), lastReset: Date.now(), activeSessions: 0, totalSessions: 0, sessionsHandled: 0,
  timedOut: 0, idleTimedOut: 0, closedByError: 0, totalAuthFailures: 0, authFailures: 0, bannedIps: 0, secmodEntries: 0,
  avgAuthTime: 0, maxAuthTime: 0, avgSessionTime: 0, maxSessionTime: 0, minMtu: 0, maxMtu: 0, rxBytes: 0, txBytes: 0, workers: 1, clientsPerWorker: 1,
};

const dir = mkdtempSync(join(tmpdir(), 'ocs-ctl-'));
chmodSync(dir, 0o755);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function serve(name: string, group?: string): ControlServer {
  const server = new ControlServer({
    path: join(dir, name), group, log,
    register: (ch) => ch.on('ctl.status', (_b, ctx) => ctx.reply('ctl.status.reply', STATUS)),
  });
  server.start();
  return server;
}

/** Asynchronous: the server under test runs in this very process and must keep answering. */
function occtlAsNobody(socket: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const c = asNobody('bin/occtl-ts', ['-s', socket, 'show', 'status']);
  const child = spawn(c.cmd, c.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d; });
  child.stderr.on('data', (d: Buffer) => { stderr += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) => child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); }));
}

/** A raw connection that sends whatever bytes it is given. */
function raw(path: string) {
  const fd = seqpacketConnect(path);
  let closed = false;
  const io = new PacketIO(fd, { mode: 'msg', maxPacket: 65536, batch: 4 }, { onPackets: () => {}, onClose: () => { closed = true; } });
  io.start();
  return { send: (b: Uint8Array) => io.write(b), closed: () => closed, close: () => io.close() };
}

const waitFor = async (cond: () => boolean, ms = 3000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end;) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

t.test('root is served; the socket file is root\'s alone', async (t) => {
  const server = serve('a.sock');
  t.teardown(() => server.stop());
  t.equal(statSync(join(dir, 'a.sock')).mode & 0o777, 0o600);
  const c = ControlClient.connect(join(dir, 'a.sock'));
  t.match(await c.request('ctl.status', {}), { pid: 1, workers: 1 });
  c.close();
});

t.test('a malformed message closes that connection only', async (t) => {
  const server = serve('b.sock');
  t.teardown(() => server.stop());
  const path = join(dir, 'b.sock');
  const bystander = ControlClient.connect(path);
  const hostile = [
    Buffer.from('not msgpack at all \xff\xfe'),
    pack(['ctl.no-such-thing', 1, 0, {}]),
    pack(['ctl.user', 1, 0, { name: 42 }]),
    pack(['ctl.id', 1, 0, { id: -1, extra: true }]),
    pack(['ctl.status', 1, 0, { surprise: 'field' }]),
  ];
  for (const msg of hostile) {
    const r = raw(path);
    r.send(msg);
    t.ok(await waitFor(r.closed), `closed after ${msg.subarray(0, 24).toString('hex')}`);
    r.close();
  }
  t.match(await bystander.request('ctl.status', {}), { pid: 1 }, 'the other connection is still served');
  bystander.close();
  const fresh = ControlClient.connect(path);
  t.match(await fresh.request('ctl.status', {}), { pid: 1 }, 'and new ones too');
  fresh.close();
});

t.test('anyone else is refused, with a message that says why', async (t) => {
  const server = serve('c.sock');
  t.teardown(() => server.stop());
  const path = join(dir, 'c.sock');
  const denied = await occtlAsNobody(path);
  t.equal(denied.status, 1);
  t.match(denied.stderr, /Permission denied\nonly root \(or members of the server's occtl-group\) may use the control socket/, 'the file mode stops nobody');
  chmodSync(path, 0o666);
  const refused = await occtlAsNobody(path);
  t.equal(refused.status, 1, 'a socket opened up by mistake still answers nobody else');
  t.match(refused.stderr, "occtl-ts: permission denied: only root may use this server's control socket");
  t.notMatch(refused.stdout, /online/);
});

t.test('occtl-group lets its members in', async (t) => {
  const server = serve('d.sock', 'nogroup');
  t.teardown(() => server.stop());
  const st = statSync(join(dir, 'd.sock'));
  t.equal(st.mode & 0o777, 0o660);
  t.equal(st.gid, 65534, 'group-owned by occtl-group');
  const r = await occtlAsNobody(join(dir, 'd.sock'));
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /\tStatus: online\n/);
  t.throws(() => serve('e.sock', 'no-such-group-here'), { name: 'ControlSocketError', message: /no such group/ });
});
