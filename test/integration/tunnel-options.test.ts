/**
 * The tunnel options with Debian's openconnect (src/worker/tunnel-options.ts): what the CONNECT
 * reply tells the client (proxy-url, listen-host-is-dyndns, client-bypass-protocol per user,
 * rekey-*), included-http-headers, rekeying on TLS 1.3 and TLS 1.2, a client that looks the
 * server up again (dyndns), switch-to-tcp-timeout, try-mtu-discovery, cisco-client-compat and
 * match-tls-dtls-ciphers.
 */
import t from 'tap';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer, udpCounter, vpncScriptPath,
  type ConnectOptions, type ServerHandle, type StartServerOptions, type Topology, type VpnSession,
} from '../helpers/netns';
import { issueClientCert, makeCa, type CertFiles } from '../helpers/client-certs';
import { until } from '../helpers/wait';

const USER = { name: 'alice', password: 'alice pw' };

let topo: Topology;
/** what this file made under /etc, removed at the end */
const etcDirs: string[] = [];
const madeEtcNetns = !existsSync('/etc/netns');
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await topo?.cleanup();
  for (const d of etcDirs) rmSync(d, { recursive: true, force: true });
  if (madeEtcNetns && existsSync('/etc/netns')) {
    try { rmdirSync('/etc/netns'); } catch { /* another test's namespace files are in it */ }
  }
});

async function withServer(extraConfig: string, fn: (server: ServerHandle) => Promise<void>, o: Partial<StartServerOptions> = {}): Promise<void> {
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [USER], extraConfig, ...o });
  try {
    await fn(server);
  } finally {
    await server.stop();
  }
}

const connect = (server: ServerHandle, o: Partial<ConnectOptions> = {}) =>
  connectOpenconnect(topo, { url: server.url, user: USER.name, password: USER.password, servercert: server.pin, timeoutMs: 30_000, ...o });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A --script that keeps what openconnect tells its script about the server's answer (the
 * proxy PAC URL, and every X-CSTP-* header in CISCO_CSTP_OPTIONS), then runs the harness's.
 */
function envScript(): { args: string[]; pac(): string; cstp(): string[] } {
  const dir = topo.tempDir('envscript');
  const script = join(dir, 'script.sh');
  writeFileSync(script, [
    '#!/bin/bash',
    `if [ "$reason" = connect ]; then printf '%s' "\${CISCO_PROXY_PAC-}" > ${dir}/pac; printf '%s' "\${CISCO_CSTP_OPTIONS-}" > ${dir}/cstp; fi`,
    `exec ${vpncScriptPath()}`,
    '',
  ].join('\n'));
  chmodSync(script, 0o755);
  return {
    args: ['--script', script],
    pac: () => readFileSync(join(dir, 'pac'), 'utf8'),
    cstp: () => readFileSync(join(dir, 'cstp'), 'utf8').split('\n').filter(Boolean),
  };
}

async function tunRxPackets(s: VpnSession): Promise<number> {
  return Number((await topo.exec(topo.clientNs, 'cat', [`/sys/class/net/${s.tundev}/statistics/rx_packets`], { check: true })).stdout);
}

async function nft(ns: string, rules: string): Promise<void> {
  await topo.exec(ns, 'nft', ['-f', '-'], { input: rules, check: true });
}

/** openconnect is done with its own MTU probing after the DTLS handshake */
const dtlsSettled = (s: VpnSession) => s.waitForOutput(/with SSL connected and DTLS connected/, 30_000);

async function pingUntil(ns: string, dest: string, tries: number, o: { size?: number; dontFragment?: boolean } = {}): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if ((await ping(topo, ns, dest, { count: 1, timeoutS: 2, ...o })).ok) return true;
  }
  return false;
}

t.test('the CONNECT reply: proxy PAC URL, dynamic DNS, client bypass from the user\'s file, rekey', async (t) => {
  const perUser = topo.tempDir('per-user');
  writeFileSync(join(perUser, USER.name), 'client-bypass-protocol = true\n');
  const env = envScript();
  await withServer([
    'proxy-url = http://pac.example/%{U}.pac', 'listen-host-is-dyndns = true', 'client-bypass-protocol = false',
    `config-per-user = ${perUser}/`, 'rekey-time = 3600', 'rekey-method = ssl',
  ].join('\n'), async (server) => {
    const s = await connect(server, { extraArgs: env.args });
    try {
      t.equal(env.pac(), 'http://pac.example/alice.pac', 'openconnect hands the PAC URL to its script, %{U} filled in');
      const opts = env.cstp();
      t.ok(opts.includes('X-CSTP-DynDNS=true'), 'dynamic DNS announced');
      t.ok(opts.includes('X-CSTP-Client-Bypass-Protocol=true'), 'client-bypass-protocol from the per-user file');
      t.ok(opts.includes('X-CSTP-Rekey-Method=ssl'), 'rekey on the same connection (TLS 1.3)');
      const time = Number(/^X-CSTP-Rekey-Time=(\d+)$/m.exec(opts.join('\n'))?.[1]);
      t.ok(time >= 3600 - 29 && time <= 3600 + 29, `rekey time ${time}: 3600 give or take 29 s`);
    } finally {
      await s.disconnect();
    }
  });
});

