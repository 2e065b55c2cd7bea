/**
 * A worker: runs as run-as-user, holds no long-term secret of its own, and serves the TLS
 * connections main hands it (fd 3 = channel to main, fd 4 = channel to sec-mod).
 */
import '../common/jit';
import { createServer, type IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { TLSSocket, type SecureContext, type TLSSocketOptions } from 'node:tls';
import { createLogger, logCrashes } from '../common/log';
import { Channel } from '../ipc/channel';
import { AUTH_STEP_TIMEOUT_MS, SESSION_INFO_BATCH, SESSION_OPEN_TIMEOUT_MS, zeroStats, type MainToWorker, type SecmodToWorker, type WorkerConfig, type WorkerToMain, type WorkerToSecmod } from '../ipc/messages';
import { closeFd } from '../native';
import { BodyTooLargeError, HttpAuth, cookieValue, statusText, type LoginState, type SecmodAuthClient } from './http-auth';
import { CAMOUFLAGED_CONNECT_STATUS, camouflageGate } from './camouflage';
import { isProfileRequest, serveProfile } from './user-profile';
import { connectedResponse, type DtlsOffer } from './connect-headers';
import { customHeaderLines, withCustomHeaders } from './custom-headers';
import { clientFamilies } from './ip-families';
import { chooseDtls, dtlsOverhead, type DtlsPlan } from './dtls-negotiation';
import { tunnelMtu } from '../common/tunnel-mtu';
import { connectExtras } from './tunnel-options';
import { includeHeaders } from './included-headers';
import { clientHeaders, sessionInfo, type ClientHeaders } from './session-info';
import { Tunnel } from './tunnel';
import { keepClientSecret } from './cstp-native';
import { encodingHeaders, negotiate } from './compression';
import { warmUpLogin, warmUpTls } from './warm-up';
import { KeySlot } from './key-slot';
import { confineWorker, enterChroot, isolateWorker } from './sandbox';
import { applySocketTuning } from '../common/socket-tuning';
import { secureContextFor, stapleOcsp } from './tls-context';
import { checkClientCert, type CertIdentity, type ClientCertPolicy } from './client-cert';
import type { PeerProof } from '../ipc/peer-proof';
import type { DtlsMode } from '../dtls/server';

const MAIN_FD = 3;
const SECMOD_FD = 4;
const log = createLogger('worker');
logCrashes(log);
confineWorker();
// the TLS key engine's way to sec-mod (issue 4); main moves a socket onto it
const keySlot = new KeySlot();

interface Conn {
  id: number;
  /** the client's TCP socket (the TLS socket's own fd) */
  fd: number;
  /** the client's TLS 1.3 application traffic secret, once the handshake made it (src/worker/cstp-native.ts) */
  clientSecret: () => Buffer | undefined;
  remoteAddr: string;
  proof: PeerProof;
  socket: TLSSocket;
  tunnel?: Tunnel;
  sessionId?: number;
  headers?: ClientHeaders;
  /** what the handshake verified of the client's certificate (auth = "certificate") */
  cert?: CertIdentity;
  /** what logins on this connection left (the cookie the user-profile is served to) */
  login: LoginState;
  /** camouflage: a request of this connection carried the secret */
  camouflagePassed: boolean;
}

const conns = new Map<number, Conn>();
const tunnels = new Map<number, Tunnel>();
let config: WorkerConfig | undefined;
let secureContext: SecureContext | undefined;

const main = new Channel<MainToWorker, WorkerToMain>(MAIN_FD, { name: 'worker->main', log });
main.onClose((reason) => {
  log.info({ reason }, 'lost the channel to main; worker exits');
  process.exit(0);
});

// sec-mod can die and be restarted by main; tunnels must not notice, so the worker keeps
// running and main hands it a channel to the new sec-mod.
let secmod = connectSecmod(SECMOD_FD);
function connectSecmod(fd: number): Channel<SecmodToWorker, WorkerToSecmod> {
  const ch = new Channel<SecmodToWorker, WorkerToSecmod>(fd, { name: 'worker->sec-mod', log });
  // info, not warn: this is also what a normal shutdown looks like from here
  ch.onClose((reason) => log.info({ reason }, 'lost the channel to sec-mod; logins wait for a new one'));
  return ch;
}

const authClient: SecmodAuthClient = {
  init: async (req) => (await secmod.request<'auth.init', SecmodToWorker['auth.reply']>('auth.init', req, undefined, AUTH_STEP_TIMEOUT_MS)).body,
  cont: async (req) => (await secmod.request<'auth.cont', SecmodToWorker['auth.reply']>('auth.cont', req, undefined, AUTH_STEP_TIMEOUT_MS)).body,
};

const http = createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 60_000, headersTimeout: 30_000 });
let httpAuth: HttpAuth | undefined;

