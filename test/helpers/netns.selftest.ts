/**
 * Proves the harness end to end against Debian's ocserv. Not a *.test.ts on
 * purpose: it needs root and real daemons, and it tests the tests (~3 s).
 *
 *   npx tsc -p tsconfig.json && npx tap --disable-coverage dist/test/helpers/netns.selftest.js
 *   (or: node dist/test/helpers/netns.selftest.js)
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import {
  createTopology,
  removeStaleNamespaces,
  startDebianOcserv,
  connectOpenconnect,
  openconnectAuthenticate,
  ping,
  serverTunAddress,
  vpncScriptPath,
  Topology,
} from './netns';

const USER = { name: 'alice', password: 'correct horse' };

function ourNamespaces(ids: string[]): string[] {
  const out = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => ids.some((id) => n.startsWith(`ocs-${id}-`)));
}

function processesIn(nsNames: string[]): string[] {
  return nsNames.flatMap((ns) => spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean));
}

function processesInNetns(links: string[]): string[] {
  return fs.readdirSync('/proc').filter((pid) => {
    try {
      return /^\d+$/.test(pid) && links.includes(fs.readlinkSync(`/proc/${pid}/ns/net`));
    } catch {
      return false;
    }
  });
}

function alive(pid: string): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

t.test('harness against Debian ocserv', async (t) => {
  removeStaleNamespaces();
  const topo: Topology = await createTopology();
  t.teardown(() => topo.cleanup());

  t.match(topo.serverNs, /^ocs-t[0-9a-f]{6}-s$/);
  t.match(topo.clientNs, /^ocs-t[0-9a-f]{6}-c$/);
  t.ok((await ping(topo, topo.clientNs, topo.serverIp, { count: 1 })).ok, 'veth link works');

  const server = await startDebianOcserv(topo, {
    users: [USER, { name: 'bob', password: 'other', group: 'staff' }],
    extraConfig: 'banner = Welcome to <ocs> tests & co\ndefault-domain = vpn.ocs.test',
  });
  t.match(server.pin, /^pin-sha256:[A-Za-z0-9+/]{43}=$/);
  t.match(fs.readFileSync(server.files.passwdPath, 'utf8'), /^bob:staff:\$5\$/m, 'ocpasswd group');
  const creds = { url: server.url, user: USER.name, password: USER.password, servercert: server.pin };

  await t.test('vpnc-script.sh on its own (stand-in device)', async (t) => {
    // quoting and the OCS_TEST_ROUTE fallback, which Debian's ocserv does not easily provoke;
    // a veth stands in for the tun (this kernel has no dummy driver)
    const dev = 'ocsfake';
    const ipc = (...args: string[]) => topo.exec(topo.clientNs, 'ip', args, { check: true });
    const script = (env: NodeJS.ProcessEnv) => topo.exec(topo.clientNs, vpncScriptPath(), [], { env: { ...base, ...env } });
    const routes = async () => (await ipc('-4', 'route', 'show', 'dev', dev)).stdout;
    const state = `${topo.tempDir('script')}/state.json`;
    const base = {
      PATH: process.env.PATH,
      reason: 'connect',
      TUNDEV: dev,
      INTERNAL_IP4_ADDRESS: '198.19.7.2',
      INTERNAL_IP4_MTU: '1280',
      OCS_TEST_STATE: state,
    };
    await ipc('link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}-p`);

    const banner = 'a "quoted" \\ back\nslash\ttab';
    let r = await script({
      CISCO_BANNER: banner,
      CISCO_SPLIT_INC: '2',
      CISCO_SPLIT_INC_0_ADDR: '198.19.7.0',
      CISCO_SPLIT_INC_0_MASKLEN: '24',
      CISCO_SPLIT_INC_1_ADDR: '198.19.8.0',
      CISCO_SPLIT_INC_1_MASKLEN: '25',
    });
    t.equal(r.code, 0, 'script succeeds', { stderr: r.stderr });
    const st = JSON.parse(fs.readFileSync(state, 'utf8'));
    t.equal(st.CISCO_BANNER, banner, 'JSON escaping');
    t.same(st.routes, ['198.19.7.0/24', '198.19.8.0/25']);
    t.match(await routes(), /198\.19\.7\.0\/24[^]*198\.19\.8\.0\/25/, 'split-include routes');
    t.match((await ipc('-o', 'addr', 'show', 'dev', dev)).stdout, /inet 198\.19\.7\.2\/32/, '/32 address');
    t.match((await ipc('-o', 'link', 'show', 'dev', dev)).stdout, /mtu 1280/, 'MTU');

    r = await script({ OCS_TEST_ROUTE: '198.19.9.0/24' });
    t.equal(r.code, 0);
    t.match(await routes(), /198\.19\.9\.0\/24/, 'OCS_TEST_ROUTE without split-include');
    t.same(JSON.parse(fs.readFileSync(state, 'utf8')).routes, []);

    r = await script({ reason: 'disconnect' });
    t.equal(r.code, 0, 'disconnect is a no-op');
    await ipc('link', 'del', dev);
  });

  await t.test('connect over CSTP', async (t) => {
    const s = await connectOpenconnect(topo, { ...creds, noDtls: true, interfaceName: 'ocstun0' });
    t.equal(s.tundev, 'ocstun0');
    t.match(s.address, /^198\.19\.0\.\d+$/);
    t.equal(s.state.INTERNAL_IP4_DNS, '198.19.0.1');
    t.equal(s.state.CISCO_DEF_DOMAIN, 'vpn.ocs.test');
    t.equal(s.state.CISCO_BANNER, 'Welcome to <ocs> tests & co');
    t.same(s.state.routes, ['198.19.0.0/24']);
    t.equal(await serverTunAddress(topo, s.address), '198.19.0.1');

    const p1 = await ping(topo, topo.clientNs, '198.19.0.1', { count: 3 });
    t.ok(p1.ok && p1.received === 3, 'ping through the tunnel', { output: p1.output });
    const p2 = await ping(topo, topo.clientNs, '198.19.0.1', { count: 2, size: 1300, dontFragment: true });
    t.ok(p2.ok && p2.received === 2, '1300-byte ping', { output: p2.output });

    const exit = await s.disconnect();
    t.equal(exit.signal, null, 'openconnect exits by itself on SIGINT');
    t.match(s.output(), /BYE/, 'sent a clean DISCONNECT');
    t.notOk(
      spawnSync('ip', ['-n', topo.clientNs, 'link', 'show', 'ocstun0']).status === 0,
      'client tun removed',
    );
  });

  await t.test('connect with DTLS', async (t) => {
    const s = await connectOpenconnect(topo, creds);
    const m = await s.waitForOutput(/Established DTLS connection.*Ciphersuite (\S+?)\.?$/m);
    t.match(m[1], /DTLS1\.2/, `DTLS up: ${m[1]}`);
    const p = await ping(topo, topo.clientNs, '198.19.0.1', { count: 2, size: 1300 });
    t.ok(p.ok, 'ping over DTLS', { output: p.output });
    await s.disconnect();
  });

  await t.test('openconnect --authenticate', async (t) => {
    const good = await openconnectAuthenticate(topo, creds);
    t.equal(good.code, 0, 'exit 0', { output: good.output });
    t.ok(good.cookie, 'cookie printed');
    t.match(good.webvpn ?? '', /^[A-Za-z0-9+/=_-]{20,}$/, 'webvpn cookie');
    t.equal(good.host, topo.serverIp);
    t.equal(good.fingerprint, server.pin);

    const bad = await openconnectAuthenticate(topo, { ...creds, password: 'wrong' });
    t.not(bad.code, 0, 'wrong password fails');
    t.equal(bad.cookie, undefined, 'no cookie for a wrong password');
  });

  await t.test('cleanup leaves nothing behind', async (t) => {
    const ids = [topo.id];
    const dirs = [server.dir];
    const pids = processesIn([topo.serverNs, topo.clientNs]);
    const netns = [topo.serverNs, topo.clientNs].map((ns) => `net:[${fs.statSync(`/run/netns/${ns}`).ino}]`);
    t.ok(pids.length >= 2, 'ocserv processes were running', { pids });
    t.same(processesInNetns(netns).sort(), [...pids].sort(), '/proc scan sees the same processes');
    await topo.cleanup();
    await topo.cleanup(); // idempotent
    t.same(ourNamespaces(ids), [], 'no ocs- namespace of this run');
    t.same(pids.filter(alive), [], 'every process of the namespaces is gone');
    t.notOk(server.proc.exitCode === null && server.proc.signalCode === null, 'ocserv exited');
    t.notOk(dirs.some((d) => fs.existsSync(d)), 'temp dirs removed');
    const leftovers = spawnSync('pgrep', ['-a', '-f', topo.id], { encoding: 'utf8' }).stdout.trim();
    t.equal(leftovers, '', 'no process mentions the topology');
    // catches untracked grandchildren too (ocserv workers, openconnect's script)
    t.same(processesInNetns(netns), [], 'no process lives in the deleted namespaces');
  });
});
