/**
 * Integration-test harness: network namespaces, a VPN server (Debian's ocserv
 * or ocserv-ts) in one, the real `openconnect` client in the other.
 *
 * Safety rules this module enforces (see the project's test rules):
 * - all traffic stays in namespaces named `ocs-t<6 hex>-s|c`, on 198.18.0.0/15;
 * - openconnect always runs with our own vpnc-script.sh, never Debian's, so the
 *   host's routes and DNS are never touched;
 * - everything made here (processes, namespaces, temp dirs) is removed by
 *   `cleanup()`, and again synchronously on process exit / SIGINT / SIGTERM.
 *
 * Needs root (ip netns), iproute2, openconnect, ocserv/ocpasswd and openssl.
 */
import { spawn as cpSpawn, spawnSync, execFile, ChildProcess, StdioOptions } from 'node:child_process';
import { randomBytes, createHash, X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

// ---------------------------------------------------------------- types

export interface ExecResult {
  /** null when killed by a signal (including our timeout) */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** written to stdin, which is then closed */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** SIGKILL after this long (default 30 s) */
  timeoutMs?: number;
  /** reject unless the exit code is 0 */
  check?: boolean;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** default: all pipes; stdout+stderr are always drained into output() */
  stdio?: StdioOptions;
}

/** A ChildProcess whose output is drained (so it never blocks on a full pipe) and kept. */
export interface ManagedProcess extends ChildProcess {
  /** the last ~256 KiB of stdout and stderr, interleaved as received */
  output(): string;
  /** settles when the process has exited */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface Topology {
  /** `t<6 hex>`; namespaces are `ocs-<id>-s` and `ocs-<id>-c` */
  id: string;
  serverNs: string;
  clientNs: string;
  /** veth addresses, a /30 in 198.18.<k>.0 */
  serverIp: string;
  clientIp: string;
  serverIf: string;
  clientIf: string;
  exec(ns: string, cmd: string, args?: string[], opts?: ExecOptions): Promise<ExecResult>;
  /** tracked: killed (SIGTERM, SIGKILL after 2 s) by cleanup() */
  spawn(ns: string, cmd: string, args?: string[], opts?: SpawnOptions): ManagedProcess;
  /** a fresh directory (mode 0755, so run-as-user workers can traverse it) removed by cleanup() */
  tempDir(prefix?: string): string;
  /**
   * One more namespace `ocs-<id>-x<n>`, joined to `to` (one of this topology's) by a veth
   * /30 in the topology's 198.18.k.0/24: `ip` is the new end, `peerIp` the end in `to`.
   */
  addNamespace(to: string): Promise<{ ns: string; ip: string; peerIp: string }>;
  /** idempotent; also runs automatically at process exit */
  cleanup(): Promise<void>;
}

export interface TopologyOptions {
  /** third octet of the 198.18.k.0/30 link (1..254); default: random unused, at most 239 (240-255 are for tests' own addresses) */
  linkIndex?: number;
}

// ---------------------------------------------------------------- internals

const NS_RE = /^ocs-(t[0-9a-f]{6})-([sc]|x\d+)$/;
/** Markers live in /run so they vanish on reboot together with /run/netns. */
const MARKER_DIR = '/run/ocs-test';
const OUTPUT_LIMIT = 256 * 1024;

interface Marker {
  pid: number;
  start: string | null;
  k: number;
  dirs: string[];
  /** namespaces made by addNamespace */
  extraNs?: string[];
}

function procStart(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parens; fields after the last ')' are fixed
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function ownerAlive(m: Marker): boolean {
  const start = procStart(m.pid);
  // start time guards against a recycled pid
  return start !== null && (m.start === null || start === m.start);
}

function readMarker(id: string): Marker | null {
  try {
    return JSON.parse(fs.readFileSync(path.join(MARKER_DIR, `${id}.json`), 'utf8')) as Marker;
  } catch {
    return null;
  }
}

function writeMarker(id: string, m: Marker): void {
  fs.mkdirSync(MARKER_DIR, { recursive: true });
  fs.writeFileSync(path.join(MARKER_DIR, `${id}.json`), JSON.stringify(m));
}

function listNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout || '').split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

function nsPids(ns: string): number[] {
  const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
  return (r.stdout || '').split(/\s+/).filter(Boolean).map(Number);
}

function killQuiet(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Kill everything in a namespace we own and delete it; synchronous so it works in 'exit'. */
function destroyNamespaceSync(ns: string): void {
  for (const pid of nsPids(ns)) killQuiet(pid, 'SIGKILL');
  for (let i = 0; i < 40 && nsPids(ns).length > 0; i++) sleepSync(50);
  spawnSync('ip', ['netns', 'del', ns]);
}

function tail(s: string, n = 3000): string {
  return s.length > n ? '…' + s.slice(-n) : s;
}

function manage(child: ChildProcess): ManagedProcess {
  let buf = '';
  const add = (d: Buffer) => {
    buf += d.toString('utf8');
    if (buf.length > OUTPUT_LIMIT * 2) buf = buf.slice(-OUTPUT_LIMIT);
  };
  child.stdout?.on('data', add);
  child.stderr?.on('data', add);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once('exit', (code, signal) => resolve({ code, signal }));
    // spawn failure: no 'exit' follows
    child.once('error', (err) => {
      buf += `\n[spawn error] ${err.message}\n`;
      if (child.pid === undefined) resolve({ code: null, signal: null });
    });
  });
  return Object.assign(child, {
    output: () => (buf.length > OUTPUT_LIMIT ? buf.slice(-OUTPUT_LIMIT) : buf),
    exited,
  });
}

function isRunning(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null && p.pid !== undefined;
}

/** SIGTERM (or `sig`), then SIGKILL after graceMs; resolves once exited. */
export async function stopProcess(
  p: ManagedProcess,
  sig: NodeJS.Signals = 'SIGTERM',
  graceMs = 2000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (isRunning(p)) {
    p.kill(sig);
    const t = setTimeout(() => isRunning(p) && p.kill('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(t);
  }
  return p.exited;
}

class TopologyImpl implements Topology {
  readonly serverNs: string;
  readonly clientNs: string;
  readonly serverIp: string;
  readonly clientIp: string;
  readonly serverIf: string;
  readonly clientIf: string;
  readonly procs = new Set<ManagedProcess>();
  readonly dirs: string[] = [];
  readonly extraNs: string[] = [];
  private cleaning: Promise<void> | null = null;

  constructor(readonly id: string, readonly k: number) {
    this.serverNs = `ocs-${id}-s`;
    this.clientNs = `ocs-${id}-c`;
    this.serverIp = `198.18.${k}.1`;
    this.clientIp = `198.18.${k}.2`;
    // created directly inside the namespaces, so they never exist in the host
    this.serverIf = `v${id}s`;
    this.clientIf = `v${id}c`;
  }

  private marker(): Marker {
    return { pid: process.pid, start: procStart(process.pid), k: this.k, dirs: this.dirs, extraNs: this.extraNs };
  }

  async addNamespace(to: string): Promise<{ ns: string; ip: string; peerIp: string }> {
    this.assertOwn(to);
    const n = this.extraNs.length + 1;
    if (n > 60) throw new Error('too many namespaces in one topology');
    const ns = `ocs-${this.id}-x${n}`;
    const ip = `198.18.${this.k}.${4 * n + 2}`;
    const peerIp = `198.18.${this.k}.${4 * n + 1}`;
    this.extraNs.push(ns);
    this.saveMarker();
    const here = `v${this.id}x${n}`;
    const there = `v${this.id}y${n}`;
    await ipCheck(['netns', 'add', ns]);
    await ipCheck(['link', 'add', here, 'netns', ns, 'type', 'veth', 'peer', 'name', there, 'netns', to]);
    for (const [space, dev, addr] of [[ns, here, ip], [to, there, peerIp]]) {
      await ipCheck(['-n', space, 'addr', 'add', `${addr}/30`, 'dev', dev]);
      await ipCheck(['-n', space, 'link', 'set', 'lo', 'up']);
      await ipCheck(['-n', space, 'link', 'set', dev, 'up']);
      const off = ['all', 'default', dev].map((d) => `net.ipv4.conf.${d}.rp_filter=0`);
      await this.exec(space, 'sysctl', ['-q', '-w', ...off], { check: true });
    }
    return { ns, ip, peerIp };
  }

  saveMarker(): void {
    writeMarker(this.id, this.marker());
  }

  spawn(ns: string, cmd: string, args: string[] = [], opts: SpawnOptions = {}): ManagedProcess {
    this.assertOwn(ns);
    const child = cpSpawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: opts.stdio ?? ['pipe', 'pipe', 'pipe'],
    });
    const p = manage(child);
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
    return p;
  }

  async exec(ns: string, cmd: string, args: string[] = [], opts: ExecOptions = {}): Promise<ExecResult> {
    const p = this.spawn(ns, cmd, args, { env: opts.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    p.stdin!.on('error', () => {}); // EPIPE if the command ignores stdin
    p.stdin!.end(opts.input ?? '');
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    const { code, signal } = await p.exited;
    clearTimeout(timer);
    // 'exit' can precede the last 'data'; 'close' cannot
    if (p.stdout!.readable || p.stderr!.readable) await new Promise((r) => p.once('close', r));
    if (opts.check && code !== 0) {
      throw new Error(`[${ns}] ${cmd} ${args.join(' ')} → ${code ?? signal}\n${tail(stderr + stdout)}`);
    }
    return { code, signal, stdout, stderr };
  }

  tempDir(prefix = 'tmp'): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `ocs-${this.id}-${prefix}-`));
    fs.chmodSync(dir, 0o755);
    this.dirs.push(dir);
    this.saveMarker();
    return dir;
  }

  cleanup(): Promise<void> {
    this.cleaning ??= this.doCleanup();
    return this.cleaning;
  }

  private async doCleanup(): Promise<void> {
    await Promise.all([...this.procs].map((p) => stopProcess(p, 'SIGTERM', 2000)));
    // untracked children (ocserv workers, openconnect's script, …) die with the namespace
    for (const ns of [this.serverNs, this.clientNs, ...this.extraNs]) destroyNamespaceSync(ns);
    this.finish();
  }

  /** Last resort from 'exit' / signal handlers: no event loop, so everything synchronous. */
  cleanupSync(): void {
    for (const p of this.procs) if (isRunning(p)) p.kill('SIGTERM');
    for (let i = 0; i < 10 && [...this.procs].some(isRunning); i++) sleepSync(50);
    for (const p of this.procs) if (isRunning(p)) p.kill('SIGKILL');
    for (const ns of [this.serverNs, this.clientNs, ...this.extraNs]) destroyNamespaceSync(ns);
    this.finish();
  }

  private finish(): void {
    for (const d of this.dirs) fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(path.join(MARKER_DIR, `${this.id}.json`), { force: true });
    live.delete(this);
  }

  private assertOwn(ns: string): void {
    if (ns !== this.serverNs && ns !== this.clientNs && !this.extraNs.includes(ns)) throw new Error(`not a namespace of this topology: ${ns}`);
  }
}