function connOf(socket: unknown): Conn | undefined {
  return (socket as { ocservConn?: Conn }).ocservConn;
}

http.on('request', (req, res) => {
  const conn = connOf(req.socket);
  if (!conn || !httpAuth || !config) { res.destroy(); return; }
  includeHeaders(res, config.tunnel?.httpHeaders);
  if (config.camouflage && !conn.camouflagePassed) {
    if (!camouflageGate(req, res, config.camouflage)) {
      log.info({ ip: conn.remoteAddr, method: req.method }, 'camouflage: no secret in the URL; answered as a plain web server');
      return;
    }
    conn.camouflagePassed = true;
  }
  if (isProfileRequest(req)) {
    const r = serveProfile(res, config.profile, conn.login.cookie, cookieValue(req, 'webvpn'));
    log.info({ ip: conn.remoteAddr, url: req.url?.slice(0, 128) }, r === 'served' ? 'user-profile sent' : 'user-profile request refused (no profile, or not this connection\'s login)');
    return;
  }
  httpAuth.handle(req, res, conn.proof, conn.cert, conn.login).catch((err: Error) => {
    const tooLarge = err instanceof BodyTooLargeError;
    log.warn({ ip: conn.remoteAddr, reason: err.message }, tooLarge ? 'request body too large; closing the connection' : 'auth request failed; closing the connection');
    if (!res.headersSent) res.writeHead(tooLarge ? 413 : 503, { Connection: 'close' }).end();
    conn.socket.destroy();
  });
});

http.on('clientError', (err: Error & { code?: string }, socket) => {
  const conn = connOf(socket);
  log.warn({ ip: conn?.remoteAddr, reason: err.message, code: err.code }, 'bad HTTP request; closing the connection');
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
  if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
});

http.on('connect', (req: IncomingMessage, socket, head: Buffer) => {
  const conn = connOf(socket);
  if (!conn) { socket.destroy(); return; }
  conn.headers = clientHeaders(req); // what occtl shows (User-Agent, Hostname)
  startTunnel(conn, req, head).catch((err: Error) => {
    log.warn({ ip: conn.remoteAddr, reason: err.message }, 'tunnel setup failed');
    conn.socket.destroy();
  });
});

