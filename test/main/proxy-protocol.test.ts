import t from 'tap';
import { randomBytes } from 'node:crypto';
import { proxyHeaderStep, proxyV1, proxyV2, type ProxyStep } from '../../src/main/proxy-protocol';

/**
 * Feeds `bytes` the way main's reader does: only as many as each step asks for. Returns the
 * final step and how many bytes were taken, so a test can check nothing past the header was.
 */
function feed(bytes: Buffer): { step: ProxyStep; taken: number } {
  let got = Buffer.alloc(0);
  for (;;) {
    const step = proxyHeaderStep(got);
    if (!('need' in step)) return { step, taken: got.length };
    if (!(step.need > 0)) throw new Error('asked for no bytes');
    if (got.length >= bytes.length) return { step, taken: got.length };
    got = Buffer.concat([got, bytes.subarray(got.length, got.length + step.need)]);
  }
}

const TLS_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]);

t.test('v1 TCP4, TCP6 and UNKNOWN; nothing after the line is taken', async (t) => {
  const v4 = proxyV1({ address: '198.51.100.7', port: 50123 }, { address: '203.0.113.1', port: 443 });
  t.equal(v4.toString(), 'PROXY TCP4 198.51.100.7 203.0.113.1 50123 443\r\n');
  let r = feed(Buffer.concat([v4, TLS_HELLO]));
  t.equal(r.taken, v4.length);
  t.same('header' in r.step && r.step.header, { version: 1, command: 'proxy', source: { address: '198.51.100.7', port: 50123 }, destination: { address: '203.0.113.1', port: 443 }, tlvs: [], length: v4.length });

  const v6 = proxyV1({ address: '2001:db8::7', port: 1 }, { address: '2001:db8::1', port: 443 });
  r = feed(Buffer.concat([v6, TLS_HELLO]));
  t.equal(r.taken, v6.length);
  t.match('header' in r.step && r.step.header, { command: 'proxy', source: { address: '2001:db8::7', port: 1 } });

  // a v4-mapped client is written the way main writes addresses everywhere
  r = feed(Buffer.from('PROXY TCP6 ::ffff:198.51.100.9 ::ffff:203.0.113.1 4000 443\r\n'));
  t.match('header' in r.step && r.step.header, { source: { address: '198.51.100.9' } });

  for (const line of ['PROXY UNKNOWN\r\n', 'PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n']) {
    r = feed(Buffer.concat([Buffer.from(line), TLS_HELLO]));
    t.equal(r.taken, line.length, 'the shortest header is not over-read either');
    t.match('header' in r.step && r.step.header, { command: 'local' });
  }
});

t.test('malformed v1 lines are errors', async (t) => {
  const bad = [
    'PROXY TCP4 198.51.100.7 203.0.113.1 50123\r\n',
    'PROXY TCP4 198.51.100.7 203.0.113.1 50123 443 extra\r\n',
    'PROXY TCP4 2001:db8::1 203.0.113.1 1 2\r\n',
    'PROXY TCP6 198.51.100.7 203.0.113.1 1 2\r\n',
    'PROXY TCP4 198.51.100.7 203.0.113.1 65536 443\r\n',
    'PROXY TCP4 198.51.100.7 203.0.113.1 0443 443\r\n',
    'PROXY TCP4 198.51.100.7  203.0.113.1 1 443\r\n',
    'PROXY UDP4 198.51.100.7 203.0.113.1 1 443\r\n',
    'PROXY TCP4 198.51.100.7 203.0.113.1 1 443\n',
    'PROXY TCP4 1.2.3 203.0.113.1 1 443\r\n',
    'PROXY ' + 'A'.repeat(200) + '\r\n',
  ];
  for (const b of bad) {
    const r = feed(Buffer.from(b));
    t.ok('error' in r.step, JSON.stringify(b.slice(0, 50)));
    t.ok(r.taken <= 107, 'never reads past the v1 limit');
  }
});

