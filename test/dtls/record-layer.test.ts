import t from 'tap';
import { randomBytes } from 'node:crypto';
import { ReplayWindow } from '../../src/dtls/replay';
import { parseRecords, recordHeader } from '../../src/dtls/record';
import { HandshakeError, Reassembler, encodeMessage } from '../../src/dtls/handshake';
import { RecordProtection, deriveKeys } from '../../src/dtls/protection';
import { DTLS0_9, DTLS1_2, SUITES, prfHashFor } from '../../src/dtls/suites';
import { clientHelloSessionId } from '../../src/dtls/peek';

t.test('replay window: new, reordered, replayed and too old', async (t) => {
  const w = new ReplayWindow(64);
  const seen = (seq: number) => { const ok = w.check(seq); if (ok) w.mark(seq); return ok; };
  t.ok(seen(1)); t.ok(seen(3)); t.ok(seen(2), 'reordered within the window');
  t.notOk(seen(2), 'replayed');
  t.ok(seen(0x1234)); t.ok(seen(0x1230), 'late but inside the window');
  t.notOk(seen(0x1230), 'replayed after the window moved');
  t.notOk(seen(0x1234 - 64), 'older than the window');
  t.ok(seen(0x1234 - 63), 'the oldest still inside');
  t.ok(seen(0x100000), 'a big jump forward');
  t.notOk(seen(0x1235), 'everything before the jump is now too old');
  t.ok(seen(0x100000 - 1));
  t.notOk(w.check(0x100000), 'check does not mark, mark does');
  t.ok(w.check(0x100001));
  t.equal(w.highest, 0x100000);
});

t.test('records: several per datagram; truncated or impossible ones stop parsing', async (t) => {
  const a = Buffer.concat([recordHeader(22, DTLS1_2, 0, 5, 3), Buffer.from('abc')]);
  const b = Buffer.concat([recordHeader(23, DTLS1_2, 1, 0x123456789a, 2), Buffer.from('xy')]);
  const { records, malformed } = parseRecords(Buffer.concat([a, b]));
  t.notOk(malformed);
  t.same(records.map((r) => [r.type, r.epoch, r.seq, r.fragment.toString()]), [[22, 0, 5, 'abc'], [23, 1, 0x123456789a, 'xy']]);
  t.same(parseRecords(Buffer.concat([a, b.subarray(0, 14)])).records.length, 1, 'truncated second record dropped');
  t.ok(parseRecords(Buffer.concat([a, b.subarray(0, 14)])).malformed);
  t.ok(parseRecords(Buffer.from([99, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])).malformed, 'unknown content type');
  t.ok(parseRecords(Buffer.concat([recordHeader(22, DTLS1_2, 0, 0, 60000), Buffer.alloc(10)])).malformed, 'length beyond the datagram');
});

t.test('handshake reassembly: reordered, duplicated, overlapping fragments', async (t) => {
  const body = randomBytes(1000);
  const whole = encodeMessage(1, 0, body);
  const frag = (off: number, len: number) => {
    const h = Buffer.from(whole.subarray(0, 12));
    h.writeUIntBE(off, 6, 3);
    h.writeUIntBE(len, 9, 3);
    return Buffer.concat([h, body.subarray(off, off + len)]);
  };
  const r = new Reassembler();
  t.same(r.push(frag(600, 400)), []);
  t.same(r.push(frag(0, 300)), []);
  t.same(r.push(frag(0, 300)), [], 'duplicate');
  t.same(r.push(frag(200, 300)), [], 'overlap');
  const done = r.push(frag(450, 200));
  t.equal(done.length, 1, 'complete once every byte arrived');
  t.ok(done[0].body.equals(body));
  t.same(new Reassembler().push(whole).map((m) => m.body.length), [1000], 'unfragmented');
  t.throws(() => new Reassembler().push(whole.subarray(0, 20)), HandshakeError, 'fragment claims more than the record has');
  const huge = Buffer.from(whole.subarray(0, 12)); huge.writeUIntBE(1 << 23, 1, 3);
  t.throws(() => new Reassembler().push(huge), /bytes/, 'absurd message length');
  const r2 = new Reassembler();
  r2.push(frag(0, 100));
  const liar = frag(100, 100); liar[0] = 2;
  t.throws(() => r2.push(liar), /disagree/, 'fragments of one message with another type');
});