function refuse(conn: Conn, status: string, why: string): void {
  log.warn({ ip: conn.remoteAddr, reason: why }, 'tunnel refused');
  // camouflage: a prober's CONNECT meets a web server that does not do CONNECT
  if (config?.camouflage && !conn.camouflagePassed) status = CAMOUFLAGED_CONNECT_STATUS;
  conn.socket.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

async function startTunnel(conn: Conn, req: IncomingMessage, head: Buffer): Promise<void> {
  if (!config) throw new Error('worker not initialised');
  if (req.url !== '/CSCOSSLC/tunnel') return refuse(conn, '404 Not Found', `CONNECT to ${req.url}`);
  const cookie = cookieValue(req, 'webvpn');
  if (!cookie) return refuse(conn, '401 Unauthorized', 'CONNECT without a webvpn cookie');
  const baseMtu = clampInt(req.headers['x-cstp-base-mtu'], 1280, 9000, 1500);
  // what the client asked of DTLS and the server offers (main may still refuse it: no-udp)
  const plan = planDtls(conn, req);
  const mtu = tunnelMtu(baseMtu, conn.socket.remoteFamily === 'IPv6', plan && dtlsOverhead(plan));
  // cisco-client-compat = false: a cookie alone does not open a certificate user's tunnel
  if (config.tunnel?.certOnEveryConnection && !conn.cert) {
    return refuse(conn, '401 Unauthorized', 'no valid client certificate on the connection that opens the tunnel (cisco-client-compat = false)');
  }
  const client = conn.headers ?? clientHeaders(req);
  const families = clientFamilies(req.headers);
  // main may be running the connect-script meanwhile
  const r = await main.request<'session.open', MainToWorker['session.opened']>('session.open', { connId: conn.id, cookie, mtu, client, ipv6: families.ipv6 }, undefined, SESSION_OPEN_TIMEOUT_MS);
  const opened = r.body;
  if (!opened.ok) {
    r.fds.forEach(closeFd);
    // openconnect prints the status line: say why (main's reason up to its details, which stay in the log)
    return refuse(conn, `401 ${statusText(opened.reason.split(/[:(]/)[0]!)}`, opened.reason);
  }
  const tunFd = r.fds[0];
  if (tunFd === undefined) throw new Error('main sent no tun fd');
  if (conn.socket.destroyed) {
    closeFd(tunFd);
    main.send('session.closed', { sessionId: opened.params.sessionId, reason: 'client left during setup', logout: false, stats: zeroStats() });
    return;
  }
  const p = opened.params;
  conn.socket.setTimeout(0);
  // net-priority, output-buffer: as ocserv, a failure is only worth a debug line
  const untuned = applySocketTuning(conn.fd, p.socket);
  if (untuned.length) log.debug({ ip: conn.remoteAddr, failed: untuned }, 'cannot tune the TCP socket');
  // no-udp (per user or group): the reply offers no DTLS at all
  const dtls = p.noUdp || !plan ? undefined : offerDtls(conn, plan, p.dtlsId);
  // compression: the answer names the method taken for each channel, after the custom headers
  const zip = negotiate(config.compression, req.headers, dtls !== undefined);
  if (zip) log.info({ user: p.username, cstp: zip.cstp?.name, dtls: zip.dtls?.name }, 'compression negotiated');
  conn.socket.write(withCustomHeaders(connectedResponse(p, config.serverName, baseMtu, dtls?.offer, families, connectExtras(config.tunnel, p, conn.socket.getProtocol())),
    [...customHeaderLines(config.customHeaders, p.username, p.groupname), ...encodingHeaders(zip)]));
  const mobile = client.mobile;
  const tunnel = new Tunnel({
    socket: conn.socket,
    head,
    fd: conn.fd,
    clientSecret: conn.clientSecret(),
    tunFd,
    params: p,
    dpdSeconds: mobile ? p.mobileDpd : p.dpd,
    switchToTcpTimeout: config.tunnel?.switchToTcpTimeout,
    mtuDiscovery: config.tunnel?.tryMtuDiscovery,
    baseMtu,
    log,
    onEnd: (end) => {
      tunnels.delete(p.sessionId);
      // main logs the session's end (reason and counters) for the administrator
      log.debug({ user: p.username, ip: conn.remoteAddr, reason: end.reason, ...end.stats }, 'tunnel closed');
      main.send('session.closed', { sessionId: p.sessionId, reason: end.reason, logout: end.logout, stats: end.stats });
    },
    onDtls: (info) => main.send('session.dtls', { sessionId: p.sessionId, cipher: info.description }),
    compression: zip && { chosen: zip, noCompressLimit: config.compression!.noCompressLimit },
  });
  tunnel.dtlsMode = dtls?.mode;
  conn.tunnel = tunnel;
  conn.sessionId = p.sessionId;
  tunnels.set(p.sessionId, tunnel);
  // main's "session opened" says this at info level, with the worker's pid
  log.debug({ user: p.username, ip: conn.remoteAddr, vpnIp: p.ipv4?.remote, vpnIp6: p.ipv6?.remote, tun: p.tunName }, 'tunnel up (CSTP)');
}

/** The DTLS the client asked for (X-DTLS-* headers) that this server can give, if any. */
function planDtls(conn: Conn, req: IncomingMessage): DtlsPlan | undefined {
  if (!config || config.udpPort === 0) return undefined;
  // match-tls-dtls-ciphers: the PSK session takes the TLS session's cipher or none
  const matchTls = config.tunnel?.matchTlsDtlsCiphers ? conn.socket.getCipher()?.standardName ?? '' : undefined;
  const plan = chooseDtls(req.headers, { psk: config.dtlsPsk, legacy: config.dtlsLegacy, matchTls });
  if (!plan && matchTls !== undefined) log.info({ ip: conn.remoteAddr, tlsCipher: matchTls }, 'no DTLS: match-tls-dtls-ciphers allows only the PSK suite of the TLS cipher, and this client or server has none; the tunnel runs over CSTP');
  return plan ?? undefined;
}

/** DTLS for this tunnel: what to announce in the reply and how the UDP handshake must then be keyed. */
function offerDtls(conn: Conn, plan: DtlsPlan, dtlsId: string): { offer: DtlsOffer; mode: DtlsMode } {
  if (!config) throw new Error('worker not initialised');
  if (plan.kind === 'psk') {
    // The PSK both ends derive from this TLS session (RFC 5705 exporter). No context at all:
    // an empty context would be a different derivation, and Node's types insist on one.
    const exporter = conn.socket.exportKeyingMaterial as (len: number, label: string, ctx?: Buffer) => Buffer;
    const psk = exporter.call(conn.socket, 32, 'EXPORTER-openconnect-psk');
    return { offer: { plan, port: config.udpPort }, mode: { kind: 'psk', psk, suites: plan.suites } };
  }
  return {
    offer: { plan, port: config.udpPort },
    mode: { kind: 'resume', sessionId: Buffer.from(dtlsId, 'hex'), masterSecret: plan.masterSecret, suite: plan.suite, version: plan.version },
  };
}

function clampInt(v: string | string[] | undefined, min: number, max: number, dflt: number): number {
  const n = Number(Array.isArray(v) ? v[0] : v);
  if (!Number.isInteger(n)) return dflt;
  return Math.min(max, Math.max(min, n));
}

/**
 * auth = "certificate": ask every client for a certificate but let the handshake finish
 * without one (or with a bad one), so the login answers with a clear message instead of
 * a TLS alert; sec-mod decides whether a certificate was needed.
 */
function tlsServerOptions(c: WorkerConfig): TLSSocketOptions {
  return c.clientCert ? { requestCert: true, rejectUnauthorized: false } : { requestCert: false };
}

/** The verdict on a client's certificate, logged once per connection. */
function clientCertOf(conn: Conn, policy: ClientCertPolicy): CertIdentity | undefined {
  try {
    const check = checkClientCert(conn.socket, policy);
    if (!check.ok) {
      log.info({ ip: conn.remoteAddr, reason: check.reason }, 'no valid client certificate');
      return undefined;
    }
    const { identity, notes } = check;
    log.info({ ip: conn.remoteAddr, user: identity.username, groups: identity.groups, ...(notes.length ? { notes } : {}) }, 'client certificate verified');
    return identity;
  } catch (err) {
    log.warn({ ip: conn.remoteAddr, reason: (err as Error).message }, 'cannot check the client certificate; treating it as absent');
    return undefined;
  }
}

main.on('worker.init', (msg) => {
  config = msg.config;
  try {
    secureContext = secureContextFor(msg.tls, keySlot.fd);
  } catch (err) {
    // without credentials this worker could only drop the clients main gives it
    log.fatal({ err: (err as Error).message }, 'cannot set up TLS; worker exits');
    process.exit(1);
  }
  // chroot-dir: main started this worker as root; it confines itself and becomes
  // run-as-user now that its code and TLS engine are loaded, before any client reaches it
  if (config.confine) {
    try {
      enterChroot(config.confine);
    } catch (err) {
      log.fatal({ err: (err as Error).message, dir: config.confine.dir }, 'cannot confine the worker to chroot-dir; worker exits');
      process.exit(1);
    }
  }
  if (config.isolateWorkers) isolateWorker();
  httpAuth = new HttpAuth(authClient, config, log);
  if (process.env.OCSERV_TS_NO_WARMUP === undefined) {
    void warmUpTls(secureContext, undefined, tlsServerOptions(config)).then(() => warmUpLogin());
  }
  log.debug({ workerId: msg.workerId }, 'worker initialised');
});

main.on('conn.new', (msg, { fds }) => {
  const fd = fds[0];
  if (fd === undefined) return;
  if (!secureContext || !config) { closeFd(fd); return; }
  const raw = new Socket({ fd, readable: true, writable: true });
  const tlsSocket = new TLSSocket(raw, { ...tlsServerOptions(config), isServer: true, secureContext });
  stapleOcsp(tlsSocket, config.ocsp);
  const conn: Conn = { id: msg.connId, fd, remoteAddr: msg.remoteAddr, proof: msg.proof, socket: tlsSocket, login: {}, camouflagePassed: false, clientSecret: keepClientSecret(tlsSocket) };
  (tlsSocket as unknown as { ocservConn: Conn }).ocservConn = conn;
  conns.set(conn.id, conn);
  // Login must finish within auth-timeout; a tunnel clears this.
  tlsSocket.setTimeout(config.authTimeout * 1000, () => {
    log.info({ ip: conn.remoteAddr }, 'connection idle before the tunnel started; closing');
    tlsSocket.destroy();
  });
  let secure = false;
  const certPolicy = config.clientCert;
  tlsSocket.once('secure', () => {
    secure = true;
    if (certPolicy) conn.cert = clientCertOf(conn, certPolicy);
  });
  tlsSocket.on('error', (err: Error & { code?: string }) => {
    // A client that resets after saying goodbye (or just vanishes) is ordinary, not a warning.
    const ordinary = err.code === 'ECONNRESET' || err.code === 'EPIPE';
    const level = ordinary ? 'debug' : 'warn';
    log[level]({ ip: conn.remoteAddr, reason: err.message }, secure ? 'connection error' : 'TLS handshake failed; closing the connection');
  });
  raw.on('error', () => {});
  tlsSocket.on('close', () => {
    conns.delete(conn.id);
    main.send('conn.closed', { connId: conn.id });
  });
  http.emit('connection', tlsSocket);
});

main.on('dtls.new', ({ sessionId, datagram }, { fds }) => {
  const fd = fds[0];
  if (fd === undefined) return;
  const tunnel = tunnels.get(sessionId);
  if (!tunnel) { closeFd(fd); return; }
  tunnel.attachDtls(fd, Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength));
});