t.test('included-http-headers: in the answers of the login exchange, not in error answers', async (t) => {
  await withServer([
    'included-http-headers = Strict-Transport-Security: max-age=31536000 ; includeSubDomains',
    'included-http-headers = Clear-Site-Data: "cache","cookies"',
  ].join('\n'), async (server) => {
    const get = async (path: string) => (await topo.exec(topo.clientNs, 'curl', ['-sk', '-D-', '-o/dev/null', server.url.replace(/\/$/, '') + path])).stdout;
    const login = await get('/');
    t.match(login, /^HTTP\/1\.1 200/);
    t.match(login, /\r\nStrict-Transport-Security: max-age=31536000 ; includeSubDomains\r\n/);
    t.match(login, /\r\nClear-Site-Data: "cache","cookies"\r\n/, 'quotes as written');
    const missing = await get('/no/such/page');
    t.match(missing, /^HTTP\/1\.1 404/);
    t.notMatch(missing, /Strict-Transport-Security/, 'as ocserv: not in a 404');
  });
});

t.test('rekey-method = ssl on TLS 1.3: the client renews its keys on the same connection', async (t) => {
  await withServer('rekey-time = 4\nrekey-method = ssl', async (server) => {
    const s = await connect(server);
    try {
      await s.waitForOutput(/CSTP rekey due\nRenegotiated SSL[^]*Established DTLS connection[^]*Established DTLS connection/, 30_000);
      t.pass('openconnect renewed the TLS keys and set up a new DTLS session');
      t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 5), 'traffic after the rekey');
      t.notMatch(s.output(), /Reconnect failed|Rehandshake failed/);
      t.equal((server.output().match(/"msg":"session opened"/g) ?? []).length, 1, 'one TLS connection all along (a new one would open the session again)');
    } finally {
      await s.disconnect();
    }
  });
});

t.test('rekey-method = ssl on TLS 1.2: the client is told new-tunnel and reconnects with its cookie', async (t) => {
  const env = envScript();
  await withServer('rekey-time = 4\nrekey-method = ssl\ntls-priorities = "NORMAL:%SERVER_PRECEDENCE:-VERS-TLS1.3"', async (server) => {
    const s = await connect(server, { extraArgs: env.args });
    try {
      t.match(s.output(), /\(TLS1\.2\)/);
      t.ok(env.cstp().includes('X-CSTP-Rekey-Method=new-tunnel'), 'new-tunnel: no renegotiation');
      await s.waitForOutput(/CSTP rekey due[^]*Got CONNECT response: HTTP\/1\.1 200 CONNECTED[^]*CSTP connected/, 30_000);
      t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 5), 'traffic through the new tunnel');
      // main logs a new session a moment after the client has its tunnel (BOOKKEEPING_DELAY_MS)
      const opened = () => [...server.output().matchAll(/"sid":"([^"]+)","msg":"session opened"/g)].map((m) => m[1]);
      await until('the second "session opened"', () => opened().length >= 2, 5_000).catch(() => false);
      const sids = opened();
      t.ok(sids.length >= 2, `the tunnel was opened again (${sids.length} times)`);
      t.equal(new Set(sids).size, 1, 'for the same session, with its cookie');
      t.notMatch(s.output(), /Reconnect failed/);
    } finally {
      await s.disconnect();
    }
  });
});

