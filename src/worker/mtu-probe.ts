/**
 * try-mtu-discovery: finds the largest tunnel packet the DTLS path to the client carries, so
 * that larger ones go over CSTP instead of vanishing (a path that drops big UDP datagrams
 * without an ICMP error, or a kernel that cannot send them, would otherwise lose every large
 * packet to the client while DTLS looks fine).
 *
 * As ocserv, with DPD requests: a DTLS DPD request padded to N bytes is exactly as large as a
 * data record carrying an N-byte packet, and every client answers a DPD request it receives
 * (openconnect with a one-byte answer), so an answer proves that N bytes get through. Only one
 * probe is out at a time, which is how an answer is matched to its probe; a probe that stays
 * unanswered is sent again before its size counts as too large. Then a binary search between
 * the smallest packet the tunnel must carry and the size the link was set up for.
 */
export interface ProbeIo {
  /** sends one DPD request with `size` bytes of padding; false if it could not be sent */
  send(size: number): boolean;
  /** runs fn after ms unless cancelled */
  after(ms: number, fn: () => void): { cancel(): void };
}

export interface ProbeOptions {
  /** how long to wait for each answer */
  waitMs?: number;
  /** sends of one size before it counts as too large */
  tries?: number;
}

export class MtuProbe {
  /** the largest packet DTLS may carry now */
  mtu: number;
  private good: number;
  private bad: number;
  private current?: number;
  private tries = 0;
  private timer?: { cancel(): void };
  private readonly waitMs: number;
  private readonly maxTries: number;

  /**
   * max: the largest packet the DTLS link was set up for; floor: the smallest the tunnel must
   * carry (576, 1280 with IPv6), taken as working. done(mtu) is called once, with the result.
   */
  constructor(private readonly max: number, floor: number, private readonly io: ProbeIo, private readonly done: (mtu: number) => void, o: ProbeOptions = {}) {
    this.mtu = max;
    this.good = Math.min(floor, max);
    this.bad = max + 1;
    this.waitMs = o.waitMs ?? 1000;
    this.maxTries = o.tries ?? 3;
  }

  /** a probe is waiting for its answer: any DPD answer now is taken as its answer */
  get inFlight(): boolean { return this.current !== undefined; }

  start(): void {
    if (this.good >= this.max) return this.finish();
    this.probe(this.max);
  }

  /** A DPD response arrived over DTLS. */
  answered(): void {
    const size = this.current;
    if (size === undefined) return;
    this.timer?.cancel();
    this.current = undefined;
    this.good = size;
    this.mtu = size;
    this.next();
  }

  stop(): void {
    this.timer?.cancel();
    this.current = undefined;
  }

  private probe(size: number): void {
    this.current = size;
    this.tries = 0;
    this.send();
  }

  private send(): void {
    this.tries++;
    this.io.send(this.current!);
    this.timer = this.io.after(this.waitMs, () => this.lost());
  }

  private lost(): void {
    if (this.current === undefined) return;
    if (this.tries < this.maxTries) return this.send();
    this.bad = this.current;
    this.current = undefined;
    // until the search ends, only what is known to get through goes over DTLS
    this.mtu = this.good;
    this.next();
  }

  private next(): void {
    if (this.bad - this.good <= 1) return this.finish();
    this.probe(Math.floor((this.good + this.bad) / 2));
  }

  private finish(): void {
    this.mtu = this.good >= this.max ? this.max : this.good;
    this.done(this.mtu);
  }
}

/** the client runs its own probing right after the DTLS handshake (openconnect: up to 10 s) */
const CLIENT_PROBING_MS = 10_000;

/**
 * Discovery for one DTLS link: starts once the client is done with its own MTU probing, which
 * answers nothing else meanwhile (openconnect sends its first data record after it, else
 * after CLIENT_PROBING_MS), then keeps the probe's result as the link's packet size limit.
 */
export class LinkMtuDiscovery {
  private readonly probe: MtuProbe;
  private started = false;
  private stopped = false;
  private readonly startTimer: NodeJS.Timeout;

  constructor(max: number, floor: number, send: (size: number) => boolean, done: (mtu: number) => void, o: ProbeOptions = {}) {
    const io: ProbeIo = {
      send,
      after: (ms, fn) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return { cancel: () => clearTimeout(t) };
      },
    };
    this.probe = new MtuProbe(max, floor, io, done, o);
    this.startTimer = setTimeout(() => this.begin(), CLIENT_PROBING_MS);
    this.startTimer.unref();
  }

  /** the largest packet for the link now */
  get cap(): number { return this.probe.mtu; }
  /** a probe is out; it doubles as the link's DPD request */
  get busy(): boolean { return this.probe.inFlight; }

  /** The client sent a data record over the link. */
  clientData(): void { if (!this.started) this.begin(); }

  answered(): void { this.probe.answered(); }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.startTimer);
    this.probe.stop();
  }

  private begin(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    clearTimeout(this.startTimer);
    this.probe.start();
  }
}
