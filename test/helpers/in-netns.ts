/**
 * A test file that runs part of itself in a network namespace of its own, so that it never
 * touches the host's interfaces: the file re-runs itself inside (`--in-netns`) and reports
 * what it saw as one JSON line, which the host side then asserts on.
 */
import * as crypto from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import type { Test } from 'tap';

const RESULT_TAG = 'OCS-NETNS-RESULT ';

/** True in the re-run inside the namespace. */
export const insideNetns = process.argv[2] === '--in-netns';

/** Inside: runs `inside` and prints its result (or the error) for the host side. */
export function reportFromNetns(inside: () => Promise<unknown>): void {
  inside().then(
    (r) => {
      process.stdout.write(RESULT_TAG + JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e: Error) => {
      process.stdout.write(RESULT_TAG + JSON.stringify({ fatal: String(e.stack ?? e) }) + '\n');
      process.exit(1);
    },
  );
}

/**
 * Host side: re-runs `file` in a new namespace (lo up) and returns what it reported, or
 * undefined after failing t when it reported nothing or a fatal error. The namespace is
 * removed when t ends.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function runInNetns(t: Test, file: string, timeoutMs = 30_000): Record<string, any> | undefined {
  const ns = `ocs-nt-${crypto.randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', ns]);
  t.teardown(() => {
    spawnSync('ip', ['netns', 'del', ns]);
  });
  execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
  const res = spawnSync('ip', ['netns', 'exec', ns, process.execPath, file, '--in-netns'], { encoding: 'utf8', timeout: timeoutMs });
  const line = (res.stdout ?? '').split('\n').find((l) => l.startsWith(RESULT_TAG));
  t.ok(line, `child reported a result (status ${res.status}, stderr: ${res.stderr})`);
  if (!line) return undefined;
  const r = JSON.parse(line.slice(RESULT_TAG.length));
  t.notOk(r.fatal, r.fatal ?? 'no fatal error');
  return r.fatal ? undefined : r;
}
