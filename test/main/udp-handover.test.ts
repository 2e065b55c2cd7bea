/**
 * main's DTLS hand-over (src/main/udp-handover.ts): the first ClientHello of a UDP peer finds
 * its session, and the session's worker gets a socket connected to that peer. Real sockets on
 * loopback: main's listening socket, a client socket, the connected sockets udpConnected makes.
 */
import t from 'tap';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import pino from 'pino';
import { UdpHandover } from '../../src/main/udp-handover';
import { closeFd } from '../../src/native';

const log = pino({ level: 'silent' });

/** A DTLS 1.2 ClientHello record (epoch 0, one fragment) carrying `sessionId`; the rest is not read by main. */
function clientHello(sessionId: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 7), Buffer.from([sessionId.length]), sessionId, Buffer.from([0, 0, 0, 0])]);
  const hs = Buffer.alloc(12);
  hs[0] = 1;
  hs.writeUIntBE(body.length, 1, 3);
  hs.writeUIntBE(body.length, 9, 3);
  const rec = Buffer.alloc(13);
  rec[0] = 22;
  rec.writeUInt16BE(0xfefd, 1);
  rec.writeUInt16BE(hs.length + body.length, 11);
  return Buffer.concat([rec, hs, body]);
}

const bound = (s: Socket) => new Promise<number>((resolve) => s.bind(0, '127.0.0.1', () => resolve(s.address().port)));

t.test('a hello is handed over once; a new session\'s hello from a port reused at once is handed over too', async (t) => {
  const listening = createSocket({ type: 'udp4', reuseAddr: true });
  const client = createSocket('udp4');
  t.teardown(() => { listening.close(); client.close(); });
  const port = await bound(listening);
  const peer: RemoteInfo = { address: '127.0.0.1', port: await bound(client), family: 'IPv4', size: 0 };

  const sessions = new Map([[Buffer.alloc(32, 1), 'first'], [Buffer.alloc(32, 2), 'second']].map(([id, name]) => [(id as Buffer).toString('hex'), name as string]));
  const handed: { session: string; fd: number; datagram: Buffer }[] = [];
  const h = new UdpHandover({
    localHost: '127.0.0.1',
    port,
    log,
    find: (id) => {
      const session = sessions.get(id);
      return session === undefined ? undefined : (fd, datagram) => handed.push({ session, fd, datagram });
    },
  });
  t.teardown(() => { for (const x of handed) closeFd(x.fd); handed.length = 0; });

  const first = clientHello(Buffer.alloc(32, 1));
  h.onDatagram(first, { ...peer, size: first.length });
  t.same(handed.map((x) => x.session), ['first'], 'the session of the id in the hello gets the flow');
  t.ok(handed[0].fd >= 0, 'with a socket');
  t.same(handed[0].datagram, first, 'and the hello itself');

  // a retransmission main read before the connected socket existed: the worker already has it
  h.onDatagram(first, { ...peer, size: first.length });
  t.equal(handed.length, 1, 'a repeated hello is not handed over again');
  t.equal(h.counters.repeated, 1);

  // that session ends (its worker closes the socket); the same client port, at once, begins another
  closeFd(handed[0].fd);
  handed[0].fd = -1;
  const second = clientHello(Buffer.alloc(32, 2));
  h.onDatagram(second, { ...peer, size: second.length });
  t.same(handed.map((x) => x.session), ['first', 'second'], 'the other session\'s hello is not taken for a repeat');
  t.equal(h.counters.handedOff, 2);
  handed.shift();

  const unknown = clientHello(Buffer.alloc(32, 3));
  h.onDatagram(unknown, { ...peer, size: unknown.length });
  h.onDatagram(Buffer.from('not a hello'), { ...peer, size: 11 });
  t.equal(h.counters.unknownSession, 1, 'a hello for no session is dropped');
  t.equal(h.counters.notClientHello, 1, 'and so is anything else');
  t.equal(handed.length, 1);
});
