/**
 * RADIUS accounting records as a real FreeRADIUS on loopback writes them to its detail
 * file (counters past 4 GiB in the Gigawords, every terminate cause by name), and a
 * fake server whose answers carry a wrong authenticator: they are ignored and the Stop stays
 * queued until a real answer comes.
 */
import t from 'tap';
import pino from 'pino';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RadiusAccounting } from '../../src/secmod/acct/radius-acct';
import type { AcctRecord } from '../../src/secmod/accounting';
import type { TerminateCause } from '../../src/ipc/messages';
import { freeUdpPort, startFreeradius } from '../helpers/freeradius';

const radius = require('radius') as {
  decode(a: { packet: Buffer; secret: string }): { code: string; identifier: number; authenticator: Buffer };
  encode_response(a: { packet: unknown; code: string; secret: string }): Buffer;
};

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-acct-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const GiB = 2 ** 30;
const record = (sid: string, cause?: TerminateCause): AcctRecord => ({
  sid, username: 'alice', groupname: '', remoteAddr: '198.18.0.2', ipv4: '198.19.0.9',
  stats: { rxBytes: 5 * GiB + 123, txBytes: 9 * GiB + 7, rxPackets: 4_000_000, txPackets: 6_000_000 },
  sessionTime: 3600, cause,
});

async function until(cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test('octets past 4 GiB and every terminate cause reach FreeRADIUS by name', async (t) => {
  const fr = await startFreeradius({ users: [] });
  t.teardown(() => fr.stop());
  const conf = fr.writeRadcliConfig(join(dir, 'radcli.conf'), 'nas-identifier acct-unit\n');
  const acct = new RadiusAccounting({ config: conf }, pino({ level: 'silent' }));
  t.teardown(() => acct.close());
  const causes: [TerminateCause, string][] = [
    ['user-request', 'User-Request'], ['lost-carrier', 'Lost-Carrier'], ['idle-timeout', 'Idle-Timeout'],
    ['session-timeout', 'Session-Timeout'], ['admin-reset', 'Admin-Reset'], ['admin-reboot', 'Admin-Reboot'], ['nas-error', 'NAS-Error'],
  ];
  acct.start(record('S0'));
  acct.interim(record('S0'));
  for (const [c] of causes) acct.stop(record(`S-${c}`, c));
  await until(() => acct.backlog === 0);
  const text = readFileSync(fr.detailPath, 'utf8');
  const blocks = text.split(/\n\s*\n/).filter((b) => b.trim());
  t.equal(blocks.length, 2 + causes.length);
  const stop = blocks.find((b) => b.includes('"S-user-request"'))!;
  t.match(stop, /Acct-Input-Octets = 1073741947\n/, "5 GiB + 123 = 1 gigaword and 1 GiB + 123");
  t.match(stop, /Acct-Input-Gigawords = 1\n/);
  t.match(stop, /Acct-Output-Octets = 1073741831\n/);
  t.match(stop, /Acct-Output-Gigawords = 2\n/);
  t.match(stop, /Acct-Input-Packets = 4000000\n/);
  t.match(stop, /NAS-Identifier = "acct-unit"/);
  for (const [c, name] of causes) {
    t.match(blocks.find((b) => b.includes(`"S-${c}"`)), new RegExp(`Acct-Terminate-Cause = ${name}\\n`), name);
  }
  t.notMatch(blocks.find((b) => b.includes('Acct-Status-Type = Start')), /Acct-Input-Octets/, 'a Start carries no counters');
});

t.test('answers with a wrong authenticator are ignored: the Stop stays queued until a real one', async (t) => {
  const port = await freeUdpPort();
  const secret = 'acct-secret';
  const sock = createSocket('udp4');
  let honest = false;
  let seen = 0;
  sock.on('message', (msg, rinfo) => {
    seen++;
    const req = radius.decode({ packet: msg, secret });
    const reply = radius.encode_response({ packet: req, code: 'Accounting-Response', secret: honest ? secret : 'not-the-secret' });
    sock.send(reply, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(port, '127.0.0.1', r));
  t.teardown(() => sock.close());
  const conf = join(dir, 'fake.conf');
  writeFileSync(conf, `authserver 127.0.0.1:${port}:${secret}\nacctserver 127.0.0.1:${port}:${secret}\nradius_timeout 1\nradius_retries 1\n`);
  const lines: string[] = [];
  const acct = new RadiusAccounting({ config: conf }, pino({ level: 'debug' }, { write: (s: string) => void lines.push(s) }));
  t.teardown(() => acct.close());
  acct.stop(record('S-fake', 'user-request'));
  await until(() => seen >= 2);
  t.equal(acct.backlog, 1, 'not taken for an answer');
  t.match(lines.join(''), /authenticator/i, 'the forged answer is logged');
  honest = true;
  await until(() => acct.backlog === 0, 30_000);
  t.pass('delivered once the server answers properly');
  t.ok(existsSync(conf));
});

t.test('IPv6: Framed-IPv6-Address always, Framed-IPv6-Prefix for a client given a network, NAS-IPv6-Address', async (t) => {
  const fr = await startFreeradius({ users: [] });
  t.teardown(() => fr.stop());
  const conf = fr.writeRadcliConfig(join(dir, 'radcli6.conf'), 'nas-ip 2001:db8::7\n');
  const acct = new RadiusAccounting({ config: conf }, pino({ level: 'silent' }));
  t.teardown(() => acct.close());
  acct.start({ ...record('V6-net'), ipv6: { address: 'fd00:73:0:5::9', prefix: 64 } });
  acct.start({ ...record('V6-one'), ipv4: undefined, ipv6: { address: 'fd00:73::abcd', prefix: 128 } });
  await until(() => acct.backlog === 0);
  const blocks = readFileSync(fr.detailPath, 'utf8').split(/\n\s*\n/).filter((b) => b.trim());
  const net = blocks.find((b) => b.includes('"V6-net"'))!;
  t.match(net, /Framed-IPv6-Address = fd00:73:0:5::9\n/);
  t.match(net, /Framed-IPv6-Prefix = fd00:73:0:5::\/64\n/);
  t.match(net, /Framed-IP-Address = 198\.19\.0\.9\n/, 'dual-stack: both');
  t.match(net, /NAS-IPv6-Address = 2001:db8::7\n/);
  const one = blocks.find((b) => b.includes('"V6-one"'))!;
  t.match(one, /Framed-IPv6-Address = fd00:73::abcd\n/);
  t.notMatch(one, /Framed-IPv6-Prefix|Framed-IP-Address/, 'a single address: no prefix; IPv6 only: no IPv4');
});
