import t, { type Test } from 'tap';
import pino from 'pino';
import { RedisSessionStore } from '../../src/secmod/sessions-redis';
import { parseSessionStore, type SessionStoreConfig } from '../../src/common/session-store-config';
import { StoreUnavailableError } from '../../src/common/redis';
import type { CookieSession, SessionEndKind } from '../../src/secmod/sessions';
import { startRedis, type RedisHandle } from '../helpers/redis';
import { until } from '../helpers/wait';

const log = pino({ level: 'silent' });

function storeConfig(r: RedisHandle, node: string, prefix: string): SessionStoreConfig {
  const c = parseSessionStore({ url: r.url, node, prefix });
  if ('error' in c) throw new Error(c.error);
  return c;
}

/** Two servers' sec-mods sharing one Redis; every session end either of them reports. */
async function twoServers(t: Test, r: RedisHandle, timeoutS = 300, now = () => Date.now()) {
  const prefix = `t${Math.random().toString(16).slice(2, 8)}:`;
  const ends: { node: string; s: CookieSession; kind: SessionEndKind }[] = [];
  const make = (node: string) => {
    const s = new RedisSessionStore(storeConfig(r, node, prefix), log, timeoutS, {
      orphaned: (sess) => { sess.acct = { ...(sess.acct ?? { startedAt: 0, done: { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 }, current: { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 }, upMs: 0 }), lastCause: 'nas-error' }; },
    }, now);
    s.onEnd = (sess, kind) => ends.push({ node, s: sess, kind });
    t.teardown(() => s.close());
    return s;
  };
  const a = make('a');
  const b = make('b');
  // both "alive" as main's heartbeat would say
  for (const n of ['a', 'b']) {
    r.cli('SADD', `${prefix}nodes`, n);
    r.cli('SET', `${prefix}node:${n}`, 'x', 'PX', '600000');
  }
  await until('both stores connected', async () => {
    try {
      await a.list();
      await b.list();
      return true;
    } catch {
      return false;
    }
  });
  return { a, b, ends, prefix };
}

t.test('a cookie issued by one server works on another; one end, told once', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a, b, ends } = await twoServers(t, r);
  const s = await a.issue('alice', 'eng', '198.18.0.2', { userAgent: 'Open AnyConnect VPN Agent v9', attrs: { radiusClass: ['QQ=='] } });
  const seen = await b.lookup(s.cookie);
  t.equal(seen?.sid, s.sid, 'the same session on the other server');
  t.same(seen?.attrs, { radiusClass: ['QQ=='] });
  t.equal(await b.lookup('not-a-cookie'), undefined);
  const used = await b.markInUse(s.cookie);
  t.equal(used?.tunnels, 1);
  t.same(used?.nodes, { b: 1 });
  t.equal(await a.countForUser('alice'), 1, 'max-same-clients counts tunnels of every server');
  t.equal((await a.list()).length, 1);
  // the client comes back through server a before b noticed its tunnel had gone
  await a.markInUse(s.cookie);
  await b.release(s.cookie, false);
  const mid = await a.lookup(s.cookie);
  t.same(mid?.nodes, { a: 1 });
  t.ok(mid?.inUse);
  await a.release(s.cookie, true);
  t.equal(await b.lookup(s.cookie), undefined, 'a logout spends the cookie everywhere');
  t.same(ends.map((e) => [e.node, e.kind]), [['a', 'logout']]);
  t.equal((await b.list()).length, 0);
});

t.test('Redis holds a digest of the cookie, never the cookie', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a, prefix } = await twoServers(t, r);
  const s = await a.issue('bob', '', '198.18.0.2');
  const keys = r.cli('KEYS', `${prefix}*`);
  t.notMatch(keys, s.cookie);
  const dump = r.cli('HGET', `${prefix}s:${keys.split('\n').find((k) => k.startsWith(`${prefix}s:`))!.slice(prefix.length + 2)}`, 'j');
  t.notMatch(dump, s.cookie);
  t.match(dump, s.sid);
});

