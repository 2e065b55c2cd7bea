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
