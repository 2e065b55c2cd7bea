/**
 * A real Redis server (Debian's `redis-server`) for tests: on 127.0.0.1 with a free port, or
 * inside a test's namespace. Nothing is saved to disk. `stop()` then `start()` again is a
 * Redis outage and its return on the same address.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createServer } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Topology } from './netns';
import { until } from './wait';

export interface RedisOptions {
  topo?: Topology;
  /** namespace to run in (needs topo); default the host */
  ns?: string;
  /** default 127.0.0.1 */
  bind?: string;
  port?: number;
  password?: string;
}

export interface RedisHandle {
  host: string;
  port: number;
  /** redis://host:port/0 */
  url: string;
  /** runs redis-cli against it and returns its output */
  cli(...args: string[]): string;
  /** (re)starts the server on the same address */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** the server's log so far */
  output(): string;
}

async function freeTcpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startRedis(o: RedisOptions = {}): Promise<RedisHandle> {
  const host = o.bind ?? '127.0.0.1';
  const port = o.port ?? (o.ns ? 6379 : await freeTcpPort(host));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocs-redis-'));
  const args = ['--bind', host, '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, '--protected-mode', 'no',
    ...(o.password ? ['--requirepass', o.password] : [])];
  const inNs = (cmd: string, a: string[]): [string, string[]] => (o.ns ? ['ip', ['netns', 'exec', o.ns, cmd, ...a]] : [cmd, a]);
  let proc: ChildProcess | undefined;
  let log = '';
  const cli = (...a: string[]): string => {
    const [cmd, argv] = inNs('redis-cli', ['-h', host, '-p', String(port), ...(o.password ? ['--no-auth-warning', '-a', o.password] : []), ...a]);
    return execFileSync(cmd, argv, { encoding: 'utf8', timeout: 5000, stdio: 'pipe' }).trim();
  };
  const h: RedisHandle = {
    host,
    port,
    url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}/0`,
    cli,
    output: () => log,
    async start() {
      const [cmd, argv] = inNs('redis-server', args);
      proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
      proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
      await until('redis-server ready', () => {
        try {
          return cli('ping') === 'PONG';
        } catch {
          return false;
        }
      }, 10_000, () => log);
    },
    async stop() {
      const p = proc;
      proc = undefined;
      if (!p || p.exitCode !== null) return;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await gone;
    },
  };
  await h.start();
  process.once('exit', () => { proc?.kill('SIGKILL'); fs.rmSync(dir, { recursive: true, force: true }); });
  return h;
}
