/**
 * The one list of messages exchanged between ocserv-ts processes.
 *
 * Each channel has a type map (message name -> body). Messages that a worker sends are
 * described by validators, and their TypeScript types are derived from those validators,
 * so what main and sec-mod accept is exactly what they check.
 */
import { array, bool, obj, optional, record, str, uint, type Infer } from './validate';
import { peerProofShape, type PeerProof } from './peer-proof';

// ---------- shared shapes ----------

export interface Ipv4Params { local: string; remote: string; netmask: string; network: string; prefix: number }
/**
 * The client's IPv6 address and the length of its network (X-CSTP-Address-IP6: remote/prefix),
 * the server's end of the tun, and the session's ipv6-network (older clients' X-CSTP-Netmask).
 */
export interface Ipv6Params { local: string; remote: string; prefix: number; network: string }
export interface RouteParam { network: string; netmask: string; prefix: number }

/** Everything a worker needs to bring a tunnel up, decided by main and sec-mod. */
export interface SessionParams {
  sessionId: number;
  username: string;
  groupname: string;
  tunName: string;
  /** absent: no IPv4 (an IPv6-only server) */
  ipv4?: Ipv4Params;
  /** absent: no IPv6 (none configured, the client did not ask, or the MTU is below 1280) */
  ipv6?: Ipv6Params;
  /** IPv4 and IPv6 servers; the worker picks the headers by family and client */
  dns: string[];
  routes: RouteParam[];
  noRoutes: RouteParam[];
  mtu: number;
  dpd: number;
  mobileDpd: number;
  keepalive: number;
  idleTimeout: number;
  sessionTimeout: number;
  defaultDomain?: string;
  banner?: string;
  /** hex of 32 random bytes: X-DTLS-App-ID / X-DTLS-Session-ID, how main routes UDP to us */
  dtlsId: string;
  nbns?: string[];
  splitDns?: string[];
  tunnelAllDns?: boolean;
  /** no-udp: no DTLS is offered to this session */
  noUdp?: boolean;
  /** the host name the server gives the client (X-CSTP-Hostname): per-user `hostname`, else the client's own */
  hostname?: string;
  /** per-session limits the worker applies to the traffic; absent: none */
  limits?: SessionLimits;
  /** client-bypass-protocol (per user or group, else the server's); absent: the server's */
  clientBypassProtocol?: boolean;
  /** net-priority and output-buffer for the client's TCP socket, set when the tunnel starts; absent: none */
  socket?: SocketTuning;
}

/** Socket options of a client's connection (src/main/socket-tuning.ts); absent fields are left alone. */
export interface SocketTuning {
  /** SO_PRIORITY */
  priority?: number;
  /** IP_TOS (and IPV6_TCLASS on IPv6 sockets) */
  tos?: number;
  /** SO_SNDBUF in bytes, as set (the kernel doubles it) */
  sndbuf?: number;
  /** SO_RCVBUF in bytes, as set (the kernel doubles it); beyond net.core.rmem_max where the process may (SO_RCVBUFFORCE) */
  rcvbuf?: number;
}

/** What the tunnel data path enforces for one session (src/worker/packet-filter.ts, rate-limit.ts). */
export interface SessionLimits {
  /** bytes per second from the client (rx) and to it (tx); 0 or absent = no limit */
  rxPerSec?: number;
  txPerSec?: number;
  /** the client reaches only its routes (and the server's tun address); no-routes never */
  restrictToRoutes?: boolean;
  restrictToPorts?: import('../common/port-policy').PortPolicy;
}

