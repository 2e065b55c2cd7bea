/**
 * Real PAM for tests: a throw-away Unix user with a password and groups, a throw-away
 * /etc/pam.d service, and the two-step test module (pam_twostep.c). Every name is unique
 * and everything is removed in the test's teardown, also when the test fails.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repoRoot } from './netns';

/** the part of tap's Test this needs */
interface Teardown { teardown(fn: () => unknown): void }

function run(cmd: string, args: string[], input = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile(cmd, args, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout));
    c.stdin?.on('error', () => {});
    c.stdin?.end(input);
  });
}

const gidOf = async (group: string) => Number((await run('getent', ['group', group])).split(':')[2]);

export interface PamUser {
  name: string;
  password: string;
  /** the user's own group (gid 1000 or more) */
  primary: { name: string; gid: number };
  /** a system group (gid below 1000) */
  system: { name: string; gid: number };
  /** another ordinary group (gid 1000 or more) */
  extra: { name: string; gid: number };
}

/** A Unix user `ocst<hex>` with `password`, member of a system group and an ordinary one. */
export async function createPamUser(t: Teardown, password: string): Promise<PamUser> {
  const name = `ocst${randomBytes(4).toString('hex')}`;
  const groups = { primary: name, system: `${name}s`, extra: `${name}x` };
  const made: string[] = [];
  let userMade = false;
  t.teardown(async () => {
    if (userMade) await run('userdel', [name]).catch(() => {});
    for (const g of made.reverse()) await run('groupdel', [g]).catch(() => {});
  });
  await run('groupadd', [groups.primary]); made.push(groups.primary);
  await run('groupadd', ['-r', groups.system]); made.push(groups.system);
  await run('groupadd', [groups.extra]); made.push(groups.extra);
  await run('useradd', ['-M', '-N', '-g', groups.primary, '-G', `${groups.system},${groups.extra}`, '-s', '/usr/sbin/nologin', name]);
  userMade = true;
  await run('chpasswd', [], `${name}:${password}\n`);
  return {
    name,
    password,
    primary: { name: groups.primary, gid: await gidOf(groups.primary) },
    system: { name: groups.system, gid: await gidOf(groups.system) },
    extra: { name: groups.extra, gid: await gidOf(groups.extra) },
  };
}

/** /etc/pam.d/ocserv-ts-test-<hex> with these lines; returns the service name. */
export function createPamService(t: Teardown, lines: string[]): string {
  const service = `ocserv-ts-test-${randomBytes(4).toString('hex')}`;
  const file = path.join('/etc/pam.d', service);
  fs.writeFileSync(file, `# made by test/helpers/pam-fixture.ts; removed when the test ends\n${lines.join('\n')}\n`, { flag: 'wx' });
  t.teardown(() => fs.rmSync(file, { force: true }));
  return service;
}

/** The password check most services have: pam_unix for auth and account. */
export const UNIX_STACK = ['auth required pam_unix.so', 'account required pam_unix.so'];

/** Compiles pam_twostep.c; returns the module's path (use it as an absolute path in a service). */
export async function buildTwoStepModule(t: Teardown): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ocserv-ts-pam-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'pam_twostep.so');
  await run('gcc', ['-shared', '-fPIC', '-Wall', '-Werror', '-o', out, path.join(repoRoot(), 'test', 'helpers', 'pam_twostep.c'), '-lpam']);
  return out;
}
