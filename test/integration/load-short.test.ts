/**
 * Short versions of bench/load.ts (the long run's figures are in docs/RELIABILITY.md):
 * 20 openconnect sessions pinging for 20 s lose nothing and leave nothing behind, 50
 * logins one after the other leave main's and sec-mod's fds where they were, and a storm
 * of 100 TLS connects costs an established tunnel no ping.
 */
import t from 'tap';
import { createTopology, removeStaleNamespaces, type Topology } from '../helpers/netns';
import { concurrentRun, loadServer, sequentialLogins, stormRun, totalPss } from '../../bench/load';

let topo: Topology;
t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
});
t.teardown(() => topo?.cleanup());

t.test('20 concurrent sessions pinging for 20 s: none lost, nothing left behind', async (t) => {
  const server = await loadServer(topo, 20, 4443);
  t.teardown(() => server.stop());
  const r = await concurrentRun(topo, server, { sessions: 20, seconds: 20 });
  t.equal(r.sessions, 20, '20 sessions up');
  t.equal(r.lost, 0, 'no session lost');
  t.equal(r.pingsReceived, r.pingsSent, `every ping answered (${r.pingsReceived}/${r.pingsSent})`);
  t.ok(r.pingsSent >= 20 * 20, 'each session pinged throughout');
  t.equal(r.after.active, 0, 'no session left after all disconnected');
  t.equal(r.after.tuns, 0, 'no tun device left');
  t.ok(r.after.leaseBack, 'a freed address is given out again');
  t.equal(r.after.f.main.fds, r.idleBefore.main.fds, `main holds as many fds as before (${r.idleBefore.main.fds})`);
  t.equal(r.after.f.secmod.fds, r.idleBefore.secmod.fds, `sec-mod holds as many fds as before (${r.idleBefore.secmod.fds})`);
  t.comment(`PSS start/middle/end of the run: ${r.samples.map((s) => totalPss(s.f).toFixed(1)).join(' / ')} MB`);
});

t.test('50 sequential logins: no growth in main\'s or sec-mod\'s fds; the shared workers take turns', async (t) => {
  const server = await loadServer(topo, 10, 4444);
  t.teardown(() => server.stop());
  const r = await sequentialLogins(topo, server, { logins: 50, every: 25 });
  t.same(r.failures, [], 'every login got a working tunnel');
  const tunnelPids = server.output().split('\n').filter((l) => l.includes('"msg":"session opened"')).map((l) => JSON.parse(l).workerPid as number);
  t.ok(new Set(tunnelPids).size >= 4, `logins one at a time went to ${new Set(tunnelPids).size} workers (at least the 4 kept ready), not all to one`);
  const [, mid, end] = r.samples;
  t.equal(end!.f.main.fds, mid!.f.main.fds, `main: ${mid!.f.main.fds} fds after 25 logins, ${end!.f.main.fds} after 50`);
  t.equal(end!.f.secmod.fds, mid!.f.secmod.fds, `sec-mod: ${mid!.f.secmod.fds} fds after 25 logins, ${end!.f.secmod.fds} after 50`);
  t.comment(`PSS after 0/25/50 logins: ${r.samples.map((s) => totalPss(s.f).toFixed(1)).join(' / ')} MB`);
});

t.test('a storm of 100 TLS connects: the established tunnel loses no ping', async (t) => {
  const server = await loadServer(topo, 1, 4445);
  t.teardown(() => server.stop());
  const r = await stormRun(topo, server, { connections: 100, tunnels: 1 });
  t.equal(r.ok, 100, 'every storm connection got the login page', { errors: r.errors });
  t.equal(r.pingsReceived, r.pingsSent, `the tunnel answered every ping during the storm (${r.pingsReceived}/${r.pingsSent})`);
  t.equal(server.proc.exitCode, null, 'main runs');
});
