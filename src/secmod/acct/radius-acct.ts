/**
 * `acct = "radius[config=...]"`: Accounting-Requests (RFC 2866) from the records of
 * src/secmod/accounting.ts. Requests go out one at a time in the order they happened, so a
 * Stop never overtakes its Start; while no server answers they wait in a queue and are
 * retried with a growing pause, with Acct-Delay-Time saying how late they are. A Stop is
 * never dropped; if the queue grows past its bound, Interim-Updates go first.
 */
import { hostname } from 'node:os';
import ipaddr from 'ipaddr.js';
import type { Logger } from '../../common/log';
import type { TerminateCause } from '../../ipc/messages';
import type { AcctRecord, AcctSink } from '../accounting';
import { ATTR, PORT_TYPE_VIRTUAL, PROTOCOL_PPP, RadiusClient, RadiusUnreachableError, SERVICE_FRAMED, type Attribute } from '../radius/client';
import { readRadcliConfig, type RadcliConfig } from '../radius/radcli-config';

const STATUS = { start: 1, stop: 2, interim: 3 } as const;
type Kind = keyof typeof STATUS;

/** RFC 2866 5.10 */
const TERMINATE_CAUSE: Record<TerminateCause, number> = {
  'user-request': 1, 'lost-carrier': 2, 'idle-timeout': 4, 'session-timeout': 5, 'admin-reset': 6,
  'admin-reboot': 7, 'nas-error': 9, 'nas-request': 10, replaced: 2,
};

const MAX_QUEUE = 50_000;
const RETRY_MIN_MS = 2_000;
const RETRY_MAX_MS = 60_000;
const GIGA = 2 ** 32;

interface Queued { kind: Kind; record: AcctRecord; at: number }

const v6Bytes = (ip: string): Buffer => Buffer.from(ipaddr.IPv6.parse(ip).toByteArray());

/** RFC 3162 2.3: a reserved octet, the length, then the prefix's significant octets. */
function v6Prefix(ip: string, len: number): Buffer {
  const net = ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${len}`).toByteArray().slice(0, Math.ceil(len / 8));
  return Buffer.from([0, len, ...net]);
}

export class RadiusAccounting implements AcctSink {
  private readonly cfg: RadcliConfig;
  private readonly client: RadiusClient;
  private readonly nasIdentifier: string;
  private readonly queue: Queued[] = [];
  private running = false;
  private retryMs = RETRY_MIN_MS;
  private wake?: () => void;
  private closed = false;

  constructor(params: Record<string, string>, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.cfg = readRadcliConfig(params.config!);
    this.client = new RadiusClient(this.cfg, log);
    this.nasIdentifier = this.cfg.nasIdentifier ?? params['nas-identifier'] ?? hostname();
  }

  start(r: AcctRecord): void { this.push('start', r); }
  interim(r: AcctRecord): void { this.push('interim', r); }
  stop(r: AcctRecord): void { this.push('stop', r); }

  /** queued requests, for tests and status */
  get backlog(): number { return this.queue.length; }

  async flush(timeoutMs: number): Promise<void> {
    const end = this.now() + timeoutMs;
    this.wake?.();
    while (this.queue.length && this.now() < end) await new Promise((r) => setTimeout(r, 50));
    if (this.queue.length) this.log.warn({ pending: this.queue.length }, 'RADIUS accounting requests still unsent at exit');
  }

  close(): void {
    this.closed = true;
    this.wake?.();
    this.client.close();
  }

  private push(kind: Kind, record: AcctRecord): void {
    if (this.queue.length >= MAX_QUEUE) {
      const i = this.queue.findIndex((q) => q.kind === 'interim');
      if (i >= 0) this.queue.splice(i, 1);
      else if (kind === 'interim') return;
    }
    this.queue.push({ kind, record, at: this.now() });
    if (!this.running) void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length && !this.closed) {
        const q = this.queue[0]!;
        try {
          await this.client.request('Accounting-Request', this.attributes(q), 'acct');
          this.queue.shift();
          this.retryMs = RETRY_MIN_MS;
        } catch (err) {
          if (!(err instanceof RadiusUnreachableError)) {
            // the record cannot be encoded: retrying will not help
            this.log.error({ sid: q.record.sid, kind: q.kind, err: (err as Error).message }, 'RADIUS accounting request dropped');
            this.queue.shift();
            continue;
          }
          this.log.warn({ pending: this.queue.length, retryInMs: this.retryMs, err: err.message }, 'RADIUS accounting server unreachable; will retry');
          await new Promise<void>((r) => {
            const t = setTimeout(r, this.retryMs);
            this.wake = () => { clearTimeout(t); r(); };
          });
          this.wake = undefined;
          this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private attributes(q: Queued): Attribute[] {
    const r = q.record;
    const s = r.stats;
    const a: Attribute[] = [
      ['Acct-Status-Type', STATUS[q.kind]],
      ['Acct-Session-Id', r.sid],
      ['User-Name', r.username],
      ['NAS-Identifier', this.nasIdentifier],
      ['NAS-Port-Type', PORT_TYPE_VIRTUAL],
      ['Service-Type', SERVICE_FRAMED],
      ['Framed-Protocol', PROTOCOL_PPP],
      ['Calling-Station-Id', r.remoteAddr],
      ['Acct-Authentic', 1], // RADIUS
      ['Acct-Delay-Time', Math.floor((this.now() - q.at) / 1000)],
      ['Event-Timestamp', new Date(q.at)],
    ];
    // the `radius` package encodes no IPv6 types: those go as raw values under their numbers
    if (this.cfg.nasIp) a.push(this.cfg.nasIp.includes(':') ? [ATTR.NAS_IPV6_ADDRESS, v6Bytes(this.cfg.nasIp)] : ['NAS-IP-Address', this.cfg.nasIp]);
    if (r.ipv4) a.push(['Framed-IP-Address', r.ipv4]);
    if (r.ipv6) {
      // Framed-IPv6-Address as ocserv; a client given a network (not a /128) has it in Framed-IPv6-Prefix too
      a.push([ATTR.FRAMED_IPV6_ADDRESS, v6Bytes(r.ipv6.address)]);
      if (r.ipv6.prefix < 128) a.push([ATTR.FRAMED_IPV6_PREFIX, v6Prefix(r.ipv6.address, r.ipv6.prefix)]);
    }
    for (const c of r.radiusClass ?? []) a.push(['Class', Buffer.from(c, 'base64')]);
    if (q.kind !== 'start') {
      // input = what the client sent; octets past 4 GiB carry over into the Gigawords
      a.push(
        ['Acct-Input-Octets', s.rxBytes % GIGA], ['Acct-Input-Gigawords', Math.floor(s.rxBytes / GIGA)],
        ['Acct-Output-Octets', s.txBytes % GIGA], ['Acct-Output-Gigawords', Math.floor(s.txBytes / GIGA)],
        ['Acct-Input-Packets', s.rxPackets % GIGA], ['Acct-Output-Packets', s.txPackets % GIGA],
        ['Acct-Session-Time', r.sessionTime],
      );
    }
    if (q.kind === 'stop') a.push(['Acct-Terminate-Cause', TERMINATE_CAUSE[r.cause ?? 'lost-carrier']]);
    return a;
  }
}
