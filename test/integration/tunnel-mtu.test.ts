/**
 * The tunnel MTU the real openconnect gets, beside Debian's ocserv with the same config: room
 * for a DTLS record is left only when the client will use DTLS, so a client over CSTP alone
 * (--no-dtls, or a user with no-udp) gets 1472 on a 1500 link, and one with DTLS 1434.
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connectOpenconnect, createTopology, ping, removeStaleNamespaces, serverTunAddress, startServer, type ServerKind } from '../helpers/netns';

const ALICE = { name: 'alice', password: 'alice-pw' };
const NOUDP = { name: 'bob', password: 'bob-pw' };

t.test('tunnel MTU over CSTP alone and with DTLS, as ocserv', async (t) => {
  removeStaleNamespaces();
  const topo = await createTopology();
  t.teardown(() => topo.cleanup());
  const perUser = join(topo.tempDir('mtu-users'), 'users');
  mkdirSync(perUser);
  writeFileSync(join(perUser, NOUDP.name), 'no-udp = true\n');
  const seen: Record<string, Record<ServerKind, string>> = {};
  for (const kind of ['ocserv', 'ocserv-ts'] as const) {
    const server = await startServer(topo, { kind, users: [ALICE, NOUDP], extraConfig: `config-per-user = ${perUser}/` });
    const creds = (u: typeof ALICE) => ({ url: server.url, user: u.name, password: u.password, servercert: server.pin });
    const cases = [
      { what: '--no-dtls', user: ALICE, noDtls: true },
      { what: 'DTLS', user: ALICE, noDtls: false },
      { what: 'no-udp user', user: NOUDP, noDtls: false },
    ];
    for (const c of cases) {
      const s = await connectOpenconnect(topo, { ...creds(c.user), noDtls: c.noDtls });
      if (c.what === 'DTLS') await s.waitForOutput(/Established DTLS connection/);
      (seen[c.what] ??= {} as Record<ServerKind, string>)[kind] = s.state.INTERNAL_IP4_MTU ?? '';
      if (kind === 'ocserv-ts' && c.what === '--no-dtls') {
        const peer = (await serverTunAddress(topo, s.address)) ?? '198.19.0.1';
        const full = await ping(topo, topo.clientNs, peer, { count: 2, size: 1472 - 28, dontFragment: true });
        t.ok(full.ok, 'a 1472-byte packet crosses the CSTP tunnel unfragmented', { output: full.output });
      }
      await s.disconnect();
    }
    await server.stop();
  }
  t.same(seen['--no-dtls'], { ocserv: '1472', 'ocserv-ts': '1472' }, '--no-dtls: the link less IP and UDP headers');
  t.same(seen.DTLS, { ocserv: '1434', 'ocserv-ts': '1434' }, 'DTLS (AES-GCM): room for the record too');
  t.same(seen['no-udp user'], { ocserv: '1472', 'ocserv-ts': '1472' }, 'a user with no-udp gets the CSTP MTU though the client asked for DTLS');
});
