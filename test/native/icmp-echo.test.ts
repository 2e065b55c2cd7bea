/** ping-leases's native part: one echo request on loopback, and its reply seen. */
import t from 'tap';
import { FdWatcher, closeFd, icmpEchoOpen, icmpEchoReplied, icmpEchoSend } from '../../src/native/index';

function replied(address: string, id: number): Promise<boolean> {
  const fd = icmpEchoOpen(address);
  return new Promise((resolve) => {
    const timer = setTimeout(() => { w.close(); closeFd(fd); resolve(false); }, 3000);
    const w = new FdWatcher(fd, (err, readable) => {
      if (err || !readable || !icmpEchoReplied(fd, id)) return;
      clearTimeout(timer);
      w.close();
      closeFd(fd);
      resolve(true);
    });
    w.start(true);
    icmpEchoSend(fd, id, 1);
  });
}

t.test('an echo request to 127.0.0.1 is answered', async (t) => {
  t.equal(await replied('127.0.0.1', 0x1234), true);
});

t.test('IPv6 too', async (t) => {
  t.equal(await replied('::1', 0x4321), true);
});

t.test('nothing read, nothing claimed; bad input is refused', async (t) => {
  const fd = icmpEchoOpen('127.0.0.1');
  t.teardown(() => closeFd(fd));
  t.equal(icmpEchoReplied(fd, 7), false, 'no reply before a request');
  t.throws(() => icmpEchoOpen('localhost'), TypeError);
  t.throws(() => icmpEchoSend(fd, 0x10000, 1), RangeError);
});
