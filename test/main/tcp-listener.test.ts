/**
 * main's client-facing listener (src/main/tcp-listener.ts): node binds, the socket is taken
 * over and connections come out as bare fds with their addresses, several per wake-up.
 */
import t from 'tap';
import { connect, Socket } from 'node:net';
import pino from 'pino';
import { tcpListen } from '../../src/main/tcp-listener';
import { getSockoptInt, tcpAccept, type AcceptedTcp } from '../../src/native';

const log = pino({ level: 'silent' });

const dial = (port: number, host = '127.0.0.1') => new Promise<Socket>((resolve, reject) => {
  const c = connect(port, host, () => resolve(c));
  c.once('error', reject);
});

t.test('connections come out as fds with both ends\' addresses and TCP_NODELAY', async (t) => {
  const got: AcceptedTcp[] = [];
  const listener = await tcpListen({ port: 0, host: '127.0.0.1' }, (c) => got.push(c), log);
  t.teardown(() => listener.close());
  t.ok(listener.port > 0, 'the bound port is known');
  const clients = await Promise.all([1, 2, 3, 4, 5].map(() => dial(listener.port)));
  for (let i = 0; i < 100 && got.length < 5; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(got.length, 5);
  const ports = new Set(clients.map((c) => c.localPort));
  for (const c of got) {
    t.equal(c.remoteAddr, '127.0.0.1');
    t.ok(ports.has(c.remotePort), 'the peer port is a client\'s');
    t.equal(c.localAddr, '127.0.0.1');
    t.equal(c.localPort, listener.port);
    t.equal(getSockoptInt(c.fd, 'nodelay'), 1, 'TCP_NODELAY is set');
  }
  // the fd is the connection: what the client sends arrives on it
  const s = new Socket({ fd: got[0].fd, readable: true, writable: true });
  const data = new Promise<string>((r) => s.once('data', (d) => r(d.toString())));
  clients.find((c) => c.localPort === got[0].remotePort)!.write('hello');
  t.equal(await data, 'hello');
  s.destroy();
  for (const c of got.slice(1)) new Socket({ fd: c.fd }).destroy();
  for (const c of clients) c.destroy();
});

t.test('an IPv4 client of a dual-stack listener is shown by its IPv4 address', async (t) => {
  const got: AcceptedTcp[] = [];
  let listener;
  try {
    listener = await tcpListen({ port: 0, host: '::' }, (c) => got.push(c), log);
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'EAFNOSUPPORT', 'only a host without IPv6 may refuse');
    return;
  }
  t.teardown(() => listener.close());
  const c = await dial(listener.port);
  for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(got[0]?.remoteAddr, '127.0.0.1', 'not ::ffff:127.0.0.1');
  for (const a of got) new Socket({ fd: a.fd }).destroy();
  c.destroy();
});

t.test('a busy port is the listen error node gives', async (t) => {
  const first = await tcpListen({ port: 0, host: '127.0.0.1' }, () => {}, log);
  t.teardown(() => first.close());
  await t.rejects(tcpListen({ port: first.port, host: '127.0.0.1' }, () => {}, log), { code: 'EADDRINUSE' });
});

t.test('closed: no more connections are taken, and tcpAccept on nothing waiting is empty', async (t) => {
  const got: AcceptedTcp[] = [];
  const listener = await tcpListen({ port: 0, host: '127.0.0.1' }, (c) => got.push(c), log);
  const port = listener.port;
  listener.close();
  t.notOk(listener.listening);
  await t.rejects(dial(port), { code: 'ECONNREFUSED' });
  t.throws(() => tcpAccept(1 << 20), { code: 'EBADF' });
});
