import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import type { Config, Route } from '../common/config';
import type { SocketTuning } from '../ipc/messages';
import { resolveSession, type EffectiveSession } from '../common/session-config';
import type { Logger } from '../common/log';
import { zeroStats, type SecmodToMain, type SessionLimits, type SessionParams, type SessionStats, type TerminateCause, type TlsMaterial, type WorkerConfig } from '../ipc/messages';
import { SessionTimers } from './session-timers';
import { Scripts, type ScriptSession } from './scripts';
import { causeFromWorker, terminateSession } from './terminate';
import { tunCounters } from './tun-stats';
import { askWorker, sessionTraffic } from './session-counters';
import { closeFd, closeFdAsync, seqpacketPair, tunOpen, type AcceptedTcp, type TunDevice } from '../native';
import { readProxyHeader } from './proxy-reader';
import { clientFacing, tlsSettings } from './client-facing';
import { listenAddresses } from './listen-addresses';
import { Ipv4Pool } from './leases';
import { LeasePools } from './pools';
import { Ipv6Leases } from './leases6';
import { Addresses } from './addresses';
import { Iroutes, knownIroutes } from './iroutes';
import type { RunAs } from './privileges';
import { SecmodProcess } from './secmod-proc';
import { BOOKKEEPING_DELAY_MS, SessionTable, type MainSession } from './sessions';
import { DeferredCall } from '../common/deferred-call';
import { UdpHandover } from './udp-handover';
import { AcceptPacer } from './accept-pacer';
import { tcpListen, type TcpListener } from './tcp-listener';
import { WorkerPool, type WorkerProc } from './workers';
import { Admin } from './admin';
import { provePeer } from '../ipc/peer-proof';
import { checkServerKeys } from './key-check';
import { linkKeys } from './key-links';
import { dropCapabilities } from './least-privilege';
import { ListenNamespace } from './listen-netns';
import { answersPing, unansweredLease } from './lease-ping';
import { checkChrootDir } from './privileges';
import { tunMtu as tunMtuFor, type TunnelMtu } from '../common/tunnel-mtu';
import { DTLS_RCVBUF, applySocketTuning, linkMtu, tcpTuning, udpTuning } from '../common/socket-tuning';
import type { InheritedSockets } from './systemd';
import { startOperations, type Operations } from './operations';
import { Cluster } from './cluster/cluster';
import { LOCAL_CLAIMS, type LeaseClaims } from './cluster/lease-claims';
import { leaseClaimed, v6Key } from './cluster/claim-addresses';
import { banSettingsOf } from './bans';

export interface MainServerOptions {
  config: Config;
  log: Logger;
  runAs: RunAs;
  workerScript: string;
  secmodScript: string;
  childEnv: NodeJS.ProcessEnv;
  /** sockets systemd passed (socket activation, src/main/systemd.ts): used instead of binding */
  listenFds?: InheritedSockets;
  /** the number of tunnels changed (systemd's Status: line) */
  onSessionCount?(n: number): void;
}

interface ConnInfo { workerId: number; remoteAddr: string; localAddr: string }
/** the two ends of a client connection, as main tells the worker */
interface Peer { remoteAddr: string; remotePort: number; localAddr: string; localPort: number }

/**
 * Runs bind for every host; a failure is reported and skipped. Resolves with the hosts bound,
 * rejects with the first error when none could be.
 */
async function bindAll(hosts: (string | undefined)[], bind: (h: string | undefined) => Promise<void>, skipped: (h: string | undefined, err: Error) => void): Promise<(string | undefined)[]> {
  const up: (string | undefined)[] = [];
  let first: Error | undefined;
  for (const h of hosts) {
    try {
      await bind(h);
      up.push(h);
    } catch (err) {
      first ??= err as Error;
      if (hosts.length > 1) skipped(h, err as Error);
    }
  }
  if (!up.length) throw first ?? new Error('nothing to listen on');
  return up;
}

/** connections whose PROXY header is still awaited; more are dropped, as a full backlog would */
const MAX_PROXY_PENDING = 1024;

const VERSION = 'ocserv-ts 0.1.0';
/** how long an accounting report waits for the worker's counters before going with the kernel's */
const INTERIM_ANSWER_MS = 1000;
/** ends that leave nothing to come back to: the cookie goes too (and accounting sends its Stop) */
const SPENDING_CAUSES = new Set<TerminateCause>(['admin-reset', 'admin-reboot', 'idle-timeout', 'session-timeout']);
const scriptSettings = (c: Config) => ({ connect: c.connectScript, disconnect: c.disconnectScript, hostUpdate: c.hostUpdateScript });
/** a worker that did not say (older message): nothing known about the client */
const NO_CLIENT_INFO: MainSession['client'] = { userAgent: '', hostname: '', deviceType: '', platform: '', mobile: false };

const exposedIroutes = (c: Config, log: Logger): Route[] => (c.exposeIroutes ? knownIroutes(c.configPerUser, log) : []);