main.on('key.attach', (_msg, { fds }) => {
  const fd = fds[0];
  if (fd !== undefined) keySlot.attach(fd);
});

main.on('secmod.attach', (_msg, { fds }) => {
  const fd = fds[0];
  if (fd === undefined) return;
  secmod.close('replaced');
  secmod = connectSecmod(fd);
  log.debug('connected to the new sec-mod');
});

main.on('session.terminate', ({ sessionId, reason }) => {
  tunnels.get(sessionId)?.terminate(reason);
});

// ---- occtl (issue 7): what only this worker knows about its sessions ----
main.on('session.info', ({ sessionIds }, ctx) => {
  const wanted = new Set(sessionIds);
  const sessions = [];
  for (const conn of conns.values()) {
    if (conn.sessionId === undefined || !wanted.has(conn.sessionId) || !conn.tunnel) continue;
    sessions.push(sessionInfo(conn.sessionId, conn.socket, conn.tunnel.counters, conn.headers));
  }
  ctx.reply('session.info.reply', { sessions: sessions.slice(0, SESSION_INFO_BATCH) });
});

process.on('SIGTERM', () => {
  for (const t of tunnels.values()) t.terminate('server shutting down');
  setTimeout(() => process.exit(0), 200).unref();
});
process.on('SIGINT', () => {}); // a terminal's Ctrl-C reaches the whole group; main decides

main.send('worker.ready', { pid: process.pid });