for (const dyndns of [true, false]) {
  t.test(`listen-host-is-dyndns = ${dyndns}: a client reconnecting ${dyndns ? 'looks the server\'s name up again' : 'goes back to the address it had'}`, async (t) => {
    // the name resolves through /etc/netns/NS/hosts, which `ip netns exec` puts over /etc/hosts
    const name = `vpn-${topo.id}.test`;
    const second = '198.19.200.1';
    const hostsOf = (ns: string) => {
      const dir = `/etc/netns/${ns}`;
      mkdirSync(dir, { recursive: true });
      if (!etcDirs.includes(dir)) etcDirs.push(dir);
      return join(dir, 'hosts');
    };
    const serverHosts = hostsOf(topo.serverNs);
    const clientHosts = hostsOf(topo.clientNs);
    writeFileSync(serverHosts, `127.0.0.1 localhost\n${topo.serverIp} ${name}\n${second} ${name}\n`);
    writeFileSync(clientHosts, `127.0.0.1 localhost\n${topo.serverIp} ${name}\n`);
    await topo.exec(topo.serverNs, 'ip', ['addr', 'add', `${second}/32`, 'dev', topo.serverIf], { check: true });
    await topo.exec(topo.clientNs, 'ip', ['route', 'add', `${second}/32`, 'dev', topo.clientIf], { check: true });
    try {
      await withServer(`listen-host = ${name}\nrekey-time = 3\nrekey-method = new-tunnel\nlisten-host-is-dyndns = ${dyndns}`, async (server) => {
        const s = await connect(server, { url: `https://${name}:${server.files.port}/` });
        try {
          // the name moves; written in place, so the bind mount of the running client sees it
          writeFileSync(clientHosts, `127.0.0.1 localhost\n${second} ${name}\n`);
          const before = (s.output().match(/CSTP rekey due/g) ?? []).length;
          await s.waitForOutput(new RegExp(`(CSTP rekey due[^]*){${before + 1}}Got CONNECT response: HTTP/1\\.1 200 CONNECTED`), 30_000);
          await sleep(500);
          const ss = (await topo.exec(topo.clientNs, 'ss', ['-Htn', 'state', 'established', `( dport = :${server.files.port} )`])).stdout;
          const expected = dyndns ? second : topo.serverIp;
          t.match(ss, new RegExp(`\\s${expected.replace(/\./g, '\\.')}:${server.files.port}\\s`), `the new connection goes to ${expected}`);
          t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 5), 'the tunnel works');
        } finally {
          await s.disconnect();
        }
      });
    } finally {
      await topo.exec(topo.serverNs, 'ip', ['addr', 'del', `${second}/32`, 'dev', topo.serverIf]);
      await topo.exec(topo.clientNs, 'ip', ['route', 'del', `${second}/32`, 'dev', topo.clientIf]);
    }
  });
}

/**
 * UDP between the two lost in transit: each side drops what arrives, so neither sender gets an
 * error (a local drop would make openconnect give up its DTLS and send over CSTP on its own).
 */
async function blockUdp(port: number, on: boolean): Promise<void> {
  for (const [ns, match] of [[topo.clientNs, 'sport'], [topo.serverNs, 'dport']] as const) {
    await nft(ns, on ? `table inet ocsudp {\n chain in { type filter hook input priority 0; udp ${match} ${port} drop; }\n}\n` : 'delete table inet ocsudp');
  }
}

for (const timeout of [2, 0]) {
  t.test(timeout ? `switch-to-tcp-timeout = ${timeout}: with no UDP from the client, traffic to it goes over CSTP until UDP comes back`
    : 'without switch-to-tcp-timeout: traffic to a client stays on a DTLS link that went quiet', async (t) => {
    // a long DPD: neither side gives up on DTLS by itself during the test
    await withServer(`dpd = 300\n${timeout ? `switch-to-tcp-timeout = ${timeout}` : ''}`, async (server) => {
      const s = await connect(server);
      try {
        await dtlsSettled(s);
        await blockUdp(server.files.port, true);
        let unblocked = false;
        try {
          await sleep((timeout + 1) * 1000);
          // only the server sends (the client's answers are lost with its UDP): what reaches the client's tun?
          const rx = await tunRxPackets(s);
          await ping(topo, topo.serverNs, s.address, { count: 3, timeoutS: 4 });
          const got = (await tunRxPackets(s)) - rx;
          if (timeout) t.ok(got >= 3, `${got} packets reached the client over CSTP`);
          else t.equal(got, 0, 'nothing reaches the client');
          if (!timeout) return;
          await blockUdp(server.files.port, false);
          unblocked = true;
          // the client still sends over DTLS: the server hears UDP again and answers the same way
          const out = await udpCounter(topo, topo.serverNs, 'OutDatagrams');
          t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 5), 'pings pass once UDP gets through');
          t.equal((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).received, 3);
          t.ok((await udpCounter(topo, topo.serverNs, 'OutDatagrams')) - out >= 3, 'and the answers travel over UDP again');
        } finally {
          if (!unblocked) await blockUdp(server.files.port, false);
        }
      } finally {
        await s.disconnect();
      }
    });
  });
}

