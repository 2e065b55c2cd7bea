import t from 'tap';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkCodeReadable, resolveRunAs } from '../../src/main/privileges';

t.test('run-as-user and run-as-group come from the system databases', async (t) => {
  const nobody = resolveRunAs('nobody', 'nogroup');
  t.equal(nobody.uid, 65534);
  t.equal(nobody.gid, 65534);
  t.same(resolveRunAs('0', '0'), { user: '0', group: '0', uid: 0, gid: 0 });
  t.throws(() => resolveRunAs('no-such-user-ocs', 'nogroup'), /run-as-user: no such user 'no-such-user-ocs'/);
  t.throws(() => resolveRunAs('nobody', 'no-such-group-ocs'), /run-as-group: no such group/);
});

t.test('a checkout the worker user cannot reach is refused with a clear reason', async (t) => {
  const nobody = resolveRunAs('nobody', 'nogroup');
  const top = mkdtempSync(join(tmpdir(), 'ocs-priv-'));
  t.teardown(() => rmSync(top, { recursive: true, force: true }));
  chmodSync(top, 0o755);
  const home = join(top, 'home');
  const repo = join(home, 'repo');
  mkdirSync(join(repo, 'dist'), { recursive: true });
  writeFileSync(join(repo, 'dist', 'worker.js'), '');
  chmodSync(repo, 0o755);

  chmodSync(home, 0o700);
  t.throws(() => checkCodeReadable(repo, ['dist/worker.js'], nobody), new RegExp(`'nobody', who cannot enter ${home} \\(mode 700\\)`));

  chmodSync(home, 0o755);
  t.doesNotThrow(() => checkCodeReadable(repo, ['dist/worker.js'], nobody));

  chmodSync(join(repo, 'dist', 'worker.js'), 0o600);
  t.throws(() => checkCodeReadable(repo, ['dist/worker.js'], nobody), /cannot read .*worker\.js/);
});
