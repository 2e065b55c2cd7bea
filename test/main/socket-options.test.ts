/**
 * listen-netns, chroot-dir, net-priority, output-buffer and ping-leases as ocserv.conf and
 * the per-user files read them, and what main makes of them before any socket exists.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildConfig, parseConfigText, type Config, type ConfigWarning } from '../../src/common/config';
import { parseNetPriority } from '../../src/common/net-priority';
import { parseSessionConfig, resolveSession } from '../../src/common/session-config';
import { KEPT_CAPABILITIES, keptCapabilities } from '../../src/main/least-privilege';
import { ListenNamespace, ListenNetnsError } from '../../src/main/listen-netns';
import { checkChrootDir } from '../../src/main/privileges';

function config(extra = '', warnings: ConfigWarning[] = []): Config {
  const text = ['auth = "plain[passwd=/dev/null]"', 'server-cert = /dev/null', 'server-key = /dev/null', 'ipv4-network = 198.19.0.0/24', extra].join('\n');
  return buildConfig(parseConfigText(text, 'ocserv.conf', warnings), 'ocserv.conf');
}

t.test('net-priority: a decimal priority 0 to 6, or a hexadecimal type of service', async (t) => {
  t.same(parseNetPriority('3'), { priority: 3 });
  t.same(parseNetPriority('0'), { priority: 0 });
  t.same(parseNetPriority('0x10'), { tos: 0x10 });
  t.same(parseNetPriority('0XB8'), { tos: 0xb8 });
  t.equal(parseNetPriority('0x0'), undefined, 'TOS 0: nothing is set, as ocserv');
  for (const bad of ['7', '-1', '0x100', 'TOS:0x10', 'high', '']) t.match(parseNetPriority(bad), { error: /neither a priority from 0 to 6 nor a type of service/ }, bad);
});

t.test('the options are read, acted on (no "not yet" note) and checked', async (t) => {
  const warnings: ConfigWarning[] = [];
  const c = config('listen-netns = "vpn-outside"\nchroot-dir = /var/lib/ocserv-ts\nnet-priority = 0x20\noutput-buffer = 10\nping-leases = true', warnings);
  t.equal(c.listenNetns, 'vpn-outside');
  t.equal(c.chrootDir, '/var/lib/ocserv-ts');
  t.same(c.netPriority, { tos: 0x20 });
  t.equal(c.outputBuffer, 10);
  t.equal(c.pingLeases, true);
  t.same(warnings.filter((w) => w.notYet), [], 'none of them is "accepted but not yet supported"');
  const d = config();
  t.match(d, { listenNetns: undefined, chrootDir: undefined, netPriority: undefined, outputBuffer: 0, pingLeases: false });
  t.throws(() => config('net-priority = 9'), { message: /^ocserv\.conf:5: net-priority: '9' is neither/ });
  t.throws(() => config('listen-netns = ../etc'), { message: /listen-netns: '\.\.\/etc' is not a network namespace name/ });
  t.throws(() => config('chroot-dir = var/lib/x'), { message: /chroot-dir: 'var\/lib\/x' is not an absolute path/ });
  t.throws(() => config('output-buffer = -1'), { message: /output-buffer: '-1' is below the minimum 0/ });
});

t.test('net-priority per user or group overrides the server\'s, 0x0 included', async (t) => {
  const c = config('net-priority = 4');
  const file = (text: string) => {
    const r = parseSessionConfig(text, 'u');
    t.same(r.errors, []);
    t.same(r.warnings, [], 'no "not supported" warning any more');
    return r.config;
  };
  const eff = (text: string) => resolveSession(c, file(text), {}, { mobile: false }) as { netPriority?: unknown };
  t.same(eff('').netPriority, { priority: 4 }, 'the server\'s');
  t.same(eff('net-priority = 0x10').netPriority, { tos: 0x10 }, 'the user\'s');
  t.equal(eff('net-priority = 0x0').netPriority, undefined, 'the user\'s "leave it" wins too');
  const bad = parseSessionConfig('net-priority = 12', 'u');
  t.match(bad.errors, [{ line: 1, reason: /net-priority: '12' is neither/ }], 'a bad value refuses the session with its line');
});

t.test('capabilities main keeps for chroot-dir and ping-leases', async (t) => {
  t.same(Object.keys(keptCapabilities({})), Object.keys(KEPT_CAPABILITIES));
  t.match(keptCapabilities({ chrootDir: '/x' }), { CAP_SYS_CHROOT: { cap: 18 } });
  t.match(keptCapabilities({ pingLeases: true }), { CAP_NET_RAW: { cap: 13 } });
  t.notOk('CAP_NET_RAW' in keptCapabilities({ chrootDir: '/x' }));
});

t.test('a missing namespace or chroot directory is a clear start-up error', async (t) => {
  t.throws(() => ListenNamespace.open('ocs-no-such-ns'), new ListenNetnsError(
    "listen-netns: there is no network namespace 'ocs-no-such-ns' (/var/run/netns/ocs-no-such-ns does not exist; `ip netns add ocs-no-such-ns` makes one)"));
  const dir = mkdtempSync(join(tmpdir(), 'ocs-chroot-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.doesNotThrow(() => checkChrootDir(dir));
  writeFileSync(join(dir, 'file'), '');
  t.throws(() => checkChrootDir(join(dir, 'file')), /is not a directory/);
  t.throws(() => checkChrootDir(join(dir, 'missing')), /chroot-dir .*missing: ENOENT/);
});
