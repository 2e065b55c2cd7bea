/**
 * rate-limit-ms (src/main/accept-pacer.ts) with real loopback connections: arrival order is
 * kept, nothing is delayed without a limit, and stopping closes the connections still waiting.
 */
import t from 'tap';
import { createServer, connect, type Server, type Socket } from 'node:net';
import pino from 'pino';
import { AcceptPacer } from '../../src/main/accept-pacer';

const log = pino({ level: 'silent' });

async function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer({ pauseOnConnect: true }, onSocket);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

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
  const pacer = new AcceptPacer(() => interval, (s) => {
    s.resume();
    s.once('data', (d) => handed.push(d.toString()));
  }, log);
  const { server, port } = await listen((s) => pacer.accept(s));
  t.teardown(() => { pacer.stop(); server.close(); });
  const clients: Socket[] = [];
  // one at a time so that the arrival order is known
  for (const name of ['a', 'b', 'c', 'd']) clients.push(await client(port, name));
  for (let i = 0; i < 200 && handed.length < 4; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(handed, ['a', 'b', 'c', 'd']);
  interval = 0;
  clients.push(await client(port, 'e'));
  for (let i = 0; i < 200 && handed.length < 5; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(handed, ['a', 'b', 'c', 'd', 'e'], 'a limit of 0 (after a reload) hands on straight away');
  for (const c of clients) c.destroy();
});

t.test('stop closes the connections still waiting', async (t) => {
  const handed: Socket[] = [];
  const pacer = new AcceptPacer(() => 60_000, (s) => handed.push(s), log);
  const { server, port } = await listen((s) => pacer.accept(s));
  t.teardown(() => server.close());
  const first = await client(port, 'x');
  const waiting = await client(port, 'y');
  for (let i = 0; i < 100 && handed.length < 1; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(handed.length, 1, 'the first went on, the second waits a minute');
  const closed = new Promise<boolean>((r) => waiting.once('close', () => r(true)));
  pacer.stop();
  t.ok(await closed, 'the waiting client sees its connection closed');
  t.equal(handed.length, 1);
  for (const s of [...handed, first]) s.destroy();
});