/** The subset of the configuration a worker acts on; workers never read the config file. */
export interface WorkerConfig {
  authTimeout: number;
  cookieTimeout: number;
  keepalive: number;
  dpd: number;
  mobileDpd: number;
  banner?: string;
  /** Cap on an HTTP request body before the tunnel starts. */
  maxBodyBytes: number;
  serverName: string;
  /** 0 when DTLS is off */
  udpPort: number;
  dtlsPsk: boolean;
  dtlsLegacy: boolean;
  /** isolate-workers: a seccomp filter confines the worker to the system calls it needs */
  isolateWorkers?: boolean;
  /** switch-to-tcp-timeout, try-mtu-discovery, rekey-*, proxy-url, ... (src/worker/tunnel-options.ts); absent: ocserv's defaults */
  tunnel?: import('../worker/tunnel-options').TunnelOptions;
  /**
   * chroot-dir: the worker was started as root; once initialised it chroots to `dir` and
   * becomes uid/gid (run-as-user, run-as-group) for good (src/worker/sandbox.ts)
   */
  confine?: { dir: string; uid: number; gid: number };
  /**
   * Set when an auth or enable-auth method is 'certificate': the TLS handshake asks for a
   * client certificate, and these say where user and groups are in it (cert-user-oid,
   * cert-group-oid; the user may also be 'SAN(rfc822name)').
   */
  clientCert?: { userOid: string; groupOid?: string };
  /** camouflage: only a URL ending in `?secret` reaches the VPN; others get a web server's 401 (realm) or 404 */
  camouflage?: { secret: string; realm?: string };
  /** custom-header lines for the CONNECT answer, %{U} and %{G} not yet replaced */
  customHeaders?: string[];
  /** user-profile, read by main: announced in the login's success answer and served under /profiles/ */
  profile?: { name: string; xml: string; sha1: string };
  /** pre-login-banner: shown with the first login form */
  preLoginBanner?: string;
  /** ocsp-response, read by main: a DER OCSP response stapled when the client asks */
  ocsp?: Uint8Array;
  /** compression = true: priorities and no-compress-limit (src/worker/compression.ts); absent: off */
  compression?: import('../worker/compression').CompressionConfig;
  /** select-group-by-url: a login's first POST to /NAME asks for group NAME (src/worker/http-auth.ts) */
  selectGroupByUrl?: boolean;
}

/**
 * keys only with key-isolation = false; otherwise sec-mod signs for the worker (issue 4).
 * ca: the ca-cert file, crl: the crl file, as text (a worker may not be able to read them).
 */
export interface TlsMaterial {
  certs: string[];
  keys?: string[];
  ca?: string;
  crl?: string;
  /** with key isolation: sec-mod's index of the first key (a reload adds keys after the old ones) */
  keyBase?: number;
  /** tls-priorities translated (src/common/tls-priorities.ts); absent: the defaults */
  policy?: import('../common/tls-priorities').TlsPolicy;
  /** dh-params: PEM Diffie-Hellman parameters for the DHE suites */
  dhparam?: string;
}

const statsShape = obj({
  rxBytes: uint(), txBytes: uint(), rxPackets: uint(), txPackets: uint(),
});
export type SessionStats = Infer<typeof statsShape>;

/**
 * Why a login failed, in few words: 'credentials' a wrong password or code (the client may
 * try again), 'refused' the method ended the login (no certificate, server unreachable,
 * rejected), 'group' the user is not in the group selected.
 */
export interface AuthFailure { method: string; reason: 'credentials' | 'refused' | 'group' }
export const zeroStats = (): SessionStats => ({ rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 });

/**
 * Why a session ended, in RADIUS's terms (Acct-Terminate-Cause). 'replaced' is ours: the
 * client came back with its cookie on a new connection, so the session goes on.
 */
export type TerminateCause =
  | 'user-request' | 'lost-carrier' | 'idle-timeout' | 'session-timeout' | 'admin-reset'
  | 'admin-reboot' | 'nas-error' | 'nas-request' | 'replaced';

// ---------- worker -> main (untrusted) ----------