t.test('record protection round trip for every suite and version; tampering is caught', async (t) => {
  for (const suite of SUITES) {
    for (const version of suite.kind === 'cbc' ? [DTLS1_2, DTLS0_9] : [DTLS1_2]) {
      const keys = deriveKeys(suite, version, prfHashFor(version, suite), randomBytes(48), randomBytes(32), randomBytes(32));
      const tx = new RecordProtection(suite, keys.server);
      const rx = new RecordProtection(suite, keys.server);
      const pkt = randomBytes(1300);
      const frag = tx.encrypt(23, version, 1, 77, [Buffer.from([0]), pkt]);
      // decrypt works in place on AEAD suites: give it copies
      const back = rx.decrypt(23, version, 1, 77, Buffer.from(frag));
      t.ok(back && back.equals(Buffer.concat([Buffer.from([0]), pkt])), `${suite.name} v${version.toString(16)} round trip`);
      t.ok(frag.length - 1301 <= RecordProtection.overhead(suite), `${suite.name} overhead within the announced bound`);
      const flipped = Buffer.from(frag); flipped[flipped.length - 5] ^= 1;
      t.equal(rx.decrypt(23, version, 1, 77, flipped), null, `${suite.name}: a flipped bit is rejected`);
      t.equal(rx.decrypt(23, version, 1, 78, Buffer.from(frag)), null, `${suite.name}: another sequence number is rejected`);
      t.equal(rx.decrypt(23, version, 2, 77, Buffer.from(frag)), null, `${suite.name}: another epoch is rejected`);
      t.equal(rx.decrypt(23, version, 1, 77, Buffer.from(frag.subarray(0, 10))), null, `${suite.name}: truncated`);
      // packets 1300, 100 and 0 bytes long, at odd places in a bigger buffer
      const src = Buffer.concat([randomBytes(3), pkt, randomBytes(5)]);
      const spans = Uint32Array.of(3, 1300, 3 + 1200, 100, 7, 0);
      const out = Buffer.alloc(2000 + 3 * 80);
      const lens = new Uint32Array(3);
      const n = tx.sealSpans(23, version, 1, 500, Buffer.from([0]), src, spans, 3, out, lens);
      t.equal(n, lens[0] + lens[1] + lens[2], `${suite.name}: batch sealing reports what it wrote`);
      const opened: (string | undefined)[] = [];
      for (let i = 0, off = 0; i < 3; off += lens[i], i++) {
        const r = out.subarray(off, off + lens[i]);
        t.equal(r.readUInt16BE(11), lens[i] - 13, 'the header gives the record length');
        opened.push(rx.decrypt(23, version, 1, r.readUIntBE(5, 6), Buffer.from(r.subarray(13)))?.toString('hex'));
      }
      t.same(opened, [pkt, pkt.subarray(1200, 1300), Buffer.alloc(0)].map((p) => Buffer.concat([Buffer.from([0]), p]).toString('hex')),
        `${suite.name}: batch sealing gives records that open one by one, in sequence`);
      t.throws(() => tx.sealSpans(23, version, 1, 600, Buffer.from([0]), src, spans, 3, Buffer.alloc(1400), lens), RangeError,
        `${suite.name}: records that do not fit out are refused`);
    }
  }
});

t.test('ClientHello peek for the UDP hand-over', async (t) => {
  const sid = randomBytes(32);
  const body = Buffer.concat([Buffer.from([0xfe, 0xfd]), randomBytes(32), Buffer.from([32]), sid, Buffer.from([0, 0, 2, 0x00, 0xa9, 1, 0])]);
  const hello = Buffer.concat([recordHeader(22, DTLS1_2, 0, 0, 12 + body.length), encodeMessage(1, 0, body)]);
  t.ok(clientHelloSessionId(hello)?.equals(sid));
  t.equal(clientHelloSessionId(randomBytes(200)), null, 'junk');
  t.equal(clientHelloSessionId(hello.subarray(0, 40)), null, 'truncated');
  const lying = Buffer.from(hello); lying.writeUInt16BE(0xffff, 11);
  t.equal(clientHelloSessionId(lying), null, 'record length beyond the datagram');
  const bigSid = Buffer.from(hello); bigSid[13 + 12 + 34] = 200;
  t.equal(clientHelloSessionId(bigSid), null, 'session id length over 32');
  const epoch1 = Buffer.from(hello); epoch1.writeUInt16BE(1, 3);
  t.equal(clientHelloSessionId(epoch1), null, 'not epoch 0');
});
