import t from 'tap';
import { connectedResponse } from '../../src/worker/connect-headers';
import { clientFamilies, agentOf } from '../../src/worker/ip-families';
import type { SessionParams } from '../../src/ipc/messages';

const OPENCONNECT = 'Open AnyConnect VPN Agent v9.01-3';

const params: SessionParams = {
  sessionId: 1, username: 'alice', groupname: '', tunName: 'vpns0',
  ipv4: { local: '198.19.0.1', remote: '198.19.0.7', netmask: '255.255.255.0', network: '198.19.0.0', prefix: 24 },
  ipv6: { local: 'fd00:73::1', remote: 'fd00:73:0:5::9', prefix: 64, network: 'fd00:73::' },
  dns: ['198.19.0.53', 'fd00:73::53'],
  nbns: ['198.19.0.54', 'fd00:73::54'],
  routes: [{ network: '10.1.0.0', prefix: 16, netmask: '255.255.0.0' }, { network: '2001:db8:ffff::', prefix: 48, netmask: 'ffff:ffff:ffff::' }],
  noRoutes: [{ network: '2001:db8:ffff:9::', prefix: 64, netmask: 'ffff:ffff:ffff:ffff::' }],
  mtu: 1400, dpd: 90, mobileDpd: 90, keepalive: 300, idleTimeout: 0, sessionTimeout: 0, dtlsId: '00',
};

/** the CONNECT reply's headers, name: value, in order */
function headers(p: SessionParams, reqHeaders: Record<string, string>): string[] {
  const fam = clientFamilies(reqHeaders);
  return connectedResponse(p, 'test', 1500, undefined, fam).split('\r\n').slice(1)
    .filter((l) => /^X-CSTP-(Address|Netmask|DNS|NBNS|Split-(Include|Exclude))/.test(l));
}

t.test('openconnect, dual-stack: both addresses, IPv6 routes and DNS as ocserv sends them', async (t) => {
  t.same(headers(params, { 'user-agent': OPENCONNECT, 'x-cstp-address-type': 'IPv6,IPv4', 'x-cstp-full-ipv6-capability': 'true' }), [
    'X-CSTP-Address: 198.19.0.7',
    'X-CSTP-Netmask: 255.255.255.0',
    'X-CSTP-Address-IP6: fd00:73:0:5::9/64',
    'X-CSTP-DNS: 198.19.0.53',
    'X-CSTP-DNS: fd00:73::53',
    'X-CSTP-NBNS: 198.19.0.54',
    'X-CSTP-NBNS: fd00:73::54',
    'X-CSTP-Split-Include: 10.1.0.0/255.255.0.0',
    'X-CSTP-Split-Include-IP6: 2001:db8:ffff::/48',
    'X-CSTP-Split-Exclude-IP6: 2001:db8:ffff:9::/64',
  ]);
});

t.test('a client that does not ask for IPv6 gets nothing of it', async (t) => {
  const h = headers(params, { 'user-agent': OPENCONNECT, 'x-cstp-address-type': 'IPv4' });
  t.notOk(h.some((l) => l.includes(':') && /fd00|2001/.test(l)), h.join('\n'));
  t.ok(h.includes('X-CSTP-Address: 198.19.0.7'));
});

t.test('IPv6 without full capability: the address the old way, no IPv6 routes or DNS', async (t) => {
  t.same(headers(params, { 'user-agent': 'Cisco AnyConnect VPN Agent for Windows 3.1', 'x-cstp-address-type': 'IPv6,IPv4' }), [
    'X-CSTP-Address: 198.19.0.7',
    'X-CSTP-Netmask: 255.255.255.0',
    'X-CSTP-Address: fd00:73:0:5::9',
    'X-CSTP-Netmask: fd00:73::/64',
    'X-CSTP-DNS: 198.19.0.53',
    'X-CSTP-NBNS: 198.19.0.54',
    'X-CSTP-Split-Include: 10.1.0.0/255.255.0.0',
  ]);
});

t.test('AnyConnect gets IPv6 DNS servers as X-CSTP-DNS-IP6; an unknown client none', async (t) => {
  const ac = headers(params, { 'user-agent': 'AnyConnect Linux_64 4.10', 'x-cstp-full-ipv6-capability': 'true' });
  t.ok(ac.includes('X-CSTP-DNS-IP6: fd00:73::53'));
  t.ok(ac.includes('X-CSTP-Address-IP6: fd00:73:0:5::9/64'));
  const other = headers(params, { 'user-agent': 'curl/8', 'x-cstp-full-ipv6-capability': 'true' });
  t.ok(other.includes('X-CSTP-Address-IP6: fd00:73:0:5::9/64'), 'the address still');
  t.notOk(other.some((l) => /fd00:73::53|2001:db8/.test(l)), 'but no IPv6 routes or DNS');
});

t.test('an IPv6-only session, and a tunnel too small for IPv6', async (t) => {
  const only = headers({ ...params, ipv4: undefined }, { 'user-agent': OPENCONNECT, 'x-cstp-full-ipv6-capability': 'true' });
  t.equal(only[0], 'X-CSTP-Address-IP6: fd00:73:0:5::9/64');
  t.notOk(only.some((l) => l.startsWith('X-CSTP-Address: ')));
  const small = headers({ ...params, mtu: 1200 }, { 'user-agent': OPENCONNECT, 'x-cstp-full-ipv6-capability': 'true' });
  t.notOk(small.some((l) => /fd00|2001/.test(l)), 'below 1280 nothing of IPv6');
});

t.test('client families from User-Agent and headers', async (t) => {
  t.same(agentOf(OPENCONNECT), { agent: 'openconnect', ios: false });
  t.same(agentOf('Open AnyConnect VPN Agent v3.02'), { agent: 'other', ios: false }, 'v3 and older know no IPv6 routes');
  t.same(agentOf('OpenConnect VPN Agent (Windows)'), { agent: 'openconnect', ios: false });
  t.same(agentOf('Cisco AnyConnect VPN Agent for Apple iPhone 4.10'), { agent: 'anyconnect', ios: true });
  t.same(clientFamilies({}), { ipv4: true, ipv6: true, fullIpv6: false, agent: 'other', ios: false }, 'silence: both families');
  const ios = headers({ ...params, routes: [] }, { 'user-agent': 'Cisco AnyConnect VPN Agent for Apple iPad 4', 'x-cstp-full-ipv6-capability': 'true' });
  t.ok(ios.includes('X-CSTP-Split-Include-IP6: 2000::/3'), 'AnyConnect on iOS needs an IPv6 route');
});