export const workerToMain = {
  'worker.ready': obj({ pid: uint() }),
  'conn.closed': obj({ connId: uint() }),
  'session.open': obj({
    connId: uint(),
    cookie: str(512),
    /** the tunnel's MTU (src/common/tunnel-mtu.ts) */
    mtu: obj({ link: uint(65535), cstp: uint(65535), dtlsOverhead: optional(uint(255)) }),
    /** the client asked for IPv6 (X-CSTP-Address-Type); absent: as if it had */
    ipv6: optional(bool),
    /** what the client said about itself in its CONNECT request (scripts, occtl, mobile-idle-timeout) */
    client: optional(obj({
      userAgent: str(512),
      hostname: str(256),
      deviceType: str(128),
      platform: str(128),
      mobile: bool,
    })),
  }),
  'session.dtls': obj({ sessionId: uint(), cipher: str(128) }),
  'session.closed': obj({
    sessionId: uint(),
    reason: str(256),
    logout: bool,
    stats: statsShape,
  }),
  // occtl (issue 7): what only the worker knows about its sessions, for `occtl show users`
  'session.info.reply': obj({
    sessions: array(obj({
      sessionId: uint(),
      stats: statsShape,
      userAgent: str(512),
      hostname: str(256),
      tlsCipher: str(128),
      localAddr: str(64),
    }), 100),
  }),
};
/**
 * How long a worker waits for sec-mod's answer to one login step. Backends bound their own
 * waits below it (PAM's timeout, RADIUS's servers x retries x timeout), so the client gets
 * a proper refusal rather than a dropped connection; push-style second factors need tens
 * of seconds.
 */
export const AUTH_STEP_TIMEOUT_MS = 90_000;

/** main may take this long to answer session.open: it runs the connect-script, bounded by this */
export const SCRIPT_TIMEOUT_MS = 30_000;
export const SESSION_OPEN_TIMEOUT_MS = SCRIPT_TIMEOUT_MS + 10_000;

/** main asks a worker about at most this many sessions at once, so the answer fits one message. */
export const SESSION_INFO_BATCH = 100;
export type WorkerToMain = { [K in keyof typeof workerToMain]: Infer<(typeof workerToMain)[K]> };

// ---------- main -> worker (trusted) ----------

export interface MainToWorker {
  'worker.init': { workerId: number; config: WorkerConfig; tls: TlsMaterial };
  /** fd[0] is the accepted TCP connection. */
  'conn.new': { connId: number; remoteAddr: string; remotePort: number; localAddr: string; localPort: number; proof: PeerProof };
  /** Reply to session.open; fd[0] is the tun when ok. */
  'session.opened': { ok: true; params: SessionParams } | { ok: false; reason: string };
  'session.terminate': { sessionId: number; reason: string };
  /** fd[0] is a UDP socket connected to the client; datagram is its first ClientHello. */
  'dtls.new': { sessionId: number; datagram: Uint8Array };
  /** fd[0] is a channel to a restarted sec-mod. */
  'secmod.attach': Record<string, never>;
  /** fd[0] is the key channel to sec-mod (src/ipc/key-messages.ts), for the TLS key engine. */
  'key.attach': Record<string, never>;
  /** occtl (issue 7): answered with session.info.reply for those of these sessions the worker has. */
  'session.info': { sessionIds: number[] };
}

// ---------- worker -> sec-mod (untrusted) ----------

export const workerToSecmod = {
  'auth.init': obj({
    remoteAddr: str(64),
    /** main's MAC over what it saw of this client; remoteAddr must match it */
    proof: peerProofShape,
    userAgent: str(512),
    username: optional(str(256)),
    groupname: optional(str(256)),
    /** select-group-by-url: groupname came from the URL, so the forms offer no group list */
    groupFromUrl: optional(bool),
    /** what the worker's TLS handshake verified of a client certificate (auth = "certificate") */
    cert: optional(obj({ username: optional(str(256)), groups: array(str(256), 32) })),
    /**
     * The client's answers to a first form the worker served itself (a `shared` one): the
     * login begins and takes them in one step.
     */
    answers: optional(record(str(1024), 8)),
  }),
  'auth.cont': obj({
    authId: str(128),
    /**
     * main's proof for the connection this step arrived on: a login goes on only from the
     * address it began from, so a worker cannot take over another client's login by its id.
     * sec-mod refuses a step without one (optional here only for in-process callers).
     */
    proof: optional(peerProofShape),
    answers: record(str(1024), 8),
  }),
};
export type WorkerToSecmod = { [K in keyof typeof workerToSecmod]: Infer<(typeof workerToSecmod)[K]> };

