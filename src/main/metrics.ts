/**
 * The Prometheus endpoint (metrics-listen, ocserv-ts only), served by main with prom-client
 * from main's own tables: sessions, logins (sec-mod tells main of each), bans, the kernel's
 * tun counters, workers. Labels take only bounded values (group names from the
 * configuration, auth methods, fixed words), never user names or addresses.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ListenAddress } from '../common/listen-address';
import type { Logger } from '../common/log';
import type { SecmodToMain } from '../ipc/messages';
import type { BanList } from './bans';
import { HttpEndpoint } from './http-endpoint';
import type { SecmodProcess } from './secmod-proc';
import type { LoginObserver, ServerStats } from './server-stats';
import type { SessionTable } from './sessions';
import { groupOf, type TrafficBook } from './traffic';
import type { WorkerPool } from './workers';

export interface MetricsSources {
  log: Logger;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
  secmod: SecmodProcess;
  bans: BanList;
  stats: ServerStats;
  traffic: TrafficBook;
}

/** a scrape waits this long for sec-mod before reporting it as not answering */
const SECMOD_ANSWER_MS = 2000;
const SECMOD_PAGE = 500;

/**
 * A counter that follows a total computed elsewhere: each scrape adds what the total grew
 * by, so the exported value never goes down even if a source briefly reads lower.
 */
class FollowedCounter<L extends string> {
  private readonly last = new Map<string, number>();
  constructor(readonly counter: Counter<L>) {}
  follow(labels: Record<L, string>, total: number): void {
    const key = JSON.stringify(labels);
    const grew = total - (this.last.get(key) ?? 0);
    if (grew > 0) {
      this.counter.inc(labels, grew);
      this.last.set(key, total);
    } else if (!this.last.has(key)) {
      this.counter.inc(labels, 0);
      this.last.set(key, 0);
    }
  }
}

export class Metrics {
  readonly registry = new Registry();
  private readonly unlisten: () => void;
  private readonly loginObserver: LoginObserver;
  private readonly endpoint?: HttpEndpoint;
  private readonly bytes: FollowedCounter<'direction'>;
  private readonly packets: FollowedCounter<'direction'>;
  private readonly groupBytes: FollowedCounter<'group' | 'direction'>;
  private readonly groupPackets: FollowedCounter<'group' | 'direction'>;
  private readonly workersReplaced: FollowedCounter<'reason'>;
  private readonly secmodGauges: { up: Gauge; inProgress: Gauge; cookies: Gauge; answer: Gauge };