t.test('expiry: exactly one server ends an expired session, whichever sweeps first', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  let now = Date.now();
  const { a, b, ends } = await twoServers(t, r, 60, () => now);
  const s = await a.issue('carol', '', '198.18.0.2');
  await a.markInUse(s.cookie);
  await a.release(s.cookie, false);
  now += 59_000;
  await Promise.all([a.expire(), b.expire()]);
  t.same(ends, [], 'not yet');
  t.ok(await b.lookup(s.cookie), 'still valid for a reconnect');
  now += 2_000;
  await Promise.all([a.expire(), b.expire(), a.expire(), b.expire()]);
  t.equal(ends.length, 1, 'one Stop');
  t.equal(ends[0]!.kind, 'expired');
  t.equal(await a.lookup(s.cookie), undefined);
});

t.test('terminate session by sid, from any server', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a, b, ends } = await twoServers(t, r);
  const s = await a.issue('dave', '', '198.18.0.2');
  await a.markInUse(s.cookie);
  const dropped = await b.dropSid(s.sid);
  t.equal(dropped.length, 1);
  t.same(await a.dropSid(s.sid), [], 'gone already');
  t.equal(await a.lookup(s.cookie), undefined);
  t.same(ends.map((e) => [e.node, e.kind]), [['b', 'dropped']]);
});

t.test('concurrent changes from two servers are not lost', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a, b } = await twoServers(t, r);
  const s = await a.issue('erin', '', '198.18.0.2');
  await Promise.all(Array.from({ length: 20 }, (_v, i) => (i % 2 ? a : b).markInUse(s.cookie)));
  const got = await a.lookup(s.cookie);
  t.equal(got?.tunnels, 20);
  t.same(got?.nodes, { a: 10, b: 10 });
});

t.test('a server that died: its tunnels end and the session ages like any other', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  let now = Date.now();
  const { a, b, ends, prefix } = await twoServers(t, r, 60, () => now);
  const s = await b.issue('frank', '', '198.18.0.2');
  await b.markInUse(s.cookie);
  r.cli('DEL', `${prefix}node:b`); // b's heartbeat stopped
  await a.expire();
  const after = await a.lookup(s.cookie);
  t.equal(after?.inUse, false, 'no tunnel left');
  t.equal(after?.acct?.lastCause, 'nas-error', 'accounted as ended with its server');
  now += 61_000;
  await a.expire();
  t.same(ends.map((e) => [e.node, e.kind]), [['a', 'expired']]);
});

t.test('store down: a clear error; back: works again', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a } = await twoServers(t, r);
  const s = await a.issue('gina', '', '198.18.0.2');
  await r.stop();
  await until('the client notices', async () => {
    try {
      await a.lookup(s.cookie);
      return false;
    } catch (err) {
      return err instanceof StoreUnavailableError;
    }
  });
  await t.rejects(a.issue('gina', '', '198.18.0.2'), /session store unavailable/);
  await r.start();
  // a Redis restart without persistence forgets everything: new logins work again
  const again = await until('the store is back', async () => a.issue('gina', '', '198.18.0.2').catch(() => undefined));
  t.ok(await a.lookup(again.cookie));
});

t.test('keys expire with the cookie (cookie-timeout after the last tunnel), never while a tunnel uses it', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const { a, prefix } = await twoServers(t, r, 300);
  const s = await a.issue('hank', '', '198.18.0.2');
  const key = r.cli('KEYS', `${prefix}s:*`);
  const ttl = () => Number(r.cli('PTTL', key));
  t.ok(ttl() > 300_000 && ttl() <= 360_000, `a fresh cookie: cookie-timeout plus a minute for the sweep (${ttl()} ms)`);
  await a.markInUse(s.cookie);
  t.equal(ttl(), -1, 'no expiry while in use');
  t.equal(Number(r.cli('PTTL', `${prefix}sid:${s.sid}`)), -1);
  await a.release(s.cookie, false);
  t.ok(ttl() > 300_000 && ttl() <= 360_000, 'ages again after the last tunnel');
});
