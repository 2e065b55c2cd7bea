import t from 'tap';
import { applyEdit } from '../../src/cli/passwd-edit';

const FILE = 'alice:*:$5$a$b\nbob:g1,g2:!$5$c$d\n# a comment\ncarol:*:$6$e$f\n';

t.test('ocpasswd\'s edits', async (t) => {
  t.equal(applyEdit(undefined, { op: 'set', user: 'alice', group: '*', hash: 'H' }), 'alice:*:H\n', 'a new file');
  t.equal(applyEdit(FILE, { op: 'set', user: 'bob', group: '*', hash: 'H' }), 'alice:*:$5$a$b\nbob:*:H\ncarol:*:$6$e$f\n',
    'a user is replaced in place (with the group given, * when none) and colon-less lines go, as with ocpasswd');
  t.equal(applyEdit(FILE, { op: 'set', user: 'dave', group: 'staff', hash: 'H' }), 'alice:*:$5$a$b\nbob:g1,g2:!$5$c$d\ncarol:*:$6$e$f\ndave:staff:H\n');
  t.equal(applyEdit(FILE, { op: 'delete', user: 'bob' }), 'alice:*:$5$a$b\ncarol:*:$6$e$f\n');
  t.equal(applyEdit(FILE, { op: 'lock', user: 'alice' }), 'alice:*:!$5$a$b\nbob:g1,g2:!$5$c$d\ncarol:*:$6$e$f\n');
  t.equal(applyEdit(FILE, { op: 'lock', user: 'bob' }), 'alice:*:$5$a$b\nbob:g1,g2:!$5$c$d\ncarol:*:$6$e$f\n', 'locking twice is once');
  t.equal(applyEdit(FILE, { op: 'unlock', user: 'bob' }), 'alice:*:$5$a$b\nbob:g1,g2:$5$c$d\ncarol:*:$6$e$f\n');
  t.equal(applyEdit('x:y:z', { op: 'set', user: 'n', group: '*', hash: 'H' }), 'x:y:z\nn:*:H\n', 'a last line without newline is kept whole');
  t.equal(applyEdit('al:*:h\nalice2:*:h\n', { op: 'delete', user: 'al' }), 'alice2:*:h\n', 'names match whole');
});
