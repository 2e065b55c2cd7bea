import t from 'tap';
import { CstpParser, CstpProtocolError, CstpType, frame } from '../../src/worker/cstp';

t.test('frame writes the STF header', async (t) => {
  const f = frame(CstpType.Data, Buffer.from('abc'));
  t.same([...f.subarray(0, 8)], [0x53, 0x54, 0x46, 0x01, 0x00, 0x03, 0x00, 0x00]);
  t.equal(f.subarray(8).toString(), 'abc');
  t.same([...frame(CstpType.DpdReq)], [0x53, 0x54, 0x46, 0x01, 0, 0, 3, 0]);
});

t.test('parser splits frames across arbitrary chunk boundaries', async (t) => {
  const stream = Buffer.concat([
    frame(CstpType.Data, Buffer.alloc(1300, 1)),
    frame(CstpType.DpdReq),
    frame(CstpType.Keepalive),
    frame(CstpType.Data, Buffer.from('tail')),
  ]);
  for (const step of [1, 3, 7, 8, 9, 100, 1307, stream.length]) {
    const p = new CstpParser();
    const got: Array<[number, number]> = [];
    for (let i = 0; i < stream.length; i += step) {
      p.push(stream.subarray(i, i + step), (type, payload) => got.push([type, payload.length]));
    }
    t.same(got, [[0, 1300], [3, 0], [7, 0], [0, 4]], `chunk size ${step}`);
  }
});

t.test('parser rejects a bad magic and an oversized payload', async (t) => {
  t.throws(() => new CstpParser().push(Buffer.from('GET / HTTP/1.1\r\n'), () => {}), CstpProtocolError);
  const big = frame(CstpType.Data, Buffer.alloc(3000));
  t.throws(() => new CstpParser(2000).push(big, () => {}), /exceeds 2000/);
});
