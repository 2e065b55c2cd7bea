import t from 'tap';
import ipaddr from 'ipaddr.js';
import { DropLog, packetFilterFor, PacketFilter, type FilterInput } from '../../src/worker/packet-filter';
import { parsePortPolicy, type PortPolicy } from '../../src/common/port-policy';

const PROTO = { icmp: 1, tcp: 6, udp: 17, esp: 50, sctp: 132 } as const;

/** An IPv4 packet from the client's address with a transport header carrying the destination port. */
function v4(dst: string, proto: number, dport = 0, o: { fragOffset?: number; len?: number } = {}): Buffer {
  const b = Buffer.alloc(o.len ?? 40);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b.writeUInt16BE(o.fragOffset ?? 0, 6);
  b[8] = 64;
  b[9] = proto;
  Buffer.from([198, 19, 0, 5]).copy(b, 12);
  Buffer.from(dst.split('.').map(Number)).copy(b, 16);
  if (b.length >= 24) {
    b.writeUInt16BE(40000, 20);
    b.writeUInt16BE(dport, 22);
  }
  return b;
}

function v6(nextHeader: number, dport = 0, dst = '::'): Buffer {
  const b = Buffer.alloc(60);
  b[0] = 0x60;
  b[6] = nextHeader;
  Buffer.from(ipaddr.IPv6.parse(dst).toByteArray()).copy(b, 24);
  b.writeUInt16BE(dport, 42);
  return b;
}

const ports = (s: string) => parsePortPolicy(s) as PortPolicy;
const base: FilterInput = {
  routes: [{ network: '10.1.0.0', prefix: 16 }, { network: '10.2.3.0', prefix: 24 }],
  noRoutes: [{ network: '10.1.9.0', prefix: 24 }],
  dns: ['10.9.9.9'],
  local: '198.19.0.1',
};

t.test('no limits: no filter at all', async (t) => {
  t.equal(packetFilterFor(base), undefined);
  t.equal(packetFilterFor({ ...base, restrictToRoutes: false, ports: undefined }), undefined);
});

t.test('restrict-user-to-routes: routes and the server\'s tun address pass, no-routes and the rest do not', async (t) => {
  const f = new PacketFilter({ ...base, restrictToRoutes: true });
  t.equal(f.check(v4('10.1.2.3', PROTO.icmp)), null);
  t.equal(f.check(v4('10.2.3.200', PROTO.tcp, 22)), null);
  t.equal(f.check(v4('198.19.0.1', PROTO.icmp)), null, 'the server\'s end of the tun');
  t.equal(f.check(v4('10.1.9.1', PROTO.icmp)), 'route', 'inside a no-route');
  t.equal(f.check(v4('10.2.4.1', PROTO.icmp)), 'route');
  t.equal(f.check(v4('8.8.8.8', PROTO.udp, 53)), 'route');
  t.equal(f.check(v4('10.9.9.9', PROTO.udp, 53)), null, 'DNS to the session\'s server always passes');
  t.equal(f.check(v4('10.9.9.9', PROTO.tcp, 53)), null);
  t.equal(f.check(v4('10.9.9.9', PROTO.tcp, 80)), 'route', 'only DNS to it');
  t.equal(f.check(v6(58)), 'route', 'no IPv6 route is given');
  const all = new PacketFilter({ ...base, routes: [], restrictToRoutes: true });
  t.equal(all.check(v4('8.8.8.8', PROTO.udp, 443)), null, 'a tunnel for all traffic: everything but no-routes');
  t.equal(all.check(v4('10.1.9.7', PROTO.udp, 443)), 'route');
  t.equal(all.check(v6(6, 80)), null);
});

t.test('restrict-user-to-routes with IPv6: both families, as ocserv-fw', async (t) => {
  const dual: FilterInput = {
    routes: [...base.routes, { network: '2001:db8:ffff::', prefix: 48 }, { network: 'fd00:9::77', prefix: 125 }],
    noRoutes: [...base.noRoutes, { network: '2001:db8:ffff:9::', prefix: 64 }],
    dns: ['10.9.9.9', 'fd00:53::53'],
    local: '198.19.0.1',
    local6: 'fd00:73::1',
    restrictToRoutes: true,
  };
  const f = new PacketFilter(dual);
  t.equal(f.check(v6(58, 0, '2001:db8:ffff:1::1')), null, 'inside an IPv6 route');
  t.equal(f.check(v6(58, 0, 'fd00:9::70')), null, 'a route written with host bits: the network counts');
  t.equal(f.check(v6(58, 0, 'fd00:9::78')), 'route');
  t.equal(f.check(v6(58, 0, '2001:db8:ffff:9::1')), 'route', 'inside an IPv6 no-route');
  t.equal(f.check(v6(58, 0, '2001:db8:fffe::1')), 'route');
  t.equal(f.check(v6(58, 0, 'fd00:73::1')), null, 'the server\'s IPv6 tun address');
  t.equal(f.check(v6(17, 53, 'fd00:53::53')), null, 'DNS to the session\'s IPv6 server');
  t.equal(f.check(v6(17, 54, 'fd00:53::53')), 'route', 'only DNS to it');
  t.equal(f.check(v4('10.1.2.3', PROTO.icmp)), null, 'IPv4 as before');

  const v4only = new PacketFilter({ ...dual, routes: base.routes, noRoutes: base.noRoutes });
  t.equal(v4only.check(v6(58, 0, '2001:db8:ffff:1::1')), 'route', 'IPv4 routes only: no IPv6 destination but the server');
  t.equal(v4only.check(v6(58, 0, 'fd00:73::1')), null);
  const v6only = new PacketFilter({ ...dual, routes: [{ network: '2001:db8:ffff::', prefix: 48 }], noRoutes: [] });
  t.equal(v6only.check(v4('10.1.2.3', PROTO.icmp)), 'route', 'IPv6 routes only: IPv4 is restricted too');
  t.equal(v6only.check(v4('198.19.0.1', PROTO.icmp)), null);
  const all = new PacketFilter({ ...dual, routes: [] });
  t.equal(all.check(v6(6, 80, '2a00::1')), null, 'a tunnel for all traffic');
  t.equal(all.check(v6(6, 80, '2001:db8:ffff:9::2')), 'route', 'but not into a no-route');
});

