import t from 'tap';
import { sessionTraffic } from '../../src/main/session-counters';

const stats = (rxBytes: number, rxPackets: number, txBytes: number, txPackets: number) => ({ rxBytes, rxPackets, txBytes, txPackets });

t.test("the worker's count of the client's packets, held to the kernel's counters", async (t) => {
  // 100 segments of 1452 bytes coalesced into 3 writes: the kernel saw 97 fewer headers of 52 bytes
  const kernel = stats(100 * 1400 + 3 * 52, 3, 5000, 50);
  const worker = stats(100 * 1452, 100, 5000, 50);
  t.same(sessionTraffic(kernel, worker), worker, 'what the worker counted, when the merged headers account for the difference');
  t.same(sessionTraffic(kernel, stats(10, 1, 10, 1)), kernel, 'never below the kernel: a worker cannot hide traffic');
  const inflated = sessionTraffic(kernel, stats(10_000_000, 100, 5000, 50))!;
  t.equal(inflated.rxBytes, kernel.rxBytes + 120 * 97, 'nor claim more bytes than 120 bytes of headers per merged packet');
  t.equal(sessionTraffic(stats(0, 0, 0, 0), stats(5000, 5, 0, 0))!.rxPackets, 0, 'nor packets where the kernel saw none');
  t.same(sessionTraffic(undefined, worker), worker, "the worker's figures when the device is gone");
  t.same(sessionTraffic(kernel, undefined), kernel, "the kernel's when the worker did not answer");
});