  constructor(private readonly src: MetricsSources, listen?: ListenAddress) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'ocserv_main_' });

    new Gauge({
      name: 'ocserv_sessions_active', help: 'Tunnels open now.', registers,
      collect() { this.set(src.sessions.size); },
    });
    new Gauge({
      name: 'ocserv_sessions_active_transport', help: 'Tunnels open now, by data channel: dtls once DTLS was established, else cstp (TLS only).',
      labelNames: ['transport'], registers,
      collect() {
        let dtls = 0;
        for (const s of src.sessions.all()) if (s.dtlsCipher) dtls++;
        this.set({ transport: 'dtls' }, dtls);
        this.set({ transport: 'cstp' }, src.sessions.size - dtls);
      },
    });
    new Gauge({
      name: 'ocserv_group_sessions_active', help: 'Tunnels open now, by group.', labelNames: ['group'], registers,
      collect() {
        this.reset();
        for (const s of src.sessions.all()) this.inc({ group: groupOf(s) });
      },
    });
    const opened = new Counter({ name: 'ocserv_sessions_opened_total', help: 'Tunnels opened since start.', registers });
    const closed = new Counter({ name: 'ocserv_sessions_closed_total', help: 'Tunnels closed since start.', registers });
    this.unlisten = src.sessions.listen({ added: () => opened.inc(), removed: () => closed.inc() });

    const logins = new Counter({ name: 'ocserv_logins_total', help: 'Successful logins since start.', registers });
    const failures = new Counter({
      name: 'ocserv_auth_failures_total',
      help: 'Failed logins since start, by method and reason (credentials: wrong password or code; refused: the method ended the login; group: not a member of the selected group).',
      labelNames: ['method', 'reason'], registers,
    });
    const loginSeconds = new Histogram({
      name: 'ocserv_login_duration_seconds',
      help: 'Time from the first login request to success, as sec-mod measures it (forms, password checks, RADIUS/PAM round trips); the TLS handshake before it is not included.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers,
    });
    this.loginObserver = {
      succeeded: (ms) => { logins.inc(); loginSeconds.observe(ms / 1000); },
      failed: (why) => failures.inc({ method: why?.method ?? 'unknown', reason: why?.reason ?? 'unknown' }),
    };
    src.stats.observers.add(this.loginObserver);

    const bans = new Counter({ name: 'ocserv_bans_total', help: 'Addresses banned since start (their score reached max-ban-score).', registers });
    src.bans.onBan = () => bans.inc();
    new Gauge({ name: 'ocserv_banned_ips', help: 'Addresses banned now.', registers, collect() { this.set(src.bans.bannedCount()); } });

    new Gauge({
      name: 'ocserv_workers', help: 'Worker processes running (spares included).', registers,
      collect() { this.set(src.workers()?.size ?? 0); },
    });
    this.workersReplaced = new FollowedCounter(new Counter({
      name: 'ocserv_workers_replaced_total',
      help: 'Workers main killed and replaced since start, by reason (memory: over worker-memory-limit); their clients reconnect.',
      labelNames: ['reason'], registers,
    }));

    const traffic = (name: string, help: string, labelNames: string[]) => new Counter({ name, help, labelNames, registers });
    this.bytes = new FollowedCounter(traffic('ocserv_traffic_bytes_total', 'Tunnel bytes since start: in from clients, out to clients.', ['direction']) as Counter<'direction'>);
    this.packets = new FollowedCounter(traffic('ocserv_traffic_packets_total', 'Tunnel packets since start: in from clients, out to clients.', ['direction']) as Counter<'direction'>);
    this.groupBytes = new FollowedCounter(traffic('ocserv_group_traffic_bytes_total', 'Tunnel bytes since start by group.', ['group', 'direction']) as Counter<'group' | 'direction'>);
    this.groupPackets = new FollowedCounter(traffic('ocserv_group_traffic_packets_total', 'Tunnel packets since start by group.', ['group', 'direction']) as Counter<'group' | 'direction'>);

    this.secmodGauges = {
      up: new Gauge({ name: 'ocserv_secmod_up', help: '1 when sec-mod answered this scrape within 2 s.', registers }),
      inProgress: new Gauge({
        name: 'ocserv_secmod_logins_in_progress',
        help: 'Logins sec-mod is conducting now (forms shown, answers awaited, backends asked): its queue of work. Requests still in its socket buffers are not visible.',
        registers,
      }),
      cookies: new Gauge({ name: 'ocserv_secmod_sessions', help: 'Authenticated sessions (cookies) sec-mod holds, in use or waiting for a reconnection.', registers }),
      answer: new Gauge({ name: 'ocserv_secmod_answer_seconds', help: 'How long sec-mod took to answer this scrape: grows when it is busy.', registers }),
    };

    if (listen) {
      this.endpoint = new HttpEndpoint({
        what: 'metrics-listen', listen, log: src.log,
        handle: async (path) => (path === '/metrics'
          ? { status: 200, type: this.registry.contentType, body: await this.render() }
          : path === '/' ? { status: 200, type: 'text/plain', body: 'ocserv-ts: metrics at /metrics\n' } : undefined),
      });
    }
  }

  start(): Promise<void> { return this.endpoint?.start() ?? Promise.resolve(); }

  stop(): void {
    this.endpoint?.stop();
    this.unlisten();
    this.src.stats.observers.delete(this.loginObserver);
    this.src.bans.onBan = undefined;
  }

  /** the exposition text: figures read now */
  async render(): Promise<string> {
    const t = this.src.traffic.totals();
    this.bytes.follow({ direction: 'in' }, t.server.rxBytes);
    this.bytes.follow({ direction: 'out' }, t.server.txBytes);
    this.packets.follow({ direction: 'in' }, t.server.rxPackets);
    this.packets.follow({ direction: 'out' }, t.server.txPackets);
    for (const [group, g] of t.groups) {
      this.groupBytes.follow({ group, direction: 'in' }, g.rxBytes);
      this.groupBytes.follow({ group, direction: 'out' }, g.txBytes);
      this.groupPackets.follow({ group, direction: 'in' }, g.rxPackets);
      this.groupPackets.follow({ group, direction: 'out' }, g.txPackets);
    }
    this.workersReplaced.follow({ reason: 'memory' }, this.src.workers()?.replacements.get('memory') ?? 0);
    await this.askSecmod();
    return this.registry.metrics();
  }

  private async askSecmod(): Promise<void> {
    const g = this.secmodGauges;
    const ch = this.src.secmod.channel;
    const started = process.hrtime.bigint();
    let inProgress = 0;
    let cookies = 0;
    try {
      if (!ch || ch.isClosed) throw new Error('no channel');
      for (let offset = 0, total = 1; offset < total;) {
        const r = (await ch.request<'ctl.sessions', SecmodToMain['ctl.sessions.reply']>('ctl.sessions', { offset, limit: SECMOD_PAGE }, undefined, SECMOD_ANSWER_MS)).body;
        total = r.total;
        for (const x of r.sessions) if (x.state === 'authenticated') cookies++; else inProgress++;
        if (r.sessions.length === 0) break;
        offset += r.sessions.length;
      }
    } catch {
      g.up.set(0);
      return;
    }
    g.up.set(1);
    g.inProgress.set(inProgress);
    g.cookies.set(cookies);
    g.answer.set(Number(process.hrtime.bigint() - started) / 1e9);
  }
}
