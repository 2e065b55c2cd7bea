/**
 * sec-mod dies while clients keep handshaking: handshakes fail cleanly (the worker says
 * why) for as long as it is down, the same workers sign again through the restarted
 * sec-mod with no help from anyone, and an established tunnel does not notice.
 */
import t from 'tap';
import { join } from 'node:path';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer } from '../helpers/netns';
import { serverProcs } from '../helpers/server-procs';

interface Event { t: number; ok: boolean; ms: number; err?: string }

t.test('sec-mod restart during handshakes', async (t) => {
  removeStaleNamespaces();
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const user = { name: 'alice', password: 'a-pw' };
  // one shared worker carries the tunnel and serves every handshake, before and after
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [user], udp: false, extraConfig: 'clients-per-worker = 64' });
  const vpn = await connectOpenconnect(topo, { url: server.url, user: user.name, password: user.password, servercert: server.pin, noDtls: true });
  const before = serverProcs(server);

  const loop = topo.spawn(topo.clientNs, process.execPath,
    [join(__dirname, '..', 'helpers', 'tls-handshake-loop.js'), topo.serverIp, String(server.files.port), '2', '6'],
    { env: { ...process.env, OCS_LOOP_EVENTS: '1' } });
  await new Promise((r) => setTimeout(r, 1000));
  const killedAt = Date.now();
  process.kill(before.secmod[0], 'SIGKILL');
  // the failed handshakes log a lot, and output() keeps only the last part: look for a
  // "sec-mod ready" logged after the kill rather than counting them
  const restarted = () => server.output().split('\n').some((l) =>
    l.includes('"msg":"sec-mod ready"') && Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '') >= killedAt);
  // main waits 0.5 s before the restart (its backoff), then sec-mod loads keys and config
  for (let i = 0; i < 80 && !restarted(); i++) await new Promise((r) => setTimeout(r, 100));
  t.ok(restarted(), 'main restarted sec-mod', { server: server.output().slice(-4000) });
  const backAt = Date.now();
  await loop.exited;

  const events: Event[] = loop.output().split('\n').filter((l) => l.startsWith('{"t"')).map((l) => JSON.parse(l) as Event);
  const okBefore = events.filter((e) => e.t < killedAt - 50 && e.ok).length;
  const failed = events.filter((e) => !e.ok);
  const after = events.filter((e) => e.t > backAt + 200);
  t.ok(okBefore > 10, `handshakes succeed before (${okBefore})`);
  t.ok(failed.length > 0, `some fail while sec-mod is down (${failed.length})`);
  t.ok(failed.every((e) => e.t >= killedAt - 50 && e.t <= backAt + 200), 'failures only while it was down');
  t.ok(failed.every((e) => e.ms < 2500), 'each failure is quick, not a hang');
  t.ok(after.length > 10 && after.every((e) => e.ok), `all ${after.length} handshakes after the restart succeed`);
  t.match(server.output(), /TLS handshake failed[^\n]*sec-mod unavailable for the private-key operation|sec-mod unavailable for the private-key operation[^\n]*TLS handshake failed/,
    'the worker logs why the handshakes failed');

  const afterProcs = serverProcs(server);
  t.ok(before.workers.some((w) => afterProcs.workers.includes(w)), 'the worker that signed before signs after: recovered, not replaced');
  t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 })).ok, 'the established tunnel is unaffected');
  t.notMatch(vpn.output(), /Reconnect|reconnect/, 'openconnect never had to reconnect');
  await vpn.disconnect();
  await server.stop();
});