t.test('v2 IPv4 and IPv6, with TLVs; exactly the header is taken', async (t) => {
  const tlvs = [{ type: 0x02, value: Buffer.from('vpn.example.com') }, { type: 0x04, value: Buffer.alloc(5) }];
  const h4 = proxyV2({ address: '198.51.100.7', port: 50123 }, { address: '203.0.113.1', port: 443 }, tlvs);
  let r = feed(Buffer.concat([h4, TLS_HELLO]));
  t.equal(r.taken, h4.length);
  t.same('header' in r.step && r.step.header, {
    version: 2, command: 'proxy', source: { address: '198.51.100.7', port: 50123 }, destination: { address: '203.0.113.1', port: 443 }, tlvs, length: h4.length,
  });

  const h6 = proxyV2({ address: '2001:db8::7', port: 65535 }, { address: '2001:db8::1', port: 443 });
  r = feed(Buffer.concat([h6, TLS_HELLO]));
  t.equal(r.taken, 16 + 36);
  t.match('header' in r.step && r.step.header, { source: { address: '2001:db8::7', port: 65535 }, destination: { address: '2001:db8::1' } });

  const local = proxyV2();
  r = feed(Buffer.concat([local, TLS_HELLO]));
  t.equal(r.taken, 16);
  t.match('header' in r.step && r.step.header, { version: 2, command: 'local' });
  t.notOk('header' in r.step && r.step.header.source, 'LOCAL names nobody');
});

t.test('v2 with an address family the server cannot use keeps the connection\'s addresses', async (t) => {
  const h = proxyV2({ address: '198.51.100.7', port: 1 }, { address: '203.0.113.1', port: 2 });
  const unix = Buffer.concat([h.subarray(0, 16), Buffer.alloc(216)]);
  unix[13] = 0x31; // AF_UNIX, STREAM
  unix.writeUInt16BE(216, 14);
  const r = feed(unix);
  t.match('header' in r.step && r.step.header, { command: 'local', length: 232 });
});

t.test('malformed v2 headers are errors', async (t) => {
  const good = proxyV2({ address: '198.51.100.7', port: 1 }, { address: '203.0.113.1', port: 2 });
  const mutate = (f: (b: Buffer) => void) => { const b = Buffer.from(good); f(b); return b; };
  const cases: [string, Buffer][] = [
    ['version 1 in the binary form', mutate((b) => { b[12] = 0x11; })],
    ['unknown command', mutate((b) => { b[12] = 0x2f; })],
    ['UDP over this TCP port', mutate((b) => { b[13] = 0x12; })],
    ['address block too short', mutate((b) => { b.writeUInt16BE(8, 14); })],
    ['bad signature', mutate((b) => { b[5] = 0x01; })],
  ];
  for (const [why, b] of cases) {
    const r = feed(b.subarray(0, Math.min(b.length, 16 + b.readUInt16BE(14))));
    t.ok('error' in r.step, why);
  }
});

t.test('a client that speaks TLS (or anything else) straight away is refused at once', async (t) => {
  for (const b of [TLS_HELLO, Buffer.from('GET / HTTP/1.1\r\n\r\n'), Buffer.from('PROXX'), Buffer.from([0x0d, 0x0a, 0x0d, 0x0b])]) {
    const r = feed(b);
    t.ok('error' in r.step);
    t.ok(r.taken <= 15, 'decided on the first read');
  }
});

t.test('random and mutated input never throws, never over-reads, always ends', async (t) => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
  const samples = [
    proxyV1({ address: '198.51.100.7', port: 50123 }, { address: '203.0.113.1', port: 443 }),
    proxyV2({ address: '2001:db8::7', port: 1 }, { address: '2001:db8::1', port: 443 }, [{ type: 1, value: Buffer.from('h2') }]),
    proxyV2(),
  ];
  for (let i = 0; i < 3000; i++) {
    const base = Buffer.from(samples[i % samples.length]);
    const b = i % 5 === 0 ? randomBytes(Math.floor(rnd() * 300)) : base;
    for (let k = Math.floor(rnd() * 4); k > 0; k--) if (b.length) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const input = Buffer.concat([b, randomBytes(64)]);
    let r: { step: ProxyStep; taken: number } | undefined;
    try {
      r = feed(input);
    } catch (err) {
      t.fail(`threw on ${input.toString('hex')}: ${(err as Error).message}`);
      break;
    }
    if ('header' in r.step && r.taken !== r.step.header.length) t.fail(`over-read on ${input.toString('hex')}`);
    if (r.taken > 16 + 65535) t.fail('read beyond any header');
  }
  t.pass('3000 inputs');
});
