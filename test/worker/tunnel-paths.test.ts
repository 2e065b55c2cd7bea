/**
 * The pure logic behind switch-to-tcp-timeout (udp-path.ts), try-mtu-discovery (mtu-probe.ts)
 * and match-tls-dtls-ciphers (dtls-negotiation.ts).
 */
import t from 'tap';
import { UdpPath } from '../../src/worker/udp-path';
import { MtuProbe, type ProbeIo } from '../../src/worker/mtu-probe';
import { chooseDtls, pskSuiteMatching } from '../../src/worker/dtls-negotiation';

t.test('UdpPath: switch-to-tcp-timeout, the client\'s own switch to CSTP, and the way back', async (t) => {
  const changes: string[] = [];
  const p = new UdpPath(25_000, 0, (viaDtls, why) => changes.push(`${viaDtls ? 'dtls' : 'cstp'}: ${why}`));
  t.ok(p.usable(25_000), 'quiet for exactly the timeout: still DTLS');
  t.notOk(p.usable(25_001), 'past it: CSTP');
  t.notOk(p.usable(40_000), 'and stays there');
  p.heard(41_000);
  t.ok(p.usable(41_000), 'anything over UDP brings DTLS back');
  p.cstpData();
  t.notOk(p.usable(41_001), 'a client sending over CSTP gets CSTP');
  p.heard(41_002);
  t.ok(p.usable(41_002));
  t.same(changes, [
    'cstp: no UDP from the client for 25 s (switch-to-tcp-timeout)',
    'dtls: UDP from the client again',
    'cstp: the client sends over CSTP',
    'dtls: UDP from the client again',
  ], 'each switch told once');
  const never = new UdpPath(0, 0, () => {});
  t.ok(never.usable(10 ** 9), 'timeout 0: never by silence alone');
});

/** a fake path that carries probes up to `limit` bytes; every answer is immediate */
function fakePath(limit: number) {
  const sent: number[] = [];
  let pending: (() => void) | undefined;
  let probe: MtuProbe;
  const io: ProbeIo = {
    send: (size) => { sent.push(size); return true; },
    after: (_ms, fn) => { pending = fn; return { cancel: () => { pending = undefined; } }; },
  };
  return {
    sent,
    attach(p: MtuProbe) { probe = p; },
    /** delivers (or loses) the last probe */
    step() {
      const size = sent[sent.length - 1];
      if (size <= limit) probe.answered();
      else { const fn = pending; pending = undefined; fn?.(); }
    },
    io,
  };
}

t.test('MtuProbe: the full size gets through at once', async (t) => {
  const path = fakePath(2000);
  let result: number | undefined;
  const probe = new MtuProbe(1434, 576, path.io, (m) => { result = m; });
  path.attach(probe);
  probe.start();
  t.ok(probe.inFlight);
  path.step();
  t.equal(result, 1434);
  t.same(path.sent, [1434], 'one probe');
  t.notOk(probe.inFlight);
});

t.test('MtuProbe: a path that drops large datagrams: binary search to the exact size', async (t) => {
  const path = fakePath(934);
  let result: number | undefined;
  const probe = new MtuProbe(1434, 576, path.io, (m) => { result = m; }, { tries: 2 });
  path.attach(probe);
  probe.start();
  path.step();
  t.equal(probe.mtu, 1434, 'one lost probe is not enough');
  path.step();
  t.equal(probe.mtu, 576, 'after the second: only what is known to pass');
  for (let i = 0; i < 40 && result === undefined; i++) path.step();
  t.equal(result, 934);
  t.equal(probe.mtu, 934);
  t.equal(path.sent[0], 1434);
  t.equal(path.sent[1], 1434, 'resent once');
  t.ok(path.sent.length < 30, `${path.sent.length} probes`);
});

t.test('MtuProbe: nothing above the floor passes', async (t) => {
  const path = fakePath(100);
  let result: number | undefined;
  const probe = new MtuProbe(1434, 1280, path.io, (m) => { result = m; }, { tries: 1 });
  path.attach(probe);
  probe.start();
  for (let i = 0; i < 40 && result === undefined; i++) path.step();
  t.equal(result, 1280, 'the floor (IPv6 needs 1280) is assumed to work');
  const tiny = new MtuProbe(500, 576, path.io, (m) => { result = m; });
  tiny.start();
  t.equal(result, 500, 'a link smaller than the floor: nothing to probe');
});

t.test('MtuProbe: a stray answer with no probe out changes nothing; stop() ends it', async (t) => {
  const path = fakePath(2000);
  const probe = new MtuProbe(1434, 576, path.io, () => t.fail('not done'));
  probe.answered();
  t.equal(probe.mtu, 1434);
  probe.start();
  probe.stop();
  t.notOk(probe.inFlight);
});

t.test('match-tls-dtls-ciphers: the PSK suite of the TLS cipher', async (t) => {
  t.equal(pskSuiteMatching('TLS_AES_256_GCM_SHA384')?.name, 'PSK-AES256-GCM-SHA384', 'TLS 1.3');
  t.equal(pskSuiteMatching('TLS_AES_128_GCM_SHA256')?.name, 'PSK-AES128-GCM-SHA256');
  t.equal(pskSuiteMatching('TLS_CHACHA20_POLY1305_SHA256')?.name, 'PSK-CHACHA20-POLY1305');
  t.equal(pskSuiteMatching('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256')?.name, 'PSK-AES128-GCM-SHA256', 'TLS 1.2');
  t.equal(pskSuiteMatching('TLS_RSA_WITH_AES_256_CBC_SHA')?.name, 'PSK-AES256-CBC-SHA', 'CBC with SHA-1');
  t.equal(pskSuiteMatching('TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256'), undefined, 'CBC with SHA-256: no such PSK suite here');
  t.equal(pskSuiteMatching('TLS_AES_128_CCM_SHA256'), undefined);
  const offer = { 'x-dtls-ciphersuite': 'PSK-NEGOTIATE' };
  const names = (matchTls?: string) => {
    const plan = chooseDtls(offer, { psk: true, legacy: false, matchTls });
    return plan?.kind === 'psk' ? plan.suites.map((s) => s.name) : plan;
  };
  t.same(names('TLS_AES_128_GCM_SHA256'), ['PSK-AES128-GCM-SHA256'], 'only that suite is offered');
  t.equal(names('TLS_AES_128_CCM_SHA256'), null, 'no match: no DTLS');
  t.ok((names() as string[]).length > 1, 'without the option: every PSK suite');
});
