/**
 * The small read-only HTTP servers main runs for administrators (metrics-listen,
 * status-listen): GET and HEAD only, few connections, and a failure of one request never
 * reaches the VPN.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ListenAddress } from '../common/listen-address';
import { isLoopback } from '../common/listen-address';
import type { Logger } from '../common/log';

export interface Reply { status: number; type: string; body: string | Buffer }

/** scrapers and browsers of a few administrators; more are refused, not queued */
const MAX_CONNECTIONS = 32;

export class HttpEndpoint {
  private server?: Server;

  constructor(private readonly o: {
    what: string;
    listen: ListenAddress;
    log: Logger;
    /** the answer for a GET of this path (no query), or undefined for 404 */
    handle(path: string): Promise<Reply | undefined>;
  }) {}

  /** resolves once listening; rejects (e.g. EADDRINUSE) so that start-up fails with a clear reason */
  start(): Promise<void> {
    const { host, port } = this.o.listen;
    if (!isLoopback(host)) {
      this.o.log.warn({ host, port, endpoint: this.o.what }, 'this endpoint has no authentication and is reachable beyond this host');
    }
    const server = createServer((req, res) => void this.serve(req, res));
    server.maxConnections = MAX_CONNECTIONS;
    server.requestTimeout = 10_000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`${this.o.what} ${host}:${port}: ${err.message}`)));
      server.listen({ host, port }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.o.log.error({ err: err.message, endpoint: this.o.what }, 'HTTP endpoint error'));
        this.o.log.info({ endpoint: this.o.what, url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/` }, 'serving');
        resolve();
      });
    });
  }

  stop(): void {
    this.server?.close();
    this.server?.closeAllConnections();
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only\n');
        return;
      }
      const path = (req.url ?? '/').split('?')[0]!;
      const r = await this.o.handle(path);
      if (!r) {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
        return;
      }
      res.writeHead(r.status, { 'content-type': r.type, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : r.body);
    } catch (err) {
      this.o.log.error({ err: (err as Error).message, endpoint: this.o.what, path: req.url }, 'HTTP request failed');
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error\n');
    }
  }
}
