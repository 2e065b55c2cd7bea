/** The socket options net-priority and output-buffer set, read back from real sockets. */
import t from 'tap';
import { once } from 'node:events';
import { createSocket } from 'node:dgram';
import { createServer, connect, type Socket } from 'node:net';
import { getSockoptInt, setSockoptInt } from '../../src/native/index';
import { applySocketTuning, linkMtu, tcpTuning, udpTuning } from '../../src/common/socket-tuning';

const fdOf = (s: unknown): number => (s as { _handle: { fd: number } })._handle.fd;

async function tcpPair(host: string): Promise<{ client: Socket; close(): void }> {
  const server = createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const client = connect((server.address() as { port: number }).port, host);
  await once(client, 'connect');
  return { client, close: () => { client.destroy(); server.close(); } };
}

t.test('priority, type of service and send buffer, by name', async (t) => {
  const { client, close } = await tcpPair('127.0.0.1');
  t.teardown(close);
  const fd = fdOf(client);
  setSockoptInt(fd, 'priority', 3);
  t.equal(getSockoptInt(fd, 'priority'), 3);
  setSockoptInt(fd, 'tos', 0x10);
  t.equal(getSockoptInt(fd, 'tos'), 0x10);
  setSockoptInt(fd, 'sndbuf', 15000);
  t.equal(getSockoptInt(fd, 'sndbuf'), 30000, 'the kernel keeps twice what was asked');
  t.throws(() => setSockoptInt(fd, 'nonsense' as 'tos', 1), TypeError);
  t.throws(() => getSockoptInt(987654, 'tos'), { code: 'EBADF' });
});

t.test('a tuning as ocserv computes it, applied to a TCP socket and a UDP one', async (t) => {
  t.equal(linkMtu(undefined, 1406), 1406, 'the client\'s link when smaller than a tun\'s 1500');
  t.equal(linkMtu(undefined, 9000), 1500);
  t.equal(linkMtu(1300, 1406), 1300, 'mtu caps it');
  t.same(tcpTuning({ priority: 5 }, 10, 1400), { priority: 5, sndbuf: 14000 });
  t.same(udpTuning({ priority: 5 }, 10, 1400), { priority: 5, sndbuf: 2048 }, 'UDP: at most 2048 bytes, as ocserv');
  t.same(udpTuning(undefined, 1, 1400), { sndbuf: 1400 });
  t.equal(tcpTuning(undefined, 0, 1400), undefined, 'nothing to set');

  const { client, close } = await tcpPair('::1');
  t.teardown(close);
  const fd = fdOf(client);
  t.same(applySocketTuning(fd, tcpTuning({ tos: 0x20 }, 10, 1400)), []);
  t.equal(getSockoptInt(fd, 'sndbuf'), 28000);
  t.equal(getSockoptInt(fd, 'tclass'), 0x20, 'an IPv6 socket gets the traffic class');
  t.equal(getSockoptInt(fd, 'tos'), 0x20, 'and IP_TOS for v4-mapped traffic');

  const udp = createSocket('udp4');
  udp.bind(0, '127.0.0.1');
  await once(udp, 'listening');
  t.teardown(() => udp.close());
  const ufd = fdOf(udp);
  t.same(applySocketTuning(ufd, udpTuning({ priority: 2 }, 10, 1400)), []);
  t.equal(getSockoptInt(ufd, 'priority'), 2);
  t.ok(getSockoptInt(ufd, 'sndbuf') <= 4608, 'the kernel\'s minimum at most: 2048 asked');

  t.match(applySocketTuning(987654, { priority: 1 }), [/setsockopt.*Bad file descriptor/], 'a failure is reported, not thrown');
});
