/**
 * listen-proxy-proto: main reads the PROXY header off a new connection before the fd goes
 * to a worker. Node's socket would read ahead and keep the client's TLS bytes in its own
 * buffer, so the header is read from a duplicate of the fd with plain read(2)s of exactly the
 * sizes proxy-protocol.ts allows; the worker then finds the TLS handshake at the socket's
 * first unread byte.
 */
import { readSync } from 'node:fs';
import { FdWatcher, type FdWatcher as Watcher } from '../native';
import { proxyHeaderStep, type ProxyHeader } from './proxy-protocol';

/** as ocserv (DEFAULT_SOCKET_TIMEOUT): a proxy sends its header at once */
export const PROXY_HEADER_TIMEOUT_MS = 10_000;

export type ProxyReadResult = { header: ProxyHeader } | { error: string };

/**
 * Reads the header from `fd` (non-blocking, owned by the caller, who must not close it
 * before `done` ran); `done` is called exactly once. Returns a function that abandons the
 * read (server stopping): `done` is then not called.
 */
export function readProxyHeader(fd: number, done: (r: ProxyReadResult) => void, timeoutMs = PROXY_HEADER_TIMEOUT_MS): () => void {
  let got = Buffer.alloc(0);
  let finished = false;
  let watcher: Watcher | undefined;
  const finish = (r: ProxyReadResult | undefined) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    watcher?.close();
    if (r) done(r);
  };
  const timer = setTimeout(() => finish({ error: `no complete PROXY header within ${timeoutMs / 1000} s` }), timeoutMs);
  const pump = () => {
    for (;;) {
      const step = proxyHeaderStep(got);
      if ('error' in step) return finish({ error: step.error });
      if ('header' in step) return finish({ header: step.header });
      const chunk = Buffer.alloc(step.need);
      let n: number;
      try {
        n = readSync(fd, chunk, 0, step.need, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return; // wait for more
        return finish({ error: `reading the PROXY header: ${(err as Error).message}` });
      }
      if (n === 0) return finish({ error: got.length ? 'connection closed inside the PROXY header' : 'connection closed before the PROXY header' });
      got = Buffer.concat([got, chunk.subarray(0, n)]);
    }
  };
  try {
    watcher = new FdWatcher(fd, (err, readable) => {
      if (err) finish({ error: `connection error before the PROXY header: ${err.message}` });
      else if (readable) pump();
    });
    watcher.start(true);
  } catch (err) {
    // never call back before the caller has the cancel function
    queueMicrotask(() => finish({ error: `cannot watch the connection: ${(err as Error).message}` }));
  }
  return () => finish(undefined);
}
