import t from 'tap';
import { TokenBucket, rateLimiter } from '../../src/worker/rate-limit';

t.test('token bucket: a burst of half a second, then the rate; drops instead of queueing', async (t) => {
  const b = new TokenBucket(10_000, 5_000, 0);
  let passed = 0;
  for (let i = 0; i < 10; i++) if (b.take(1000, 0)) passed++;
  t.equal(passed, 5, 'the burst');
  t.notOk(b.take(1000, 50), 'only 500 bytes after 50 ms');
  t.ok(b.take(1000, 100), '1000 bytes after 100 ms');
  // over a long run the passed bytes match the rate
  let bytes = 0;
  for (let ms = 1000; ms < 11_000; ms += 1) if (b.take(1200, ms)) bytes += 1200;
  t.ok(bytes >= 95_000 && bytes <= 106_000, `about 100 kB in 10 s (${bytes})`);
  t.notOk(b.take(5001, 1e9), 'larger than the bucket never passes');
});

t.test('rateLimiter: none for 0, and room for at least one full packet', async (t) => {
  t.equal(rateLimiter(0, 1500, 0), undefined);
  t.equal(rateLimiter(undefined, 1500, 0), undefined);
  const slow = rateLimiter(100, 1500, 0)!;
  t.equal(slow.capacity, 1500);
  t.ok(slow.take(1500, 0), 'a full packet fits');
  t.notOk(slow.take(100, 500), 'then 50 bytes in half a second');
  t.equal(rateLimiter(1_000_000, 1500, 0)!.capacity, 500_000);
});
