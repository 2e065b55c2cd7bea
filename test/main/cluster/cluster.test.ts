import t, { type Test } from 'tap';
import pino from 'pino';
import { Cluster } from '../../../src/main/cluster/cluster';
import { BanList, type BanSettings } from '../../../src/main/bans';
import { parseSessionStore } from '../../../src/common/session-store-config';
import { startRedis, type RedisHandle } from '../../helpers/redis';
import { until } from '../../helpers/wait';

const log = pino({ level: 'silent' });

async function servers(t: Test, r: RedisHandle, ...names: string[]): Promise<Cluster[]> {
  const prefix = `t${Math.random().toString(16).slice(2, 8)}:`;
  const out: Cluster[] = [];
  for (const node of names) {
    const cfg = parseSessionStore({ url: r.url, node, prefix });
    if ('error' in cfg) throw new Error(cfg.error);
    const c = await Cluster.start(cfg, log);
    t.teardown(() => c.stop());
    out.push(c);
  }
  return out;
}

t.test('an address is one session\'s, whichever server asks; the session may take it to another server', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a, b] = await servers(t, r, 'a', 'b');
  t.same(await a!.claims.claim('198.19.0.5', 'sid-1'), { ok: true });
  t.same(await b!.claims.claim('198.19.0.5', 'sid-2'), { ok: false }, 'another session may not have it');
  t.same(await b!.claims.claim('198.19.0.6', 'sid-2'), { ok: true });
  t.same(await b!.claims.claim('198.19.0.5', 'sid-1'), { ok: true, previousNode: 'a' }, 'the same session, reconnected through b');
  a!.claims.release('198.19.0.5', 'sid-1');
  await new Promise((res) => setTimeout(res, 200));
  t.same(await a!.claims.claim('198.19.0.5', 'sid-3'), { ok: false }, 'a\'s late release does not free b\'s address');
  b!.claims.release('198.19.0.5', 'sid-1');
  await until('released', async () => (await a!.claims.claim('198.19.0.5', 'sid-3')).ok);
});

t.test('ban points add up over the cluster; a ban reaches every server', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a, b] = await servers(t, r, 'a', 'b');
  const settings: BanSettings = { maxBanScore: 30, banResetTime: 300, banPointsWrongPassword: 10, banPointsConnection: 1, minReauthTime: 300 };
  const bansA = new BanList(settings, log);
  const bansB = new BanList(settings, log);
  a!.shareBans(bansA, () => settings);
  b!.shareBans(bansB, () => settings);
  bansA.addPoints('198.18.7.7', 10);
  await until('a scored', () => r.cli('HGET', `${a!.cfg.prefix}ban:198.18.7.7`, 'score') === '10');
  bansB.addPoints('198.18.7.7', 10);
  await until('b scored', () => r.cli('HGET', `${a!.cfg.prefix}ban:198.18.7.7`, 'score') === '20');
  t.notOk(bansB.refuseConnection('198.18.7.8'), 'another address is not concerned');
  bansA.addPoints('198.18.7.7', 10);
  await until('banned on b, which saw only 10 of the points', () => bansB.refuseConnection('198.18.7.7'));
  t.ok(bansA.refuseConnection('198.18.7.7'));
  a!.unban('198.18.7.7');
  await until('unbanned on b', () => !bansB.refuseConnection('198.18.7.7'));
});

t.test('requests to every living server', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a, b, c] = await servers(t, r, 'a', 'b', 'c');
  b!.bus.answer('disconnect-user', async ({ name }) => ({ count: name === 'alice' ? 2 : 0 }));
  c!.bus.answer('disconnect-user', async () => ({ count: 1 }));
  const replies = await a!.bus.rpc('disconnect-user', { name: 'alice' });
  t.same(replies.map((x) => [x.from, x.count]).sort(), [['b', 2], ['c', 1]]);
  await c!.stop();
  // with no timeout to speak of, the call returns only because it waits for living servers alone
  t.same((await a!.bus.rpc('disconnect-user', { name: 'alice' }, 600_000)).map((x) => x.from), ['b'], 'a server that left is not waited for');
});

t.test('a malformed message on the bus is dropped; the bus goes on', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a, b] = await servers(t, r, 'a', 'b');
  r.cli('PUBLISH', `${a!.cfg.prefix}bus`, 'junk');
  b!.bus.answer('users', async () => ({ users: [] }));
  t.same((await a!.bus.rpc('users')).map((x) => x.from), ['b']);
});

t.test('two running servers may not share a name', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a] = await servers(t, r, 'same');
  const cfg = parseSessionStore({ url: r.url, node: 'same', prefix: a!.cfg.prefix });
  if ('error' in cfg) throw new Error(cfg.error);
  await t.rejects(Cluster.start(cfg, log), /already called same/);
});

t.test('session-store settings', async (t) => {
  t.match(parseSessionStore({ url: 'redis://10.0.0.1:6380/2', node: 'n1' }), { host: '10.0.0.1', port: 6380, db: 2, tls: false, prefix: 'ocserv-ts:' });
  t.match(parseSessionStore({ url: 'rediss://:pw@[2001:db8::1]/0', node: 'n1' }), { host: '2001:db8::1', port: 6379, tls: true, password: 'pw' });
  t.match(parseSessionStore({ url: 'http://x', node: 'n' }), { option: 'session-store', error: /redis:\/\/ or rediss:\/\// });
  t.match(parseSessionStore({ url: 'redis://x/abc', node: 'n' }), { error: /not a database number/ });
  t.match(parseSessionStore({ url: 'redis://x', node: 'bad name' }), { option: 'cluster-node-name' });
  t.match(parseSessionStore({ url: 'redis://x', node: 'n', caCert: '/ca.pem' }), { option: 'session-store-ca-cert' });
});

t.test('a session that opened elsewhere reaches every other server (its old tunnel gives way there)', async (t) => {
  const r = await startRedis();
  t.teardown(() => r.stop());
  const [a, b, c] = await servers(t, r, 'a', 'b', 'c');
  const seen: string[] = [];
  b!.bus.on('replace', (m) => seen.push(`b:${m.sid}:${m.from}`));
  c!.bus.on('replace', (m) => seen.push(`c:${m.sid}:${m.from}`));
  a!.bus.on('replace', (m) => seen.push(`a:${m.sid}`));
  a!.bus.publish({ type: 'replace', sid: 'sid-9' });
  await until('b and c told', () => seen.length >= 2);
  await new Promise((res) => setTimeout(res, 200));
  t.same(seen.sort(), ['b:sid-9:a', 'c:sid-9:a'], 'not the server that sent it');
});