export interface AuthPrompt {
  name: string;
  label: string;
  type: 'text' | 'password' | 'select';
  /** choices of a 'select' (group selection): value sent back, label shown */
  options?: { value: string; label: string }[];
}

// ---------- sec-mod -> worker (trusted) ----------

export interface SecmodToWorker {
  'auth.reply':
    /**
     * shared: this first form is what every client that names no user, group or certificate
     * is shown; the worker may serve it to such clients' first request itself, as ocserv's
     * workers do, and send their answers with auth.init (src/worker/first-form.ts).
     */
    | { status: 'continue'; authId: string; message: string; prompts: AuthPrompt[]; error?: string; shared?: boolean }
    | { status: 'ok'; cookie: string; username: string; message?: string }
    | { status: 'fail'; message: string };
}

// ---------- main <-> sec-mod (both trusted) ----------

export interface MainToSecmod {
  /** fd[0] is sec-mod's end of a new worker's channel. */
  'worker.attach': { workerId: number };
  /** fd[0] is sec-mod's end of a worker's key channel (src/ipc/key-messages.ts). */
  'key.attach': { workerId: number };
  /** The key of the peer proofs main gives workers (src/ipc/peer-proof.ts). */
  'peer.key': { key: Uint8Array };
  'session.open': { cookie: string; remoteAddr: string };
  /** A tunnel of the session is up (sent for each reconnection too). */
  'session.started': { cookie: string; ipv4?: string; ipv6?: { address: string; prefix: number }; tunName: string; remoteAddr: string; userAgent: string };
  /** The counters of a live tunnel, every stats-report-time (for accounting); they count from this tunnel's start. */
  'session.stats': { cookie: string; stats: SessionStats };
  /**
   * A tunnel ended; `stats` are that tunnel's totals. logout: the cookie is spent (the client
   * logged out, an administrator or a timeout ended it); otherwise the client may come back.
   */
  'session.closed': { cookie: string; logout: boolean; stats: SessionStats; reason: string; cause: TerminateCause };
  // occtl (issue 7)
  /** A page of sessions and logins in progress; answered with ctl.sessions.reply. */
  'ctl.sessions': { offset: number; limit: number };
  /** Invalidates the cookies of a session id (occtl terminate session); answered with ctl.drop.reply. */
  'ctl.drop': { sid: string };
  /** Re-read the configuration file; answered with config.reload.reply. */
  'config.reload': Record<string, never>;
}

export interface SecmodToMain {
  'secmod.ready': { pid: number };
  'session.open.reply':
    | {
      ok: true; username: string; groupname: string; sid: string; cookieTimeout: number;
      attrs: import('../secmod/auth/backend').SessionAttributes;
      /** when the user logged in (session-timeout counts from it, across reconnections) */
      loginAt: number;
      /** the tunnel address the session had last time, to give it back on reconnection */
      lastIpv4?: string;
      /** the IPv6 address and length of the session's last tunnel, which a reconnecting client must get again */
      lastIpv6?: { address: string; prefix: number };
      /** the user's and group's settings files, merged (empty without config-per-user/-group) */
      config?: import('../common/session-config').SessionConfig;
    }
    | { ok: false; reason: string };
  // occtl (issue 7)
  /** `why` (metrics): the method that refused and a coarse class, never free text (it becomes a label) */
  'auth.failed': { remoteAddr: string; username: string; why?: AuthFailure };
  'auth.succeeded': { remoteAddr: string; username: string; ms: number };
  'ctl.sessions.reply': { total: number; sessions: import('./control').SecmodSessionInfo[] };
  'ctl.drop.reply': { dropped: number };
  /** keyBase: where sec-mod now keeps the server keys (see TlsMaterial) */
  'config.reload.reply': { ok: boolean; message?: string; keyBase?: number };
}
