/**
 * The systemd side of ocserv-ts: the unit files as `npm run install-service` writes them
 * pass `systemd-analyze verify`; sockets passed as systemd passes them (fds from 3,
 * LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES) are told apart and taken; sd_notify datagrams reach
 * a NOTIFY_SOCKET. The whole server under socket activation is in
 * test/integration/socket-activation.test.ts.
 */
import t, { type Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/common/log';
import { sessionStatus, SystemdNotifier } from '../../src/main/systemd';
import { listenNotify } from '../helpers/notify-socket';

const ROOT = join(__dirname, '..', '..', '..');
const SYSTEMD_JS = join(ROOT, 'dist', 'src', 'main', 'systemd.js');

function tempDir(t: Test): string {
  const d = mkdtempSync(join(tmpdir(), 'ocs-systemd-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

t.test('install-service writes units that systemd-analyze verify accepts', async (t) => {
  const dest = tempDir(t);
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install-service.js'), '--dest', dest], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /installed .*ocserv-ts\.service and .*ocserv-ts\.socket/);
  const service = readFileSync(join(dest, 'ocserv-ts.service'), 'utf8');
  t.match(service, new RegExp(`^ExecStart=${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/bin/ocserv-ts -f -c /etc/ocserv-ts/ocserv.conf$`, 'm'),
    'ExecStart runs this installation in the foreground');
  t.match(service, /^Type=notify$/m);
  t.notMatch(service, /\/opt\/ocserv-ts/, 'every template path is replaced');

  const v = spawnSync('systemd-analyze', ['verify', join(dest, 'ocserv-ts.service'), join(dest, 'ocserv-ts.socket')], { encoding: 'utf8' });
  t.equal(v.status, 0, `systemd-analyze verify: ${v.stderr}`);
  // verify also comments on unrelated units installed on the machine; ours must get no remark
  const ours = (v.stdout + v.stderr).split('\n').filter((l) => l.includes('ocserv-ts'));
  t.same(ours, [], 'no warning about our units');

  const bad = spawnSync(process.execPath, [join(ROOT, 'scripts', 'install-service.js'), '--dest', dest, '--prefix', '/nonexistent/ocserv-ts'], { encoding: 'utf8' });
  t.equal(bad.status, 1);
  t.match(bad.stderr, /not an ocserv-ts installation/);
});

interface Opened { tcp?: Server; udp?: UdpSocket; fds: number[] }

async function openSockets(kinds: Array<'tcp' | 'udp'>): Promise<Opened> {
  const out: Opened = { fds: [] };
  for (const k of kinds) {
    if (k === 'tcp') {
      const s = createServer();
      await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
      out.tcp = s;
      out.fds.push((s as unknown as { _handle: { fd: number } })._handle.fd);
    } else {
      const u = createSocket({ type: 'udp4', reuseAddr: true });
      await new Promise<void>((r) => u.bind({ address: '127.0.0.1', port: 0 }, r));
      out.udp = u;
      out.fds.push((u as unknown as { _handle: { fd: number } })._handle.fd);
    }
  }
  return out;
}

/**
 * Runs takeListenFds() in a child that gets `fds` as 3, 4, ... and LISTEN_PID set by a shell
 * that execs node, as systemd sets it; the child prints what it found.
 */
function takeInChild(fds: Array<number | 'pipe'>, env: Record<string, string>, pid: 'own' | 'other'): Promise<Record<string, unknown>> {
  const script = `
const { takeListenFds } = require(${JSON.stringify(SYSTEMD_JS)});
let result;
try { result = { sockets: takeListenFds() ?? null }; } catch (err) { result = { error: err.message, name: err.name }; }
result.env = Object.keys(process.env).filter((k) => k.startsWith('LISTEN_'));
process.stdout.write(JSON.stringify(result));
`;
  const setPid = pid === 'own' ? 'LISTEN_PID=$$' : 'LISTEN_PID=1';
  const child = spawn('/bin/sh', ['-c', `${setPid}; export LISTEN_PID; exec "$@"`, 'sh', process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit', ...fds],
    env: { PATH: process.env.PATH, ...env },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => child.on('close', (code) => {
    try { resolve(JSON.parse(out) as Record<string, unknown>); } catch { reject(new Error(`child exited ${code}: ${out}`)); }
  }));
}

t.test('sockets passed as systemd passes them are told apart and taken', async (t) => {
  const s = await openSockets(['tcp', 'udp']);
  t.teardown(() => { s.tcp?.close(); s.udp?.close(); });
  const tcpPort = (s.tcp!.address() as { port: number }).port;
  const udpPort = s.udp!.address().port;
  const r = await takeInChild(s.fds, { LISTEN_FDS: '2', LISTEN_FDNAMES: 'web:dtls' }, 'own');
  t.same(r.sockets, {
    tcp: [{ fd: 3, name: 'web', family: 'inet', address: '127.0.0.1', port: tcpPort }],
    udp: [{ fd: 4, name: 'dtls', family: 'inet', address: '127.0.0.1', port: udpPort }],
  });
  t.same(r.env, [], 'LISTEN_* are removed so that nothing main starts takes them');

  const other = await takeInChild(s.fds, { LISTEN_FDS: '2' }, 'other');
  t.equal(other.sockets, null, 'LISTEN_PID of another process: the sockets are not ours');
  t.same(other.env, []);
});

t.test('sockets ocserv-ts cannot serve are refused with a reason', async (t) => {
  const udpOnly = await openSockets(['udp']);
  t.teardown(() => udpOnly.udp?.close());
  const r1 = await takeInChild(udpOnly.fds, { LISTEN_FDS: '1' }, 'own');
  t.equal(r1.name, 'SystemdError');
  t.match(r1.error, /no TCP socket: ocserv-ts\.socket needs a ListenStream= line/);

  // fd 3 a file, not a socket
  const file = openSync('/dev/null', 'r');
  t.teardown(() => closeSync(file));
  const r2 = await takeInChild([file], { LISTEN_FDS: '1', LISTEN_FDNAMES: 'odd' }, 'own');
  t.match(r2.error, /^fd 3 \(odd\) from systemd: .*non-socket/);

  // a unix socket (what node makes for a 'pipe'): ListenStream=/path is not for us
  const r4 = await takeInChild(['pipe'], { LISTEN_FDS: '1' }, 'own');
  t.match(r4.error, /fd 3 \(unknown\) from systemd is a unix socket/);

  const r3 = await takeInChild([], { LISTEN_FDS: 'lots' }, 'own');
  t.match(r3.error, /LISTEN_FDS=lots is not a number of sockets/);
});

t.test('sd_notify: READY, STATUS and STOPPING reach the NOTIFY_SOCKET', async (t) => {
  const dir = tempDir(t);
  const listener = await listenNotify(join(dir, 'notify'));
  t.teardown(() => listener.close());
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: listener.path };
  const n = new SystemdNotifier(createLogger('test', 'silent'), env);
  t.equal(env.NOTIFY_SOCKET, undefined, 'NOTIFY_SOCKET is taken out of the environment');
  t.ok(n.enabled);
  n.ready(sessionStatus(0));
  t.equal(await listener.waitFor(/^READY=1/), `READY=1\nSTATUS=0 sessions active\nMAINPID=${process.pid}`);
  n.status(sessionStatus(1));
  t.equal(await listener.waitFor(/^STATUS=1 /), 'STATUS=1 session active');
  // a burst: only the latest figure goes out once the second is over
  n.status(sessionStatus(2));
  n.status(sessionStatus(3));
  t.equal(await listener.waitFor(/^STATUS=3 /), 'STATUS=3 sessions active');
  t.notOk(listener.messages().includes('STATUS=2 sessions active'), 'the figure in between was skipped');
  n.stopping();
  t.equal(await listener.waitFor(/^STOPPING=1/), 'STOPPING=1\nSTATUS=shutting down');

  const off = new SystemdNotifier(createLogger('test', 'silent'), {});
  t.notOk(off.enabled, 'without NOTIFY_SOCKET nothing is sent');
  off.ready('x');
});
