import t from 'tap';
import { buildConfig, parseConfigText, type Config } from '../../src/common/config';
import { mergeSessionConfig, parseSessionConfig, resolveSession, type SessionConfig } from '../../src/common/session-config';
import { parsePortPolicy, portPolicyText } from '../../src/common/port-policy';

function config(extra = ''): Config {
  const text = [
    'auth = "plain[passwd=/dev/null]"', 'server-cert = /dev/null', 'server-key = /dev/null',
    'ipv4-network = 198.19.0.0/24', 'dns = 198.19.0.1', 'route = 198.19.0.0/24', 'no-route = 198.19.0.128/25',
    'dpd = 90', 'keepalive = 32400', extra,
  ].join('\n');
  return buildConfig(parseConfigText(text, 'ocserv.conf'), 'ocserv.conf');
}

function parse(text: string): SessionConfig {
  const r = parseSessionConfig(text, 'u');
  if (r.errors.length) throw r.errors[0];
  return r.config;
}

t.test('a per-user file: lists, numbers, switches, addresses', async (t) => {
  const r = parseSessionConfig([
    '# alice',
    'route = 10.1.0.0/255.255.0.0',
    'route = 10.2.0.0/16',
    'no-route = 10.1.5.0/24',
    'iroute = 192.168.50.0/24',
    'dns = 10.1.0.53', 'ipv4-dns = 10.1.0.54', 'nbns = 10.1.0.3', 'split-dns = corp.example',
    'explicit-ipv4 = 198.19.0.77',
    'ipv4-network = 198.19.9.0', 'ipv4-netmask = 255.255.255.0',
    'mtu = 1300', 'dpd = 30', 'mobile-dpd = 600', 'keepalive = 20', 'idle-timeout = 120', 'mobile-idle-timeout = 900',
    'session-timeout = 3600', 'stats-report-time = 60', 'max-same-clients = 2',
    'rx-data-per-sec = 100000', 'tx-data-per-sec = 200000',
    'no-udp = true', 'tunnel-all-dns = yes', 'deny-roaming = false', 'restrict-user-to-routes = true',
    'restrict-user-to-ports = "tcp(443), udp(53), icmp()"',
    'hostname = alice-pc',
  ].join('\n'), 'alice');
  t.same(r.errors, []);
  t.same(r.warnings, []);
  const c = r.config;
  t.same(c.routes!.map((x) => `${x.network}/${x.prefix}`), ['10.1.0.0/16', '10.2.0.0/16']);
  t.same(c.noRoutes!.map((x) => x.netmask), ['255.255.255.0']);
  t.same(c.iroutes!.map((x) => `${x.network}/${x.prefix}`), ['192.168.50.0/24']);
  t.same(c.dns, ['10.1.0.53', '10.1.0.54']);
  t.same(c.nbns, ['10.1.0.3']);
  t.same(c.splitDns, ['corp.example']);
  t.equal(c.explicitIpv4, '198.19.0.77');
  t.equal(c.ipv4Network, '198.19.9.0');
  t.equal(c.ipv4Prefix, 24);
  t.match(c, {
    mtu: 1300, dpd: 30, mobileDpd: 600, keepalive: 20, idleTimeout: 120, mobileIdleTimeout: 900, sessionTimeout: 3600,
    statsReportTime: 60, maxSameClients: 2, rxDataPerSec: 100000, txDataPerSec: 200000,
    noUdp: true, tunnelAllDns: true, denyRoaming: false, restrictToRoutes: true, hostname: 'alice-pc',
  });
  t.same(c.restrictToPorts, { deny: false, rules: [{ proto: 'tcp', port: 443 }, { proto: 'udp', port: 53 }, { proto: 'icmp' }] });
});

t.test('bad lines are errors with file and line; the rest of the file is still read', async (t) => {
  const r = parseSessionConfig(['dns = 10.0.0.1', 'mtu = lots', 'route = 10.0.0.0/40', 'no-udp = maybe', 'restrict-user-to-ports = tcp(99999)', 'just words', 'explicit-ipv4 = ::1'].join('\n'), '/etc/u/bob');
  t.same(r.errors.map((e) => e.line), [2, 3, 4, 5, 6, 7]);
  t.match(r.errors[0].message, /^\/etc\/u\/bob:2: mtu: 'lots' is not a whole number/);
  t.match(r.errors[3].reason, /tcp needs a port/);
  t.same(r.config.dns, ['10.0.0.1']);
});

