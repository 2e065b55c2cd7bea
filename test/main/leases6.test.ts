import t from 'tap';
import ipaddr from 'ipaddr.js';
import { Ipv6Leases, serverAddress6, type Ipv6Net } from '../../src/main/leases6';

const inNet = (ip: string, net: string, len: number) => ipaddr.IPv6.parse(ip).match(ipaddr.IPv6.parse(net), len);
const first = (ip: string, len: number) => ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${len}`).toString();

t.test('the server end is the network address + 1; clients get distinct /128s inside the network', async (t) => {
  const net: Ipv6Net = { network: 'fd00:1::', prefix: 125, subnetPrefix: 128 };
  t.equal(serverAddress6(net), 'fd00:1::1');
  const leases = new Ipv6Leases(false);
  const got = new Set<string>();
  for (let i = 0; i < 6; i++) {
    const l = leases.allocate(net, `u${i}`)!;
    t.equal(l.local, 'fd00:1::1');
    t.equal(l.prefix, 128);
    got.add(l.remote);
  }
  // 8 addresses: the network address and the server's are no client's
  t.same([...got].sort(), ['fd00:1::2', 'fd00:1::3', 'fd00:1::4', 'fd00:1::5', 'fd00:1::6', 'fd00:1::7']);
  t.equal(leases.allocate(net, 'extra'), undefined, 'exhausted');
  t.equal(leases.inUse, 6);
  leases.release({ local: 'fd00:1::1', remote: 'fd00:1::4', prefix: 128 });
  t.equal(leases.allocate(net, 'again')!.remote, 'fd00:1::4');
});

t.test('/64 networks for clients: never the first (the server\'s), an address inside the client\'s own', async (t) => {
  const net: Ipv6Net = { network: 'fd00:2::', prefix: 62, subnetPrefix: 64 };
  const leases = new Ipv6Leases(false);
  const nets = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const l = leases.allocate(net, `u${i}`)!;
    t.equal(l.prefix, 64);
    t.ok(inNet(l.remote, 'fd00:2::', 62), `${l.remote} is in the pool`);
    nets.add(first(l.remote, 64));
  }
  t.same([...nets].sort(), ['fd00:2:0:1::', 'fd00:2:0:2::', 'fd00:2:0:3::']);
  t.equal(leases.allocate(net, 'u4'), undefined, 'fd00:2::/64 holds the server address');
});

t.test('predictable-ips: a user gets the same address while it is free, across restarts', async (t) => {
  const net: Ipv6Net = { network: 'fd00:3::', prefix: 48, subnetPrefix: 64 };
  const a = new Ipv6Leases(true);
  const first1 = a.allocate(net, 'alice')!;
  a.release(first1);
  t.same(a.allocate(net, 'alice'), first1);
  t.same(new Ipv6Leases(true).allocate(net, 'alice'), first1, 'same in another process');
  const second = a.allocate(net, 'alice')!;
  t.not(first(second.remote, 64), first(first1.remote, 64), 'a second session of alice gets another network');
  t.not(new Ipv6Leases(true).allocate(net, 'bob')!.remote, first1.remote);
  const random = new Ipv6Leases(false);
  const r1 = random.allocate(net, 'alice')!;
  t.ok(inNet(r1.remote, 'fd00:3::', 48));
});

t.test('exact addresses: once, not overlapping another lease, never the server\'s network', async (t) => {
  const net = { network: 'fd00:4::', prefix: 48 };
  const leases = new Ipv6Leases(false);
  const l = leases.allocateExact(net, 'fd00:4:0:5::9', 64)!;
  t.same(l, { local: 'fd00:4::1', remote: 'fd00:4:0:5::9', prefix: 64 });
  t.equal(leases.allocateExact(net, 'fd00:4:0:5::10', 128), undefined, 'inside a leased /64');
  t.equal(leases.allocateExact(net, 'fd00:4::', 56), undefined, 'a /56 holding a leased /64 (and the server address)');
  t.equal(leases.allocateExact(net, 'fd00:4:0:4::1', 62), undefined, 'a /62 holding the leased /64');
  t.equal(leases.allocateExact(net, 'fd00:4::1', 128), undefined, 'the server\'s own address');
  t.equal(leases.allocateExact(net, 'fd00:4::', 128), undefined, 'the network address');
  t.equal(leases.allocateExact(net, 'fd00:4::7', 64), undefined, 'the server\'s /64');
  const outside = leases.allocateExact(net, '2001:db8:77::1', 128)!;
  t.equal(outside.local, 'fd00:4::1', 'outside the network the server end still comes from it');
  t.equal(leases.allocateExact(net, 'not-an-ip', 128), undefined);
  t.equal(leases.allocateExact(net, 'fe80::1%eth0', 128), undefined);
  t.equal(leases.allocateExact(net, 'fd00:4:9::1', 129), undefined);
  leases.release(l);
  t.ok(leases.allocateExact(net, 'fd00:4:0:5::10', 128), 'free after release');
  // one table for every network: a per-user pool cannot hand out another pool's lease
  const other: Ipv6Net = { network: 'fd00:4:0:5::', prefix: 126, subnetPrefix: 128 };
  const taken = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const x = leases.allocate(other, `p${i}`);
    if (x) taken.add(x.remote);
  }
  t.notOk(taken.has('fd00:4:0:5::10'), 'the per-user pool skips the exact lease');
});

t.test('a huge nearly empty network always finds room quickly', async (t) => {
  const net: Ipv6Net = { network: 'fd00:5::', prefix: 64, subnetPrefix: 128 };
  const leases = new Ipv6Leases(true);
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) seen.add(leases.allocate(net, 'same-user')!.remote);
  t.equal(seen.size, 2000, 'one user, many sessions: all distinct');
});
