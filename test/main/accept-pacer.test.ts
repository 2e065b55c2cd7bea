/**
 * rate-limit-ms (src/main/accept-pacer.ts) with real loopback connections taken by main's
 * listener: arrival order is kept, nothing is delayed without a limit, and stopping closes
 * the connections still waiting.
 */
import t from 'tap';
import { connect, Socket } from 'node:net';
import pino from 'pino';
import { AcceptPacer } from '../../src/main/accept-pacer';
import { tcpListen } from '../../src/main/tcp-listener';
import type { AcceptedTcp } from '../../src/native';

const log = pino({ level: 'silent' });

/** Connects and sends one byte naming the client, once connected. */
function client(port: number, name: string): Promise<Socket> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1', () => { c.write(name); resolve(c); });
    c.on('error', () => {});
  });
}

t.test('a burst is handed on one at a time, first come first served', async (t) => {
  const handed: string[] = [];
  let interval = 50;
  const pacer = new AcceptPacer(() => interval, (c) => {
    const s = new Socket({ fd: c.fd, readable: true });
    s.once('data', (d) => { handed.push(d.toString()); s.destroy(); });
  }, log);
  const listener = await tcpListen({ port: 0, host: '127.0.0.1' }, (c) => pacer.accept(c), log);
  t.teardown(() => { pacer.stop(); listener.close(); });
  const clients: Socket[] = [];
  // one at a time so that the arrival order is known
  for (const name of ['a', 'b', 'c', 'd']) clients.push(await client(listener.port, name));
  for (let i = 0; i < 200 && handed.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(handed, ['a', 'b', 'c', 'd']);
  interval = 0;
  clients.push(await client(listener.port, 'e'));
  for (let i = 0; i < 200 && handed.length < 5; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(handed, ['a', 'b', 'c', 'd', 'e'], 'a limit of 0 (after a reload) hands on straight away');
  for (const c of clients) c.destroy();
});

t.test('stop closes the connections still waiting', async (t) => {
  const handed: AcceptedTcp[] = [];
  const pacer = new AcceptPacer(() => 60_000, (c) => handed.push(c), log);
  const listener = await tcpListen({ port: 0, host: '127.0.0.1' }, (c) => pacer.accept(c), log);
  t.teardown(() => listener.close());
  const first = await client(listener.port, 'x');
  const waiting = await client(listener.port, 'y');
  for (let i = 0; i < 100 && handed.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(handed.length, 1, 'the first went on, the second waits a minute');
  const closed = new Promise<boolean>((r) => waiting.once('close', () => r(true)));
  pacer.stop();
  t.ok(await closed, 'the waiting client sees its connection closed');
  t.equal(handed.length, 1);
  for (const c of handed) new Socket({ fd: c.fd }).destroy();
  first.destroy();
});
