import t from 'tap';
import { pack } from 'msgpackr';
import { openSync, readFileSync, closeSync, writeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Channel } from '../../src/ipc/channel';
import { MAX_MESSAGE } from '../../src/ipc/codec';
import { workerToMain, type MainToWorker, type WorkerToMain } from '../../src/ipc/messages';
import { PacketIO, seqpacketPair } from '../../src/native';

const log = pino({ level: 'silent' });

/** A raw end to play a misbehaving worker against a validating channel. */
function setup() {
  const [a, b] = seqpacketPair();
  const main = new Channel<WorkerToMain, MainToWorker>(a, { name: 'main<-test', log, validators: workerToMain });
  const rawIO = new PacketIO(b, { mode: 'msg', maxPacket: 2 * MAX_MESSAGE, batch: 8, fds: true }, { onPackets: () => {} });
  const closed = new Promise<string>((resolve) => main.onClose(resolve));
  return { main, rawIO, closed };
}

t.test('request / reply with an fd', async (t) => {
  const [a, b] = seqpacketPair();
  const worker = new Channel<MainToWorker, WorkerToMain>(a, { name: 'worker', log });
  const main = new Channel<WorkerToMain, MainToWorker>(b, { name: 'main', log, validators: workerToMain });
  const dir = mkdtempSync(join(tmpdir(), 'ocs-ipc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'f');
  main.on('session.open', (body, ctx) => {
    t.same(body, { connId: 3, cookie: 'c', mtu: { link: 1500, cstp: 1472 } });
    const fd = openSync(file, 'w');
    ctx.reply('session.opened', { ok: false, reason: 'testing' }, [fd]);
    closeSync(fd);
  });
  const r = await worker.request<'session.open', MainToWorker['session.opened']>('session.open', { connId: 3, cookie: 'c', mtu: { link: 1500, cstp: 1472 } });
  t.same(r.body, { ok: false, reason: 'testing' });
  t.equal(r.fds.length, 1, 'an fd came with the reply');
  writeSync(r.fds[0], 'through the passed fd');
  closeSync(r.fds[0]);
  t.equal(readFileSync(file, 'utf8'), 'through the passed fd');
  worker.close();
  main.close();
});

t.test('a request with no answer times out', async (t) => {
  const [a, b] = seqpacketPair();
  const worker = new Channel<MainToWorker, WorkerToMain>(a, { name: 'worker', log, requestTimeoutMs: 100 });
  const main = new Channel<WorkerToMain, MainToWorker>(b, { name: 'main', log, validators: workerToMain });
  main.on('session.open', () => { /* never answers */ });
  await t.rejects(worker.request('session.open', { connId: 1, cookie: 'c', mtu: { link: 1500, cstp: 1472 } }), /no answer within 100 ms/);
  worker.close();
  main.close();
});

const hostile: Array<[string, Buffer]> = [
  ['not msgpack', Buffer.from([0xc1, 0xc1, 0xc1])],
  ['not an envelope', pack({ hello: 'world' })],
  ['unknown type', pack(['root.please', 1, 0, {}])],
  ['wrong field type', pack(['session.open', 1, 0, { connId: 'one', cookie: 'c', mtu: { link: 1500, cstp: 1472 } }])],
  ['extra field', pack(['session.open', 1, 0, { connId: 1, cookie: 'c', mtu: { link: 1500, cstp: 1472 }, admin: true }])],
  ['oversized', pack(['session.open', 1, 0, { connId: 1, cookie: 'c'.repeat(MAX_MESSAGE), mtu: { link: 1500, cstp: 1472 } }])],
];

for (const [what, msg] of hostile) {
  t.test(`a hostile worker message closes only that channel: ${what}`, async (t) => {
    const { main, rawIO, closed } = setup();
    let handled = false;
    main.on('session.open', () => { handled = true; });
    rawIO.write(msg);
    const reason = await closed;
    t.notOk(handled, 'no handler ran');
    t.match(reason, /undecodable|invalid|bad|too long/);
    t.ok(main.isClosed);
    rawIO.close();
  });
}

t.test('fds riding on a rejected message are closed, not leaked', async (t) => {
  const { main, rawIO, closed } = setup();
  const before = (await import('node:fs')).readdirSync('/proc/self/fd').length;
  const fd = openSync('/dev/null', 'r');
  rawIO.write(pack(['root.please', 1, 0, {}]), [fd]);
  closeSync(fd);
  await closed;
  const after = (await import('node:fs')).readdirSync('/proc/self/fd').length;
  t.ok(after <= before, `fd count ${before} -> ${after}`);
  t.ok(main.isClosed);
  rawIO.close();
});
