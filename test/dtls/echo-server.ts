/**
 * A tiny UDP server around DtlsServer for tests with independent DTLS peers (openssl
 * s_client, gnutls-cli): PSK mode, echoes application data back, and prints one JSON line
 * per event on stdout.  Usage: node echo-server.js <psk-hex> [suites,comma,separated]
 */
import { createSocket } from 'node:dgram';
import { DtlsServer } from '../../src/dtls/server';
import { SUITES } from '../../src/dtls/suites';

const psk = Buffer.from(process.argv[2] ?? '', 'hex');
const names = (process.argv[3] ?? '').split(',').filter(Boolean);
const suites = SUITES.filter((s) => s.psk && (names.length === 0 || names.includes(s.name)));
const sock = createSocket('udp4');
const peers = new Map<string, DtlsServer>();
const emit = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);

sock.on('message', (msg, rinfo) => {
  const key = `${rinfo.address}:${rinfo.port}`;
  let s = peers.get(key);
  if (!s) {
    const server: DtlsServer = new DtlsServer({ kind: 'psk', psk, suites }, {
      send: (d) => sock.send(d, rinfo.port, rinfo.address),
      established: (info) => emit({ event: 'established', peer: key, description: info.description, suite: info.suite.name }),
      data: (pt) => {
        emit({ event: 'data', peer: key, text: pt.toString('utf8') });
        const reply = server.seal([Buffer.from(`echo:${pt.toString('utf8')}`)]);
        if (reply) sock.send(reply, rinfo.port, rinfo.address);
      },
      closed: (reason) => { emit({ event: 'closed', peer: key, reason, counters: server.counters }); peers.delete(key); },
    });
    s = server;
    peers.set(key, s);
  }
  s.handleDatagram(msg);
});
sock.bind(0, '127.0.0.1', () => emit({ event: 'listening', port: sock.address().port }));
