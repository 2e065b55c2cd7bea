import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { SessionStats, WorkerToMain } from '../ipc/messages';

type Info = WorkerToMain['session.info.reply']['sessions'][number];

const clip = (v: unknown, max: number): string => String(Array.isArray(v) ? v[0] ?? '' : v ?? '').slice(0, max);

/** What the client said about itself when it asked for the tunnel. */
export type ClientHeaders = NonNullable<WorkerToMain['session.open']['client']>;

const MOBILE = /android|iphone|ipad|ios|mobile/i;

export function clientHeaders(req: IncomingMessage): ClientHeaders {
  const userAgent = clip(req.headers['user-agent'], 512);
  const deviceType = clip(req.headers['x-anyconnect-identifier-devicetype'], 128);
  const platform = clip(req.headers['x-anyconnect-identifier-platform'], 128);
  return {
    userAgent,
    hostname: clip(req.headers['x-cstp-hostname'], 256),
    deviceType,
    platform,
    mobile: MOBILE.test(userAgent) || MOBILE.test(platform) || MOBILE.test(deviceType),
  };
}

/** e.g. `(TLS1.3)-(TLS_AES_256_GCM_SHA384)`, in the bracketed style ocserv prints. */
export function tlsDescription(socket: TLSSocket): string {
  const proto = (socket.getProtocol() ?? '').replace(/^TLSv/, 'TLS');
  const cipher = socket.getCipher();
  return proto && cipher ? clip(`(${proto})-(${cipher.standardName ?? cipher.name})`, 128) : '';
}

export function sessionInfo(sessionId: number, socket: TLSSocket, stats: SessionStats, headers?: ClientHeaders): Info {
  return {
    sessionId,
    stats,
    userAgent: headers?.userAgent ?? '',
    hostname: headers?.hostname ?? '',
    tlsCipher: tlsDescription(socket),
    localAddr: clip((socket.localAddress ?? '').replace(/^::ffff:/, ''), 64),
  };
}
