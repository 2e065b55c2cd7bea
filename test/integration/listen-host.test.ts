/**
 * listen-host given as a host name (resolved at start, as ocserv does) and udp-listen-host
 * putting the DTLS socket on another address.
 */
import t from 'tap';
import { createTopology, removeStaleNamespaces, startServer, type ServerHandle, type Topology } from '../helpers/netns';

const USERS = [{ name: 'alice', password: 'alice pw' }];
let topo: Topology;
let server: ServerHandle | undefined;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

async function listening(proto: 't' | 'u', port: number): Promise<string[]> {
  const r = await topo.exec(topo.serverNs, 'ss', [`-Hln${proto}`, `sport = :${port}`], { timeoutMs: 5000 });
  return r.stdout.trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/)[3]);
}

t.test('listen-host = localhost: the name\'s addresses, and UDP on udp-listen-host', async (t) => {
  server = await startServer(topo, {
    kind: 'ocserv-ts', users: USERS,
    // startServer waits for this address; the configuration names the host
    listenHost: '127.0.0.1',
    extraConfig: ['listen-host = localhost', `udp-listen-host = ${topo.serverIp}`].join('\n'),
  });
  const port = server.files.port;
  const tcp = await listening('t', port);
  t.ok(tcp.includes(`127.0.0.1:${port}`), 'TCP on localhost\'s address');
  t.notOk(tcp.some((a) => a.startsWith(`${topo.serverIp}:`) || a.startsWith('*:') || a.startsWith('0.0.0.0:')), 'and nowhere else');
  t.same(await listening('u', port), [`${topo.serverIp}:${port}`], 'UDP where udp-listen-host says');
  const hello = await topo.exec(topo.serverNs, 'openssl', ['s_client', '-connect', `127.0.0.1:${port}`], { input: '', timeoutMs: 15_000 });
  t.equal(hello.code, 0, 'a TLS client reaches it');
  t.match(server.output(), /"tcp":4443,"udp":4443,"host":"127\.0\.0\.1.*","udpHost":"198\.18\.\d+\.1","msg":"listening"/);
  await server.stop();
  server = undefined;
});

t.test('a name that does not resolve stops the start, saying so', async (t) => {
  let failure = '';
  try {
    server = await startServer(topo, { kind: 'ocserv-ts', users: USERS, extraConfig: 'listen-host = no-such-host.invalid', startTimeoutMs: 20_000 });
  } catch (err) {
    failure = (err as Error).message;
  }
  t.match(failure, /"err":"listen-host: cannot resolve no-such-host\.invalid: (ENOTFOUND|EAI_AGAIN|ESERVFAIL)","msg":"cannot start"/);
});
