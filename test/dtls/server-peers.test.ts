/**
 * The DTLS server against independent implementations: OpenSSL's s_client and GnuTLS's
 * gnutls-cli, in PSK mode, over loopback, through a small echo harness.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

const HARNESS = join(__dirname, 'echo-server.js');

interface Harness { proc: ChildProcess; port: number; events: Array<Record<string, unknown>> }

function startHarness(psk: string): Promise<Harness> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [HARNESS, psk], { stdio: ['ignore', 'pipe', 'inherit'] });
    const events: Array<Record<string, unknown>> = [];
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        events.push(ev);
        if (ev.event === 'listening') resolve({ proc, port: ev.port, events });
      }
    });
    proc.once('exit', () => reject(new Error('harness exited')));
  });
}

function run(cmd: string, args: string[], input: string, ms = 8000): Promise<string> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { out += d; });
    p.stdin.write(input);
    // keep stdin open a moment so the client reads the echo before it closes
    setTimeout(() => p.stdin.end(), 1500);
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('exit', () => { clearTimeout(timer); resolve(out); });
  });
}

const psk = randomBytes(32).toString('hex');
let h: Harness;
t.before(async () => { h = await startHarness(psk); });
t.teardown(() => { h?.proc.kill(); });

for (const cipher of ['PSK-AES256-GCM-SHA384', 'PSK-AES128-GCM-SHA256', 'PSK-CHACHA20-POLY1305', 'PSK-AES256-CBC-SHA', 'PSK-AES128-CBC-SHA']) {
  t.test(`openssl s_client -dtls1_2 -psk, ${cipher}`, async (t) => {
    const out = await run('openssl', ['s_client', '-dtls1_2', '-psk', psk, '-psk_identity', 'psk', '-cipher', cipher,
      '-connect', `127.0.0.1:${h.port}`, '-quiet', '-no_ign_eof'], `hello ${cipher}\n`);
    t.match(out, `echo:hello ${cipher}`, 'data both ways through the DTLS session');
    t.ok(h.events.some((e) => e.event === 'established' && e.suite === cipher), 'the server negotiated it');
  });
}

t.test('gnutls-cli --udp with PSK', async (t) => {
  const out = await run('gnutls-cli', ['--udp', '--pskusername', 'psk', '--pskkey', psk,
    '--priority', 'NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+PSK', '-p', String(h.port), '127.0.0.1'], 'hello gnutls\n');
  t.match(out, /Handshake was completed/);
  t.match(out, 'echo:hello gnutls');
});

t.test('a wrong PSK fails the handshake and the server stays up', async (t) => {
  const out = await run('openssl', ['s_client', '-dtls1_2', '-psk', randomBytes(32).toString('hex'), '-psk_identity', 'psk',
    '-connect', `127.0.0.1:${h.port}`, '-quiet', '-no_ign_eof'], 'nope\n', 5000);
  t.notMatch(out, 'echo:nope');
  t.ok(h.events.some((e) => e.event === 'closed' && /does not verify/.test(String(e.reason))), 'Finished did not verify');
  const again = await run('openssl', ['s_client', '-dtls1_2', '-psk', psk, '-psk_identity', 'psk', '-connect', `127.0.0.1:${h.port}`, '-quiet', '-no_ign_eof'], 'still here\n');
  t.match(again, 'echo:still here');
});

t.test('junk datagrams are dropped without harm', async (t) => {
  const sock = createSocket('udp4');
  for (let i = 0; i < 200; i++) sock.send(randomBytes(1 + (i * 37) % 1400), h.port, '127.0.0.1');
  // a ClientHello header that claims an enormous message
  sock.send(Buffer.from('16fefd000000000000000000ff01ffffff0000000000ffffff', 'hex'), h.port, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 300));
  sock.close();
  t.equal(h.proc.exitCode, null, 'harness still running');
  const out = await run('openssl', ['s_client', '-dtls1_2', '-psk', psk, '-psk_identity', 'psk', '-connect', `127.0.0.1:${h.port}`, '-quiet', '-no_ign_eof'], 'after junk\n');
  t.match(out, 'echo:after junk');
});
