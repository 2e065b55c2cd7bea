import t from 'tap';
import { Ipv4Pool } from '../../src/main/leases';

t.test('server end is the first host, clients get distinct addresses', async (t) => {
  const pool = new Ipv4Pool('198.19.0.0', 29, false);
  t.equal(pool.local, '198.19.0.1');
  t.equal(pool.capacity, 5);
  const got = new Set<string>();
  for (let i = 0; i < 5; i++) got.add(pool.allocate(`u${i}`)!.remote);
  t.same([...got].sort(), ['198.19.0.2', '198.19.0.3', '198.19.0.4', '198.19.0.5', '198.19.0.6']);
  t.equal(pool.allocate('extra'), undefined, 'pool exhausted');
  pool.release('198.19.0.4');
  t.equal(pool.allocate('again')!.remote, '198.19.0.4');
});

t.test('predictable-ips gives a user the same address while it is free', async (t) => {
  const pool = new Ipv4Pool('198.19.0.0', 24, true);
  const a = pool.allocate('alice')!.remote;
  pool.release(a);
  t.equal(pool.allocate('alice')!.remote, a);
  const other = new Ipv4Pool('198.19.0.0', 24, true);
  t.equal(other.allocate('alice')!.remote, a, 'same across restarts');
  const taken = pool.allocate('alice')!.remote;
  t.not(taken, a, 'a second session of alice gets another address');
});

t.test('an address given by the auth backend is leased exactly once, in or outside the pool', async (t) => {
  const pool = new Ipv4Pool('198.19.0.0', 29, false);
  t.equal(pool.allocateExact('198.19.0.5')!.remote, '198.19.0.5');
  t.equal(pool.allocateExact('198.19.0.5'), undefined, 'in use');
  for (let i = 0; i < 4; i++) t.not(pool.allocate(`u${i}`)!.remote, '198.19.0.5', 'the pool skips it');
  t.equal(pool.allocateExact('198.19.0.1'), undefined, 'never the server address');
  const outside = pool.allocateExact('198.18.200.7')!;
  t.equal(outside.local, '198.19.0.1', 'the tun keeps the pool server address');
  t.equal(pool.allocateExact('198.18.200.7'), undefined);
  pool.release('198.18.200.7');
  t.ok(pool.allocateExact('198.18.200.7'), 'free again after release');
  pool.release('198.19.0.5');
  t.ok(pool.allocateExact('198.19.0.5'));
  t.equal(pool.allocateExact('not-an-ip'), undefined);
});
