/** DeferredCall (src/common/deferred-call.ts): bookkeeping put off while a new tunnel comes up. */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeferredCall } from '../../src/common/deferred-call';

t.test('a call waits for the delay, then runs once', async (t) => {
  const calls: string[] = [];
  const d = new DeferredCall(20);
  d.schedule(() => calls.push('a'));
  await sleep(5);
  t.same(calls, [], 'not yet');
  await sleep(40);
  t.same(calls, ['a'], 'after the delay');
  d.flush();
  t.same(calls, ['a'], 'flushing afterwards makes no second call');
});

t.test('flush makes the waiting call at once, and the timer then does nothing', async (t) => {
  const calls: string[] = [];
  const d = new DeferredCall(20);
  d.schedule(() => calls.push('a'));
  d.flush();
  t.same(calls, ['a'], 'at once (a tunnel that ends logs "DTLS up" before it logs its end)');
  await sleep(40);
  t.same(calls, ['a'], 'only once');
});

t.test('a new call makes the waiting one first, in order', async (t) => {
  const calls: string[] = [];
  const d = new DeferredCall(20);
  d.schedule(() => calls.push('first'));
  d.schedule(() => calls.push('second'));
  t.same(calls, ['first'], 'the first at once (a second DTLS session replaced the first)');
  await sleep(40);
  t.same(calls, ['first', 'second']);
});
