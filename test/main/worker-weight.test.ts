import t from 'tap';
import { niceFor } from '../../src/main/worker-weight';

t.test('a worker weighs as many processes as it has clients', async (t) => {
  // the kernel's weights: nice 0 = 1024, -3 = 1991, -7 = 4904, -10 = 9548, -19 = 68305
  t.equal(niceFor(0), 0);
  t.equal(niceFor(1), 0);
  t.equal(niceFor(2), -3);
  t.equal(niceFor(5), -7);
  t.equal(niceFor(10), -10);
  t.equal(niceFor(32), -16);
  t.equal(niceFor(1000), -19, 'no lower than nice -19');
});

t.test('counted from main\'s own nice value, which workers inherit', async (t) => {
  t.equal(niceFor(1, 10), 10, 'one client: as main');
  t.equal(niceFor(5, 10), 3);
  t.equal(niceFor(1000, 10), -19);
});
