import type { RemoteInfo } from 'node:dgram';
import { clientHelloSessionId } from '../dtls/peek';
import { udpConnected } from '../native';
import type { Logger } from '../common/log';

export interface UdpHandoverCounters { handedOff: number; notClientHello: number; unknownSession: number; repeated: number; failed: number }

/** How long a peer just handed over is left to its worker before main looks at it again. */
const HANDOFF_QUIET_MS = 2000;

/**
 * main's part of DTLS: read only the first datagram of a new UDP peer, find the session
 * by the id in its ClientHello, and give that session's worker a socket connected to the
 * peer (later datagrams of the flow go straight to it), together with that first datagram.
 */
export class UdpHandover {
  readonly counters: UdpHandoverCounters = { handedOff: 0, notClientHello: 0, unknownSession: 0, repeated: 0, failed: 0 };
  private readonly recent = new Map<string, number>();

  constructor(private readonly o: {
    localHost: string;
    port: number;
    log: Logger;
    /** listen-netns: the namespace (src/main/listen-netns.ts) the per-client sockets are made in */
    netns?: number;
    /** the session that announced this id, and a way to give its worker the flow */
    find(dtlsId: string): ((fd: number, datagram: Buffer) => void) | undefined;
  }) {}

  onDatagram(msg: Buffer, peer: RemoteInfo): void {
    const sid = clientHelloSessionId(msg);
    if (!sid) {
      this.counters.notClientHello++;
      return;
    }
    const dtlsId = sid.toString('hex');
    // The session's id is part of the key: a client port is reused (by another client behind
    // the same NAT, or by the system for a new socket), and a new session's hello from it
    // must not be taken for a repeat of the old one's.
    const key = `${peer.address}|${peer.port}|${dtlsId}`;
    const now = Date.now();
    // Retransmissions queued here before the connected socket existed: the worker has the flow.
    const last = this.recent.get(key);
    if (last !== undefined && now - last < HANDOFF_QUIET_MS) {
      this.counters.repeated++;
      this.o.log.debug({ ip: peer.address, port: peer.port }, 'DTLS ClientHello repeated just after its hand-over: left to the worker');
      return;
    }
    const handOff = this.o.find(dtlsId);
    if (!handOff) {
      this.counters.unknownSession++;
      this.o.log.debug({ ip: peer.address, port: peer.port }, 'DTLS ClientHello for no known session dropped');
      return;
    }
    let fd: number;
    try {
      fd = udpConnected(this.o.localHost, this.o.port, peer.address, peer.port, this.o.netns);
    } catch (err) {
      this.counters.failed++;
      this.o.log.warn({ ip: peer.address, reason: (err as Error).message }, 'cannot open a UDP socket for a DTLS client');
      return;
    }
    this.recent.set(key, now);
    if (this.recent.size > 4096) this.prune(now);
    this.counters.handedOff++;
    handOff(fd, msg);
  }

  private prune(now: number): void {
    for (const [k, t] of this.recent) if (now - t >= HANDOFF_QUIET_MS) this.recent.delete(k);
  }
}
