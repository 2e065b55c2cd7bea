/**
 * DTLS with Debian's openconnect: PSK-NEGOTIATE, the legacy AnyConnect resumption (DTLS 1.2
 * and Cisco's DTLS 0.9), DTLS switched off, UDP blocked, DTLS dying mid-session and coming
 * back from a new port, and junk on the UDP port.
 */
import t, { type Test } from 'tap';
import { DTLS_RCVBUF } from '../../src/common/socket-tuning';
import { join } from 'node:path';
import { until } from '../helpers/wait';
import {
  connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, udpCounter,
  type ServerHandle, type Topology, type VpnSession,
} from '../helpers/netns';

const USER = { name: 'alice', password: 'alice pw' };
const RAW_UDP = join(__dirname, '..', 'helpers', 'udp-junk.js');

let topo: Topology;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(() => topo?.cleanup());

async function withServer(extraConfig: string, fn: (server: ServerHandle) => Promise<void>): Promise<void> {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [USER], extraConfig });
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

const connect = (server: ServerHandle, extraArgs: string[] = []) =>
  connectOpenconnect(topo, { url: server.url, user: USER.name, password: USER.password, servercert: server.pin, extraArgs, timeoutMs: 30_000 });

const blockRule = (rule: string) => `table inet ocsblock {\n chain out {\n  type filter hook output priority 0;\n  ${rule}\n }\n}\n`;

async function nft(rules: string): Promise<void> {
  await topo.exec(topo.clientNs, 'nft', ['-f', '-'], { input: rules, check: true });
}

async function pingUntil(deadlineS: number): Promise<boolean> {
  for (let i = 0; i < deadlineS; i++) {
    if ((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1, timeoutS: 1 })).ok) return true;
  }
  return false;
}

async function expectDtlsTraffic(t: Test, s: VpnSession, cipher: RegExp): Promise<void> {
  const m = await s.waitForOutput(/Established DTLS connection \(using GnuTLS\)\. Ciphersuite (\S+)\./, 15_000);
  t.match(m[1], cipher, `openconnect reports ${m[1]}`);
  await new Promise((r) => setTimeout(r, 700)); // openconnect probes the DTLS MTU first
  const before = await udpCounter(topo, topo.serverNs, 'InDatagrams');
  const p = await ping(topo, topo.clientNs, '198.19.0.1', { count: 5 });
  const big = await ping(topo, topo.clientNs, '198.19.0.1', { count: 3, size: 1300, dontFragment: true });
  const after = await udpCounter(topo, topo.serverNs, 'InDatagrams');
  t.equal(p.received, 5, 'pings answered', { output: p.output });
  t.equal(big.received, 3, '1300-byte pings answered over DTLS', { output: big.output });
  t.ok(after - before >= 8, `the pings travelled over UDP (${after - before} datagrams)`);
}

t.test('PSK-NEGOTIATE (openconnect default)', async (t) => {
  await withServer('', async (server) => {
    const s = await connect(server);
    await expectDtlsTraffic(t, s, /^\(DTLS1\.2\)-\(PSK\)-\(AES-(256|128)-GCM\)$/);
    t.match(server.output(), /"cipher":"\(DTLS1\.2\)-\(PSK\)-\(AES-256-GCM\)","msg":"DTLS established"/);
    // the session's UDP socket takes bursts without dropping (src/common/socket-tuning.ts, DTLS_RCVBUF)
    const ss = await topo.exec(topo.serverNs, 'ss', ['-H', '-u', '-m', '-n', 'state', 'established'], { check: true });
    const rb = /skmem:\(r\d+,rb(\d+),/.exec(ss.stdout)?.[1];
    t.equal(Number(rb), 2 * DTLS_RCVBUF, 'the DTLS socket\'s receive buffer is enlarged', { ss: ss.stdout });
    await s.disconnect();
  });
});

t.test('legacy AnyConnect mode: DTLS 1.2 resumption with the client master secret', async (t) => {
  await withServer('dtls-psk = false', async (server) => {
    const s = await connect(server);
    await expectDtlsTraffic(t, s, /^\(DTLS1\.2\)-\(RSA\)-\(AES-256-GCM\)$/);
    await s.disconnect();
  });
});

for (const cipher of ['AES128-SHA', 'AES256-SHA']) {
  t.test(`legacy mode with Cisco's pre-standard DTLS 0.9, ${cipher}`, async (t) => {
    await withServer('dtls-psk = false', async (server) => {
      const s = await connect(server, [`--dtls-ciphers=${cipher}`]);
      await expectDtlsTraffic(t, s, new RegExp(`^\\(DTLS0\\.9\\)-\\(RSA\\)-\\(AES-${cipher.slice(3, 6)}-CBC\\)-\\(SHA1\\)$`));
      await s.disconnect();
    });
  });
}

for (const [what, config] of [['dtls-psk = false and dtls-legacy = false', 'dtls-psk = false\ndtls-legacy = false'], ['udp-port = 0', 'udp-port = 0']]) {
  t.test(`${what}: no DTLS offered, the tunnel runs over CSTP`, async (t) => {
    await withServer(config, async (server) => {
      const s = await connect(server);
      await new Promise((r) => setTimeout(r, 1500));
      t.notMatch(s.output(), /Established DTLS/);
      t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).received === 3, 'pings over CSTP');
      await s.disconnect();
    });
  });
}

