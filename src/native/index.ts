/**
 * Typed loader for the ocserv_native addon (binding.gyp, src/native/*.cc).
 *
 * Only system calls Node lacks live here; protocol logic stays in TypeScript.
 *
 * fd ownership, in short:
 * - Every fd these functions return is O_NONBLOCK and O_CLOEXEC and belongs to
 *   the caller until handed to a PacketIO (closeOnDestroy true, the default),
 *   `new net.Socket({ fd })`, or closeFd().
 * - Never closeFd() an fd a live PacketIO/FdWatcher watches: libuv still has it
 *   registered and a reused fd number would confuse (or abort) the loop. Call
 *   the object's close() instead.
 * - write(buf, fds) never takes the fds: the caller may close its copies as
 *   soon as write() returns (queued messages hold their own dups).
 * - fds received in onPackets belong to the receiver, which must close them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

const ADDON_REL = path.join('build', 'Release', 'ocserv_native.node');

/**
 * Walk up from this file's directory: it is src/native when run by ts tools
 * and dist/src/native after tsc, and the addon sits in <repo>/build/Release.
 */
function findAddon(): string {
  const override = process.env.OCSERV_NATIVE_ADDON;
  if (override) return override;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, ADDON_REL);
    if (fs.existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(
    `ocserv_native addon not found above ${__dirname} (looked for ${ADDON_REL}); ` +
      'build it with `npx node-gyp rebuild` (offline: add --nodedir=/usr)',
  );
}

/** System-call failure, shaped like Node's own (errno is negative as in node:fs). */
export interface NativeError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
}

export interface TunDevice {
  fd: number;
  name: string;
}

export interface TunConfig {
  address: string;
  peer: string;
  /** default 255.255.255.255 */
  netmask?: string;
  mtu: number;
}

export interface TunConfig6 {
  address: string;
  prefix: number;
  /** set before the address (IPv6 needs at least 1280); absent: left as it is */
  mtu?: number;
  /** a route to this network (routePrefix long, default 128) through the tun, metric 1 */
  route?: string;
  routePrefix?: number;
}

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

export interface PacketIOOptions {
  /**
   * 'read': read(2)/write(2), one packet per call (tun).
   * 'msg': recvmsg/sendmsg on a SOCK_SEQPACKET or SOCK_DGRAM socket
   * (recvmmsg/sendmmsg when fds is false), SCM_RIGHTS when fds is true.
   */
  mode: 'read' | 'msg';
  /** Largest packet accepted (1 .. 16 MiB); longer ones are dropped and counted in drops. */
  maxPacket: number;
  /** At most this many packets read per readable event (1 .. 1024); one onPackets call per event. */
  batch: number;
  /** Zeroed bytes reserved before each packet in the slab (0 .. 4096), default 0. */
  headroom?: number;
  /** msg mode: receive fds (MSG_CMSG_CLOEXEC), up to 8 per message. */
  fds?: boolean;
  /** close(fd) in close() and when the object is garbage collected unclosed; default true. */
  closeOnDestroy?: boolean;
  /** Also report each oversized packet to onError as EMSGSIZE (it is always dropped and counted). */
  strictSize?: boolean;
  /**
   * Hand onPackets the read buffer itself instead of a new slab per read: slab and lengths
   * are valid during the call only (the next read overwrites them), and slab is longer than
   * its packets. For data paths, where a slab per read at tunnel rates keeps V8's garbage
   * collector busy. Not with fds.
   */
  lend?: boolean;
  /**
   * UDP sockets: a batch's runs of equal-sized datagrams (the last of a run may be shorter)
   * go out as one send with UDP_SEGMENT, which the kernel splits into the same datagrams:
   * the stack is crossed once per run instead of once per datagram. Default true; off by
   * itself for good after the kernel refuses it (no segmentation on the route).
   */
  gso?: boolean;
}