t.test('options not acted on warn once per file; IPv6 options are read', async (t) => {
  const r = parseSessionConfig(['cgroup = cpu:x', 'cgroup = cpu:y', 'net-priority = 3', 'ipv6-network = fd00::/64', 'explicit-ipv6 = fd00::5',
    'route = fd00:1::/64', 'ipv6-subnet-prefix = 96', 'auth = "plain[passwd=/x]"', 'frobnicate = 1', 'tunnel_all_dns = true'].join('\n'), 'f');
  t.same(r.errors, []);
  t.same(r.warnings.map((w) => w.key), ['cgroup', 'auth', 'frobnicate']);
  t.match(r.warnings[1].message, /only in the main configuration file/);
  t.same(r.config.netPriority, { priority: 3 }, 'net-priority is acted on');
  t.equal(r.config.ipv6Network, 'fd00::');
  t.equal(r.config.ipv6Prefix, 64);
  t.equal(r.config.explicitIpv6, 'fd00::5');
  t.equal(r.config.ipv6SubnetPrefix, 96);
  t.same(r.config.routes, [{ network: 'fd00:1::', prefix: 64, netmask: 'ffff:ffff:ffff:ffff::' }], 'an IPv6 route');
  t.equal(r.config.tunnelAllDns, true, 'ocserv\'s own spelling works too');
});

