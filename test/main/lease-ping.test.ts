/** ping-leases: which address a session gets when some answer pings. */
import t from 'tap';
import pino from 'pino';
import { Ipv4Pool, type Lease } from '../../src/main/leases';
import { MAX_PING_TRIES, answersPing, unansweredLease, type Candidates } from '../../src/main/lease-ping';

const log = pino({ level: 'silent' });
const from = (pool: Ipv4Pool, user: string): Candidates<Lease> => ({ next: () => pool.allocate(user), release: (l) => pool.release(l.remote) });

t.test('an address that answers is skipped; the search goes on from there', async (t) => {
  const pool = new Ipv4Pool('198.19.0.0', 29, true);
  const first = pool.allocate('alice')!;
  const answering = new Set([first.remote]);
  const probed: string[] = [];
  const got = await unansweredLease(first, from(pool, 'alice'), 'alice', async (ip) => { probed.push(ip); return answering.has(ip); }, log);
  t.ok(got);
  t.not(got!.remote, first.remote);
  t.same(probed, [first.remote, got!.remote], 'one ping per candidate');
  t.equal(pool.inUse, 1, 'the answering address is not kept');
  pool.release(got!.remote);
  t.equal(pool.allocate('alice')!.remote, first.remote, 'and is tried first again next time (it may be free by then)');
});

t.test('a free first address is leased at once', async (t) => {
  const pool = new Ipv4Pool('198.19.0.0', 24, false);
  const first = pool.allocate('bob')!;
  t.equal(await unansweredLease(first, from(pool, 'bob'), 'bob', async () => false, log), first);
});

t.test('when every address answers there is no lease, and nothing stays allocated', async (t) => {
  const small = new Ipv4Pool('198.19.0.0', 29, false);
  let n = 0;
  t.equal(await unansweredLease(small.allocate('c')!, from(small, 'c'), 'c', async () => { n++; return true; }, log), undefined);
  t.equal(n, 5, 'each of the five addresses once');
  t.equal(small.inUse, 0);
  const big = new Ipv4Pool('198.19.0.0', 16, false);
  n = 0;
  t.equal(await unansweredLease(big.allocate('c')!, from(big, 'c'), 'c', async () => { n++; return true; }, log), undefined);
  t.equal(n, MAX_PING_TRIES, 'at most 16 tries, as ocserv');
  t.equal(big.inUse, 0);
});

t.test('a real echo request: loopback answers', async (t) => {
  t.equal(await answersPing('127.0.0.1', 3000), true);
});

t.test('a ping that cannot be sent counts as no answer, and says why', async (t) => {
  const errors: string[] = [];
  t.equal(await answersPing('not an address', 100, (e) => errors.push(e.message)), false);
  t.match(errors, [/not an IP address/]);
});