/**
 * slab holds all packets of one readable event back to back: packet i starts
 * at headroom + sum_{j<i}(headroom + lengths[j]) and is lengths[i] long; the
 * headroom bytes are zero. fds[i] are the fds that came with message i (null
 * when none); the whole fds argument is null when opts.fds is false.
 */
/** lengths[i] is the size of packet i, which follows the one before it (and headroom) in slab. */
export type OnPackets = (slab: Buffer, lengths: Uint32Array, fds: (number[] | null)[] | null) => void;

export interface PacketIOCallbacks {
  onPackets: OnPackets;
  /**
   * read/write errors other than EAGAIN/EINTR/ENOBUFS. Reading goes on after
   * transient errors (ECONNREFUSED from an ICMP error on connected UDP) and
   * stops after EBADF/EINVAL/ENOTSOCK/... . A SEQPACKET peer that exits with
   * unread messages is not an error: its last messages, then onClose, arrive.
   * Errors of write()/writeMany() are reported synchronously, inside that call.
   * Without onError, errors are only visible as drops in stats().
   */
  onError?: (err: NativeError) => void;
  /** Peer closed (0-byte recvmsg on SEQPACKET, EOF/EIO/EBADFD on tun): called once, reading stops. */
  onClose?: () => void;
  /** The write queue became empty again after write()/writeMany() queued something. */
  onDrain?: () => void;
}

export interface PacketIOStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** oversized packets read, writes dropped on EAGAIN/ENOBUFS (tun) or failed */
  drops: number;
  /** of txPackets, those sent in segmented runs (opts.gso) */
  segmented: number;
  /** of txPackets, those written to a tun within coalesced TCP packets (a tun opened with vnetHdr) */
  coalesced: number;
  /** GSO packets read from a tun opened with offload and cut into segments (counted in rxPackets) */
  split: number;
}

export interface PacketIO {
  /** Watch the fd for readability on the libuv loop (uv_poll_t). Idempotent; a no-op after onClose. */
  start(): void;
  /** Stop reading; queued writes still drain. */
  pause(): void;
  /**
   * Send one packet (plus up to 8 fds in msg mode). Returns 1 if sent now;
   * 0 if queued because the socket would block (msg mode: data copied, fds
   * dup'ed, sent in order later, onDrain when the queue empties); -1 if
   * dropped (tun EAGAIN/ENOBUFS, an error reported to onError, or closed).
   */
  write(buf: Uint8Array, fds?: number[]): number;
  /**
   * Send each Buffer as its own packet (sendmmsg in msg mode). Same queueing
   * rules as write(); returns how many were written or queued.
   */
  writeMany(bufs: Uint8Array[]): number;
  /**
   * writeMany() for packets back to back in one buffer: packet i is lengths[i] bytes long
   * and follows packet i-1; count packets in all. Queued packets are copied, so slab may be
   * reused once this returns.
   */
  writeSlab(slab: Buffer, lengths: Uint32Array, count: number): number;
  /** Stop polling, drop the queue (closing queued dup fds), close the fd if closeOnDestroy. Idempotent, safe inside callbacks. */
  close(): void;
  /** Stop this object from keeping the event loop alive (like socket.unref()). */
  unref(): this;
  ref(): this;
  readonly queuedBytes: number;
  readonly fd: number;
  readonly closed: boolean;
  stats(): PacketIOStats;
}

export interface PacketIOConstructor {
  new (fd: number, opts: PacketIOOptions, cb: PacketIOCallbacks): PacketIO;
  readonly prototype: PacketIO;
}

/**
 * Readiness events for an fd PacketIO cannot read (a listening socket).
 * err is set (and watching stopped) when the fd reports POLLERR.
 */
export type FdWatcherCallback = (err: NativeError | null, readable: boolean, writable: boolean) => void;

export interface FdWatcher {
  /** Watch for the given events (replaces the previous set). */
  start(readable: boolean, writable?: boolean): void;
  stop(): void;
  /** Stop watching for good. Does NOT close the fd. Idempotent. */
  close(): void;
  unref(): this;
  ref(): this;
}

