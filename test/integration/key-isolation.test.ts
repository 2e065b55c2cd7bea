/**
 * Key isolation with real clients: the workers that speak TLS cannot read the server keys
 * and never hold them, yet openconnect, openssl s_client and gnutls-cli complete TLS 1.2 and
 * 1.3 handshakes with ECDSA and RSA keys, and with both at once (the certificate chosen by
 * the client's signature algorithms); sec-mod performs every signature.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer,
  type KeyKind, type ServerHandle, type Topology,
} from '../helpers/netns';
import { keyNeedles } from '../helpers/key-material';
import { scanMemory } from '../helpers/memscan';
import { serverProcs, statusField } from '../helpers/server-procs';

const USER = { name: 'alice', password: 'alice-pw' };
let topo: Topology;
let tls12Only: string;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  // GnuTLS (openconnect, gnutls-cli) reads its system priority file from here: TLS 1.3 off
  tls12Only = join(topo.tempDir('gnutls'), 'tls12.conf');
  writeFileSync(tls12Only, '[overrides]\ndisabled-version = tls1.3\n');
});
t.teardown(() => topo?.cleanup());

async function server(keys: KeyKind[], port: number, extraConfig = ''): Promise<ServerHandle> {
  return startServer(topo, { kind: 'ocserv-ts', users: [USER], keys, port, udp: false, extraConfig });
}

async function sClient(s: ServerHandle, version: '1.2' | '1.3', sigalgs: string) {
  const r = await topo.exec(topo.clientNs, 'openssl', [
    's_client', '-connect', `${topo.serverIp}:${s.files.port}`, `-tls${version.replace('.', '_')}`, '-sigalgs', sigalgs,
    '-CAfile', s.files.caCertPath, '-verify_return_error', '-verify_ip', topo.serverIp,
  ], { input: '', timeoutMs: 15_000 });
  const out = r.stdout + r.stderr;
  return {
    ok: r.code === 0 && /Verify return code: 0 \(ok\)/.test(out),
    protocol: /^New, (TLSv[\d.]+), Cipher is/m.exec(out)?.[1],
    sigType: /Peer signature type: (\S+)/.exec(out)?.[1],
    keyBits: Number(/Server public key is (\d+) bit/.exec(out)?.[1]),
    out,
  };
}

async function gnutlsCli(s: ServerHandle, version: '1.2' | '1.3', sign: string) {
  const priority = `NORMAL:-VERS-ALL:+VERS-TLS${version}:-SIGN-ALL:+${sign}`;
  const r = await topo.exec(topo.clientNs, 'gnutls-cli', [
    '--x509cafile', s.files.caCertPath, '--priority', priority, '-p', String(s.files.port), topo.serverIp,
  ], { input: '', timeoutMs: 15_000 });
  const out = r.stdout + r.stderr;
  return { ok: r.code === 0 && /Handshake was completed/.test(out), description: /Description: (\S+)/.exec(out)?.[1] ?? '', out };
}

t.test('ECDSA and RSA certificates side by side: openssl s_client and gnutls-cli, TLS 1.2 and 1.3', async (t) => {
  const s = await server(['ecdsa', 'rsa'], 4443);
  t.teardown(() => s.stop());
  const openssl: Array<['1.2' | '1.3', string, string, number]> = [
    ['1.2', 'ECDSA+SHA256', 'ECDSA', 256],
    ['1.3', 'ECDSA+SHA256', 'ECDSA', 256],
    ['1.2', 'RSA-PSS+SHA256', 'RSA-PSS', 2048],
    ['1.3', 'RSA-PSS+SHA256', 'RSA-PSS', 2048],
    ['1.2', 'RSA+SHA256', 'RSA', 2048],
  ];
  for (const [version, sigalgs, sigType, bits] of openssl) {
    const r = await sClient(s, version, sigalgs);
    t.same({ ok: r.ok, protocol: r.protocol, sigType: r.sigType, keyBits: r.keyBits },
      { ok: true, protocol: `TLSv${version}`, sigType, keyBits: bits }, `openssl s_client TLS ${version} ${sigalgs}`, { out: r.out.slice(-1500) });
  }
  const gnutls: Array<['1.2' | '1.3', string, RegExp]> = [
    ['1.2', 'SIGN-ECDSA-SHA256', /^\(TLS1\.2-X\.509\)-\(ECDHE-[^)]+\)-\(ECDSA-SHA256\)/],
    ['1.3', 'SIGN-ECDSA-SECP256R1-SHA256', /^\(TLS1\.3-X\.509\)-\(ECDHE-[^)]+\)-\(ECDSA-SECP256R1-SHA256\)/],
    ['1.2', 'SIGN-RSA-PSS-RSAE-SHA256', /^\(TLS1\.2-X\.509\)-\(ECDHE-[^)]+\)-\(RSA-PSS-RSAE-SHA256\)/],
    ['1.3', 'SIGN-RSA-PSS-RSAE-SHA384', /^\(TLS1\.3-X\.509\)-\(ECDHE-[^)]+\)-\(RSA-PSS-RSAE-SHA384\)/],
    ['1.2', 'SIGN-RSA-SHA256', /^\(TLS1\.2-X\.509\)-\(ECDHE-[^)]+\)-\(RSA-SHA256\)/],
  ];
  for (const [version, sign, description] of gnutls) {
    const r = await gnutlsCli(s, version, sign);
    t.ok(r.ok, `gnutls-cli TLS ${version} ${sign}: handshake and certificate verified`, { out: r.out.slice(-1500) });
    t.match(r.description, description, `gnutls-cli TLS ${version} ${sign}: ${r.description}`);
  }
  const kRSA = await topo.exec(topo.clientNs, 'openssl', ['s_client', '-connect', `${topo.serverIp}:${s.files.port}`, '-tls1_2', '-cipher', 'AES128-GCM-SHA256'], { input: '' });
  t.not(kRSA.code, 0, 'static-RSA key exchange is not offered');
});

for (const kind of ['ecdsa', 'rsa'] as const) {
  t.test(`openconnect with an ${kind.toUpperCase()} server key over TLS 1.2 and 1.3`, async (t) => {
    const s = await server([kind], kind === 'ecdsa' ? 4444 : 4445);
    t.teardown(() => s.stop());
    for (const version of ['1.2', '1.3']) {
      const vpn = await connectOpenconnect(topo, {
        url: s.url, user: USER.name, password: USER.password, servercert: s.pin, noDtls: true,
        env: version === '1.2' ? { GNUTLS_SYSTEM_PRIORITY_FILE: tls12Only } : {},
      });
      // GnuTLS signs TLS 1.2 with PKCS#1 v1.5 when it may, TLS 1.3 always with PSS
      const sig = kind === 'ecdsa' ? 'ECDSA-SECP256R1-SHA256|ECDSA-SHA256' : version === '1.2' ? 'RSA-SHA256|RSA-PSS-RSAE-SHA256' : 'RSA-PSS-RSAE-SHA256';
      const m = await vpn.waitForOutput(new RegExp(`ciphersuite \\(TLS${version.replace('.', '\\.')}\\)-\\(ECDHE-[^)]+\\)-\\((${sig})\\)`));
      t.ok(m, `TLS ${version}: ${m[0]}`);
      t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 2 })).ok, `TLS ${version}: traffic through the tunnel`);
      await vpn.disconnect();
    }
    t.notMatch(s.output(), /private-key operation refused|sec-mod unavailable/, 'sec-mod signed every handshake');
  });
}

t.test('openconnect against both certificates at once', async (t) => {
  const s = await server(['ecdsa', 'rsa'], 4446);
  t.teardown(() => s.stop());
  for (const version of ['1.2', '1.3']) {
    const vpn = await connectOpenconnect(topo, {
      url: s.url, user: USER.name, password: USER.password, servercert: s.files.keys[0].pin, noDtls: true,
      extraArgs: ['--servercert', s.files.keys[1].pin],
      env: version === '1.2' ? { GNUTLS_SYSTEM_PRIORITY_FILE: tls12Only } : {},
    });
    const m = await vpn.waitForOutput(new RegExp(`ciphersuite \\(TLS${version.replace('.', '\\.')}\\)-[^\\n]*`));
    t.ok(m, `TLS ${version}: ${m[0]}`);
    t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1 })).ok, `TLS ${version}: tunnel up`);
    await vpn.disconnect();
  }
});

t.test('the worker user cannot open the keys, and workers hold no key material', async (t) => {
  // shared workers: the tunnel's worker also serves the handshakes below, and stays to be scanned
  const s = await server(['ecdsa', 'rsa'], 4447, 'clients-per-worker = 4');
  t.teardown(() => s.stop());
  for (const k of s.files.keys) {
    const r = await topo.exec(topo.serverNs, 'runuser', ['-u', 'nobody', '-g', 'nogroup', '--', 'cat', k.keyPath]);
    t.not(r.code, 0, `${k.kind}: cat as nobody fails`);
    t.match(r.stderr, /Permission denied/, `${k.kind}: permission denied`);
  }
  t.notMatch(s.output(), /server-key:.*can read it/, 'no warning about key permissions at start');

  const vpn = await connectOpenconnect(topo, { url: s.url, user: USER.name, password: USER.password, servercert: s.files.keys.map((k) => k.pin)[0], noDtls: true, extraArgs: ['--servercert', s.files.keys[1].pin] });
  // a handshake per key type into workers that are then scanned (the tunnel's worker stays)
  for (const sigalgs of ['ECDSA+SHA256', 'RSA-PSS+SHA256']) t.ok((await sClient(s, '1.3', sigalgs)).ok, `handshake with ${sigalgs}`);
  const { workers, secmod } = serverProcs(s);
  t.ok(workers.length >= 1, `workers to scan: ${workers.join(', ')}`);
  t.equal(secmod.length, 1, 'one sec-mod');
  for (const pid of workers) t.equal(statusField(pid, 'Uid').split(/\s+/)[0], '65534', `worker ${pid} runs as nobody`);

  const needles = s.files.keys.flatMap((k) => keyNeedles(readFileSync(k.keyPath, 'utf8')).map((n) => ({ ...n, name: `${k.kind} ${n.name}` })));
  for (const pid of workers) {
    const r = scanMemory(pid, needles.map((n) => n.bytes));
    const hits = needles.filter((_, i) => r.found[i]).map((n) => n.name);
    t.same(hits, [], `worker ${pid}: none of the keys' private values in ${(r.bytesScanned / 1048576).toFixed(0)} MB of its memory`);
  }
  // the same scan finds the keys where they are: it would see them in a worker too
  const inSecmod = scanMemory(secmod[0], needles.map((n) => n.bytes));
  for (const kind of ['ecdsa', 'rsa']) {
    t.ok(needles.some((n, i) => n.name.startsWith(kind) && inSecmod.found[i]), `the scan finds the ${kind} key in sec-mod`);
  }
  await vpn.disconnect();
});

t.test('key-isolation = false: the key is in the worker, and the start says so', async (t) => {
  const s = await server(['ecdsa'], 4448, 'key-isolation = false');
  t.teardown(() => s.stop());
  t.match(s.output(), /key-isolation = false: every worker holds the server private keys/);
  const vpn = await connectOpenconnect(topo, { url: s.url, user: USER.name, password: USER.password, servercert: s.pin, noDtls: true });
  const { workers } = serverProcs(s);
  const needles = keyNeedles(readFileSync(s.files.keyPath, 'utf8'));
  const found = workers.some((pid) => scanMemory(pid, needles.map((n) => n.bytes)).found.some(Boolean));
  t.ok(found, 'the scan that finds nothing with isolation finds the key in a worker without it');
  await vpn.disconnect();
});
