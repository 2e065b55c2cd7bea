/**
 * The client-facing TCP sockets, served without node's net.Server. main only passes a
 * client's connection on to a worker, so a net.Socket per connection (made, asked its
 * addresses, destroyed) was all overhead: about a third of a millisecond of main's time per
 * client, between the client's connect and its TLS handshake. Node still binds and listens
 * (its address handling and errors); the socket is then taken over and read with FdWatcher
 * and tcpAccept, several waiting connections per wake-up.
 */
import { createServer, type ListenOptions } from 'node:net';
import type { Logger } from '../common/log';
import { FdWatcher, closeFd, dupFd, tcpAccept, type AcceptedTcp, type NativeError } from '../native';

/** connections taken per wake-up; more wait for the next turn of the event loop */
const ACCEPT_BATCH = 64;
/** out of fds (EMFILE) or memory: accepting pauses this long rather than spin on a socket that stays readable */
const RETRY_MS = 100;

export class TcpListener {
  private readonly watcher;
  private closed = false;
  private failing = false;
  private retry?: NodeJS.Timeout;

  /** `fd`: a listening socket, now this object's; `port`: the one it is bound to */
  constructor(private readonly fd: number, readonly port: number, private readonly onConn: (c: AcceptedTcp) => void, private readonly log: Logger) {
    this.watcher = new FdWatcher(fd, (err) => (err ? this.failed(err) : this.drain()));
    this.watcher.start(true);
  }

  get listening(): boolean { return !this.closed; }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retry);
    this.watcher.close();
    closeFd(this.fd);
  }

  private drain(): void {
    let got: AcceptedTcp[];
    try {
      got = tcpAccept(this.fd, ACCEPT_BATCH);
    } catch (err) {
      this.failed(err as NativeError);
      return;
    }
    if (got.length && this.failing) {
      this.failing = false;
      this.log.info('accepting connections again');
    }
    for (const c of got) {
      if (this.closed) closeFd(c.fd);
      else this.onConn(c);
    }
  }

  private failed(err: NativeError): void {
    if (this.closed) return;
    if (!this.failing) this.log.error({ err: err.message }, `cannot accept connections; retrying every ${RETRY_MS} ms`);
    this.failing = true;
    this.watcher.stop();
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closed) this.watcher.start(true);
    }, RETRY_MS);
  }
}

/**
 * Binds and listens with node (`{ port, host, backlog }`, or `{ fd }` for a socket systemd
 * passed or one made in listen-netns), then takes the socket over. Node accepts nothing in
 * between: its server is closed in the same turn as its 'listening' event, before any poll.
 */
export function tcpListen(options: ListenOptions, onConn: (c: AcceptedTcp) => void, log: Logger): Promise<TcpListener> {
  const server = createServer({ pauseOnConnect: true }, (s) => s.destroy());
  return new Promise<TcpListener>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      let own: number;
      try {
        own = dupFd((server as unknown as { _handle: { fd: number } })._handle.fd);
      } catch (err) {
        server.close();
        reject(err);
        return;
      }
      const port = (server.address() as { port: number }).port;
      server.close();
      resolve(new TcpListener(own, port, onConn, log));
    });
  });
}
