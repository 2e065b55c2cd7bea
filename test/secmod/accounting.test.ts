import t from 'tap';
import { Accounting, type AcctRecord, type AcctSink } from '../../src/secmod/accounting';
import { MemorySessionStore } from '../../src/secmod/sessions';

function recorder() {
  const seen: { kind: string; r: AcctRecord }[] = [];
  const sink: AcctSink = {
    start: (r) => seen.push({ kind: 'start', r }),
    interim: (r) => seen.push({ kind: 'interim', r }),
    stop: (r) => seen.push({ kind: 'stop', r }),
  };
  return { seen, sink };
}

const stats = (rx: number, tx: number) => ({ rxBytes: rx, txBytes: tx, rxPackets: rx / 100, txPackets: tx / 100 });

t.test('one Start, Interims with running totals, one Stop after logout', async (t) => {
  let now = 1_000_000;
  const { seen, sink } = recorder();
  const cookies = new MemorySessionStore(300, () => now);
  const acct = new Accounting(sink, () => now);
  cookies.onEnd = (s, kind) => acct.emit(acct.ended(s, kind));
  const s = await cookies.issue('alice', 'eng', '198.18.0.2', { attrs: { radiusClass: ['T1U9'] } });
  await cookies.markInUse(s.cookie);
  acct.emit(acct.started(s, '198.19.0.7'));
  now += 60_000;
  acct.emit(acct.report(s, stats(1000, 2000)));
  now += 60_000;
  acct.tunnelClosed(s, stats(3000, 5000), 'user-request', false);
  await cookies.release(s.cookie, true);
  t.same(seen.map((e) => e.kind), ['start', 'interim', 'stop']);
  t.ok(seen.every((e) => e.r.sid === s.sid), 'one Acct-Session-Id');
  t.same(seen[1]!.r.stats, stats(1000, 2000));
  t.same(seen[2]!.r.stats, stats(3000, 5000));
  t.equal(seen[2]!.r.sessionTime, 120);
  t.equal(seen[2]!.r.cause, 'user-request');
  t.same(seen[2]!.r.radiusClass, ['T1U9'], 'Class is echoed');
  t.equal(seen[2]!.r.ipv4, '198.19.0.7');
});

t.test('a reconnection continues the session; a client that never returns is stopped at cookie expiry', async (t) => {
  let now = 0;
  const { seen, sink } = recorder();
  const cookies = new MemorySessionStore(300, () => now);
  const acct = new Accounting(sink, () => now);
  cookies.onEnd = (s, kind) => acct.emit(acct.ended(s, kind));
  const s = await cookies.issue('bob', '', '198.18.0.2');
  await cookies.markInUse(s.cookie);
  acct.emit(acct.started(s, '198.19.0.9'));
  now += 10_000;
  // the client's connection broke; it comes back on a new one before main noticed
  await cookies.markInUse(s.cookie);
  acct.tunnelClosed(s, stats(100, 200), 'replaced', true);
  await cookies.release(s.cookie, false);
  acct.emit(acct.started(s, '198.19.0.9'));
  now += 10_000;
  acct.tunnelClosed(s, stats(400, 800), 'lost-carrier', false);
  await cookies.release(s.cookie, false);
  t.same(seen.map((e) => e.kind), ['start'], 'no Stop while the cookie may come back');
  now += 299_000;
  await cookies.expire();
  t.same(seen.map((e) => e.kind), ['start']);
  now += 2_000;
  await cookies.expire();
  t.same(seen.map((e) => e.kind), ['start', 'stop']);
  t.same(seen[1]!.r.stats, stats(500, 1000), 'both tunnels counted');
  t.equal(seen[1]!.r.sessionTime, 20, 'time with a tunnel up, not the wait for the cookie to expire');
  t.equal(seen[1]!.r.cause, 'lost-carrier');
});

t.test('occtl terminate session: Admin-Reset', async (t) => {
  const { seen, sink } = recorder();
  const cookies = new MemorySessionStore(300);
  const acct = new Accounting(sink);
  cookies.onEnd = (s, kind) => acct.emit(acct.ended(s, kind));
  const s = await cookies.issue('carol', '', '198.18.0.2');
  await cookies.markInUse(s.cookie);
  acct.emit(acct.started(s, '198.19.0.3'));
  await cookies.dropSid(s.sid);
  t.equal(seen.at(-1)!.r.cause, 'admin-reset');
});
