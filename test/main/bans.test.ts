import t from 'tap';
import pino from 'pino';
import { BanList, banKey, type BanSettings } from '../../src/main/bans';

const log = pino({ level: 'silent' });
// ocserv's built-in defaults, with sample.config's min-reauth-time
const DEFAULTS: BanSettings = { maxBanScore: 30, banResetTime: 300, banPointsWrongPassword: 10, banPointsConnection: 1, minReauthTime: 300 };

function clock() {
  let now = 1_000_000;
  return { now: () => now, advance: (s: number) => { now += s * 1000; } };
}

t.test('wrong passwords and connections add up to a ban for min-reauth-time', async (t) => {
  const c = clock();
  const bans = new BanList(DEFAULTS, log, c.now);
  const ip = '198.18.5.2';
  t.equal(bans.refuseConnection(ip), false, 'first connection');
  t.equal(bans.addPoints(ip, 10), false);
  t.equal(bans.addPoints(ip, 10), false);
  t.same(bans.list(), [{ ip, score: 21 }], 'points but no ban yet');
  t.equal(bans.bannedCount(), 0);
  t.equal(bans.addPoints(ip, 10), true, '31 points: banned');
  t.equal(bans.bannedCount(), 1);
  t.same(bans.list(), [{ ip, score: 31, expiresAt: c.now() + 300_000 }]);
  t.equal(bans.refuseConnection(ip), true, 'refused while banned');
  c.advance(200);
  t.equal(bans.refuseConnection(ip), true, 'a banned address polling does not extend its ban');
  t.equal(bans.list()[0].expiresAt, 1_000_000 + 300_000);
  c.advance(101);
  t.equal(bans.bannedCount(), 0, 'the ban is over after min-reauth-time');
  t.equal(bans.refuseConnection('198.18.5.3'), false, 'other addresses were never affected');
});

t.test('scores start over after ban-reset-time; cleanup forgets old entries', async (t) => {
  const c = clock();
  const bans = new BanList(DEFAULTS, log, c.now);
  bans.addPoints('198.18.5.2', 20);
  c.advance(301);
  bans.addPoints('198.18.5.2', 20);
  t.equal(bans.list()[0].score, 20, 'the old points are gone');
  c.advance(301);
  bans.cleanup();
  t.same(bans.list(), []);
});

t.test('unban clears the score; max-ban-score 0 turns banning off', async (t) => {
  const bans = new BanList(DEFAULTS, log);
  bans.addPoints('198.18.5.2', 50);
  t.equal(bans.unban('198.18.5.2'), true);
  t.equal(bans.refuseConnection('198.18.5.2'), false);
  t.equal(bans.unban('192.0.2.1'), false, 'an unknown address cannot be unbanned');
  const off = new BanList({ ...DEFAULTS, maxBanScore: 0 }, log);
  t.equal(off.addPoints('198.18.5.2', 1000), false);
  t.equal(off.refuseConnection('198.18.5.2'), false);
  t.same(off.list(), []);
});

t.test('IPv6 clients are scored by their /64', async (t) => {
  t.equal(banKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::');
  t.equal(banKey('::ffff:198.18.5.2'), '198.18.5.2', 'v4-mapped is the v4 address');
  t.equal(banKey('nonsense'), undefined);
  const bans = new BanList(DEFAULTS, log);
  bans.addPoints('2001:db8:1:2::1', 20);
  bans.addPoints('2001:db8:1:2::ffff', 20);
  t.equal(bans.refuseConnection('2001:db8:1:2:1:2:3:4'), true);
  t.equal(bans.refuseConnection('2001:db8:1:3::1'), false);
});
