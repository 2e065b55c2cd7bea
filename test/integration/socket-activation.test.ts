/**
 * ocserv-ts started as systemd starts it with ocserv-ts.socket and Type=notify: the TCP and
 * UDP sockets opened beforehand and passed as fds 3 and 4 (LISTEN_FDS=2, LISTEN_PID of the
 * server's own process), NOTIFY_SOCKET a datagram socket the test owns. The server serves
 * openconnect (TLS and DTLS) on those sockets, on a port its configuration does not name,
 * and tells the socket READY=1, its session count and STOPPING=1.
 */
import t from 'tap';
import { join } from 'node:path';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, serverTunAddress, type Topology } from '../helpers/netns';
import { listenNotify, type NotifyListener } from '../helpers/notify-socket';
import { startOpsServer, type OpsServer } from '../helpers/ops-server';

const USER = { name: 'alice', password: 'alice pw' };
const CONFIG_PORT = 4443;
/** where "systemd" listens: the server must not bind its configured port instead */
const SOCKET_PORT = 8443;
const LAUNCHER = join(__dirname, '..', 'helpers', 'socket-activate.js');

let topo: Topology;
let notify: NotifyListener;
let server: OpsServer;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  notify = await listenNotify(join(topo.tempDir('notify'), 'notify.sock'));
  server = await startOpsServer(topo, {
    users: [USER],
    port: CONFIG_PORT,
    connectPort: SOCKET_PORT,
    wrapper: [process.execPath, LAUNCHER, topo.serverIp, String(SOCKET_PORT), String(SOCKET_PORT), notify.path],
  });
});
t.teardown(async () => {
  await server?.stop();
  notify?.close();
  await topo?.cleanup();
});

const listening = async (proto: 't' | 'u') =>
  (await topo.exec(topo.serverNs, 'ss', [`-Hln${proto}`])).stdout;

t.test('READY=1 once the server listens on the sockets it was given', async (t) => {
  const ready = await notify.waitFor(/^READY=1/);
  t.match(ready, /\nSTATUS=0 sessions active\n/);
  const pid = Number(/MAINPID=(\d+)/.exec(ready)?.[1]);
  t.ok(server.logLines().some((l) => l.msg === 'ocserv-ts is up' && l.pid === pid), 'MAINPID is the main process, which wrote the log');
  const line = server.logLines().find((l) => l.msg === 'listening on the sockets systemd passed');
  t.match(line, { from: 'systemd', tcp: `${topo.serverIp}:${SOCKET_PORT}`, udp: `${topo.serverIp}:${SOCKET_PORT}` });
  t.match(await listening('t'), new RegExp(`${topo.serverIp.replace(/\./g, '\\.')}:${SOCKET_PORT}\\b`));
  t.notMatch(await listening('t'), new RegExp(`:${CONFIG_PORT}\\b`), 'tcp-port of the configuration is not bound');
  t.notMatch(await listening('u'), new RegExp(`:${CONFIG_PORT}\\b`), 'nor udp-port');
});

t.test('openconnect gets a tunnel over TLS and DTLS through the passed sockets', async (t) => {
  const vpn = await connectOpenconnect(topo, { url: server.url, user: USER.name, password: USER.password, servercert: server.pin, timeoutMs: 30_000 });
  t.teardown(() => vpn.disconnect());
  await vpn.waitForOutput(/Established DTLS connection/, 20_000);
  t.pass('DTLS came up on the UDP socket systemd passed');
  const gw = await serverTunAddress(topo, vpn.address);
  t.ok(gw, 'the server side of the tunnel exists');
  t.ok((await ping(topo, topo.clientNs, gw!, { count: 2 })).ok, 'traffic flows');
  t.equal(await notify.waitFor(/^STATUS=1 /), 'STATUS=1 session active', 'systemctl status would show the session');
  await vpn.disconnect();
  t.equal(await notify.waitFor(/^STATUS=0 /), 'STATUS=0 sessions active');
});

t.test('STOPPING=1 on SIGTERM, then a clean exit', async (t) => {
  const { code } = await server.stop();
  t.equal(code, 0);
  t.match(await notify.waitFor(/^STOPPING=1/), /^STOPPING=1\nSTATUS=shutting down$/);
  const order = notify.messages().map((m) => m.split('\n')[0]);
  t.ok(order.indexOf('READY=1') < order.indexOf('STOPPING=1'), 'READY=1 came before STOPPING=1');
});