export interface FdWatcherConstructor {
  new (fd: number, onEvent: FdWatcherCallback): FdWatcher;
  readonly prototype: FdWatcher;
}

/**
 * DTLS record AEAD with the key schedule kept between records (one object per direction
 * and epoch). seal() returns all records back to back, each `13 + overhead + prefix +
 * packet` bytes, overhead being 24 for GCM (explicit nonce and tag) and 16 for ChaCha20.
 * open() decrypts in place and returns the plaintext length (the plaintext starts after
 * the explicit nonce, at 8 for GCM, 0 for ChaCha20), or -1 if the record is not authentic.
 */
export interface Aead {
  seal(type: number, version: number, epoch: number, firstSeq: number, prefix: Buffer, packets: Buffer[]): Buffer;
  /**
   * seal() into the caller's buffer: packet i is src[spans[2i], spans[2i] + spans[2i+1]);
   * the records go back to back into out, record i's length into outLengths[i]. Returns the
   * bytes written; a RangeError when out is too small or a span lies outside src.
   */
  sealSpans(type: number, version: number, epoch: number, firstSeq: number, prefix: Buffer,
    src: Buffer, spans: Uint32Array, count: number, out: Buffer, outLengths: Uint32Array): number;
  open(type: number, version: number, epoch: number, seq: number, fragment: Buffer): number;
}
/** See src/native/cstp_reader.cc. */
export interface CstpReaderCallbacks {
  /** count frames of one readable event: see slab, lengths and types */
  onFrames(count: number): void;
  /** the client's KeyUpdate: the key and iv of its next traffic secret */
  onKeyUpdate(): [Buffer, Buffer];
  /** reading stopped for good: 'eof', 'close_notify' (error false), or what went wrong */
  onEnd(reason: string, error: boolean): void;
}

export interface CstpReader {
  /** frame i's payload follows frame i-1's; lent: valid during onFrames only */
  readonly slab: Buffer;
  readonly lengths: Uint32Array;
  /** CSTP packet types */
  readonly types: Uint8Array;
  start(): void;
  /** stops reading and closes the fd; idempotent, safe inside callbacks */
  close(): void;
}

