/**
 * The first-run experience: `ocserv-ts -f` with no configuration creates its state, prints an
 * openconnect command, and that exact command's credentials, pin and URL log in.
 */
import t from 'tap';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, ocservTsCommand, serverEnv, openconnectAuthenticate, removeStaleNamespaces, type Topology } from '../helpers/netns';

t.test('no config: embedded default, printed command works', async (t) => {
  removeStaleNamespaces();
  const topo: Topology = await createTopology();
  const state = mkdtempSync(join(tmpdir(), 'ocs-state-'));
  t.teardown(async () => { await topo.cleanup(); rmSync(state, { recursive: true, force: true }); });

  // OCSERV_TS_STATE_DIR keeps the test out of /var/lib/ocserv-ts; everything else is the default.
  const c = ocservTsCommand(['-f'], { OCSERV_TS_STATE_DIR: state });
  const proc = topo.spawn(topo.serverNs, c.cmd, c.args, { env: serverEnv() });
  let cmd: RegExpExecArray | null = null;
  for (let i = 0; i < 150 && !cmd; i++) {
    await new Promise((r) => setTimeout(r, 100));
    if (/ocserv-ts is up/.test(proc.output())) cmd = /echo '?([^' ]+)'? \| sudo openconnect (.*)$/m.exec(proc.output());
  }
  t.ok(cmd, 'prints an openconnect command', { output: proc.output() });
  if (!cmd) return;
  const password = cmd[1];
  const args = cmd[2].split(/\s+/);
  t.ok(args.includes('--protocol=anyconnect'));
  const user = args.find((a) => a.startsWith('--user='))?.slice('--user='.length);
  const pinIdx = args.indexOf('--servercert');
  const url = args[args.length - 1];
  t.equal(user, 'demo');
  t.match(args[pinIdx + 1], /^pin-sha256:/);
  t.match(url, new RegExp(`^https://${topo.serverIp.replace(/\./g, '\\.')}/?$`), 'URL names the server address');
  for (const f of ['ocserv.conf', 'passwd', 'server-cert.pem', 'server-key.pem', 'ca.pem']) {
    t.ok(statSync(join(state, f)).isFile(), `${f} created`);
  }
  t.equal(statSync(join(state, 'server-key.pem')).mode & 0o077, 0, 'server key is not readable by others');

  const r = await openconnectAuthenticate(topo, { url, user: user!, password, servercert: args[pinIdx + 1] });
  t.equal(r.code, 0, 'openconnect --authenticate with the printed credentials succeeds', { output: r.output, server: proc.output() });
  t.ok(r.webvpn, 'and gets a cookie');
});
