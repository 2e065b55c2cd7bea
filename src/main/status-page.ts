/**
 * The read-only status page (status-listen, ocserv-ts only): who is connected, their
 * traffic, and the server's traffic over the last hour as an inline SVG graph. One HTML
 * document with its style inside and no script, so it shows in any browser, through an
 * SSH tunnel, with nothing fetched from elsewhere.
 */
import type { ListenAddress } from '../common/listen-address';
import type { Logger } from '../common/log';
import { HttpEndpoint } from './http-endpoint';
import type { MainSession, SessionTable } from './sessions';
import { NO_GROUP, type TrafficBook, type TrafficHistory, type TrafficSample } from './traffic';
import type { WorkerPool } from './workers';

export interface StatusSources {
  log: Logger;
  sessions: SessionTable;
  workers(): WorkerPool | undefined;
  traffic: TrafficBook;
  history: TrafficHistory;
  startedAt: number;
  version: string;
}

const esc = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function bytesText(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}

export function durationText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  return m > 0 ? `${m}m ${s % 60}s` : `${s}s`;
}

interface Rate { at: number; rx: number; tx: number }

/** bytes per second between consecutive samples */
export function ratesOf(samples: TrafficSample[]): Rate[] {
  const out: Rate[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = (b.at - a.at) / 1000;
    if (dt <= 0) continue;
    out.push({ at: b.at, rx: Math.max(0, b.rxBytes - a.rxBytes) / dt, tx: Math.max(0, b.txBytes - a.txBytes) / dt });
  }
  return out;
}

const W = 720;
const H = 220;
const PAD = { left: 70, right: 12, top: 12, bottom: 28 };

