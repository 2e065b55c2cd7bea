/**
 * A real FreeRADIUS 3 (Debian's `freeradius`) for tests, with its own minimal config
 * directory: one client (our NAS), a `users` file for password checks and reply
 * attributes, unlang for challenge/response users (Access-Challenge with a State, then
 * the OTP), and an accounting listener whose `detail` module writes every
 * Accounting-Request to `detailPath`.
 *
 * On the host it listens on 127.0.0.1 with free ports; given a topology and a namespace
 * it runs there (ports 1812/1813 by default), so sec-mod in that namespace can reach it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ManagedProcess, Topology } from './netns';

export interface RadiusUser {
  name: string;
  /** checked as PAP (Cleartext-Password) */
  password?: string;
  /** always refused (Auth-Type := Reject); a string becomes the Reply-Message */
  reject?: boolean | string;
  /** after the right password: Access-Challenge with `message` and a State; then `answer` is accepted */
  challenge?: { message: string; answer: string };
  /** reply attributes on Access-Accept, e.g. ['Framed-IP-Address', '198.19.0.77'], ['Class', 'OU=staff;'] */
  reply?: [string, string][];
}

export interface FreeradiusOptions {
  users: RadiusUser[];
  /** default 'testing-secret-' + random */
  secret?: string;
  /** address to listen on; default 127.0.0.1 */
  listen?: string;
  /** NAS addresses allowed (CIDR or address); default the listen address and 127.0.0.1 */
  clients?: string[];
  /** defaults: free ports on the host, 1812/1813 in a namespace */
  authPort?: number;
  acctPort?: number;
  /** run inside this namespace of `topo` (its loopback is separate from the host's) */
  topo?: Topology;
  ns?: string;
  /** where the config lives; default a fresh temp dir (removed by stop()) */
  dir?: string;
  /**
   * drop Access-Requests without a Message-Authenticator (FreeRADIUS's client option).
   * Default false: Debian's radcli 1.2.11, hence Debian's ocserv, sends none.
   */
  requireMessageAuthenticator?: boolean;
}

export interface FreeradiusHandle {
  dir: string;
  secret: string;
  address: string;
  authPort: number;
  acctPort: number;
  /** the detail file accounting requests are written to (may not exist before the first one) */
  detailPath: string;
  output(): string;
  /** a radcli client config for this server; `extra` lines are appended (radius_timeout 1 and radius_retries 2 unless given) */
  writeRadcliConfig(file: string, extra?: string): string;
  stop(): Promise<void>;
}

/** One Accounting-Request as FreeRADIUS's detail module wrote it: attribute name -> value. */
export type DetailRecord = Record<string, string>;

