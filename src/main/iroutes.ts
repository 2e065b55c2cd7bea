/**
 * iroute: networks behind a client (per-user and per-group files). While the client's tunnel
 * is up, main routes them into its tun with route-add-cmd and removes them with route-del-cmd
 * when it ends, as ocserv does: `%{R}` is network/netmask (IPv6: network/length), `%{RI}` network/length, `%{D}` the
 * device (`%R` and `%D` too). The commands run one at a time in the order asked, so a client
 * that reconnects gets its routes on the new tun only after they left the old one.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { routeText, type Route } from '../common/config';
import type { Logger } from '../common/log';
import { parseSessionConfig } from '../common/session-config';

const COMMAND_TIMEOUT_MS = 10_000;
const OUTPUT_LIMIT = 2048;
const MAX_FILE_BYTES = 256 * 1024;

// IPv4 network/netmask, IPv6 network/length, as ocserv writes routes
export { routeText };

/** The command for one route and device; each placeholder is replaced once, left to right. */
export function routeCommand(pattern: string, r: Route, device: string): string {
  return pattern.replace(/%\{RI\}|%\{R\}|%R|%\{D\}|%D/g, (m) => {
    if (m === '%{RI}') return `${r.network}/${r.prefix}`;
    if (m === '%{R}' || m === '%R') return routeText(r);
    return device;
  });
}

export interface RouteCommands { add: string; del: string }

export class Iroutes {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly log: Logger, private readonly commands: () => RouteCommands) {}

  /** Adds every route, or none: on a failure the ones added are removed again. */
  add(device: string, routes: Route[], user: string): Promise<{ ok: true } | { ok: false; reason: string }> {
    if (routes.length === 0) return Promise.resolve({ ok: true });
    return this.enqueue(async () => {
      const { add, del } = this.commands();
      for (const [i, r] of routes.entries()) {
        const failed = await this.run(routeCommand(add, r, device), user);
        if (failed) {
          for (const done of routes.slice(0, i)) await this.run(routeCommand(del, done, device), user);
          return { ok: false as const, reason: `route-add-cmd failed for iroute ${routeText(r)}: ${failed}` };
        }
      }
      this.log.info({ user, device, iroutes: routes.map(routeText) }, 'iroutes added');
      return { ok: true as const };
    });
  }

  /** Fire and forget: the kernel drops the routes with the device anyway. */
  remove(device: string, routes: Route[], user: string): void {
    if (routes.length === 0) return;
    void this.enqueue(async () => {
      const { del } = this.commands();
      for (const r of routes) await this.run(routeCommand(del, r, device), user, 'debug');
    });
  }

  /** Resolves when every command asked for so far has finished. */
  idle(): Promise<void> {
    return this.queue.then(() => undefined, () => undefined);
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  /** undefined when the command succeeded, else why not */
  private run(cmd: string, user: string, failLevel: 'warn' | 'debug' = 'warn'): Promise<string | undefined> {
    return new Promise((resolve) => {
      let output = '';
      const keep = (b: Buffer) => { if (output.length < OUTPUT_LIMIT) output += b.toString('utf8'); };
      const child = spawn('/bin/sh', ['-c', cmd], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      const timer = setTimeout(() => {
        try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
      }, COMMAND_TIMEOUT_MS);
      let settled = false;
      const done = (why: string | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (why) this.log[failLevel]({ user, cmd, reason: why, output: output.trim() || undefined }, 'route command failed');
        else this.log.debug({ user, cmd }, 'route command done');
        resolve(why);
      };
      child.on('error', (err) => done(`cannot run /bin/sh: ${err.message}`));
      child.on('close', (code, signal) => done(code === 0 ? undefined : `exited with ${code ?? signal}${output.trim() ? `: ${output.trim().slice(0, 200)}` : ''}`));
    });
  }
}

/**
 * expose-iroutes: every iroute named in config-per-user's files, read when the configuration
 * is (ocserv reads them then too), to give the other users as routes.
 */
export function knownIroutes(dir: string | undefined, log: Logger): Route[] {
  if (!dir) return [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    log.warn({ dir, err: (err as Error).message }, 'expose-iroutes: cannot list config-per-user');
    return [];
  }
  const out: Route[] = [];
  for (const name of names.sort()) {
    const file = join(dir, name);
    try {
      const st = statSync(file);
      if (!st.isFile() || st.size > MAX_FILE_BYTES) continue;
      const parsed = parseSessionConfig(readFileSync(file, 'utf8'), file);
      if (parsed.errors.length) {
        log.warn({ file, line: parsed.errors[0].line, reason: parsed.errors[0].reason }, 'expose-iroutes: file skipped');
        continue;
      }
      for (const r of parsed.config.iroutes ?? []) {
        if (!out.some((x) => x.network === r.network && x.prefix === r.prefix)) out.push(r);
      }
    } catch (err) {
      log.warn({ file, err: (err as Error).message }, 'expose-iroutes: cannot read');
    }
  }
  return out;
}
