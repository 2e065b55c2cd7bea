/**
 * chroot-dir, with real openconnect: every worker confines itself to an empty directory
 * and becomes run-as-user once loaded, and still serves logins, CSTP and DTLS, also under
 * isolate-workers, also the workers main starts after it gave up its own capabilities.
 * A user-profile path that is not there outside is read inside the directory, as ocserv.
 */
import t from 'tap';
import { readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, startServer, type ServerHandle, type Topology } from '../helpers/netns';
import { capsOf, serverProcs, statusField } from '../helpers/server-procs';

const USER = { name: 'alice', password: 'alice pw' };
const CAP_SYS_CHROOT = 18;

let topo: Topology;
let server: ServerHandle;
let jail: string;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  jail = topo.tempDir('jail');
  writeFileSync(join(jail, `ocs-${topo.id}-profile.xml`), '<?xml version="1.0" encoding="UTF-8"?>\n<AnyConnectProfile/>\n');
  server = await startServer(topo, {
    kind: 'ocserv-ts',
    users: [USER],
    // one client per worker: later clients meet workers started after main's capability drop
    extraConfig: [`chroot-dir = ${jail}`, 'isolate-workers = true', 'clients-per-worker = 1', `user-profile = /ocs-${topo.id}-profile.xml`].join('\n'),
  });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

/** a worker confines itself once main's init message arrives: give a fresh one a moment */
async function rootOf(pid: number): Promise<string> {
  let root = '';
  for (let i = 0; i < 100; i++) {
    try { root = readlinkSync(`/proc/${pid}/root`); } catch { return 'gone'; }
    if (root === jail) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return root;
}

t.test('sessions work, each in a worker confined to chroot-dir', async (t) => {
  for (let i = 1; i <= 3; i++) {
    const vpn = await connectOpenconnect(topo, { url: server.url, user: USER.name, password: USER.password, servercert: server.pin, timeoutMs: 30_000 });
    await vpn.waitForOutput(/Established DTLS connection/, 20_000);
    t.ok((await ping(topo, topo.clientNs, '198.19.0.1', { count: 2 })).ok, `session ${i}: login, CSTP and DTLS`);
    await vpn.disconnect();
  }
  const p = serverProcs(server);
  t.ok(p.workers.length >= 2, `workers: ${p.workers.join(', ')}`);
  for (const w of p.workers) {
    const root = await rootOf(w);
    if (root === 'gone') continue;
    const caps = (['CapEff', 'CapPrm', 'CapInh', 'CapAmb'] as const).flatMap((f) => capsOf(w, f));
    t.same({ root, uid: statusField(w, 'Uid').split(/\s+/), gid: statusField(w, 'Gid').split(/\s+/)[0], caps, seccomp: statusField(w, 'Seccomp') },
      { root: jail, uid: ['65534', '65534', '65534', '65534'], gid: '65534', caps: [], seccomp: '2' },
      `worker ${w}: /proc/${w}/root is chroot-dir; nobody for good, no capabilities, seccomp`);
  }
  t.ok(capsOf(p.main, 'CapBnd').includes(CAP_SYS_CHROOT), 'main keeps CAP_SYS_CHROOT in its bounding set for the workers it starts');
  t.equal(readlinkSync(`/proc/${p.main}/root`), '/', 'main itself is not confined');
});

t.test('the workers log nothing about missing files', async (t) => {
  t.notMatch(server.output(), /ENOENT|Cannot find module|cannot confine/);
});
