/**
 * Shared workers get the CPU weight of the clients they serve (src/main/worker-weight.ts):
 * with two TLS clients on each worker (openssl s_client, holding its connection open), every
 * worker runs at nice -3, the weight of two processes; once the clients leave, at 0 again.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { URL } from 'node:url';
import { createTopology, removeStaleNamespaces, startServer, stopProcess, type ManagedProcess, type ServerHandle, type Topology } from '../helpers/netns';
import { serverProcs } from '../helpers/server-procs';

const user = { name: 'alice', password: 'a-pw' };

function niceOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  } catch {
    return undefined; // exited
  }
}

async function settled<T>(read: () => T, ok: (v: T) => boolean): Promise<T> {
  let v = read();
  for (let i = 0; i < 100 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = read();
  }
  return v;
}

/** `n` TLS clients that connect and stay until stopped. */
function tlsClients(topo: Topology, server: ServerHandle, n: number): ManagedProcess[] {
  const u = new URL(server.url);
  return Array.from({ length: n }, () => {
    const p = topo.spawn(topo.clientNs, 'openssl', ['s_client', '-quiet', '-connect', `${u.hostname}:${u.port}`]);
    p.stdin!.on('error', () => {});
    return p;
  });
}

t.test('a shared worker weighs as many processes as it has clients', async (t) => {
  removeStaleNamespaces();
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const server = await startServer(topo, { kind: 'ocserv-ts', users: [user] });
  const workers = await settled(() => serverProcs(server).workers, (w) => w.length >= 4);
  t.ok(workers.length >= 4, `${workers.length} shared workers kept ready`);
  t.same(workers.map(niceOf), workers.map(() => 0), 'idle workers run at nice 0');

  const clients = tlsClients(topo, server, 2 * workers.length);
  const busy = await settled(() => workers.map(niceOf), (n) => n.every((v) => v === -3));
  t.same(busy, workers.map(() => -3), 'two clients each: nice -3, the weight of two processes');

  await Promise.all(clients.map((c) => stopProcess(c, 'SIGTERM', 2000)));
  const after = await settled(() => serverProcs(server).workers.map(niceOf), (n) => n.every((v) => v === 0));
  t.same(after, after.map(() => 0), 'clients gone: back to nice 0');
  await server.stop();
});