t.test('IPv6 values are checked', async (t) => {
  const r = parseSessionConfig(['ipv6-network = fd00::/129', 'explicit-ipv6 = fd00::5/64', 'route = fd00::%eth0/64', 'iroute = 2001:db8::1',
    'ipv6-subnet-prefix = 0', 'explicit-ipv6 = 10.0.0.1'].join('\n'), 'f');
  t.same(r.errors.map((e) => e.line), [1, 2, 3, 5, 6]);
  t.match(r.errors[1]!.reason, /its network length is ipv6-subnet-prefix/);
  t.same(r.config.iroutes, [{ network: '2001:db8::1', prefix: 128, netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' }], 'a bare address is a host route');
});

t.test('group then user: lists add up, the user\'s single values win', async (t) => {
  const group = parse('route = 10.1.0.0/16\ndns = 10.0.0.1\ndpd = 30\nno-udp = true\nipv4-network = 198.19.8.0/24');
  const user = parse('route = 10.2.0.0/16\ndpd = 40\nipv4-network = 198.19.7.0');
  const m = mergeSessionConfig(group, user);
  t.same(m.routes!.map((x) => x.network), ['10.1.0.0', '10.2.0.0']);
  t.same(m.dns, ['10.0.0.1']);
  t.equal(m.dpd, 40);
  t.equal(m.noUdp, true);
  t.equal(m.ipv4Network, '198.19.7.0');
  t.equal(m.ipv4Prefix, 24, 'the group\'s prefix stays with the user\'s network');
  t.equal(mergeSessionConfig(parse('route = default'), parse('route = 10.0.0.0/8')).defaultRoute, true);
});

t.test('resolve: files override the configuration, the auth backend overrides the files', async (t) => {
  const c = config('idle-timeout = 100\nmobile-idle-timeout = 50');
  const none = resolveSession(c, {}, {}, { mobile: false });
  if ('error' in none) throw new Error(none.error);
  t.same(none.routes.map((r) => r.network), ['198.19.0.0']);
  t.same(none.dns, ['198.19.0.1']);
  t.equal(none.idleTimeout, 100);
  t.equal(none.tunnelAllDns, false);
  t.equal(none.ipv4Pool, undefined);

  const sc = parse('route = 10.1.0.0/16\ndns = 10.1.0.53\nmobile-idle-timeout = 70\nipv4-network = 198.19.9.0/24\nexplicit-ipv4 = 198.19.9.9');
  const e = resolveSession(c, sc, { dns: ['10.9.9.9'], ipv4: '198.19.0.99', sessionTimeout: 5 }, { mobile: true });
  if ('error' in e) throw new Error(e.error);
  t.same(e.routes.map((r) => r.network), ['10.1.0.0']);
  t.same(e.noRoutes.map((r) => r.network), ['198.19.0.128'], 'the configuration\'s no-routes stay');
  t.same(e.dns, ['10.9.9.9'], 'RADIUS DNS wins');
  t.equal(e.explicitIpv4, '198.19.0.99', 'Framed-IP-Address wins over explicit-ipv4');
  t.equal(e.idleTimeout, 70, 'a mobile client gets mobile-idle-timeout');
  t.equal(e.sessionTimeout, 5);
  t.same(e.ipv4Pool, { network: '198.19.9.0', prefix: 24 });

  const all = resolveSession(c, parse('route = default'), {}, { mobile: false });
  if ('error' in all) throw new Error(all.error);
  t.same(all.routes, []);
  t.equal(all.tunnelAllDns, true, 'a tunnel for all traffic takes the DNS queries too');

  const same = resolveSession(c, parse('ipv4-network = 198.19.0.0/24'), {}, { mobile: false });
  t.equal((same as { ipv4Pool?: unknown }).ipv4Pool, undefined, 'naming the server\'s own network is no new pool');
});

t.test('resolve IPv6: the server\'s network, the files\', the backend\'s address', async (t) => {
  const c = config('ipv6-network = fd00:73::/48\nipv6-subnet-prefix = 64\nroute = 2001:db8:ffff::/48');
  t.same(c.ipv6, { network: 'fd00:73::', prefix: 48, subnetPrefix: 64 });
  t.same(c.routes.map((r) => `${r.network}/${r.prefix}`), ['198.19.0.0/24', '2001:db8:ffff::/48'], 'IPv6 routes are kept');
  const none = resolveSession(c, {}, {}, { mobile: false });
  if ('error' in none) throw new Error(none.error);
  t.same(none.ipv6Net, { network: 'fd00:73::', prefix: 48, subnetPrefix: 64 });
  t.equal(none.explicitIpv6, undefined);

  const own = resolveSession(c, parse('ipv6-network = fd00:99::/56\nexplicit-ipv6 = fd00:99::7\nipv6-subnet-prefix = 128'), {}, { mobile: false });
  if ('error' in own) throw new Error(own.error);
  t.same(own.ipv6Net, { network: 'fd00:99::', prefix: 56, subnetPrefix: 128 });
  t.same(own.explicitIpv6, { address: 'fd00:99::7', prefix: 128 }, 'explicit-ipv6 takes ipv6-subnet-prefix');

  const radius = resolveSession(c, parse('explicit-ipv6 = fd00:73:1::7'), { ipv6: '2001:db8:5::/64', routes: ['10.9.0.0/16', '2001:db8:9::/48'] }, { mobile: false });
  if ('error' in radius) throw new Error(radius.error);
  t.same(radius.explicitIpv6, { address: '2001:db8:5::', prefix: 64 }, 'Framed-IPv6-Prefix wins with its length');
  t.same(radius.routes.map((r) => `${r.network}/${r.prefix}`), ['10.9.0.0/16', '2001:db8:9::/48'], 'Framed-IPv6-Route too');

  const bad = resolveSession(c, parse('ipv6-subnet-prefix = 40'), {}, { mobile: false });
  t.match(bad, { error: /ipv6-subnet-prefix \/40 must be longer than the ipv6-network's \/48/ });
  const noNet = resolveSession(config(), parse('explicit-ipv6 = fd00::7'), {}, { mobile: false });
  if ('error' in noNet) throw new Error(noNet.error);
  t.equal(noNet.ipv6Net, undefined, 'without any ipv6-network there is no IPv6, as ocserv');
});

t.test('ipv6-network in ocserv.conf: prefix forms and limits', async (t) => {
  t.same(config('ipv6-network = fd00:1::\nipv6-prefix = 64').ipv6, { network: 'fd00:1::', prefix: 64, subnetPrefix: 128 });
  t.same(config('ipv6-network = fd00:1::5/64\nipv6-subnet-prefix = 0').ipv6, { network: 'fd00:1::', prefix: 64, subnetPrefix: 128 }, 'host bits cleared; 0 means the default');
  t.throws(() => config('ipv6-network = fd00:1::'), /ipv6-network has no prefix and no ipv6-prefix is set/);
  t.throws(() => config('ipv6-network = fd00:1::/64\nipv6-subnet-prefix = 64'), /:\d+: ipv6-subnet-prefix \/64 must be longer/);
  t.throws(() => config('ipv6-network = fd00:1::/127'), /leaves no room for clients/);
  t.throws(() => config('ipv6-network = 10.0.0.0/8'), /not an IPv6 address or network/);
  t.throws(() => config('route = fd00::1/200'), /is not a prefix length from 0 to 128/);
});

t.test('expose-iroutes: the others\' iroutes are added, not one\'s own, not to a full tunnel', async (t) => {
  const c = config();
  const known = parse('iroute = 10.50.0.0/16\niroute = 10.60.0.0/16').iroutes!;
  const mine = resolveSession(c, parse('iroute = 10.50.0.0/16'), {}, { mobile: false, exposedIroutes: known });
  if ('error' in mine) throw new Error(mine.error);
  t.same(mine.routes.map((r) => r.network), ['198.19.0.0', '10.60.0.0']);
  const full = resolveSession(c, parse('route = default'), {}, { mobile: false, exposedIroutes: known });
  t.same((full as { routes: unknown[] }).routes, []);
});

t.test('port lists: ocserv\'s syntax, negated lists, what occtl prints', async (t) => {
  t.same(parsePortPolicy('tcp(443), tcp(80), udp(443), sctp(99), icmp(), icmpv6()'), {
    deny: false,
    rules: [{ proto: 'tcp', port: 443 }, { proto: 'tcp', port: 80 }, { proto: 'udp', port: 443 }, { proto: 'sctp', port: 99 }, { proto: 'icmp' }, { proto: 'icmpv6' }],
  });
  const neg = parsePortPolicy(' !( tcp(443), TCP (80) ) ');
  t.same(neg, { deny: true, rules: [{ proto: 'tcp', port: 443 }, { proto: 'tcp', port: 80 }] });
  t.same(portPolicyText(neg as never), ['!tcp(443)', '!tcp(80)']);
  for (const bad of ['', 'tcp', 'tcp(0)', 'icmp(5)', '!tcp(443)', 'gre()', 'tcp(443) udp(53)']) {
    t.ok('error' in parsePortPolicy(bad), `'${bad}' is refused`);
  }
  t.throws(() => config('restrict-user-to-ports = tcp(x)'), /restrict-user-to-ports: tcp needs a port/);
  t.same(config('restrict-user-to-ports = "!(udp(53))"').restrictToPorts, { deny: true, rules: [{ proto: 'udp', port: 53 }] });
});