/** the last `spanMs` of traffic: in and out in bytes per second, newest at the right */
export function trafficSvg(samples: TrafficSample[], now: number, spanMs: number): string {
  const rates = ratesOf(samples);
  const pw = W - PAD.left - PAD.right;
  const ph = H - PAD.top - PAD.bottom;
  const max = Math.max(1024, ...rates.map((r) => Math.max(r.rx, r.tx)));
  const x = (at: number) => PAD.left + Math.max(0, Math.min(1, (at - (now - spanMs)) / spanMs)) * pw;
  const y = (v: number) => PAD.top + ph - (v / max) * ph;
  const line = (pick: (r: Rate) => number) => rates.map((r) => `${x(r.at).toFixed(1)},${y(pick(r)).toFixed(1)}`).join(' ');
  const ticks: string[] = [];
  for (let m = 0; m <= 60; m += 15) {
    const at = now - spanMs + (m / 60) * spanMs;
    const label = m === 60 ? 'now' : `-${Math.round((spanMs / 60_000) * (1 - m / 60))} min`;
    ticks.push(`<line x1="${x(at)}" y1="${PAD.top}" x2="${x(at)}" y2="${PAD.top + ph}" class="grid"/>`
      + `<text x="${x(at)}" y="${H - 8}" text-anchor="middle">${label}</text>`);
  }
  const empty = rates.length < 2
    ? `<text x="${PAD.left + pw / 2}" y="${PAD.top + ph / 2}" text-anchor="middle" class="note">collecting samples (one every 10 s)</text>`
    : '';
  return `<svg id="traffic-graph" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="traffic over the last hour">
<rect x="${PAD.left}" y="${PAD.top}" width="${pw}" height="${ph}" class="plot"/>
${ticks.join('\n')}
<text x="${PAD.left - 6}" y="${PAD.top + 10}" text-anchor="end">${esc(bytesText(Math.round(max)))}/s</text>
<text x="${PAD.left - 6}" y="${PAD.top + ph}" text-anchor="end">0</text>
<polyline points="${line((r) => r.rx)}" class="rx"/>
<polyline points="${line((r) => r.tx)}" class="tx"/>
${empty}
</svg>`;
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
h1 { font-size: 1.4em; margin: 0 0 .3em; } h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; } th, td { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.summary td { border: none; padding: .1em .8em .1em 0; }
svg text { font-size: 11px; fill: #555; } svg .plot { fill: #fafafa; stroke: #ccc; } svg .grid { stroke: #eee; }
svg .rx { fill: none; stroke: #1f77b4; stroke-width: 2; } svg .tx { fill: none; stroke: #d62728; stroke-width: 2; }
svg .note { font-size: 13px; fill: #999; }
.legend span { display: inline-block; width: 1em; height: .3em; margin: 0 .3em .2em 1em; }
.empty { color: #777; }
`;

export class StatusPage {
  private readonly endpoint: HttpEndpoint;

  constructor(private readonly src: StatusSources, listen: ListenAddress) {
    this.endpoint = new HttpEndpoint({
      what: 'status-listen', listen, log: src.log,
      handle: async (path) => (path === '/' || path === '/index.html'
        ? { status: 200, type: 'text/html; charset=utf-8', body: this.render() }
        : undefined),
    });
  }

  async start(): Promise<void> {
    this.src.history.start();
    await this.endpoint.start();
  }

  stop(): void {
    this.endpoint.stop();
    this.src.history.stop();
  }

  render(now = Date.now()): string {
    const { sessions, traffic, history } = this.src;
    const list = [...sessions.all()].sort((a, b) => a.username.localeCompare(b.username) || a.sessionId - b.sessionId);
    const total = traffic.totals().server;
    const rows = list.map((s) => this.row(s, now)).join('\n');
    const users = list.length
      ? `<table id="users">
<thead><tr><th>ID</th><th>User</th><th>Group</th><th>Client address</th><th>VPN address</th><th>Connected</th><th>Data channel</th><th class="n">In</th><th class="n">Out</th></tr></thead>
<tbody>
${rows}
</tbody>
</table>`
      : '<p id="users" class="empty">Nobody is connected.</p>';
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="30">
<title>ocserv-ts status</title>
<style>${STYLE}</style>
</head>
<body>
<h1>ocserv-ts status</h1>
<table class="summary">
<tr><td>Version</td><td>${esc(this.src.version)}</td></tr>
<tr><td>Up for</td><td>${esc(durationText(now - this.src.startedAt))}</td></tr>
<tr><td>Sessions</td><td id="session-count">${sessions.size}</td></tr>
<tr><td>Workers</td><td>${this.src.workers()?.size ?? 0}</td></tr>
<tr><td>Traffic since start</td><td>in ${esc(bytesText(total.rxBytes))}, out ${esc(bytesText(total.txBytes))}</td></tr>
<tr><td>Page generated</td><td>${esc(new Date(now).toISOString())} (refreshes every 30 s)</td></tr>
</table>
<h2>Connected users</h2>
${users}
<h2>Traffic, last hour</h2>
<p class="legend"><span style="background:#1f77b4"></span>in (from clients)<span style="background:#d62728"></span>out (to clients)</p>
${trafficSvg(history.samples(now), now, history.keepMs)}
</body>
</html>
`;
  }

  private row(s: MainSession, now: number): string {
    const t = this.src.traffic.of(s);
    const vpn = [s.lease?.remote, s.lease6?.remote].filter(Boolean).join(', ');
    return `<tr data-user="${esc(s.username)}"><td>${s.sessionId}</td><td class="user">${esc(s.username)}</td><td>${esc(s.groupname || NO_GROUP)}</td>`
      + `<td>${esc(s.remoteAddr)}</td><td>${esc(vpn)}</td><td title="${esc(new Date(s.startedAt).toISOString())}">${esc(durationText(now - s.startedAt))}</td>`
      + `<td>${s.dtlsCipher ? `DTLS ${esc(s.dtlsCipher)}` : 'TLS (CSTP)'}</td>`
      + `<td class="n">${esc(bytesText(t.rxBytes))}</td><td class="n">${esc(bytesText(t.txBytes))}</td></tr>`;
  }
}