/** The limits the worker enforces, only when the session has any. */
function sessionLimits(e: EffectiveSession): SessionLimits | undefined {
  if (!e.rxDataPerSec && !e.txDataPerSec && !e.restrictToRoutes && !e.restrictToPorts) return undefined;
  return { rxPerSec: e.rxDataPerSec, txPerSec: e.txDataPerSec, restrictToRoutes: e.restrictToRoutes, restrictToPorts: e.restrictToPorts };
}

/** main: accepts clients, owns leases and tun devices, and supervises sec-mod and workers. */
export class MainServer {
  private readonly log: Logger;
  private readonly config: Config;
  private readonly sessions = new SessionTable();
  private readonly conns = new Map<number, ConnInfo>();
  private readonly pool?: Ipv4Pool;
  /** ipv4-network's pool and those of per-user/group files */
  private readonly pools: LeasePools;
  /** IPv4 and IPv6 leases of sessions, and their tun addresses */
  private readonly addresses: Addresses;
  private readonly iroutes: Iroutes;
  /** expose-iroutes: every user's iroutes, read with the configuration */
  private exposedIroutes: Route[] = [];
  private readonly secmod: SecmodProcess;
  private workers!: WorkerPool;
  private readonly tcps: TcpListener[] = [];
  private readonly udps: UdpSocket[] = [];
  private readonly udpHandovers: UdpHandover[] = [];
  /** rate-limit-ms between accepted connections */
  private pacer?: AcceptPacer;
  /** listen-proxy-proto: connections still sending their header, and their fds */
  private readonly proxyPending = new Map<() => void, number>();
  private nextConnId = 1;
  /** MAC key of what main tells sec-mod, through workers, about clients (src/ipc/peer-proof.ts) */
  private readonly peerKey = randomBytes(32);
  /** fixed at start: a reload cannot move keys into or out of running workers */
  private readonly keyIsolation: boolean;
  private readonly timers: SessionTimers;
  private readonly scripts: Scripts;
  /** session-store: the servers this one shares sessions, addresses and bans with */
  private cluster?: Cluster;
  private claims: LeaseClaims = LOCAL_CLAIMS;
  /** net-priority, output-buffer: what each session's UDP socket is set to when main makes it */
  private readonly udpTunings = new WeakMap<MainSession, SocketTuning>();
  /** ping-leases: does some host answer on this address? */
  private readonly probe = (ip: string) => answersPing(ip, undefined, (err) =>
    this.log.error({ ip, err: err.message }, 'ping-leases: cannot ping the address; leasing it anyway'));

  constructor(private readonly o: MainServerOptions) {
    this.log = o.log;
    this.config = o.config;
    this.keyIsolation = o.config.keyIsolation;
    if (o.config.ipv4) this.pool = new Ipv4Pool(o.config.ipv4.network, o.config.ipv4.prefix, o.config.predictableIps);
    this.pools = new LeasePools(this.pool, o.config.predictableIps);
    this.addresses = new Addresses(this.pools, new Ipv6Leases(o.config.predictableIps), o.log);
    this.iroutes = new Iroutes(o.log, () => ({ add: this.config.routeAddCmd, del: this.config.routeDelCmd }));
    this.exposedIroutes = exposedIroutes(o.config, o.log);
    this.secmod = new SecmodProcess(o.secmodScript, o.config.file, o.log, () => this.reattachWorkers(), o.childEnv);
    // every sec-mod, restarted ones too, learns the key of the peer proofs first
    this.secmod.onChannel((ch) => ch.send('peer.key', { key: this.peerKey }));
    this.scripts = new Scripts(scriptSettings(o.config), o.log);
    this.timers = new SessionTimers({
      log: o.log,
      sessions: this.sessions,
      terminate: (s, reason, cause) => this.terminate(s, reason, cause),
      report: (s, kernel) => void this.interimCounters(s, kernel).then((stats) => {
        // an answer that comes after the session ended would follow its Stop
        if (this.sessions.get(s.sessionId) === s) this.secmod.channel?.send('session.stats', { cookie: s.cookie, stats });
      }),
    });
  }

