import t from 'tap';
import { Block, bytes2human, dateTime, interval7, jsonArray } from '../../src/cli/occtl-print';

t.test('interval7 is occtl\'s 7-column time', async (t) => {
  t.equal(interval7(0), '    0s');
  t.equal(interval7(4), '    4s');
  t.equal(interval7(60), '   60s');
  t.equal(interval7(300), ' 5m:00s');
  t.equal(interval7(3599), '59m:59s');
  t.equal(interval7(3600), ' 1h:00m');
  t.equal(interval7(2 * 86400 + 5), ' 2days');
  t.equal(interval7(-1), '   ?   ');
});

t.test('bytes2human uses decimal units like occtl', async (t) => {
  t.equal(bytes2human(0), '0 bytes');
  t.equal(bytes2human(1000), '1000 bytes');
  t.equal(bytes2human(1001), '1.0 KB');
  t.equal(bytes2human(75, '/sec'), '75 bytes/sec');
  t.equal(bytes2human(2_500_000), '2.5 MB');
  t.equal(bytes2human(3e9), '3.0 GB');
});

t.test('dateTime is %Y-%m-%d %H:%M in local time', async (t) => {
  t.match(dateTime(Date.now()), /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  const d = new Date(2026, 0, 2, 3, 4, 59);
  t.equal(dateTime(d.getTime()), '2026-01-02 03:04');
});

t.test('a block prints text lines and JSON members as occtl does', async (t) => {
  const fill = (b: Block) => b.int('ID', 7).pair('Username', 'alice', 'Groupname', '(none)').single('Hostname', '')
    .ex('Connected at', '2026-01-02 03:04', '    4s').separator().list('Routes', ['10.0.0.0/255.0.0.0', '10.1.0.0/255.255.0.0'])
    .list('NBNS', []).ports('Restricted to ports', []);
  t.equal(fill(new Block(false)).render(),
    '\tID: 7\n\tUsername: alice   Groupname: (none)\n\tConnected at: 2026-01-02 03:04 (    4s)\n\n' +
    '\tRoutes: 10.0.0.0/255.0.0.0\n\t\t10.1.0.0/255.255.0.0\n\n');
  const json = fill(new Block(true)).render();
  t.equal(json, [
    '  {',
    '    "ID":  7,',
    '    "Username":  "alice",',
    '    "Groupname":  "(none)",',
    '    "Connected at":  "2026-01-02 03:04",',
    '    "_Connected at":  "    4s",',
    '    "Routes":\t["10.0.0.0/255.0.0.0", "10.1.0.0/255.255.0.0"],',
    '    "NBNS":\t[],',
    '    "Restricted to ports":\t[]',
    '  }',
  ].join('\n'));
  t.same(JSON.parse(jsonArray([fill(new Block(true)), fill(new Block(true))], true)).length, 2, 'a list of blocks is valid JSON');
  t.equal(jsonArray([], true), '[\n]\n');
  t.equal(new Block(true).single('Q', 'say "hi"\\').render(), '  {\n    "Q":  "say \\"hi\\"\\\\"\n  }', 'values are escaped');
});