export interface CstpReaderConstructor {
  /** fd becomes the reader's; window: sequence numbers tried for the first record */
  new (fd: number, alg: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305', key: Buffer, iv: Buffer, cb: CstpReaderCallbacks, window?: number): CstpReader;
}

export interface AeadConstructor {
  new (alg: 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305', key: Buffer, iv: Buffer): Aead;
}

/**
 * A private key held in native memory (sec-mod only). sign() performs the operation the
 * worker's key engine forwards: 'ecdsa' signs a digest (DER signature), 'pkcs1' signs a
 * DigestInfo with EMSA-PKCS1-v1_5 padding, 'none' is the raw RSA private operation on a
 * modulus-sized block. The constructor reads a PEM key; the caller wipes its buffer.
 */
export interface KeySigner {
  readonly type: 'ec' | 'rsa';
  readonly bits: number;
  /** longest signature in bytes */
  readonly size: number;
  sign(data: Buffer, padding: 'ecdsa' | 'pkcs1' | 'none'): Buffer;
  /** DER SubjectPublicKeyInfo */
  publicKey(): Buffer;
  /** frees the key now rather than at garbage collection */
  destroy(): void;
}
export interface KeySignerConstructor {
  new (pem: Buffer): KeySigner;
}

/** What kind of socket an inherited fd is (socket activation). */
export interface SocketInfo {
  type: 'stream' | 'dgram' | 'seqpacket' | 'other';
  family: 'inet' | 'inet6' | 'unix' | 'other';
  /** a stream socket in listen() state (SO_ACCEPTCONN) */
  listening: boolean;
  /** inet and inet6: the bound address ('' otherwise) and port (0 otherwise) */
  address: string;
  port: number;
}

interface NativeAddon {
  Aead: AeadConstructor;
  CstpReader: CstpReaderConstructor;
  KeySigner: KeySignerConstructor;
  cryptAsync(key: string, setting: string): Promise<string | null>;
  hmac(hash: string, key: Buffer, data: Buffer): Buffer;
  tlsPHash(hash: string, secret: Buffer, seed: Buffer, length: number): Buffer;
  closeFdAsync(fd: number): Promise<void>;
  tcpAccept(listenFd: number, max: number): AcceptedTcp[];
  tcpCoalesce(packets: Uint8Array[]): CoalescedTunWrite[];
  tunSegment(vnet: Buffer, packet: Buffer, maxSegment: number): Buffer[] | null;
  tunFinishChecksum(vnet: Buffer, packet: Buffer): Buffer | null;
  moveFd(from: number, to: number): void;
  capsLimit(keep: number[]): void;
  noNewPrivs(): void;
  seccompWorker(): void;
  tunOpen(name: string, opts: TunOpenOptions): TunDevice;
  tunConfigure(name: string, opts: TunConfig): void;
  tunConfigure6(name: string, opts: TunConfig6): void;
  seqpacketPair(): [number, number];
  seqpacketListen(path: string, backlog: number, mode?: number): number;
  seqpacketConnect(path: string): number;
  seqpacketAccept(fd: number): number;
  peerCred(fd: number): PeerCred;
  udpConnected(localHost: string, localPort: number, peerHost: string, peerPort: number, netns?: number): number;
  netnsOpen(path: string): number;
  netnsListen(handle: number, host: string, port: number, kind: 'tcp' | 'udp', backlog: number): number;
  netnsSocket(handle: number, family: 4 | 6, type: 'stream' | 'dgram'): number;
  netnsClose(handle: number): void;
  setSockoptInt(fd: number, name: SockoptName, value: number): void;
  getSockoptInt(fd: number, name: SockoptName): number;
  icmpEchoOpen(address: string): number;
  icmpEchoSend(fd: number, id: number, seq: number): void;
  icmpEchoReplied(fd: number, id: number): boolean;
  chrootTo(dir: string): void;
  becomeUser(uid: number, gid: number): void;
  sdNotify(path: string, state: string): void;
  socketInfo(fd: number): SocketInfo;
  closeFd(fd: number): void;
  dupFd(fd: number): number;
  setCloexec(fd: number, on: boolean): void;
  setNonblock(fd: number, on: boolean): void;
  PacketIO: PacketIOConstructor;
  FdWatcher: FdWatcherConstructor;
}

/** Absolute path of the loaded addon (for diagnostics). */
export const addonPath: string = findAddon();

// eslint-disable-next-line @typescript-eslint/no-var-requires
const native: NativeAddon = require(addonPath) as NativeAddon;

/**
 * crypt(3) of the system (libxcrypt) on the libuv threadpool: the hash of `key` under
 * `setting` (a stored hash or its salt part), or null when crypt refuses the setting.
 */
export function cryptAsync(key: string, setting: string): Promise<string | null> {
  return native.cryptAsync(key, setting);
}

/** HMAC-`hash` of `data` under `key`, in one native call (src/native/hmac.cc says why). */
export function hmac(hash: 'sha256' | 'sha384' | 'sha1' | 'md5', key: Buffer, data: Buffer): Buffer {
  return native.hmac(hash, key, data);
}

/**
 * TLS's P_hash (RFC 5246 section 5) with HMAC-`hash`: `length` bytes (1 to 1024) of
 * HMAC(secret, A(1) | seed) | HMAC(secret, A(2) | seed) | ..., A(i) = HMAC(secret, A(i-1)), A(0) = seed.
 */
export function tlsPHash(hash: 'sha256' | 'sha384' | 'sha1' | 'md5', secret: Buffer, seed: Buffer, length: number): Buffer {
  return native.tlsPHash(hash, secret, seed, length);
}

/**
 * Open a tun device (IFF_TUN | IFF_NO_PI), fd O_NONBLOCK|O_CLOEXEC. A name
 * with no trailing digit (e.g. "vpns") gets "%d" appended so the kernel picks
 * vpns0, vpns1, ... The device is not persistent: closing the last fd removes it.
 * vnetHdr (IFF_VNET_HDR): each packet read or written has a virtio-net header before it;
 * a PacketIO on such a tun sees that itself, strips it from what it reads, and writes runs
 * of one TCP flow's segments as single packets. offload (needs vnetHdr): TSO and checksum
 * offload, so that the kernel hands over a TCP sender's data in packets of up to 64 kB,
 * which the PacketIO cuts into segments, finishing checksums (src/native/tun_offload.h).
 */
export function tunOpen(name: string, opts: TunOpenOptions = {}): TunDevice {
  return native.tunOpen(name, opts);
}

export interface TunOpenOptions {
  vnetHdr?: boolean;
  offload?: boolean;
}

/** One write PacketIO makes to a tun opened with vnetHdr: the virtio-net header, the packet, how many it carries. */
export interface CoalescedTunWrite {
  vnet: Buffer;
  packet: Buffer;
  packets: number;
}

/** For tests: the writes PacketIO would make for these packets to a tun opened with vnetHdr. */
export function tcpCoalesce(packets: Uint8Array[]): CoalescedTunWrite[] {
  return native.tcpCoalesce(packets);
}

/** For tests: the segments PacketIO cuts a GSO packet read from a tun opened with offload into (null: one it drops). */
export function tunSegment(vnet: Buffer, packet: Buffer, maxSegment: number): Buffer[] | null {
  return native.tunSegment(vnet, packet, maxSegment);
}

/** For tests: a packet read with a partial checksum (VIRTIO_NET_HDR_F_NEEDS_CSUM), as PacketIO finishes it (null: refused). */
export function tunFinishChecksum(vnet: Buffer, packet: Buffer): Buffer | null {
  return native.tunFinishChecksum(vnet, packet);
}

/**
 * Configure IPv4 of a tun with ioctl (no `ip` process): address,
 * point-to-point peer, netmask (default 255.255.255.255), MTU, then
 * IFF_UP|IFF_RUNNING. Throws a NativeError with the errno text on failure.
 */
export function tunConfigure(name: string, opts: TunConfig): void {
  native.tunConfigure(name, opts);
}

/**
 * IPv6 of a tun with ioctl (no `ip` process): the MTU if given, the address/prefix
 * (SIOCSIFADDR on AF_INET6), up, then the route if given (SIOCADDRT with in6_rtmsg).
 */
export function tunConfigure6(name: string, opts: TunConfig6): void {
  native.tunConfigure6(name, opts);
}

/** AF_UNIX SOCK_SEQPACKET socketpair, both ends SOCK_CLOEXEC and O_NONBLOCK. */
export function seqpacketPair(): [number, number] {
  return native.seqpacketPair();
}

/**
 * Listening AF_UNIX SOCK_SEQPACKET socket bound to path (a stale socket file
 * is unlinked first; any other file there makes bind fail). With mode, the
 * socket file is chmod'ed before listen(), so it is never connectable with
 * wider permissions. Watch it with FdWatcher and call seqpacketAccept.
 */
export function seqpacketListen(path: string, backlog: number, mode?: number): number {
  return native.seqpacketListen(path, backlog, mode);
}

/** Connect to a listening SEQPACKET socket; throws EAGAIN when its backlog is full. */
export function seqpacketConnect(path: string): number {
  return native.seqpacketConnect(path);
}

/** accept4 on a listening seqpacket socket: the new fd, or -1 when there is nothing to accept. */
export function seqpacketAccept(fd: number): number {
  return native.seqpacketAccept(fd);
}

/** Peer credentials via SO_PEERCRED. */
export function peerCred(fd: number): PeerCred {
  return native.peerCred(fd);
}

/**
 * UDP socket bound to (localHost, localPort) with SO_REUSEADDR and
 * SO_REUSEPORT and connect()ed to (peerHost, peerPort); IPv4 or IPv6 by
 * localHost (a v4 peer on a v6 local address is v4-mapped, "%iface" scope
 * ids work). Non-blocking, CLOEXEC. Datagrams from other peers that arrive
 * while it is being set up are discarded, so everything read from it comes
 * from the peer. Coexists with a listen socket on the same port that has
 * SO_REUSEADDR (node:dgram reuseAddr) or SO_REUSEPORT.
 */
export function udpConnected(localHost: string, localPort: number, peerHost: string, peerPort: number, netns?: number): number {
  return native.udpConnected(localHost, localPort, peerHost, peerPort, netns);
}

/**
 * listen-netns (src/native/netns.cc): a handle for the network namespace at `path`
 * (/var/run/netns/NAME). A thread of its own enters the namespace once and makes every
 * socket asked of it afterwards, so this must be called while the process may still setns
 * (CAP_SYS_ADMIN); later calls with the handle need no capability. Throws ENOENT for a
 * missing path, EINVAL (setns) for a file that is no network namespace.
 */
export function netnsOpen(path: string): number {
  return native.netnsOpen(path);
}

/**
 * A socket of the namespace bound to host:port with SO_REUSEADDR, listening (backlog)
 * when kind is 'tcp'. '::' also takes IPv4; another IPv6 address only IPv6. Bound from the
 * calling thread, so a port below 1024 needs CAP_NET_BIND_SERVICE here.
 */
export function netnsListen(handle: number, host: string, port: number, kind: 'tcp' | 'udp', backlog = 1024): number {
  return native.netnsListen(handle, host, port, kind, backlog);
}

/** A bare socket (O_NONBLOCK, O_CLOEXEC) of the namespace. */
export function netnsSocket(handle: number, family: 4 | 6, type: 'stream' | 'dgram'): number {
  return native.netnsSocket(handle, family, type);
}

/** Ends the namespace's thread; sockets it made live on. */
export function netnsClose(handle: number): void {
  native.netnsClose(handle);
}

/** SO_PRIORITY, SO_SNDBUF, SO_RCVBUF(FORCE), IP_TOS, IPV6_TCLASS */
export type SockoptName = 'priority' | 'sndbuf' | 'rcvbuf' | 'rcvbufforce' | 'tos' | 'tclass' | 'nodelay' | 'nocheck';

/** setsockopt with an int value; throws a NativeError (setsockopt) on failure. */
export function setSockoptInt(fd: number, name: SockoptName, value: number): void {
  native.setSockoptInt(fd, name, value);
}

/** getsockopt of an int option, as the kernel keeps it (SO_SNDBUF is twice what was set). */
export function getSockoptInt(fd: number, name: SockoptName): number {
  return native.getSockoptInt(fd, name);
}

/**
 * ping-leases (src/native/icmp_echo.cc): a raw ICMP (ICMPv6) socket connected to `address`
 * that lets only echo replies through; needs CAP_NET_RAW. Watch it with FdWatcher.
 */
export function icmpEchoOpen(address: string): number {
  return native.icmpEchoOpen(address);
}

/** Sends one echo request (56 bytes of payload, as ping) with this id and sequence number. */
export function icmpEchoSend(fd: number, id: number, seq: number): void {
  native.icmpEchoSend(fd, id, seq);
}

/** Reads every reply queued on the socket: true if one is an echo reply with this id. */
export function icmpEchoReplied(fd: number, id: number): boolean {
  return native.icmpEchoReplied(fd, id);
}

/** chroot-dir: chdir(dir), chroot(dir), chdir("/") for the whole process (CAP_SYS_CHROOT). */
export function chrootTo(dir: string): void {
  native.chrootTo(dir);
}

/**
 * setgroups([gid]), setresgid and setresuid to uid and gid for every thread: from root,
 * this ends all capabilities for good.
 */
export function becomeUser(uid: number, gid: number): void {
  native.becomeUser(uid, gid);
}

/** close(2); throws EBADF for an fd that is not open. */
export function closeFd(fd: number): void {
  native.closeFd(fd);
}

/** A connection tcpAccept took off a listening socket: its fd (O_NONBLOCK, O_CLOEXEC, TCP_NODELAY) and addresses. */
export interface AcceptedTcp {
  fd: number;
  /** an IPv4-mapped IPv6 address in its IPv4 form */
  remoteAddr: string;
  remotePort: number;
  localAddr: string;
  localPort: number;
}

/**
 * Up to `max` connections waiting on a non-blocking listening TCP socket ([] when none).
 * Throws the errno error (EMFILE, ...) only when it could take none.
 */
export function tcpAccept(listenFd: number, max = 64): AcceptedTcp[] {
  return native.tcpAccept(listenFd, max);
}

/**
 * close(2) on the libuv threadpool. For a tun device's last fd: closing it unregisters the
 * interface, which sleeps through RCU grace periods (10-30 ms measured here) that main's or
 * a shared worker's event loop should not wait out. Rejects with the errno error.
 */
export function closeFdAsync(fd: number): Promise<void> {
  return native.closeFdAsync(fd);
}

/** F_DUPFD_CLOEXEC (the result is >= 3). */
export function dupFd(fd: number): number {
  return native.dupFd(fd);
}

export function setCloexec(fd: number, on: boolean): void {
  native.setCloexec(fd, on);
}

export function setNonblock(fd: number, on: boolean): void {
  native.setNonblock(fd, on);
}

/**
 * Whole-datagram I/O on one fd, driven by the libuv loop. While it is
 * started or has queued writes the loop keeps it alive; otherwise it may be
 * garbage collected (closing its fd if closeOnDestroy) — but callbacks that
 * close over it keep it alive until close(), so always call close().
 */
export const PacketIO: PacketIOConstructor = native.PacketIO;

/** See the Aead interface. */
export const Aead: AeadConstructor = native.Aead;

/** See the CstpReader interface. */
export const CstpReader: CstpReaderConstructor = native.CstpReader;

/** See FdWatcher interface. */
export const FdWatcher: FdWatcherConstructor = native.FdWatcher;

/** See the KeySigner interface. */
export const KeySigner: KeySignerConstructor = native.KeySigner;

/** dup3(from, to, O_CLOEXEC), then close(from): `to` now refers to what `from` did. */
export function moveFd(from: number, to: number): void {
  native.moveFd(from, to);
}

/**
 * Keeps only these capabilities (numbers as in linux/capability.h) in the bounding,
 * permitted and effective sets; inheritable and ambient become empty. Every thread of the
 * process (libuv's threadpool, V8's, worker_threads) is lowered, not just the caller:
 * capabilities are per thread (src/native/caps_all_threads.cc). Children and threads
 * started afterwards, even as root, can hold no others. Throws, naming the thread, if one
 * could not be lowered.
 */
export function capsLimit(keep: number[]): void {
  native.capsLimit(keep);
}

/** prctl(PR_SET_NO_NEW_PRIVS): nothing this process executes can gain privileges. */
export function noNewPrivs(): void {
  native.noNewPrivs();
}

/**
 * Confines every thread of this process to a worker's system calls (src/native/seccomp.cc);
 * others fail with EPERM. Irreversible; implies no_new_privs.
 */
export function seccompWorker(): void {
  native.seccompWorker();
}

/**
 * Sends `state` (e.g. "READY=1\nSTATUS=...") as one datagram to systemd's NOTIFY_SOCKET,
 * as sd_notify(3) does: an absolute path, or @name for an abstract socket.
 */
export function sdNotify(path: string, state: string): void {
  native.sdNotify(path, state);
}

/** SO_TYPE, SO_ACCEPTCONN and the address family of a socket fd; throws ENOTSOCK for others. */
export function socketInfo(fd: number): SocketInfo {
  return native.socketInfo(fd);
}