  async start(): Promise<void> {
    const c = this.config;
    // as ocserv: either family will do (IPv6-only serves clients with ipv6-network alone)
    if (!c.ipv4 && !c.ipv6) throw new Error(`${c.file}: no ipv4-network or ipv6-network configured; clients need addresses`);
    checkServerKeys(c, this.o.runAs, this.log);
    if (c.chrootDir) checkChrootDir(c.chrootDir);
    // before any process starts: a namespace that is not there stops the server at once
    if (c.listenNetns && !this.o.listenFds) this.listenNs = ListenNamespace.open(c.listenNetns);
    // Key isolation (issue 4): workers get the certificates only; sec-mod reads the keys.
    this.tlsExtras = tlsSettings(c, this.log);
    const tls = this.tlsMaterial(c, 0);
    this.tlsInUse = JSON.stringify(tls);
    if (c.sessionStore) {
      this.cluster = await Cluster.start(c.sessionStore, this.log);
      this.claims = this.cluster.claims;
      // the session's tunnel moved to another server: this one's gives way
      this.cluster.bus.on('replace', ({ sid, from }) => {
        for (const s of [...this.sessions.all()]) {
          if (s.sid === sid) {
            this.log.info({ user: s.username, sid, server: from }, 'the session reconnected through another server of the cluster');
            this.replaceSession(s);
          }
        }
      });
    }
    await this.secmod.start();
    const workerConfig: WorkerConfig = {
      authTimeout: c.authTimeout,
      cookieTimeout: c.cookieTimeout,
      keepalive: c.keepalive,
      dpd: c.dpd,
      mobileDpd: c.mobileDpd,
      banner: c.banner,
      maxBodyBytes: 64 * 1024,
      serverName: VERSION,
      // socket activation: the UDP socket systemd passed is what clients are told to use
      udpPort: this.o.listenFds ? (this.o.listenFds.udp[0]?.port ?? 0) : c.udpPort,
      dtlsPsk: c.dtlsPsk,
      dtlsLegacy: c.dtlsLegacy,
      tunnel: c.tunnel,
      isolateWorkers: c.isolateWorkers,
      // chroot-dir: only root can chroot, so workers start as root and become run-as-user themselves
      confine: c.chrootDir ? { dir: c.chrootDir, uid: this.o.runAs.uid, gid: this.o.runAs.gid } : undefined,
      clientCert: [...c.auth, ...c.enableAuth].some((m) => m.type === 'certificate')
        ? { userOid: c.certUserOid, groupOid: c.certGroupOid }
        : undefined,
      ...clientFacing(c, this.log),
    };
    this.workers = new WorkerPool({
      script: this.o.workerScript,
      runAs: c.chrootDir ? { ...this.o.runAs, uid: 0, gid: 0 } : this.o.runAs,
      clientsPerWorker: c.clientsPerWorker,
      // one process per client: two spares hide process start-up. Shared: two workers per
      // core, which the clients are spread over. A worker serves its tunnels one after the
      // other; with more workers than cores the kernel interleaves them, as it does ocserv's
      // processes: 20 busy tunnels on 2 cores carried 15-25% more than with a worker per core
      // (docs/BENCHMARKS.md), for a worker's memory more at start.
      idle: c.clientsPerWorker === 1 ? 2 : sharedWorkers(availableParallelism()),
      log: this.log,
      init: { config: workerConfig, tls },
      env: this.o.childEnv,
      attachToSecmod: (workerId, fd) => this.secmod.channel?.send('worker.attach', { workerId }, [fd]),
      setup: (w) => this.setupWorker(w),
      onExit: (w, why) => this.workerGone(w, why),
      memoryLimitMiB: () => this.config.workerMemoryLimit,
      sessionsOf: (w) => this.sessions.ofWorker(w.id).length,
    });
    this.workers.start();
    this.startAdmin();
    this.cluster?.shareBans(this.admin!.bans, () => banSettingsOf(this.config));
    this.timers.start();
    await this.listen();
    this.ops = await startOperations({
      config: c, log: this.log, sessions: this.sessions, workers: () => this.workers, secmod: this.secmod, admin: this.admin!, version: VERSION,
    });
    const count = () => this.o.onSessionCount?.(this.sessions.size);
    this.sessions.listen({ added: count, removed: count });
    dropCapabilities(this.log, c);
  }

  /** Key isolation (issue 4): workers get the certificates only; sec-mod reads the keys. */
  private tlsMaterial(c: Config, keyBase: number | undefined): TlsMaterial {
    return {
      certs: c.serverCert.map((f) => readFileSync(f, 'utf8')),
      keys: this.keyIsolation ? undefined : c.serverKey.map((f) => readFileSync(f, 'utf8')),
      ca: c.caCert ? readFileSync(c.caCert, 'utf8') : undefined,
      crl: c.crl ? readFileSync(c.crl, 'utf8') : undefined,
      keyBase: this.keyIsolation ? keyBase : undefined,
      ...this.tlsExtras,
    };
  }

  private tlsInUse?: string;
  /** tls-priorities and dh-params, fixed at start (src/main/client-facing.ts) */
  private tlsExtras: Pick<TlsMaterial, 'policy' | 'dhparam'> = {};
  private keyBase = 0;

  /** A reload: new workers get the certificates as the files hold them now, if they changed. */
  private renewTls(c: Config, keyBase: number | undefined): void {
    const tls = this.tlsMaterial(c, keyBase);
    const id = JSON.stringify(tls);
    if (id === this.tlsInUse) return;
    this.tlsInUse = id;
    this.keyBase = keyBase ?? 0;
    this.workers.renewTls(tls);
    this.log.info({ certs: c.serverCert }, 'certificates reloaded; new connections use them');
  }

