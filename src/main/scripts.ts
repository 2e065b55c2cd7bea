/**
 * connect-script, disconnect-script and host-update-script, run by main (as ocserv does)
 * with the environment ocserv documents, so an administrator's existing scripts work.
 * A connect-script that fails refuses the session; no script may hang a session: each is
 * killed, with its children, after SCRIPT_TIMEOUT_MS.
 */
import { spawn } from 'node:child_process';
import { routeText, type Route } from '../common/config';
import type { Logger } from '../common/log';
import { SCRIPT_TIMEOUT_MS, type SessionStats } from '../ipc/messages';
const OUTPUT_LIMIT = 4096;

export interface ScriptSettings {
  connect?: string;
  disconnect?: string;
  hostUpdate?: string;
  timeoutMs?: number;
}

/** What a script learns about a tunnel. */
export interface ScriptSession {
  id: number;
  username: string;
  groupname: string;
  device: string;
  remoteAddr: string;
  localAddr: string;
  /** IPv4 ends of the tunnel; empty without IPv4 */
  ipLocal: string;
  ipRemote: string;
  /** IPv6: the server's end, the client's address and the length of its network */
  ipv6?: { local: string; remote: string; prefix: number };
  userAgent: string;
  hostname: string;
  deviceType: string;
  platform: string;
  routes: Route[];
  noRoutes: Route[];
  dns: string[];
}

export type ScriptKind = 'connect' | 'disconnect' | 'host-update';

const routeList = (routes: Route[]) => routes.map((r) => `${routeText(r)} `).join('');
const isV6 = (r: Route) => r.network.includes(':');
const v4 = (ips: string[]) => ips.filter((ip) => !ip.includes(':'));
const v6 = (ips: string[]) => ips.filter((ip) => ip.includes(':'));

/** The environment ocserv gives its scripts (main-user.c), from our session. */
export function scriptEnv(kind: ScriptKind, s: ScriptSession, end?: { stats: SessionStats; durationS: number }): Record<string, string> {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    REASON: kind,
    ID: String(s.id),
    USERNAME: s.username,
    GROUPNAME: s.groupname,
    DEVICE: s.device,
    IP_REAL: s.remoteAddr,
    IP_REAL_LOCAL: s.localAddr,
    HOSTNAME: s.hostname,
    REMOTE_HOSTNAME: s.hostname,
    USER_AGENT: s.userAgent,
    DEVICE_TYPE: s.deviceType,
    DEVICE_PLATFORM: s.platform,
    // ocserv's lists: space separated, each item followed by a space
    OCSERV_ROUTES: routeList(s.routes),
    OCSERV_ROUTES4: routeList(s.routes.filter((r) => !isV6(r))),
    OCSERV_ROUTES6: routeList(s.routes.filter(isV6)),
    OCSERV_NO_ROUTES: routeList(s.noRoutes),
    OCSERV_NO_ROUTES4: routeList(s.noRoutes.filter((r) => !isV6(r))),
    OCSERV_NO_ROUTES6: routeList(s.noRoutes.filter(isV6)),
    OCSERV_DNS: s.dns.map((d) => `${d} `).join(''),
    OCSERV_DNS4: v4(s.dns).map((d) => `${d} `).join(''),
    OCSERV_DNS6: v6(s.dns).map((d) => `${d} `).join(''),
  };
  // as ocserv: IP_LOCAL/IP_REMOTE are IPv4 only (absent in an IPv6-only session)
  if (s.ipLocal) env.IP_LOCAL = s.ipLocal;
  if (s.ipRemote) env.IP_REMOTE = s.ipRemote;
  if (s.ipv6) {
    env.IPV6_LOCAL = s.ipv6.local;
    env.IPV6_REMOTE = s.ipv6.remote;
    env.IPV6_PREFIX = String(s.ipv6.prefix);
  }
  if (end) {
    // in = what the client sent, as ocserv counts it
    env.STATS_BYTES_IN = String(end.stats.rxBytes);
    env.STATS_BYTES_OUT = String(end.stats.txBytes);
    env.STATS_DURATION = String(end.durationS);
  }
  return env;
}

export type ScriptResult = { ok: true } | { ok: false; reason: string };

export class Scripts {
  constructor(private settings: ScriptSettings, private readonly log: Logger) {}

  configure(settings: ScriptSettings): void { this.settings = settings; }

  /** Resolves once the connect-script is done; not ok refuses the session. */
  connect(s: ScriptSession): Promise<ScriptResult> {
    return this.run('connect', this.settings.connect, s);
  }

  disconnect(s: ScriptSession, stats: SessionStats, durationS: number): void {
    void this.run('disconnect', this.settings.disconnect, s, { stats, durationS });
  }

  hostUpdate(s: ScriptSession): void {
    void this.run('host-update', this.settings.hostUpdate, s);
  }

  private run(kind: ScriptKind, path: string | undefined, s: ScriptSession, end?: { stats: SessionStats; durationS: number }): Promise<ScriptResult> {
    if (!path) return Promise.resolve({ ok: true });
    const timeoutMs = this.settings.timeoutMs ?? SCRIPT_TIMEOUT_MS;
    const started = Date.now();
    return new Promise((resolve) => {
      let output = '';
      const keep = (chunk: Buffer) => { if (output.length < OUTPUT_LIMIT) output += chunk.toString('utf8'); };
      // its own process group, so a timeout ends whatever the script started too
      const child = spawn(path, [], { env: scriptEnv(kind, s, end), stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
      }, timeoutMs);
      const done = (r: ScriptResult) => {
        clearTimeout(timer);
        const fields = { script: path, kind, user: s.username, id: s.id, ms: Date.now() - started, output: output.trim() || undefined };
        if (r.ok) this.log.debug(fields, 'script finished');
        else this.log.warn({ ...fields, reason: r.reason }, 'script failed');
        resolve(r);
      };
      child.on('error', (err) => done({ ok: false, reason: `cannot run ${path}: ${err.message}` }));
      child.on('close', (code, signal) => {
        if (timedOut) done({ ok: false, reason: `${kind}-script did not finish within ${timeoutMs} ms and was killed` });
        else if (code === 0) done({ ok: true });
        else done({ ok: false, reason: `${kind}-script exited with ${code ?? signal}` });
      });
    });
  }
}
