/**
 * ocserv-ts for the operations tests (logs, metrics, status page, socket activation): like
 * netns.startServer, but with command-line arguments of the test's choosing, an optional
 * wrapper (the socket-activation launcher), and readiness taken from the server's own
 * "ocserv-ts is up" log line rather than from a port, which the wrapper may already hold.
 * Also: a GET with node's http client from inside the server's namespace.
 */
import { join } from 'node:path';
import {
  ocservTsCommand, serverEnv, stopProcess, writeServerFiles,
  type ManagedProcess, type ServerFiles, type Topology, type UserSpec,
} from './netns';

export interface OpsServer {
  proc: ManagedProcess;
  files: ServerFiles;
  pin: string;
  url: string;
  output(): string;
  /** every line of output that is a JSON object (the server's log) */
  logLines(): Array<Record<string, unknown>>;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface OpsServerOptions {
  users: UserSpec[];
  extraConfig?: string;
  /** arguments after -f -c FILE */
  args?: string[];
  /** the TCP/UDP port in ocserv.conf (default 4443) */
  port?: number;
  /** start this command with the server's command appended (after `--`) instead */
  wrapper?: string[];
  /** where clients connect, when the wrapper listens elsewhere than tcp-port */
  connectPort?: number;
  timeoutMs?: number;
}

export function jsonLines(text: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      /* a line cut by the output limit */
    }
  }
  return out;
}

export async function startOpsServer(topo: Topology, o: OpsServerOptions): Promise<OpsServer> {
  const files = await writeServerFiles(topo.tempDir('ops'), { listenHost: topo.serverIp, port: o.port, users: o.users, extraConfig: o.extraConfig });
  const server = ocservTsCommand(['-f', '-c', files.confPath, ...(o.args ?? [])]);
  const [cmd, ...args] = o.wrapper ? [...o.wrapper, '--', server.cmd, ...server.args] : [server.cmd, ...server.args];
  const proc = topo.spawn(topo.serverNs, cmd!, args, { env: serverEnv() });
  const handle: OpsServer = {
    proc,
    files,
    pin: files.pin,
    url: `https://${topo.serverIp}:${o.connectPort ?? files.port}/`,
    output: () => proc.output(),
    logLines: () => jsonLines(proc.output()),
    stop: () => stopProcess(proc, 'SIGTERM', 10_000),
  };
  const until = Date.now() + (o.timeoutMs ?? 20_000);
  for (;;) {
    if (/ocserv-ts is up/.test(proc.output())) return handle;
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > until) {
      await handle.stop();
      throw new Error(`ocserv-ts did not come up:\n${proc.output().slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface HttpResult { status?: number; headers?: Record<string, string>; body?: string; error?: string }

/** GET (or `method`) url with node's http client, run inside the server's namespace (where 127.0.0.1 is the server's) */
export async function httpGetInServerNs(topo: Topology, url: string, method = 'GET'): Promise<HttpResult> {
  const r = await topo.exec(topo.serverNs, process.execPath, [join(__dirname, 'http-get.js'), url, method], { env: serverEnv(), timeoutMs: 30_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as HttpResult;
  } catch {
    return { error: `no answer: ${r.stdout}${r.stderr}` };
  }
}

/** polls until fn returns something truthy */
export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, detail?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `:\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