  /**
   * The TCP and UDP sockets. A listen-host (udp-listen-host) name is resolved now and each of
   * its addresses gets a socket; one that cannot be bound is skipped with an error, as in
   * ocserv, but at least one of each kind must work.
   */
  private async listen(): Promise<void> {
    const c = this.config;
    this.pacer = new AcceptPacer(() => this.config.rateLimitMs, (s) => this.accept(s), this.log);
    if (this.o.listenFds) return this.adopt(this.o.listenFds);
    // listen-netns: the sockets are made in that namespace and then served as inherited ones
    const ns = this.listenNs;
    const tcpHosts = await listenAddresses(c.listenHost, 'listen-host') ?? [undefined];
    const tcpUp = await bindAll(tcpHosts, (host) => this.listenTcp(host, ns?.tcp(host, c.tcpPort)), (host, err) =>
      this.log.error({ host, port: c.tcpPort, err: err.message }, 'cannot listen on this address; skipped'));
    let udpUp: (string | undefined)[] = [];
    if (c.udpPort !== 0) {
      const udpHosts = await listenAddresses(c.udpListenHost ?? c.listenHost, c.udpListenHost ? 'udp-listen-host' : 'listen-host') ?? [undefined];
      udpUp = await bindAll(udpHosts, (host) => this.listenUdp(host, ns && { fd: ns.udp(host, c.udpPort), port: c.udpPort }), (host, err) =>
        this.log.error({ host, port: c.udpPort, err: err.message }, 'cannot bind UDP on this address; skipped'));
    }
    const shown = (hosts: (string | undefined)[]) => hosts.map((h) => h ?? '*').join(', ');
    this.log.info({ tcp: c.tcpPort, udp: c.udpPort, host: shown(tcpUp), ...(c.udpPort ? { udpHost: shown(udpUp) } : {}), ...(ns ? { netns: ns.name } : {}) }, 'listening');
  }

  /**
   * Socket activation: systemd's sockets (ocserv-ts.socket) instead of listen-host, tcp-port
   * and udp-port. A UDP socket passed in serves DTLS even if udp-port is 0.
   */
  private async adopt(fds: InheritedSockets): Promise<void> {
    if (this.config.listenNetns) this.log.warn({ netns: this.config.listenNetns }, 'listen-netns is ignored: the sockets systemd passed are used as they are');
    for (const s of fds.tcp) await this.listenTcp(s.address, s.fd);
    for (const s of fds.udp) await this.listenUdp(s.address, s);
    const shown = (l: InheritedSockets['tcp']) => l.map((s) => `${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port}`).join(', ');
    this.log.info({ tcp: shown(fds.tcp), udp: shown(fds.udp) || 'none (no DTLS)', from: 'systemd' }, 'listening on the sockets systemd passed');
  }

  /** listen-netns: the namespace the client-facing sockets are made in */
  private listenNs?: ListenNamespace;

  /** `fd`: a listening socket systemd passed (or made in listen-netns), taken instead of binding */
  private async listenTcp(host: string | undefined, fd?: number): Promise<void> {
    const opts = fd !== undefined ? { fd } : { port: this.config.tcpPort, host, backlog: 1024 };
    this.tcps.push(await tcpListen(opts, (c) => this.pacer!.accept(c), this.log));
  }

  /** `inherited`: a UDP socket systemd passed (or made in listen-netns), taken instead of binding */
  private listenUdp(host: string | undefined, inherited?: { fd: number; port: number }): Promise<void> {
    const port = inherited?.port ?? this.config.udpPort;
    const udp = createSocket({ type: host?.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
    const handover = new UdpHandover({
      localHost: host ?? '0.0.0.0',
      port,
      log: this.log,
      netns: inherited ? this.listenNs?.handle : undefined,
      find: (dtlsId) => {
        const s = this.sessions.byDtls(dtlsId);
        const w = s && this.workers.get(s.workerId);
        if (!s || !w) return undefined;
        return (fd, datagram) => {
          const untuned = applySocketTuning(fd, this.udpTunings.get(s));
          if (untuned.length) this.log.debug({ ip: s.remoteAddr, failed: untuned }, 'cannot tune the UDP socket');
          w.channel.send('dtls.new', { sessionId: s.sessionId, datagram }, [fd]);
          closeFd(fd);
        };
      },
    });
    udp.on('message', (msg, rinfo) => handover.onDatagram(msg, rinfo));
    return new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(inherited ? { fd: inherited.fd } : { port, address: host }, () => {
        udp.off('error', reject);
        udp.on('error', (err) => this.log.error({ err: err.message }, 'UDP listener error'));
        this.udps.push(udp);
        this.udpHandovers.push(handover);
        resolve();
      });
    });
  }

  /** a client's connection, just accepted: main's fd is closed once a worker has its own */
  private accept(c: AcceptedTcp): void {
    const peer: Peer = { remoteAddr: c.remoteAddr, remotePort: c.remotePort, localAddr: c.localAddr, localPort: c.localPort };
    if (this.config.listenProxyProto) { this.acceptProxied(c.fd, peer); return; }
    if (!this.admin?.refuse(peer.remoteAddr)) this.handOver(c.fd, peer);
    closeFd(c.fd);
  }

