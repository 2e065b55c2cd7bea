/**
 * A small TCP relay that speaks the PROXY protocol to the server behind it, as HAProxy's
 * `send-proxy` / `send-proxy-v2` do, for listen-proxy-proto tests:
 *   node proxy-relay.js <listen-host> <listen-port> <server-host> <server-port> <v1|v2>
 * Prints "ready" once listening; each client connection is relayed with a header naming it.
 */
import { createServer, connect } from 'node:net';
import { proxyV1, proxyV2 } from '../../src/main/proxy-protocol';

const [, , host, port, serverHost, serverPort, version] = process.argv;

const relay = createServer((client) => {
  const source = { address: (client.remoteAddress ?? '').replace(/^::ffff:/, ''), port: client.remotePort ?? 0 };
  const destination = { address: (client.localAddress ?? '').replace(/^::ffff:/, ''), port: client.localPort ?? 0 };
  const upstream = connect({ host: serverHost, port: Number(serverPort) });
  upstream.write(version === 'v1' ? proxyV1(source, destination) : proxyV2(source, destination, [{ type: 0x02, value: Buffer.from(serverHost) }]));
  client.pipe(upstream).pipe(client);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
});
relay.listen(Number(port), host, () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
