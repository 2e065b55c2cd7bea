/**
 * sec-mod dies: main restarts it, established tunnels carry on, and logins work again,
 * including on workers that were started before the restart.
 */
import t from 'tap';
import { connectOpenconnect, createTopology, openconnectAuthenticate, ping, removeStaleNamespaces, startServer } from '../helpers/netns';

t.test('sec-mod restart', async (t) => {
  removeStaleNamespaces();
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const users = [{ name: 'alice', password: 'a-pw' }, { name: 'bob', password: 'b-pw' }];
  const server = await startServer(topo, { kind: 'ocserv-ts', users });
  const alice = await connectOpenconnect(topo, { url: server.url, user: 'alice', password: 'a-pw', servercert: server.pin, noDtls: true });

  const readyLines = () => server.output().split('\n').filter((l) => l.includes('"msg":"sec-mod ready"'));
  const pid = JSON.parse(readyLines()[0]).pid as number;
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 50 && readyLines().length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal(readyLines().length, 2, 'main restarted sec-mod');
  t.match(server.output(), /sec-mod died; restarting it/);

  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).ok, 'the established tunnel is unaffected');
  // the idle workers were started before the restart and got a new channel to sec-mod
  const auth = await openconnectAuthenticate(topo, { url: server.url, user: 'bob', password: 'b-pw', servercert: server.pin });
  t.ok(auth.webvpn, 'a new login works after the restart', { output: auth.output });
  const bob = await connectOpenconnect(topo, { url: server.url, user: 'bob', password: 'b-pw', servercert: server.pin, noDtls: true, interfaceName: 'ocsbob' });
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 1, iface: bob.tundev })).ok, 'and gets a tunnel');

  // the server ends sessions with TERMINATE on shutdown: openconnect exits instead of reconnecting
  await server.stop();
  const ended = await Promise.race([alice.proc.exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
  t.ok(ended, 'openconnect exits when the server shuts down');
  t.match(alice.output(), /terminat/i, 'it was told the server terminated the session');
});