  /** gives the connection on `fd` (which stays the caller's to close) to a worker */
  private handOver(fd: number, peer: Peer, via?: string): void {
    const connId = this.nextConnId++;
    const { remoteAddr, localAddr } = peer;
    try {
      const w = this.workers.assign(fd, { connId, ...peer, proof: provePeer(this.peerKey, { connId, remoteAddr, cert: 'none' }) });
      this.conns.set(connId, { workerId: w.id, remoteAddr, localAddr });
      this.log.debug({ ip: remoteAddr, ...(via ? { proxy: via } : {}), connId, worker: w.id }, 'connection handed to worker');
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'cannot hand the connection to a worker');
    }
  }

  /**
   * listen-proxy-proto: the peer is a proxy; the client's address comes in the PROXY header,
   * read here (src/main/proxy-reader.ts) so bans, logs, sec-mod and scripts all see the
   * client. A connection without a valid header is closed.
   */
  private acceptProxied(own: number, proxy: Peer): void {
    if (this.proxyPending.size >= MAX_PROXY_PENDING) {
      this.log.warn({ proxy: proxy.remoteAddr, waiting: this.proxyPending.size }, 'too many connections waiting for their PROXY header; dropping one');
      closeFd(own);
      return;
    }
    const cancel = readProxyHeader(own, (r) => {
      this.proxyPending.delete(cancel);
      try {
        if ('error' in r) {
          this.log.warn({ proxy: proxy.remoteAddr, reason: r.error }, 'bad or missing PROXY protocol header; closing the connection');
          return;
        }
        const h = r.header;
        const peer = h.command === 'proxy' && h.source && h.destination
          ? { remoteAddr: h.source.address, remotePort: h.source.port, localAddr: h.destination.address, localPort: h.destination.port }
          : proxy;
        if (this.admin?.refuse(peer.remoteAddr)) return;
        this.handOver(own, peer, proxy.remoteAddr);
      } finally {
        closeFd(own);
      }
    });
    this.proxyPending.set(cancel, own);
  }

  private setupWorker(w: WorkerProc): void {
    if (this.keyIsolation) linkKeys(this.secmod, w);
    w.channel.on('worker.ready', ({ pid }) => this.log.debug({ worker: w.id, pid }, 'worker ready'));
    w.channel.on('conn.closed', ({ connId }) => {
      if (this.conns.get(connId)?.workerId !== w.id) return;
      this.conns.delete(connId);
      this.workers.connClosed(w, connId);
    });
    w.channel.on('session.open', async ({ connId, cookie, mtu, client, ipv6 }, ctx) => {
      const conn = this.conns.get(connId);
      if (!conn || conn.workerId !== w.id) {
        ctx.reply('session.opened', { ok: false, reason: 'unknown connection' });
        return;
      }
      const r = await this.openSession(w, connId, conn, cookie, mtu, client ?? NO_CLIENT_INFO, ipv6 !== false);
      if ('reason' in r) ctx.reply('session.opened', { ok: false, reason: r.reason });
      else ctx.reply('session.opened', { ok: true, params: r.params }, [r.fd]);
    });
    w.channel.on('session.dtls', ({ sessionId, cipher }) => {
      const s = this.sessions.get(sessionId);
      if (!s || s.workerId !== w.id) return;
      s.dtlsCipher = cipher;
      this.log.info({ user: s.username, ip: s.remoteAddr, sid: s.sid, cipher }, 'DTLS established');
    });
    w.channel.on('session.closed', ({ sessionId, reason, logout, stats }) => {
      const s = this.sessions.get(sessionId);
      if (!s || s.workerId !== w.id) return;
      this.endSession(s, reason, logout, stats);
    });
  }

  private async openSession(w: WorkerProc, connId: number, conn: ConnInfo, cookie: string, mtu: TunnelMtu, client: MainSession['client'], wantsIpv6: boolean):
    Promise<{ reason: string } | { params: SessionParams; fd: number }> {
    const channel = this.secmod.channel;
    if (!channel) return { reason: 'sec-mod unavailable' };
    const asked = channel.request<'session.open', SecmodToMain['session.open.reply']>('session.open', { cookie, remoteAddr: conn.remoteAddr });
    // Creating a tun device is the slowest step of main's part (a new network device in the
    // kernel): done while sec-mod checks the cookie, it is off the client's wait. Unless a
    // session opens on it (a refused cookie, any failure), it is closed, so it vanishes.
    const tun = tunOrError(this.config.device);
    if (!(tun instanceof Error)) this.addresses.prepareTun(tun.name);
    let opened = false;
    try {
      const r = await this.openSessionOn(tun, asked, w, connId, conn, cookie, mtu, client, wantsIpv6);
      opened = !('reason' in r);
      return r;
    } finally {
      if (!opened && !(tun instanceof Error)) this.closeTun(tun.fd);
    }
  }

  /** The session on `tun`, which openSession closes unless this opens it. */
  private async openSessionOn(tun: TunDevice | Error, asked: Promise<{ body: SecmodToMain['session.open.reply'] }>, w: WorkerProc, connId: number, conn: ConnInfo,
    cookie: string, mtu: TunnelMtu, client: MainSession['client'], wantsIpv6: boolean): Promise<{ reason: string } | { params: SessionParams; fd: number }> {
    const remoteAddr = conn.remoteAddr;
    const c = this.config;
    const channel = this.secmod.channel!;
    let reply: SecmodToMain['session.open.reply'];
    try {
      reply = (await asked).body;
    } catch (err) {
      return { reason: `sec-mod: ${(err as Error).message}` };
    }
    if (!reply.ok) return { reason: reply.reason };
    const release = (reason: string) => {
      channel.send('session.closed', { cookie, logout: false, reason, stats: zeroStats(), cause: 'nas-error' });
      return { reason };
    };
    // The client is back with its cookie (its old connection broke): the old tunnel gives
    // way and its address goes to the new one.
    const previous = [...this.sessions.all()].find((s) => s.cookie === cookie);
    if (previous) this.replaceSession(previous);
    if (c.maxClients > 0 && this.sessions.size >= c.maxClients) return release(`max-clients (${c.maxClients}) reached`);
    const attrs = reply.attrs ?? {};
    // the server's settings, the user's and group's files, then the auth backend's (src/common/session-config.ts)
    const eff = resolveSession(c, reply.config ?? {}, attrs, { mobile: client.mobile, exposedIroutes: c.exposeIroutes ? this.exposedIroutes : undefined });
    if ('error' in eff) return release(`per-user/group settings: ${eff.error}`);
    const tunMtu = tunMtuFor(mtu, eff.mtu, eff.noUdp);
    const addrs = this.addresses;
    const again6 = previous?.lease6 ? { address: previous.lease6.remote, prefix: previous.lease6.prefix } : reply.lastIpv6;
    const again4 = previous?.lease?.remote ?? reply.lastIpv4;
    let got;
    try {
      got = await leaseClaimed(addrs, this.claims, eff, { username: reply.username, again: { v4: again4, v6: again6 }, wantsIpv6, mtu: tunMtu }, reply.sid);
    } catch (err) {
      return release((err as Error).message);
    }
    if ('reason' in got) return release(got.reason);
    const claimed = got;
    const unclaim = () => {
      if (claimed.v4) this.claims.release(claimed.v4.remote, reply.sid);
      if (claimed.v6) this.claims.release(v6Key(claimed.v6), reply.sid);
    };
    // ping-leases: an address of the pool (not one given, nor the client's last) must not answer a ping
    const pool = c.pingLeases && got.v4 && !eff.explicitIpv4 && got.v4.remote !== again4 ? this.pools.of(got.v4) : undefined;
    if (pool && got.v4) {
      const v4 = await unansweredLease(got.v4, { next: () => pool.allocate(reply.username), release: (l) => pool.release(l.remote) }, reply.username, this.probe, this.log);
      if (!v4) {
        addrs.release({ v6: got.v6 });
        unclaim();
        return release(`no free IP address in ${pool.network}/${pool.prefix}: the addresses tried answer pings (ping-leases)`);
      }
      if (v4.remote !== got.v4.remote) {
        this.claims.release(got.v4.remote, reply.sid);
        const claim = await this.claims.claim(v4.remote, reply.sid).catch(() => ({ ok: false }));
        if (!claim.ok) {
          addrs.release({ v4, v6: got.v6 });
          unclaim();
          return release(`the address ${v4.remote} is held by another server of the cluster`);
        }
      }
      got.v4 = v4;
    }
    if (eff.hostname) client = { ...client, hostname: eff.hostname };
    try {
      if (tun instanceof Error) throw tun;
      addrs.configureTun(tun.name, got, tunMtu, reply.username);
    } catch (err) {
      addrs.release(got);
      unclaim();
      this.log.error({ err: (err as Error).message }, 'cannot create the tun device');
      return release('cannot create tun device');
    }
    const { routes, noRoutes, dns } = eff;
    const lease = got.v4;
    const lease6 = got.v6;
    const script: ScriptSession = {
      id: 0, username: reply.username, groupname: reply.groupname, device: tun.name, remoteAddr, localAddr: conn.localAddr,
      ipLocal: lease?.local ?? '', ipRemote: lease?.remote ?? '', ipv6: lease6, userAgent: client.userAgent, hostname: client.hostname,
      deviceType: client.deviceType, platform: client.platform, routes, noRoutes, dns,
    };
    const session: MainSession = {
      sessionId: this.sessions.newId(),
      workerId: w.id,
      connId,
      cookie,
      sid: reply.sid,
      username: reply.username,
      groupname: reply.groupname,
      remoteAddr,
      lease,
      lease6,
      tunName: tun.name,
      tunFd: tun.fd,
      startedAt: Date.now(),
      dtlsId: randomBytes(32).toString('hex'),
      client,
      loginAt: reply.loginAt,
      idleTimeout: eff.idleTimeout,
      sessionTimeout: eff.sessionTimeout,
      lastActivity: Date.now(),
      lastRxPackets: 0,
      lastReport: Date.now(),
      reportEvery: eff.statsReportTime,
      script,
      settings: eff,
    };
    script.id = session.sessionId;
    const verdict = await this.scripts.connect(script);
    if (!verdict.ok) {
      addrs.release(got);
      unclaim();
      return release(`connect-script refused the session (${verdict.reason})`);
    }
    // as ocserv: after the connect-script, and a failure refuses the session
    const added = await this.iroutes.add(tun.name, eff.iroutes, reply.username);
    if (!added.ok) {
      this.scripts.disconnect(script, zeroStats(), 0);
      addrs.release(got);
      unclaim();
      return release(added.reason);
    }
    this.sessions.add(session);
    // the session's older tunnel on another server (its client came back through this one) ends
    if (this.cluster) this.cluster.bus.publish({ type: 'replace', sid: session.sid });
    // net-priority and output-buffer of the client's sockets (the worker sets the TCP one's),
    // and the UDP socket's receive buffer
    const link = linkMtu(eff.mtu, mtu.link);
    this.udpTunings.set(session, { ...udpTuning(eff.netPriority, c.outputBuffer, link), rcvbuf: DTLS_RCVBUF });
    if (client.hostname) this.scripts.hostUpdate(script);
    const ipv6 = lease6 && { address: lease6.remote, prefix: lease6.prefix };
    // after the worker's reply, the client's DTLS handshake and its tun set-up (BOOKKEEPING_DELAY_MS); a
    // session that ends sooner is announced first (endSession)
    session.announcement = new DeferredCall(BOOKKEEPING_DELAY_MS);
    session.announcement.schedule(() => {
      channel.send('session.started', { cookie, ipv4: lease?.remote, ipv6, tunName: tun.name, remoteAddr, userAgent: client.userAgent });
      this.log.info({ user: session.username, ip: remoteAddr, vpnIp: lease?.remote, vpnIp6: ipv6 && `${ipv6.address}/${ipv6.prefix}`, tun: tun.name, workerPid: w.proc.pid, sid: session.sid }, 'session opened');
    });
    return {
      fd: tun.fd,
      params: {
        sessionId: session.sessionId,
        username: session.username,
        groupname: session.groupname,
        tunName: tun.name,
        ipv4: lease,
        ipv6: lease6 && { ...lease6, network: eff.ipv6Net?.network ?? lease6.remote },
        dns,
        routes,
        noRoutes,
        mtu: tunMtu,
        dpd: eff.dpd,
        mobileDpd: eff.mobileDpd,
        keepalive: eff.keepalive,
        idleTimeout: session.idleTimeout,
        sessionTimeout: session.sessionTimeout,
        defaultDomain: c.defaultDomain,
        banner: c.banner,
        dtlsId: session.dtlsId,
        nbns: eff.nbns,
        splitDns: eff.splitDns,
        tunnelAllDns: eff.tunnelAllDns,
        clientBypassProtocol: eff.clientBypassProtocol,
        noUdp: eff.noUdp,
        hostname: client.hostname || undefined,
        limits: sessionLimits(eff),
        socket: tcpTuning(eff.netPriority, c.outputBuffer, link),
      },
    };
  }

  /** An accounting report's counters: the worker asked for its count, held to the kernel's. */
  private async interimCounters(s: MainSession, kernel: SessionStats): Promise<SessionStats> {
    const w = this.workers?.get(s.workerId);
    const info = w ? await askWorker(w, [s.sessionId], INTERIM_ANSWER_MS) : [];
    return sessionTraffic(kernel, info.find((i) => i.sessionId === s.sessionId)?.stats);
  }

  /**
   * A tunnel is over. Its traffic is the worker's count held to the kernel's counters of its
   * tun, read before the device goes (src/main/session-counters.ts); the worker's figures
   * alone if the device is already gone.
   */
  private endSession(s: MainSession, reason: string, logout: boolean, workerStats: SessionStats): void {
    s.announcement?.flush();
    const stats = sessionTraffic(tunCounters(s.tunName), workerStats);
    const cause = s.endCause ?? causeFromWorker(reason, logout);
    // main's own decisions (administrator, timeouts) spend the cookie; a replaced tunnel never does
    const spent = cause === 'replaced' ? false : logout || SPENDING_CAUSES.has(cause);
    this.sessions.remove(s.sessionId, { reason, stats });
    this.scripts.disconnect(s.script, stats, Math.round((Date.now() - s.startedAt) / 1000));
    // queued before the tun goes: a reconnecting client's routes then move to its new tun in order
    this.iroutes.remove(s.tunName, s.settings?.iroutes ?? [], s.username);
    this.closeTun(s.tunFd);
    this.addresses.release({ v4: s.lease, v6: s.lease6 });
    if (s.lease) this.claims.release(s.lease.remote, s.sid);
    if (s.lease6) this.claims.release(v6Key(s.lease6), s.sid);
    this.secmod.channel?.send('session.closed', { cookie: s.cookie, logout: spent, reason, stats, cause });
    this.log.info({ user: s.username, ip: s.remoteAddr, sid: s.sid, vpnIp: s.lease?.remote, vpnIp6: s.lease6?.remote, reason, cause, ...stats }, 'session ended');
  }

  /**
   * Off the event loop: the last close of a tun removes the device, which sleeps 10-30 ms in
   * the kernel. The device leaves the interface list (its routes with it) within a few ms of
   * the start; its address may be leased again at once, as before.
   */
  private closeTun(fd: number): void {
    closeFdAsync(fd).catch((err: Error) => this.log.warn({ reason: err.message }, 'cannot close a tun device'));
  }

  /** The same cookie opened a new tunnel: end the old one at once, keeping the session. */
  private replaceSession(old: MainSession): void {
    old.endCause = 'replaced';
    this.workers.get(old.workerId)?.channel.send('session.terminate', { sessionId: old.sessionId, reason: 'reconnected on a new connection' });
    this.endSession(old, 'reconnected on a new connection', false, zeroStats());
  }

  private terminate(s: MainSession, reason: string, cause: TerminateCause): void {
    terminateSession({ log: this.log, sessions: this.sessions, workers: () => this.workers }, s, reason, cause);
  }

  private workerGone(w: WorkerProc, why: string): void {
    const lost = this.sessions.ofWorker(w.id);
    // a worker ends by SIGTERM (retired, shutdown) or exits 0; anything else is a crash
    const crashed = !w.replaced && why !== 'killed by SIGTERM' && why !== 'exit code 0';
    if (lost.length || crashed) this.log[crashed ? 'error' : 'info']({ worker: w.id, workerPid: w.proc.pid, ...(crashed ? { crash: true } : {}), why, sessions: lost.length }, 'worker exited');
    for (const s of lost) {
      s.endCause ??= 'nas-error';
      this.endSession(s, `worker exited (${why})`, false, zeroStats());
    }
    for (const [id, c] of this.conns) if (c.workerId === w.id) this.conns.delete(id);
  }

  /** A restarted sec-mod knows no worker: give each live worker a fresh channel to it. */
  private reattachWorkers(): void {
    for (const w of this.workers?.all() ?? []) {
      const [secmodEnd, workerEnd] = seqpacketPair();
      this.secmod.channel?.send('worker.attach', { workerId: w.id }, [secmodEnd]);
      if (this.keyIsolation) linkKeys(this.secmod, w);
      w.channel.send('secmod.attach', {}, [workerEnd]);
      closeFd(secmodEnd);
      closeFd(workerEnd);
    }
    this.log.warn('sec-mod restarted; logins in progress were lost, tunnels are unaffected');
    // a new sec-mod numbers its keys from 0: workers that ask for a reloaded key's later
    // number make way (they keep their tunnels, take no new handshakes)
    if (this.keyIsolation && this.keyBase !== 0) {
      try {
        this.renewTls(this.config, 0);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'cannot renew the workers\' certificates after the sec-mod restart');
      }
    }
  }

  async stop(): Promise<void> {
    const serving = this.tcps.some((t) => t.listening);
    for (const t of this.tcps) t.close();
    this.pacer?.stop();
    for (const [cancel, fd] of this.proxyPending) { cancel(); closeFd(fd); }
    this.proxyPending.clear();
    for (const u of this.udps) u.close();
    // server-drain-ms, as ocserv: new connections are refused at once, so a load balancer's
    // health check fails and it sends clients elsewhere, while the tunnels in place go on
    // for this long
    const drainMs = this.config.serverDrainMs;
    if (serving && drainMs > 0) {
      this.log.info({ ms: drainMs }, 'stopped accepting connections; draining before shutdown (server-drain-ms)');
      await new Promise((r) => setTimeout(r, drainMs));
    }
    this.admin?.stop();
    this.ops?.stop();
    this.secmod.expectExit();
    this.timers.stop();
    for (const s of [...this.sessions.all()]) this.terminate(s, 'server shutting down', 'admin-reboot');
    await new Promise((r) => setTimeout(r, 300));
    this.workers?.stop();
    for (const s of [...this.sessions.all()]) this.endSession(s, 'server shut down', false, zeroStats());
    this.secmod.stop();
    await this.cluster?.stop();
  }

  // ---------- occtl control socket, bans and reload (issue 7) ----------
  private admin?: Admin;
  /** metrics-listen and status-listen (src/main/operations.ts) */
  private ops?: Operations;

  private startAdmin(): void {
    this.admin = new Admin({
      log: this.log,
      config: () => this.config,
      // reload swaps the configuration new sessions are opened with
      setConfig: (c) => {
        (this as unknown as { config: Config }).config = c;
        this.scripts.configure(scriptSettings(c));
        this.exposedIroutes = exposedIroutes(c, this.log);
      },
      sessions: this.sessions,
      workers: () => this.workers,
      secmod: this.secmod,
      cluster: () => this.cluster,
      checkTls: (c) => {
        checkServerKeys(c, this.o.runAs, this.log);
        this.tlsMaterial(c, 0);
      },
      renewTls: (c, keyBase) => this.renewTls(c, keyBase),
    });
    this.admin.start();
  }
}

/**
 * A new tun device, or why there is none (reported once the session needs it). With a
 * virtio-net header and offloads, so that the worker writes a client's TCP segments to it
 * coalesced and reads what goes to the client in packets of up to 64 kB that it cuts itself.
 */
function tunOrError(name: string): TunDevice | Error {
  try {
    return tunOpen(name, { vnetHdr: true, offload: true });
  } catch (err) {
    return err as Error;
  }
}

/** How many shared workers (clients-per-worker > 1) are kept ready: two per core, 4 to 8. */
function sharedWorkers(cores: number): number {
  return Math.min(8, Math.max(4, 2 * cores));
}
