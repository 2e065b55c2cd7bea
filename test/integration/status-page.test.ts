/**
 * The status page (status-listen) as an administrator sees it: Debian's headless Chromium,
 * run in the server's namespace, loads it while an openconnect session runs; the rendered
 * page lists the user with their traffic and has the traffic graph, and a screenshot of it
 * is taken.
 */
import t from 'tap';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, serverTunAddress, type Topology } from '../helpers/netns';
import { httpGetInServerNs, startOpsServer, type OpsServer } from '../helpers/ops-server';

const ALICE = { name: 'alice', password: 'alice pw', group: 'staff' };
const PAGE = 'http://127.0.0.1:9617/';

let topo: Topology;
let server: OpsServer;

t.before(async () => {
  removeStaleNamespaces();
  topo = await createTopology();
  server = await startOpsServer(topo, { users: [ALICE], extraConfig: 'status-listen = 127.0.0.1:9617' });
});
t.teardown(async () => {
  await server?.stop();
  await topo?.cleanup();
});

/** headless Chromium in the server's namespace, with a profile of its own that cleanup removes */
async function chromium(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const profile = topo.tempDir('chromium');
  return topo.exec(topo.serverNs, 'chromium', [
    '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${profile}`, ...args,
  ], { timeoutMs: 90_000, env: { ...process.env, HOME: profile } });
}

t.test('Chromium renders the connected user, their traffic and the graph', async (t) => {
  const vpn = await connectOpenconnect(topo, { url: server.url, user: ALICE.name, password: ALICE.password, servercert: server.pin, timeoutMs: 30_000 });
  t.teardown(() => vpn.disconnect());
  const gw = await serverTunAddress(topo, vpn.address);
  t.ok((await ping(topo, topo.clientNs, gw!, { count: 3, size: 1200 })).ok, 'traffic through the tunnel');

  const r = await chromium('--dump-dom', PAGE);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  const dom = r.stdout;
  t.match(dom, /<title>ocserv-ts status<\/title>/);
  const row = /<tr data-user="alice">(.*?)<\/tr>/s.exec(dom)?.[1];
  t.ok(row, 'the users table has a row for alice');
  const cells = [...(row ?? '').matchAll(/<td[^>]*>(.*?)<\/td>/gs)].map((m) => m[1]!);
  t.equal(cells[1], 'alice', 'user');
  t.equal(cells[2], 'staff', 'group');
  t.equal(cells[3], topo.clientIp, 'client address');
  t.equal(cells[4], vpn.address, 'VPN address');
  for (const [i, dir] of [[7, 'in'], [8, 'out']] as const) {
    t.match(cells[i], /^\d+(\.\d+)? (KiB|B)$/, `traffic ${dir}: ${cells[i]}`);
    t.not(cells[i], '0 B', `traffic ${dir} is counted`);
  }
  t.match(dom, /<td id="session-count">1<\/td>/);
  t.match(dom, /<svg id="traffic-graph"[^>]*>/, 'the traffic graph is inline SVG');
  t.notMatch(dom, /<script|<link /, 'no script and nothing loaded from elsewhere');
});

t.test('a screenshot of the page', async (t) => {
  const shot = join(topo.tempDir('shot'), 'status.png');
  const r = await chromium(`--screenshot=${shot}`, '--window-size=1100,900', '--hide-scrollbars', PAGE);
  t.equal(r.code, 0, r.stderr.slice(-2000));
  t.ok(existsSync(shot), 'the PNG was written');
  t.ok(statSync(shot).size > 5000, `and is not empty (${statSync(shot).size} bytes)`);
  t.same([...readFileSync(shot).subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
});

t.test('read-only: other methods and paths are refused', async (t) => {
  t.equal((await httpGetInServerNs(topo, PAGE, 'POST')).status, 405);
  t.equal((await httpGetInServerNs(topo, `${PAGE}nothing-here`)).status, 404);
  const ok = await httpGetInServerNs(topo, PAGE);
  t.equal(ok.status, 200);
  t.match(String(ok.headers?.['content-type']), /^text\/html; charset=utf-8/);
});
