/**
 * Traffic since start, for the metrics endpoint and the status page: the kernel's counters
 * of the live sessions' tun devices plus the last counters of the sessions that ended.
 * "in" (rx) is what clients sent, "out" (tx) what they were sent, as on the tun.
 */
import { zeroStats, type SessionStats } from '../ipc/messages';
import type { MainSession, SessionTable } from './sessions';
import { tunCounters } from './tun-stats';
import { maxStats } from './user-info';

const add = (a: SessionStats, b: SessionStats): SessionStats => ({
  rxBytes: a.rxBytes + b.rxBytes,
  txBytes: a.txBytes + b.txBytes,
  rxPackets: a.rxPackets + b.rxPackets,
  txPackets: a.txPackets + b.txPackets,
});

/** the label of a session without a group */
export const NO_GROUP = '(none)';
export const groupOf = (s: MainSession): string => s.groupname || NO_GROUP;

export interface TrafficTotals { server: SessionStats; groups: Map<string, SessionStats> }

/**
 * Totals only grow, across sessions ending too (what a Prometheus counter must do): a
 * session's largest figures seen are what it adds when it ends.
 */
export class TrafficBook {
  private ended = zeroStats();
  private readonly endedByGroup = new Map<string, SessionStats>();
  private readonly seen = new Map<number, SessionStats>();
  private readonly unlisten: () => void;

  constructor(private readonly sessions: SessionTable) {
    // called while main still holds the tun, so its final counters are readable
    this.unlisten = sessions.listen({ removed: (s, end) => this.sessionEnded(s, end?.stats) });
  }

  stop(): void { this.unlisten(); }

  /** a live session's traffic now */
  of(s: MainSession): SessionStats {
    const now = maxStats(this.seen.get(s.sessionId) ?? zeroStats(), tunCounters(s.tunName));
    this.seen.set(s.sessionId, now);
    return now;
  }

  totals(): TrafficTotals {
    let server = this.ended;
    const groups = new Map(this.endedByGroup);
    for (const s of this.sessions.all()) {
      const t = this.of(s);
      server = add(server, t);
      groups.set(groupOf(s), add(groups.get(groupOf(s)) ?? zeroStats(), t));
    }
    return { server, groups };
  }

  private sessionEnded(s: MainSession, final?: SessionStats): void {
    const last = maxStats(this.of(s), final);
    this.seen.delete(s.sessionId);
    this.ended = add(this.ended, last);
    this.endedByGroup.set(groupOf(s), add(this.endedByGroup.get(groupOf(s)) ?? zeroStats(), last));
  }
}

export interface TrafficSample {
  at: number;
  rxBytes: number;
  txBytes: number;
  sessions: number;
}

/**
 * The server's totals sampled every `everyMs` over the last `keepMs` (the status page's
 * graph of the last hour). Kept only when the status page is on.
 */
export class TrafficHistory {
  private readonly list: TrafficSample[] = [];
  private timer?: NodeJS.Timeout;

  constructor(private readonly book: TrafficBook, private readonly sessions: SessionTable,
    private readonly everyMs = 10_000, readonly keepMs = 3_600_000) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): void { clearInterval(this.timer); }

  /** the samples of the last keepMs, oldest first, and one taken now */
  samples(now = Date.now()): TrafficSample[] {
    return [...this.list.filter((x) => x.at >= now - this.keepMs), this.take(now)];
  }

  private sample(): void {
    const now = Date.now();
    this.list.push(this.take(now));
    while (this.list.length > 0 && this.list[0]!.at < now - this.keepMs - this.everyMs) this.list.shift();
  }

  private take(at: number): TrafficSample {
    const t = this.book.totals().server;
    return { at, rxBytes: t.rxBytes, txBytes: t.txBytes, sessions: this.sessions.size };
  }
}
