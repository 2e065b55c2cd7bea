/**
 * main's DTLS hand-over (src/main/udp-handover.ts): the first ClientHello of a UDP peer finds
 * its session, and the session's worker gets a socket connected to that peer. Real sockets on
 * loopback: main's listening socket, a client socket, the connected sockets udpConnected makes.
 */
import t from 'tap';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import pino from 'pino';
import { encodeMessage, HsType } from '../../src/dtls/handshake';
import { ContentType, recordHeader } from '../../src/dtls/record';
import { UdpHandover } from '../../src/main/udp-handover';
import { closeFd } from '../../src/native';

const log = pino({ level: 'silent' });

/** A DTLS 1.2 ClientHello record (epoch 0, one fragment) carrying the session id `id`; the rest is not read by main. */
function clientHello(id: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), Buffer.alloc(32, 7), Buffer.from([id.length]), id, Buffer.from([0, 0, 0, 0])]);
  const hs = encodeMessage(HsType.ClientHello, 0, body);
  return Buffer.concat([recordHeader(ContentType.Handshake, 0xfefd, 0, 0, hs.length), hs]);
}

const sessionId = (n: number) => Buffer.alloc(32, n);

const bound = (s: Socket) => new Promise<number>((resolve) => s.bind(0, '127.0.0.1', () => resolve(s.address().port)));

t.test('a hello is handed over once; a new session\'s hello from a port reused at once is handed over too', async (t) => {
  const listening = createSocket({ type: 'udp4', reuseAddr: true });
  const client = createSocket('udp4');
  t.teardown(() => { listening.close(); client.close(); });
  const port = await bound(listening);
  const peer: RemoteInfo = { address: '127.0.0.1', port: await bound(client), family: 'IPv4', size: 0 };

  const sessions = new Map([[sessionId(1).toString('hex'), 'first'], [sessionId(2).toString('hex'), 'second']]);
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

  const first = clientHello(sessionId(1));
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
  const second = clientHello(sessionId(2));
  h.onDatagram(second, { ...peer, size: second.length });
  t.same(handed.map((x) => x.session), ['first', 'second'], 'the other session\'s hello is not taken for a repeat');
  t.equal(h.counters.handedOff, 2);
  handed.shift();

  const unknown = clientHello(sessionId(3));
  h.onDatagram(unknown, { ...peer, size: unknown.length });
  h.onDatagram(Buffer.from('not a hello'), { ...peer, size: 11 });
  t.equal(h.counters.unknownSession, 1, 'a hello for no session is dropped');
  t.equal(h.counters.notClientHello, 1, 'and so is anything else');
  t.equal(handed.length, 1);
});
