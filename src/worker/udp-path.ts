/**
 * Whether the tunnel's traffic to the client may take the DTLS link that is up, or should go
 * over CSTP for now (ocserv's "UDP active" and "UDP inactive" states):
 *  - the client sent a data packet over CSTP although DTLS is up: it does not trust its DTLS
 *    (it lost it, or is setting up a new one), so answers go the same way;
 *  - switch-to-tcp-timeout: no UDP at all from the client for that long (a NAT may have dropped
 *    the UDP mapping, and a client that only receives would never notice);
 *  - anything that arrives over DTLS makes the link usable again.
 */
export class UdpPath {
  private lastUdp: number;
  private active = true;

  /**
   * switchAfterMs: switch-to-tcp-timeout in ms, 0 for never; changed(viaDtls, why) is called on
   * every switch, for the log.
   */
  constructor(private readonly switchAfterMs: number, now: number, private readonly changed: (viaDtls: boolean, why: string) => void) {
    this.lastUdp = now;
  }

  /** A record arrived over DTLS (or a new DTLS session was established). */
  heard(now: number): void {
    this.lastUdp = now;
    if (!this.active) {
      this.active = true;
      this.changed(true, 'UDP from the client again');
    }
  }

  /** The client sent a tunnel packet over CSTP while DTLS was up. */
  cstpData(): void {
    if (!this.active) return;
    this.active = false;
    this.changed(false, 'the client sends over CSTP');
  }

  /** May traffic to the client go over DTLS now? */
  usable(now: number): boolean {
    if (this.active && this.switchAfterMs > 0 && now - this.lastUdp > this.switchAfterMs) {
      this.active = false;
      this.changed(false, `no UDP from the client for ${Math.round((now - this.lastUdp) / 1000)} s (switch-to-tcp-timeout)`);
    }
    return this.active;
  }
}