t.test('UDP blocked from the start: CSTP carries the traffic', async (t) => {
  await withServer('', async (server) => {
    await nft(blockRule(`udp dport ${server.files.port} drop`));
    try {
      const s = await connect(server);
      await new Promise((r) => setTimeout(r, 2000));
      t.notMatch(s.output(), /Established DTLS/);
      t.equal((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).received, 3, 'pings over CSTP');
      await s.disconnect();
    } finally {
      await nft('delete table inet ocsblock');
    }
  });
});

t.test('DTLS dies mid-session: traffic goes on over CSTP; a new handshake from a new port is taken', async (t) => {
  await withServer('dpd = 2\nkeepalive = 5', async (server) => {
    const s = await connect(server);
    await s.waitForOutput(/Established DTLS connection/, 15_000);
    // Block only the current UDP flow (its source port): the client's next DTLS socket, on a
    // new port, gets through, as after a move to another network.
    const ss = (await topo.exec(topo.clientNs, 'ss', ['-Hunp'])).stdout;
    const sport = /:(\d+)\s+\S+:\d+\s+users:\(\("openconnect"/.exec(ss)?.[1];
    t.ok(sport, 'found the client DTLS port', { ss });
    await nft(blockRule(`udp sport ${sport} drop`));
    try {
      t.ok(await pingUntil(25), 'traffic continues while DTLS is dead');
      await s.waitForOutput(/Established DTLS connection[^]*Established DTLS connection/, 40_000);
      t.pass('openconnect established DTLS again');
      // the server logs it a moment after the client sees it
      const twice = await until('the second DTLS established', () => (server.output().match(/"msg":"DTLS established"/g) ?? []).length >= 2, 10_000, () => server.output().slice(-2000))
        .catch(() => false);
      t.ok(twice, 'the server took the second handshake for the same session');
      t.match(server.output(), /"msg":"session opened"/);
      t.equal((server.output().match(/"msg":"session opened"/g) ?? []).length, 1, 'still one session');
      t.equal((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).received, 3, 'pings after the new handshake');
    } finally {
      await nft('delete table inet ocsblock');
    }
    await s.disconnect();
  });
});

t.test('junk on the UDP port does not disturb a live DTLS session', async (t) => {
  await withServer('', async (server) => {
    const s = await connect(server);
    await s.waitForOutput(/Established DTLS connection/, 15_000);
    const r = await topo.exec(topo.clientNs, process.execPath, [RAW_UDP, topo.serverIp, String(server.files.port)], { timeoutMs: 20_000 });
    t.equal(r.code, 0, 'junk sent', { stderr: r.stderr });
    t.equal(server.proc.exitCode, null, 'main still runs');
    t.equal((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).received, 3, 'the session still works');
    t.notMatch(s.output(), /DTLS Dead Peer|Established DTLS connection[^]*Established DTLS connection/, 'DTLS was not disturbed');
    await s.disconnect();
  });
});