t.test('restrict-user-to-ports: an allow-list', async (t) => {
  const f = packetFilterFor({ ...base, ports: ports('tcp(443), udp(1194), icmp()') })!;
  t.equal(f.check(v4('8.8.8.8', PROTO.tcp, 443)), null, 'routes are not restricted by ports alone');
  t.equal(f.check(v4('8.8.8.8', PROTO.tcp, 80)), 'port');
  t.equal(f.check(v4('8.8.8.8', PROTO.udp, 1194)), null);
  t.equal(f.check(v4('8.8.8.8', PROTO.udp, 443)), 'port');
  t.equal(f.check(v4('8.8.8.8', PROTO.icmp)), null);
  t.equal(f.check(v4('8.8.8.8', PROTO.esp)), 'port');
  t.equal(f.check(v4('10.9.9.9', PROTO.udp, 53)), null, 'DNS to the session\'s server');
  t.equal(f.check(v4('8.8.8.8', PROTO.tcp, 0, { fragOffset: 100 })), null, 'a later fragment of an allowed protocol');
  t.equal(f.check(v4('8.8.8.8', PROTO.sctp, 0, { fragOffset: 100 })), 'port', 'a later fragment of another protocol');
  t.equal(f.check(v6(6, 443)), null, 'IPv6 TCP to 443');
  t.equal(f.check(v6(6, 22)), 'port');
});

t.test('restrict-user-to-ports: a deny-list, with routes restricted too', async (t) => {
  const f = packetFilterFor({ ...base, restrictToRoutes: true, ports: ports('!(tcp(25), icmp())') })!;
  t.equal(f.check(v4('10.1.0.1', PROTO.tcp, 25)), 'port');
  t.equal(f.check(v4('10.1.0.1', PROTO.icmp)), 'port');
  t.equal(f.check(v4('10.1.0.1', PROTO.tcp, 443)), null);
  t.equal(f.check(v4('10.3.0.1', PROTO.tcp, 443)), 'route', 'outside the routes');
  t.equal(f.check(v4('10.1.0.1', PROTO.tcp, 25, { fragOffset: 1 })), null, 'a later fragment has no port to refuse');
});

t.test('malformed packets are dropped when a filter is on', async (t) => {
  const f = new PacketFilter({ ...base, restrictToRoutes: true });
  t.equal(f.check(Buffer.alloc(0)), 'malformed');
  t.equal(f.check(Buffer.from([0x45, 0, 0])), 'malformed');
  t.equal(f.check(Buffer.alloc(30, 0x11)), 'malformed', 'not IPv4 or IPv6');
  const p = v4('10.1.0.1', PROTO.tcp, 443, { len: 40 });
  p[0] = 0x4f; // header longer than the packet
  t.equal(f.check(p), 'malformed');
  const g = packetFilterFor({ ...base, ports: ports('tcp(443)') })!;
  t.equal(g.check(v4('10.1.0.1', PROTO.tcp, 443, { len: 22 })), 'malformed', 'no room for the ports');
});

t.test('drops are logged at most once per interval, with counts per reason', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = { debug: (o: Record<string, unknown>) => lines.push(o) } as unknown as import('../../src/common/log').Logger;
  const d = new DropLog(log, 'alice', 100);
  d.note('restrict-user-to-routes');
  d.note('restrict-user-to-routes');
  d.note('rx-data-per-sec');
  t.equal(lines.length, 1, 'the first drop is told at once');
  await new Promise((r) => setTimeout(r, 200));
  t.same(lines.map((l) => l.dropped), [{ 'restrict-user-to-routes': 1 }, { 'restrict-user-to-routes': 1, 'rx-data-per-sec': 1 }]);
  t.equal(lines[1].user, 'alice');
});
