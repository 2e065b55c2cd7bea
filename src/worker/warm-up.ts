import { Duplex } from 'node:stream';
import { TLSSocket, connect, type SecureContext, type TLSSocketOptions } from 'node:tls';

/** Two in-memory streams wired back to back (node:stream has duplexPair only from Node 22). */
function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (i: number) => new Duplex({
    read() {},
    write(chunk, _enc, cb) { ends[1 - i].push(chunk); cb(); },
    final(cb) { ends[1 - i].push(null); cb(); },
  });
  ends.push(make(0), make(1));
  return [ends[0], ends[1]];
}

/**
 * One TLS handshake with itself, in memory, while the worker waits in the pre-started pool:
 * the first handshake of a fresh process pays for loading and compiling the TLS paths, and
 * that cost would otherwise land on the first client's connection time. `serverOptions`
 * are the ones clients' sockets get (requestCert), so the same paths are warmed.
 */
export function warmUpTls(secureContext: SecureContext, timeoutMs = 5000, serverOptions: TLSSocketOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    const [a, b] = duplexPair();
    const server = new TLSSocket(a, { ...serverOptions, isServer: true, secureContext });
    const client = connect({ socket: b, rejectUnauthorized: false });
    const done = () => {
      clearTimeout(timer);
      client.destroy();
      server.destroy();
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('secureConnect', done);
    client.once('error', done);
    server.once('error', done);
  });
}