/** The detail file's records: a date line, then `\tName = value` lines, blank-line separated. */
export function readDetail(detailPath: string): DetailRecord[] {
  if (!fs.existsSync(detailPath)) return [];
  return fs.readFileSync(detailPath, 'utf8').split(/\n\s*\n/).filter((b) => b.trim()).map((block) => {
    const rec: DetailRecord = {};
    for (const line of block.split('\n')) {
      const m = /^\s+([\w-]+) = (.*)$/.exec(line);
      if (m) rec[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    }
    return rec;
  });
}

const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

function stateOf(user: string): string {
  return '0x' + Buffer.from(`ocs-state-${user}`).toString('hex');
}

function usersFile(users: RadiusUser[]): string {
  const out: string[] = [];
  for (const u of users) {
    if (u.challenge) continue;
    const check = u.reject ? 'Auth-Type := Reject' : `Cleartext-Password := ${q(u.password ?? '')}`;
    const reply = [...(u.reply ?? [])];
    if (typeof u.reject === 'string') reply.push(['Reply-Message', u.reject]);
    out.push(`${q(u.name)}\t${check}`);
    out.push(reply.map(([k, v]) => `\t${k} += ${q(v)}`).join(',\n'));
    out.push('');
  }
  return out.join('\n') + '\n';
}

function challengeUnlang(users: RadiusUser[]): string {
  const blocks = users.filter((u) => u.challenge).map((u) => {
    const c = u.challenge!;
    const replies = (u.reply ?? []).map(([k, v]) => `\t\t\t\t\t&${k} += ${q(v)}`).join('\n');
    return `if (&User-Name == ${q(u.name)}) {
			if (!&State) {
				if (&User-Password == ${q(u.password ?? '')}) {
					update reply {
						&Reply-Message := ${q(c.message)}
						&State := ${stateOf(u.name)}
					}
					update control {
						&Response-Packet-Type := Access-Challenge
					}
					handled
				}
				else {
					reject
				}
			}
			elsif (&State == ${stateOf(u.name)} && &User-Password == ${q(c.answer)}) {
				update control {
					&Auth-Type := Accept
				}
${replies ? `\t\t\t\tupdate reply {\n${replies}\n\t\t\t\t}\n` : ''}			}
			else {
				reject
			}
		}`;
  });
  // everyone else: the users file and PAP
  if (blocks.length === 0) return 'files\n\t\tpap';
  const chain = blocks.map((b, i) => (i === 0 ? b : `elsif${b.slice(2)}`)).join('\n\t\t');
  return `${chain}\n\t\telse {\n\t\t\tfiles\n\t\t\tpap\n\t\t}`;
}

function radiusdConf(dir: string, o: { listen: string; authPort: number; acctPort: number; secret: string; clients: string[]; users: RadiusUser[]; requireMA: boolean }): string {
  const clients = o.clients.map((c, i) => `client nas${i} {
	ipaddr = ${c}
	secret = ${o.secret}
	require_message_authenticator = ${o.requireMA ? 'yes' : 'no'}
}`).join('\n');
  return `# written by test/helpers/freeradius.ts
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = ${dir}
raddbdir = ${dir}
radacctdir = ${dir}
name = freeradius
confdir = \${raddbdir}
modconfdir = \${confdir}
run_dir = ${dir}
db_dir = \${raddbdir}
libdir = /usr/lib/freeradius
pidfile = \${run_dir}/radiusd.pid
max_request_time = 30
# no duplicate cache: a retransmission is answered again, as a test expects
cleanup_delay = 0
max_requests = 1024
hostname_lookups = no
log {
	destination = stdout
	colourise = no
	auth = yes
}
security {
	allow_core_dumps = no
	max_attributes = 200
	# answer rejects at once: tests need no brute-force delay
	reject_delay = 0
	status_server = yes
}
thread pool {
	start_servers = 1
	max_servers = 4
	min_spare_servers = 1
	max_spare_servers = 2
	max_requests_per_server = 0
}
${clients}
modules {
	files {
		filename = \${confdir}/users
		acctusersfile = \${confdir}/users-acct
	}
	pap {
		normalise = yes
	}
	detail {
		filename = \${radacctdir}/detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
		locking = no
	}
	always reject {
		rcode = reject
	}
	always ok {
		rcode = ok
	}
	always handled {
		rcode = handled
	}
}
server default {
	listen {
		type = auth
		ipaddr = ${o.listen}
		port = ${o.authPort}
	}
	listen {
		type = acct
		ipaddr = ${o.listen}
		port = ${o.acctPort}
	}
	authorize {
		${challengeUnlang(o.users)}
	}
	authenticate {
		Auth-Type PAP {
			pap
		}
	}
	post-auth {
		ok
		Post-Auth-Type REJECT {
			ok
		}
	}
	accounting {
		detail
		ok
	}
}
`;
}

/** A UDP port nobody on the host's 127.0.0.1 uses right now. */
export function freeUdpPort(address = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, address, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const live = new Set<ManagedProcess | import('node:child_process').ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

async function startOnce(o: FreeradiusOptions, authPort: number, acctPort: number): Promise<FreeradiusHandle> {
  const ownDir = !o.dir;
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'ocs-freeradius-'));
  fs.chmodSync(dir, 0o755);
  const listen = o.listen ?? '127.0.0.1';
  const secret = o.secret ?? `testing-secret-${Math.random().toString(36).slice(2, 10)}`;
  const clients = o.clients ?? [...new Set([listen, '127.0.0.1'])];
  fs.writeFileSync(path.join(dir, 'radiusd.conf'), radiusdConf(dir, { listen, authPort, acctPort, secret, clients, users: o.users, requireMA: o.requireMessageAuthenticator ?? false }));
  fs.writeFileSync(path.join(dir, 'users'), usersFile(o.users));
  fs.writeFileSync(path.join(dir, 'users-acct'), '');
  try {
    execFileSync('freeradius', ['-XC', '-d', dir], { stdio: 'pipe' });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`freeradius -XC rejects the test config in ${dir}:\n${(e.stdout?.toString() ?? '') + (e.stderr?.toString() ?? '')}`.slice(-4000));
  }

  const args = ['-f', '-l', 'stdout', '-d', dir];
  let out = '';
  let proc: import('node:child_process').ChildProcess;
  if (o.topo && o.ns) {
    proc = o.topo.spawn(o.ns, 'freeradius', args);
  } else {
    proc = spawn('freeradius', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  }
  live.add(proc);
  proc.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  void exited.then(() => live.delete(proc));

  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  while (!/Ready to process requests/.test(out)) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      await stop();
      throw new Error(`freeradius exited during start-up:\n${out.slice(-3000)}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`freeradius not ready after 15 s:\n${out.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    dir,
    secret,
    address: listen,
    authPort,
    acctPort,
    detailPath: path.join(dir, 'detail'),
    output: () => out,
    writeRadcliConfig: (file, extra = '') => {
      const lines = [
        `authserver ${listen}:${authPort}:${secret}`,
        `acctserver ${listen}:${acctPort}:${secret}`,
        'dictionary /etc/radcli/dictionary',
        ...(/^radius_timeout/m.test(extra) ? [] : ['radius_timeout 1']),
        ...(/^radius_retries/m.test(extra) ? [] : ['radius_retries 2']),
        extra,
      ];
      fs.writeFileSync(file, lines.join('\n') + '\n');
      return file;
    },
    stop,
  };
}

/** Writes the config, checks it with `freeradius -XC`, starts `freeradius -f` and waits until it is ready. */
export async function startFreeradius(o: FreeradiusOptions): Promise<FreeradiusHandle> {
  const inNs = !!(o.topo && o.ns);
  for (let attempt = 1; ; attempt++) {
    const authPort = o.authPort ?? (inNs ? 1812 : await freeUdpPort(o.listen));
    const acctPort = o.acctPort ?? (inNs ? 1813 : await freeUdpPort(o.listen));
    try {
      return await startOnce(o, authPort, acctPort);
    } catch (err) {
      // a free port can be taken between the probe and the bind; try fresh ones
      const portClash = /Address already in use|Failed binding/i.test((err as Error).message);
      if (!portClash || inNs || o.authPort || attempt >= 3) throw err;
    }
  }
}