const live = new Set<TopologyImpl>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  const cleanAll = () => {
    for (const t of [...live]) t.cleanupSync();
  };
  process.on('exit', cleanAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanAll();
      // re-raise so the default action (or another handler) still happens
      process.removeListener(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

async function ipCheck(args: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    execFile('ip', args, (err, _o, stderr) => (err ? reject(new Error(`ip ${args.join(' ')}: ${stderr || err.message}`)) : resolve())),
  );
}

// ---------------------------------------------------------------- topology

/**
 * Two namespaces joined by a veth pair: server 198.18.k.1/30, client 198.18.k.2/30.
 * The addresses only exist inside the namespaces, so a clash between parallel runs
 * would be harmless; k is still chosen unused to keep logs unambiguous.
 */
/** Random links are 198.18.k.0/30 with k in 1..LINK_INDEX_MAX (see createTopology). */
const LINK_INDEX_MAX = 239;

export async function createTopology(opts: TopologyOptions = {}): Promise<Topology> {
  installExitHooks();
  const existing = new Set(listNamespaces());
  let id: string;
  do id = 't' + randomBytes(3).toString('hex');
  // never adopt a namespace we did not create: cleanup would delete it
  while (readMarker(id) !== null || existing.has(`ocs-${id}-s`) || existing.has(`ocs-${id}-c`));

  let k = opts.linkIndex;
  if (k === undefined) {
    const used = new Set<number>();
    for (const f of fs.existsSync(MARKER_DIR) ? fs.readdirSync(MARKER_DIR) : []) {
      const m = readMarker(f.replace(/\.json$/, ''));
      if (m && ownerAlive(m)) used.add(m.k);
    }
    // 198.18.240.0-198.18.255.255 stay for the addresses and routes tests set up themselves
    // (a network behind a client, a server's extra addresses): never a link of ours
    const free = Array.from({ length: LINK_INDEX_MAX }, (_, i) => i + 1).filter((x) => !used.has(x));
    k = free[Math.floor(Math.random() * free.length)] ?? 1 + Math.floor(Math.random() * LINK_INDEX_MAX);
  }
  if (!(k >= 1 && k <= 254)) throw new Error(`linkIndex out of range: ${k}`);

  const topo = new TopologyImpl(id, k);
  // marker before the namespaces exist, so removeStaleNamespaces never sees an unowned one of ours
  topo.saveMarker();
  live.add(topo);
  try {
    const { serverNs: s, clientNs: c, serverIf: si, clientIf: ci } = topo;
    await ipCheck(['netns', 'add', s]);
    await ipCheck(['netns', 'add', c]);
    await ipCheck(['link', 'add', si, 'netns', s, 'type', 'veth', 'peer', 'name', ci, 'netns', c]);
    for (const [ns, dev, addr] of [
      [s, si, topo.serverIp],
      [c, ci, topo.clientIp],
    ]) {
      await ipCheck(['-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev]);
      await ipCheck(['-n', ns, 'link', 'set', 'lo', 'up']);
      await ipCheck(['-n', ns, 'link', 'set', dev, 'up']);
      // a new netns may start with the host's rp_filter (devconf_inherit_init_net, sysctl.d);
      // strict mode drops tunnel packets whose source is routed elsewhere (split routes,
      // OCS_TEST_ROUTE). The effective value is max(all, device), hence all three.
      const off = ['all', 'default', dev].map((d) => `net.ipv4.conf.${d}.rp_filter=0`);
      await topo.exec(ns, 'sysctl', ['-q', '-w', ...off], { check: true });
    }
  } catch (err) {
    await topo.cleanup();
    throw err;
  }
  return topo;
}

/**
 * Delete `ocs-t*` namespaces (and their processes, temp dirs and markers) left by
 * harness runs whose owning process is gone. Namespaces without our marker file are
 * never touched, whatever their name.
 */
export function removeStaleNamespaces(): { removed: string[]; skipped: string[] } {
  const removed: string[] = [];
  const skipped: string[] = [];
  const ids = new Set<string>();
  for (const ns of listNamespaces()) {
    const m = NS_RE.exec(ns);
    if (m) ids.add(m[1]);
  }
  for (const f of fs.existsSync(MARKER_DIR) ? fs.readdirSync(MARKER_DIR) : []) {
    if (/^t[0-9a-f]{6}\.json$/.test(f)) ids.add(f.slice(0, -5));
  }
  const present = new Set(listNamespaces());
  for (const id of ids) {
    const m = readMarker(id);
    const names = [`ocs-${id}-s`, `ocs-${id}-c`, ...(m?.extraNs ?? [])].filter((n) => present.has(n));
    if (!m || ownerAlive(m)) {
      skipped.push(...names);
      continue;
    }
    for (const ns of names) destroyNamespaceSync(ns);
    for (const d of m.dirs) if (d.startsWith(os.tmpdir() + path.sep)) fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(path.join(MARKER_DIR, `${id}.json`), { force: true });
    removed.push(...names);
  }
  return { removed, skipped };
}

// ---------------------------------------------------------------- repo paths

let root: string | undefined;
/** The checkout root, found from this file whether it runs from dist/ or via a TS loader. */
/**
 * The environment for a server under test: the test runner's NODE_OPTIONS (tap loads its
 * coverage hooks that way, and they follow every child) must not leak into the server.
 */
export function serverEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(NODE_OPTIONS|TAP|_TAPJS)/.test(k)) env[k] = v;
  return env;
}

/**
 * The command that starts ocserv-ts (node + bin/ocserv-ts + args). Workers run as nobody and
 * must read the code; when this checkout sits under a directory nobody cannot enter (a clone
 * in a mode-700 home), the server runs in a private mount namespace that shows the checkout
 * at /mnt/ocserv-ts, so tests work wherever CI clones without weakening the privilege drop.
 */
export function ocservTsCommand(args: string[], env: Record<string, string> = {}): { cmd: string; args: string[] } {
  const root = repoRoot();
  // tap's process tracking re-adds NODE_OPTIONS to every spawn; `env -u` drops it at exec.
  const envArgs = ['-u', 'NODE_OPTIONS', ...Object.entries(env).map(([k, v]) => `${k}=${v}`)];
  const probe = spawnSync('runuser', ['-u', 'nobody', '--', 'test', '-r', path.join(root, 'dist', 'src', 'worker', 'index.js')]);
  if (probe.status === 0) {
    return { cmd: 'env', args: [...envArgs, process.execPath, path.join(root, 'bin', 'ocserv-ts'), ...args] };
  }
  const script = 'mount -t tmpfs -o mode=755 ocs-code /mnt && mkdir /mnt/ocserv-ts && mount --bind "$0" /mnt/ocserv-ts && exec env "$@"';
  return {
    cmd: 'unshare',
    args: ['-m', '--propagation', 'private', 'sh', '-c', script, root, ...envArgs, process.execPath, '/mnt/ocserv-ts/bin/ocserv-ts', ...args],
  };
}

export function repoRoot(): string {
  if (root) return root;
  for (let d = __dirname; d !== path.dirname(d); d = path.dirname(d)) {
    try {
      if (JSON.parse(fs.readFileSync(path.join(d, 'package.json'), 'utf8')).name === 'ocserv-ts') return (root = d);
    } catch {
      /* keep walking */
    }
  }
  throw new Error(`cannot find the ocserv-ts checkout above ${__dirname}`);
}

export function vpncScriptPath(): string {
  return path.join(repoRoot(), 'test', 'helpers', 'vpnc-script.sh');
}

// ---------------------------------------------------------------- openconnect

/** What vpnc-script.sh saw (keys as in openconnect's script environment). */
export interface ScriptState {
  reason: string;
  TUNDEV: string;
  VPNGATEWAY?: string;
  INTERNAL_IP4_ADDRESS?: string;
  INTERNAL_IP4_NETMASK?: string;
  INTERNAL_IP4_MTU?: string;
  /** space-separated when several */
  INTERNAL_IP4_DNS?: string;
  CISCO_DEF_DOMAIN?: string;
  CISCO_BANNER?: string;
  CISCO_SPLIT_INC?: string;
  CISCO_SPLIT_EXC?: string;
  /** split-DNS domains, comma separated */
  CISCO_SPLIT_DNS?: string;
  INTERNAL_IP4_NBNS?: string;
  /** the IPv6 address, and `addr/len` (X-CSTP-Address-IP6) */
  INTERNAL_IP6_ADDRESS?: string;
  INTERNAL_IP6_NETMASK?: string;
  CISCO_IPV6_SPLIT_INC?: string;
  CISCO_IPV6_SPLIT_EXC?: string;
  /** split-include routes as `addr/len` */
  routes: string[];
  /** IPv6 split-include and split-exclude routes as `addr/len` */
  routes6?: string[];
  excludes6?: string[];
}

export interface ConnectOptions {
  url: string;
  user: string;
  password: string;
  /** `pin-sha256:…` */
  servercert: string;
  interfaceName?: string;
  noDtls?: boolean;
  extraArgs?: string[];
  /** default 20 s */
  timeoutMs?: number;
  /** routed into the tun when the server pushes no split-include route */
  route?: string;
  /** the same for IPv6, when the server pushes an IPv6 address but no IPv6 split-include route */
  route6?: string;
  /** extra environment for openconnect (e.g. GNUTLS_SYSTEM_PRIORITY_FILE to pin the TLS version) */
  env?: NodeJS.ProcessEnv;
  /** connect with this cookie (`--cookie-on-stdin`, as from openconnectAuthenticate) instead of logging in */
  cookie?: string;
}

export interface VpnSession {
  proc: ManagedProcess;
  tundev: string;
  /** the client's VPN address */
  address: string;
  /** its IPv6 address, '' without one */
  address6: string;
  state: ScriptState;
  output(): string;
  /** resolves with the first match of `re` in the output (e.g. /Established DTLS connection/); rejects after timeoutMs */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** SIGINT: openconnect sends a clean DISCONNECT (BYE) and logs off; SIGKILL after 5 s */
  disconnect(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function baseOpenconnectArgs(o: { user: string; servercert: string; answers?: string[] }): string[] {
  // with answers: interactive, so openconnect reads every form field (password, OTP, group) from stdin
  const mode = o.answers ? [] : ['--non-inter', '--passwd-on-stdin'];
  return ['--protocol=anyconnect', ...mode, '-u', o.user, '--servercert', o.servercert];
}

export async function connectOpenconnect(topo: Topology, o: ConnectOptions): Promise<VpnSession> {
  const stateFile = path.join(topo.tempDir('oc'), 'state.json');
  const login = o.cookie !== undefined
    ? ['--protocol=anyconnect', '--non-inter', '--cookie-on-stdin', '--servercert', o.servercert]
    : baseOpenconnectArgs(o);
  const args = [...login, '--script', vpncScriptPath()];
  if (o.interfaceName) args.push('-i', o.interfaceName);
  if (o.noDtls) args.push('--no-dtls');
  args.push(...(o.extraArgs ?? []), o.url);
  const env: NodeJS.ProcessEnv = { ...process.env, ...o.env, OCS_TEST_STATE: stateFile };
  if (o.route) env.OCS_TEST_ROUTE = o.route;
  else delete env.OCS_TEST_ROUTE;
  if (o.route6) env.OCS_TEST_ROUTE6 = o.route6;
  else delete env.OCS_TEST_ROUTE6;

  const proc = topo.spawn(topo.clientNs, 'openconnect', args, { env });
  proc.stdin!.on('error', () => {});
  proc.stdin!.end((o.cookie ?? o.password) + '\n');

  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  let state: ScriptState | null = null;
  while (!state) {
    if (fs.existsSync(stateFile)) {
      state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as ScriptState;
      break;
    }
    if (!isRunning(proc)) {
      const { code, signal } = await proc.exited;
      throw new Error(`openconnect exited (${code ?? signal}) before the tunnel came up:\n${tail(proc.output())}`);
    }
    if (Date.now() > deadline) {
      await stopProcess(proc, 'SIGKILL');
      throw new Error(`openconnect: no tunnel after ${o.timeoutMs ?? 20_000} ms:\n${tail(proc.output())}`);
    }
    await sleep(50);
  }
  return {
    proc,
    tundev: state.TUNDEV,
    address: state.INTERNAL_IP4_ADDRESS ?? '',
    address6: state.INTERNAL_IP6_ADDRESS ?? '',
    state,
    output: () => proc.output(),
    waitForOutput: async (re, timeoutMs = 10_000) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const m = re.exec(proc.output());
        if (m) return m;
        if (Date.now() > until || !isRunning(proc)) {
          throw new Error(`openconnect: no ${re} within ${timeoutMs} ms:\n${tail(proc.output())}`);
        }
        await sleep(50);
      }
    },
    disconnect: () => stopProcess(proc, 'SIGINT', 5000),
  };
}

export interface AuthResult {
  code: number | null;
  /** COOKIE= as printed, i.e. what `openconnect -C` takes (may hold several `name=value;` pairs) */
  cookie?: string;
  /** just the value of the `webvpn` session cookie */
  webvpn?: string;
  host?: string;
  connectUrl?: string;
  fingerprint?: string;
  output: string;
}

/** `openconnect --authenticate`; a failed login gives a non-zero code and no cookie. */
export async function openconnectAuthenticate(
  topo: Topology,
  o: {
    url: string; user: string; password: string; servercert: string; extraArgs?: string[]; timeoutMs?: number;
    /** one line per form field openconnect asks for, in order (then `password` is unused) */
    answers?: string[];
  },
): Promise<AuthResult> {
  const r = await topo.exec(
    topo.clientNs,
    'openconnect',
    ['--authenticate', ...baseOpenconnectArgs(o), ...(o.extraArgs ?? []), o.url],
    { input: o.answers ? o.answers.map((a) => a + '\n').join('') : o.password + '\n', timeoutMs: o.timeoutMs ?? 30_000 },
  );
  const vars: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^([A-Z_]+)='(.*)'$/.exec(line);
    // openconnect shell-quotes values: ' becomes '\''
    if (m) vars[m[1]] = m[2].replace(/'\\''/g, "'");
  }
  const webvpn = /(?:^|;\s*)webvpn=([^;]*)/.exec(vars.COOKIE ?? '')?.[1];
  return {
    code: r.code,
    cookie: vars.COOKIE,
    webvpn,
    host: vars.HOST,
    connectUrl: vars.CONNECT_URL,
    fingerprint: vars.FINGERPRINT,
    output: r.stdout + r.stderr,
  };
}

// ---------------------------------------------------------------- ping

export interface PingOptions {
  /** ICMP payload bytes (-s) */
  size?: number;
  /** default 3 */
  count?: number;
  iface?: string;
  /** overall deadline (-w) in seconds */
  timeoutS?: number;
  /** -M do: fail instead of fragmenting, for MTU tests */
  dontFragment?: boolean;
}

export interface PingResult {
  /** at least one reply (ping's exit code 0) */
  ok: boolean;
  transmitted: number;
  received: number;
  output: string;
}

/** A counter of the Udp line of /proc/net/snmp in a namespace (all its sockets together). */
export async function udpCounter(topo: Topology, ns: string, name: 'InDatagrams' | 'OutDatagrams'): Promise<number> {
  const lines = (await topo.exec(ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  return Number(lines[1].split(/\s+/)[lines[0].split(/\s+/).indexOf(name)]);
}

export async function ping(topo: Topology, ns: string, dest: string, o: PingOptions = {}): Promise<PingResult> {
  const count = o.count ?? 3;
  const args = ['-n', '-c', String(count), '-W', '2', '-i', '0.2'];
  if (o.iface) args.push('-I', o.iface);
  if (o.size !== undefined) args.push('-s', String(o.size));
  if (o.timeoutS !== undefined) args.push('-w', String(o.timeoutS));
  if (o.dontFragment) args.push('-M', 'do');
  args.push(dest);
  const r = await topo.exec(ns, 'ping', args, { timeoutMs: ((o.timeoutS ?? count * 2) + 5) * 1000 });
  const out = r.stdout + r.stderr;
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  return { ok: r.code === 0, transmitted: m ? +m[1] : 0, received: m ? +m[2] : 0, output: out };
}

// ---------------------------------------------------------------- servers

export interface UserSpec {
  name: string;
  password: string;
  group?: string;
}

export interface ServerFilesOptions {
  /** address the server listens on (the server's veth address) */
  listenHost: string;
  /** TCP and UDP port, default 4443 */
  port?: number;
  /** false: no udp-port line, so no DTLS */
  udp?: boolean;
  users: UserSpec[];
  /**
   * Appended ocserv.conf lines. A key set here replaces every default line with
   * that key (so `route = …` replaces the default route instead of adding one).
   */
  extraConfig?: string;
  /** default lines left out altogether (e.g. ipv4-network and ipv4-netmask for an IPv6-only server) */
  omit?: string[];
  /** server certificate/key pairs, each signed by the CA (default: one ECDSA P-256) */
  keys?: KeyKind[];
}

export type KeyKind = 'ecdsa' | 'rsa';

export interface ServerKeyFiles {
  kind: KeyKind;
  certPath: string;
  keyPath: string;
  /** pin-sha256 of this certificate */
  pin: string;
}

export interface ServerFiles {
  dir: string;
  confPath: string;
  caCertPath: string;
  certPath: string;
  keyPath: string;
  passwdPath: string;
  pidPath: string;
  socketPath: string;
  occtlSocketPath: string;
  /** `pin-sha256:` + base64(SHA-256(DER SubjectPublicKeyInfo)) of the server certificate */
  pin: string;
  port: number;
  /** the ipv4-network of the defaults; the server-side tun address is its first host */
  vpnNetwork: string;
  /** every server-cert/server-key pair in config order; the first is certPath/keyPath/pin */
  keys: ServerKeyFiles[];
}

function run(cmd: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile(cmd, args, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${stderr || err.message}`)) : resolve(stdout),
    );
    // a tool that exits without reading its input (openssl, certtool) must not crash the test
    c.stdin?.on('error', () => {});
    c.stdin?.end(input ?? '');
  });
}

export function pinOf(certPem: string | Buffer): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return 'pin-sha256:' + createHash('sha256').update(spki).digest('base64');
}

/** CA + ECDSA P-256 server certificate (what ocserv deployments commonly use), passwd and ocserv.conf. */
export async function writeServerFiles(dir: string, o: ServerFilesOptions): Promise<ServerFiles> {
  const p = (f: string) => path.join(dir, f);
  const port = o.port ?? 4443;
  const f: ServerFiles = {
    dir,
    confPath: p('ocserv.conf'),
    caCertPath: p('ca.pem'),
    certPath: p('server-cert.pem'),
    keyPath: p('server-key.pem'),
    passwdPath: p('ocpasswd'),
    pidPath: p('ocserv.pid'),
    socketPath: p('ocserv.sock'),
    occtlSocketPath: p('occtl.sock'),
    pin: '',
    port,
    vpnNetwork: '198.19.0.0/24',
    keys: [],
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', p('ca-key.pem'), '-out', f.caCertPath, '-days', '3650',
    '-subj', '/CN=ocs-test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  fs.writeFileSync(p('server-ext.cnf'),
    `subjectAltName=IP:${o.listenHost}\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\nbasicConstraints=critical,CA:FALSE\n`);
  for (const [i, kind] of (o.keys ?? ['ecdsa']).entries()) {
    const k: ServerKeyFiles = i === 0
      ? { kind, certPath: f.certPath, keyPath: f.keyPath, pin: '' }
      : { kind, certPath: p(`server-cert-${i}-${kind}.pem`), keyPath: p(`server-key-${i}-${kind}.pem`), pin: '' };
    const newkey = kind === 'rsa' ? ['-newkey', 'rsa:2048', '-nodes'] : ec;
    await run('openssl', ['req', '-new', ...newkey, '-keyout', k.keyPath, '-out', p('server.csr'), '-subj', `/CN=${o.listenHost}`]);
    await run('openssl', ['x509', '-req', '-in', p('server.csr'), '-CA', f.caCertPath, '-CAkey', p('ca-key.pem'),
      '-CAcreateserial', '-days', '3650', '-extfile', p('server-ext.cnf'), '-out', k.certPath]);
    fs.chmodSync(k.keyPath, 0o600);
    k.pin = pinOf(fs.readFileSync(k.certPath));
    f.keys.push(k);
  }
  f.pin = f.keys[0].pin;

  fs.writeFileSync(f.passwdPath, '');
  for (const u of o.users) {
    // ocpasswd reads one line when stdin is not a tty; the second copy covers a re-prompt
    await run('ocpasswd', ['-c', f.passwdPath, ...(u.group ? ['-g', u.group] : []), u.name], `${u.password}\n${u.password}\n`);
  }

  const defaults: [string, string | number | boolean][] = [
    ['auth', `"plain[passwd=${f.passwdPath}]"`],
    ['tcp-port', port],
    ...(o.udp === false ? [] : [['udp-port', port] as [string, number]]),
    ['listen-host', o.listenHost],
    // per-instance paths: several servers may run at once, and never the system's
    ['socket-file', f.socketPath],
    ['pid-file', f.pidPath],
    ['use-occtl', true],
    ['occtl-socket-file', f.occtlSocketPath],
    ...f.keys.flatMap((k): [string, string][] => [['server-cert', k.certPath], ['server-key', k.keyPath]]),
    ['run-as-user', 'nobody'],
    ['run-as-group', 'nogroup'],
    ['isolate-workers', false],
    ['max-clients', 64],
    // tests log in repeatedly as one user and on purpose with wrong passwords
    ['max-same-clients', 0],
    ['max-ban-score', 0],
    ['auth-timeout', 240],
    ['cookie-timeout', 300],
    ['keepalive', 32400],
    ['dpd', 90],
    ['mobile-dpd', 1800],
    ['try-mtu-discovery', false],
    ['device', 'vpns'],
    ['predictable-ips', true],
    ['ipv4-network', '198.19.0.0'],
    ['ipv4-netmask', '255.255.255.0'],
    ['dns', '198.19.0.1'],
    ['route', '198.19.0.0/255.255.255.0'],
  ];
  const extra = o.extraConfig ?? '';
  const overridden = new Set(
    extra.split('\n').map((l) => /^\s*([A-Za-z0-9-]+)\s*=/.exec(l)?.[1]).filter((k): k is string => !!k),
  );
  for (const k of o.omit ?? []) overridden.add(k);
  const lines = defaults.filter(([k]) => !overridden.has(k)).map(([k, v]) => `${k} = ${v}`);
  fs.writeFileSync(f.confPath, `# written by test/helpers/netns.ts\n${lines.join('\n')}\n${extra}\n`);
  return f;
}

export type ServerKind = 'ocserv' | 'ocserv-ts';

export interface StartServerOptions extends Omit<ServerFilesOptions, 'listenHost'> {
  /** default 'ocserv' (Debian's) */
  kind?: ServerKind;
  /** default: the topology's server veth address */
  listenHost?: string;
  /** ocserv -d level */
  debug?: number;
  /** default 15 s */
  startTimeoutMs?: number;
  /** the namespace to run in (one of the topology's); default the server namespace */
  ns?: string;
}

export interface ServerHandle {
  kind: ServerKind;
  proc: ManagedProcess;
  pin: string;
  confPath: string;
  dir: string;
  files: ServerFiles;
  /** https://<listen>:<port>/ */
  url: string;
  output(): string;
  /** SIGTERM (SIGKILL after 5 s); the temp dir stays until topology cleanup */
  stop(): Promise<void>;
}

async function tcpListening(topo: Topology, ip: string, port: number, ns = topo.serverNs): Promise<boolean> {
  // ss instead of a probe connection, which the server would log as a failed client
  const r = await topo.exec(ns, 'ss', ['-Hltn', `src ${ip}:${port}`], { timeoutMs: 5000 });
  return r.stdout.trim() !== '';
}

/** Start Debian's ocserv or ocserv-ts (same ocserv.conf) in the server namespace and wait until it listens. */
export async function startServer(topo: Topology, o: StartServerOptions): Promise<ServerHandle> {
  const kind = o.kind ?? 'ocserv';
  const listenHost = o.listenHost ?? topo.serverIp;
  const dir = topo.tempDir(kind);
  const files = await writeServerFiles(dir, { ...o, listenHost });
  const args = ['-f', '-c', files.confPath, ...(o.debug !== undefined ? ['-d', String(o.debug)] : [])];
  const ns = o.ns ?? topo.serverNs;
  const proc =
    kind === 'ocserv'
      ? topo.spawn(ns, 'ocserv', args)
      : (() => { const c = ocservTsCommand(args); return topo.spawn(ns, c.cmd, c.args, { env: serverEnv() }); })();
  const stop = async () => {
    await stopProcess(proc, 'SIGTERM', 5000);
  };
  const timeout = o.startTimeoutMs ?? 15_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (!isRunning(proc)) {
      const { code, signal } = await proc.exited;
      throw new Error(`${kind} exited (${code ?? signal}) during start-up:\n${tail(proc.output())}`);
    }
    if (await tcpListening(topo, listenHost, files.port, ns)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} not listening on ${listenHost}:${files.port} after ${timeout} ms:\n${tail(proc.output())}`);
    }
    await sleep(100);
  }
  return {
    kind,
    proc,
    pin: files.pin,
    confPath: files.confPath,
    dir,
    files,
    url: `https://${listenHost}:${files.port}/`,
    output: () => proc.output(),
    stop,
  };
}

export function startDebianOcserv(topo: Topology, o: Omit<StartServerOptions, 'kind'>): Promise<ServerHandle> {
  return startServer(topo, { ...o, kind: 'ocserv' });
}

/**
 * The server-side address of a session's tun (the address to reach the server
 * through the VPN): the local address of the point-to-point device in the server
 * namespace whose peer is the client's VPN address.
 */
export async function serverTunAddress(topo: Topology, clientVpnAddress: string): Promise<string | null> {
  const r = await topo.exec(topo.serverNs, 'ip', ['-4', '-o', 'addr', 'show'], { check: true });
  for (const line of r.stdout.split('\n')) {
    const m = /\binet (\d+\.\d+\.\d+\.\d+) peer (\d+\.\d+\.\d+\.\d+)/.exec(line);
    if (m && m[2] === clientVpnAddress) return m[1];
  }
  return null;
}