for (const discover of [true, false]) {
  t.test(discover ? 'try-mtu-discovery: a path that drops large datagrams; larger packets go over CSTP'
    : 'without try-mtu-discovery: large packets to the client are lost on such a path', async (t) => {
    await withServer(`dpd = 90\ntry-mtu-discovery = ${discover}`, async (server) => {
      // the path to the client drops UDP datagrams over 1000 bytes, without an ICMP error
      const port = server.files.port;
      await nft(topo.clientNs, `table inet ocsmtu {\n chain in { type filter hook input priority 0; udp sport ${port} ip length > 1000 drop; }\n}\n`);
      try {
        const s = await connect(server);
        try {
          await dtlsSettled(s);
          if (discover) {
            for (let i = 0; i < 600 && !/"msg":"DTLS path MTU discovered/.test(server.output()); i++) await sleep(100);
            const m = /"mtu":(\d+),"linkMtu":(\d+),"msg":"DTLS path MTU discovered/.exec(server.output());
            t.ok(m, 'the server found the limit', { log: server.output().slice(-3000) });
            // 1000 bytes of IP/UDP datagram less IP, UDP, DTLS header, AES-GCM and the type byte
            if (m) t.equal(Number(m[1]), 1000 - 20 - 8 - 13 - 24 - 1, `largest packet over DTLS: ${m[1]} of ${m[2]}`);
          } else {
            await sleep(3000);
          }
          const small = await ping(topo, topo.serverNs, s.address, { count: 2 });
          t.equal(small.received, 2, 'small packets pass over DTLS');
          const big = await ping(topo, topo.serverNs, s.address, { count: 3, size: 1200, dontFragment: true, timeoutS: 8 });
          if (discover) t.equal(big.received, 3, '1228-byte packets to the client arrive (over CSTP)', { output: big.output });
          else t.equal(big.received, 0, '1228-byte packets to the client are lost', { output: big.output });
        } finally {
          await s.disconnect();
        }
      } finally {
        await nft(topo.clientNs, 'delete table inet ocsmtu');
      }
    });
  });
}

t.test('cisco-client-compat and auth = certificate: is a cookie alone enough to open the tunnel?', async (t) => {
  const dir = topo.tempDir('compat-certs');
  const ca = makeCa(dir, 'clients', 'ocs-test client CA');
  const alice: CertFiles = issueClientCert(dir, ca, { name: 'alice', subject: '/UID=alice/CN=Alice' });
  const withCert = ['-c', alice.certPath, '-k', alice.keyPath];
  for (const compat of [false, true]) {
    const lines = ['auth = "certificate"', `ca-cert = ${ca.certPath}`, 'cert-user-oid = 0.9.2342.19200300.100.1.1', ...(compat ? ['cisco-client-compat = true'] : [])];
    await withServer(lines.join('\n'), async (server) => {
      const login = () => openconnectAuthenticate(topo, { url: server.url, user: 'x', password: '', servercert: server.pin, extraArgs: withCert });
      const first = await login();
      t.ok(first.cookie, `cisco-client-compat = ${compat}: the certificate logs in`);
      const bare = connect(server, { cookie: first.cookie, noDtls: true, timeoutMs: 20_000 });
      if (compat) {
        const s = await bare;
        t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 3), 'cisco-client-compat = true: the cookie alone opens the tunnel');
        await s.disconnect();
      } else {
        await t.rejects(bare, /401/, 'cisco-client-compat = false (the default): refused without a certificate on that connection');
        t.match(server.output(), /no valid client certificate on the connection that opens the tunnel/);
        const s = await connect(server, { cookie: first.cookie, noDtls: true, extraArgs: withCert });
        t.ok(await pingUntil(topo.clientNs, '198.19.0.1', 3), 'the same cookie with the certificate opens it');
        await s.disconnect();
      }
    }, { users: [] });
  }
});

t.test('match-tls-dtls-ciphers: the DTLS session takes the TLS session\'s cipher', async (t) => {
  // TLS comes out as AES-128-GCM; openconnect and the server prefer AES-256-GCM for DTLS
  const tls = 'tls-priorities = "NORMAL:%SERVER_PRECEDENCE:-AES-256-GCM:-CHACHA20-POLY1305:-AES-256-CBC"';
  for (const match of [true, false]) {
    await withServer(`${tls}\ndtls-legacy = false\nmatch-tls-dtls-ciphers = ${match}`, async (server) => {
      const s = await connect(server);
      try {
        t.match(s.output(), /Connected to HTTPS on .* with ciphersuite .*AES-128-GCM/, 'TLS: AES-128-GCM');
        const m = await s.waitForOutput(/Established DTLS connection \(using GnuTLS\)\. Ciphersuite (\S+)\./, 20_000);
        t.equal(m[1], match ? '(DTLS1.2)-(PSK)-(AES-128-GCM)' : '(DTLS1.2)-(PSK)-(AES-256-GCM)', `match-tls-dtls-ciphers = ${match}: ${m[1]}`);
      } finally {
        await s.disconnect();
      }
    });
  }
});
