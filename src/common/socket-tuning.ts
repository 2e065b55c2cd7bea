/**
 * net-priority and output-buffer, with ocserv's meaning, for the two sockets of a tunnel:
 * the client's TCP connection (set by the worker when the tunnel starts) and its UDP (DTLS)
 * socket (set by main before handing it over).
 *
 * output-buffer counts packets of the link MTU. As ocserv: the link MTU is the configured
 * `mtu` (else a new tun's 1500), at most what the client said its link carries; the TCP
 * send buffer holds output-buffer such packets, the UDP one as much but never over 2048
 * bytes (ocserv's cap, which the kernel then raises to its minimum).
 */
import type { SocketTuning } from '../ipc/messages';
import type { NetPriority } from './net-priority';
import { setSockoptInt, socketInfo } from '../native';

/** the MTU of a fresh tun device, ocserv's link MTU when `mtu` is not set */
export const DEFAULT_LINK_MTU = 1500;
/** ocserv's cap of the UDP send buffer from output-buffer */
export const UDP_SNDBUF_CAP = 2048;
const INT_MAX = 0x7fffffff;

/** The link MTU as ocserv sizes output-buffer with it. */
export function linkMtu(configuredMtu: number | undefined, clientLinkMtu: number): number {
  return Math.min(configuredMtu || DEFAULT_LINK_MTU, clientLinkMtu);
}

function tuning(priority: NetPriority | undefined, sndbuf: number | undefined): SocketTuning | undefined {
  const t: SocketTuning = { ...priority };
  if (sndbuf !== undefined) t.sndbuf = sndbuf;
  return Object.keys(t).length ? t : undefined;
}

/** The client's TCP socket: output-buffer packets of the link MTU, and net-priority. */
export function tcpTuning(priority: NetPriority | undefined, outputBuffer: number, mtu: number): SocketTuning | undefined {
  return tuning(priority, outputBuffer > 0 ? Math.min(INT_MAX, mtu * outputBuffer) : undefined);
}

/** The client's UDP socket: as TCP, with the send buffer capped at 2048 bytes. */
export function udpTuning(priority: NetPriority | undefined, outputBuffer: number, mtu: number): SocketTuning | undefined {
  return tuning(priority, outputBuffer > 0 ? Math.min(UDP_SNDBUF_CAP, mtu * outputBuffer) : undefined);
}

/**
 * The receive buffer of each client's UDP (DTLS) socket, bytes (the kernel accounts twice
 * as much). A client sends bursts as fast as its TCP windows allow, and a worker serves many
 * sessions: with the kernel's default (about 200 KB) one tunnel's uploads lost a tenth of
 * their datagrams at the socket, and the TCP inside took the losses for congestion. Measured
 * with iperf3 through one DTLS tunnel: 1478 Mbit/s with 84,000 datagrams dropped in 5 s,
 * 1988 Mbit/s with none at this size (`net.core.rmem_max` does not bind main, which holds
 * CAP_NET_ADMIN; wireguard-go enlarges its sockets likewise). The memory is used only while
 * the worker lags behind.
 */
export const DTLS_RCVBUF = 2 << 20;

/**
 * Sets what `t` asks on the socket. Like ocserv, a failure leaves that option as it was
 * and the tunnel goes on: the failures are returned, for the caller's log.
 */
export function applySocketTuning(fd: number, t: SocketTuning | undefined): string[] {
  if (!t) return [];
  const failed: string[] = [];
  const set = (name: Parameters<typeof setSockoptInt>[1], v: number) => {
    try {
      setSockoptInt(fd, name, v);
    } catch (err) {
      failed.push((err as Error).message);
    }
  };
  if (t.sndbuf !== undefined) set('sndbuf', t.sndbuf);
  if (t.rcvbuf !== undefined) {
    try {
      setSockoptInt(fd, 'rcvbufforce', t.rcvbuf);
    } catch {
      // without CAP_NET_ADMIN: as much as net.core.rmem_max allows
      failed.push('SO_RCVBUFFORCE not permitted; net.core.rmem_max caps the size');
      set('rcvbuf', t.rcvbuf);
    }
  }
  if (t.priority !== undefined) set('priority', t.priority);
  if (t.tos !== undefined) {
    // IP_TOS covers IPv4 and v4-mapped traffic; an IPv6 socket's own packets take the traffic class
    set('tos', t.tos);
    let v6 = false;
    try { v6 = socketInfo(fd).family === 'inet6'; } catch { /* not a socket: already reported above */ }
    if (v6) set('tclass', t.tos);
  }
  return failed;
}
