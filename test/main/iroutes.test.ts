import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Iroutes, knownIroutes, routeCommand } from '../../src/main/iroutes';
import { LeasePools } from '../../src/main/pools';
import { Ipv4Pool } from '../../src/main/leases';
import { toRoute } from '../../src/common/config';
import { createLogger } from '../../src/common/log';

const log = createLogger('test');
const dir = mkdtempSync(join(tmpdir(), 'ocs-iroutes-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('route-add-cmd placeholders as ocserv: %{R}, %R, %{RI}, %{D}, %D', async (t) => {
  const r = toRoute('192.168.2.0', 24);
  t.equal(routeCommand('ip route add %{R} dev %{D}', r, 'vpns3'), 'ip route add 192.168.2.0/255.255.255.0 dev vpns3');
  t.equal(routeCommand('x %{RI} %R %D %{D}%{R}', r, 'vpns0'), 'x 192.168.2.0/24 192.168.2.0/255.255.255.0 vpns0 vpns0192.168.2.0/255.255.255.0');
  t.equal(routeCommand('no placeholders %', r, 'd'), 'no placeholders %');
});

t.test('iroutes are added in order, and all undone when one fails', async (t) => {
  const logFile = join(dir, 'cmds.log');
  const cmds = { add: `echo add %{RI} %{D} >> ${logFile}; test %{RI} != 10.3.0.0/16`, del: `echo del %{RI} %{D} >> ${logFile}` };
  const ir = new Iroutes(log, () => cmds);
  t.same(await ir.add('vpns1', [toRoute('10.1.0.0', 16), toRoute('10.2.0.0', 16)], 'alice'), { ok: true });
  ir.remove('vpns1', [toRoute('10.1.0.0', 16), toRoute('10.2.0.0', 16)], 'alice');
  const failed = await ir.add('vpns2', [toRoute('10.1.0.0', 16), toRoute('10.3.0.0', 16), toRoute('10.4.0.0', 16)], 'bob');
  t.notOk(failed.ok);
  t.match((failed as { reason: string }).reason, /route-add-cmd failed for iroute 10.3.0.0\/255.255.0.0/);
  await ir.idle();
  t.same(readFileSync(logFile, 'utf8').trim().split('\n'), [
    'add 10.1.0.0/16 vpns1', 'add 10.2.0.0/16 vpns1', 'del 10.1.0.0/16 vpns1', 'del 10.2.0.0/16 vpns1',
    'add 10.1.0.0/16 vpns2', 'add 10.3.0.0/16 vpns2', 'del 10.1.0.0/16 vpns2',
  ]);
});

t.test('expose-iroutes reads every file of config-per-user once, skipping bad ones', async (t) => {
  const users = join(dir, 'users');
  mkdirSync(users);
  writeFileSync(join(users, 'alice'), 'iroute = 10.50.0.0/16\nroute = 10.1.0.0/16\n');
  writeFileSync(join(users, 'bob'), 'iroute = 10.60.0.0/255.255.0.0\niroute = 10.50.0.0/16\n');
  writeFileSync(join(users, 'carol'), 'iroute = nonsense\n');
  mkdirSync(join(users, 'subdir'));
  t.same(knownIroutes(users, log).map((r) => `${r.network}/${r.prefix}`), ['10.50.0.0/16', '10.60.0.0/16']);
  t.same(knownIroutes(join(dir, 'missing'), log), []);
  t.same(knownIroutes(undefined, log), []);
});

t.test('lease pools: one per per-user network, no overlaps, explicit addresses leased once', async (t) => {
  const main = new Ipv4Pool('198.19.0.0', 24, true);
  const pools = new LeasePools(main, true);
  t.equal(pools.poolFor(undefined), main);
  const g = pools.poolFor({ network: '198.19.9.0', prefix: 24 }) as Ipv4Pool;
  t.equal(g.local, '198.19.9.1');
  t.equal(pools.poolFor({ network: '198.19.9.0', prefix: 24 }), g, 'made once');
  t.match(pools.poolFor({ network: '198.19.0.128', prefix: 25 }), { error: /overlaps the pool 198.19.0.0\/24/ });
  t.match(pools.poolFor({ network: '198.16.0.0', prefix: 14 }), { error: /overlaps/ });
  const l = g.allocate('alice')!;
  t.equal(l.network, '198.19.9.0');
  t.equal(pools.allocateExact('198.19.9.7', main)!.local, '198.19.9.1', 'an address in a pool is that pool\'s');
  t.equal(pools.allocateExact('198.19.9.7', main), undefined, 'and only once');
  t.equal(pools.allocateExact('198.19.9.1', main), undefined, 'never a server address');
  t.equal(pools.allocateExact('198.19.9.255', main), undefined, 'never a broadcast address');
  const outside = pools.allocateExact('10.99.0.5', g)!;
  t.equal(outside.local, '198.19.9.1', 'outside every pool: the session\'s pool gives the server end');
  t.equal(pools.allocateExact('10.99.0.5', main), undefined, 'held by the other pool');
  pools.release(outside);
  t.ok(pools.allocateExact('10.99.0.5', main));
  pools.release(l);
  t.equal(g.inUse, 1);
});
