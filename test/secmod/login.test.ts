import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Authenticator, type AuthSuccess, type LoginConfig } from '../../src/secmod/login';
import { hashPassword } from '../../src/secmod/passwd';
import { parseAuth } from '../../src/common/config';
import { peerProofShape } from '../../src/ipc/peer-proof';
import type { SecmodToWorker, WorkerToSecmod } from '../../src/ipc/messages';

const dir = mkdtempSync(join(tmpdir(), 'ocserv-ts-login-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const passwd = join(dir, 'ocpasswd');
writeFileSync(passwd, [
  `alice:eng,ops:${hashPassword('alice-pw')}`,
  `bob:*:${hashPassword('bob-pw')}`,
].join('\n') + '\n');

const log = pino({ level: 'silent' });
type Reply = SecmodToWorker['auth.reply'];
const proof = {} as ReturnType<typeof peerProofShape>;

function setup(lines: { auth: string[]; enable?: string[]; groups?: string[]; defaultGroup?: string }) {
  const cfg: LoginConfig = {
    auth: lines.auth.map((a, i) => parseAuth(a, 'test.conf', i + 1)),
    enableAuth: (lines.enable ?? []).map((a, i) => parseAuth(a, 'test.conf', i + 10)),
    selectGroups: (lines.groups ?? []).map((g) => ({ value: g, label: g })),
    defaultSelectGroup: lines.defaultGroup,
    autoSelectGroup: false,
    authTimeout: 60,
  };
  const issued: AuthSuccess[] = [];
  const failures: string[] = [];
  const auth = new Authenticator(cfg, log, (s) => { issued.push(s); return { cookie: `cookie-${issued.length}` }; }, {
    failed: (_ip, user) => failures.push(user),
    succeeded: () => {},
  });
  const init = (extra: Partial<WorkerToSecmod['auth.init']> = {}) =>
    auth.init({ remoteAddr: '198.18.0.2', proof, userAgent: 'test', ...extra });
  const cont = (r: Reply, answers: Record<string, string>) => {
    if (r.status !== 'continue') throw new Error(`expected a form, got ${r.status}`);
    return auth.cont({ authId: r.authId, answers });
  };
  return { auth, issued, failures, init, cont };
}

t.test('plain: the form, a wrong password, then the right one', async (t) => {
  const { init, cont, issued, failures } = setup({ auth: ['plain[passwd=' + passwd + ']'] });
  const form = await init();
  t.equal(form.status, 'continue');
  t.same(form.status === 'continue' && form.prompts.map((p) => p.name), ['username', 'password']);
  const wrong = await cont(form, { username: 'alice', password: 'nope' });
  t.equal(wrong.status, 'continue', 'a wrong password gets the form again');
  t.match(wrong, { error: 'Login failed.' });
  t.same(failures, ['alice'], 'the failure is reported for the ban score');
  const ok = await cont(wrong, { username: 'alice', password: 'alice-pw' });
  t.match(ok, { status: 'ok', username: 'alice' });
  t.equal(issued[0]!.groupname, 'eng', 'no group chosen: the first of the user\'s groups');
  t.equal((await cont(form, { username: 'alice', password: 'alice-pw' })).status, 'fail', 'an old form id is spent');
});

t.test('a first form every client sees alike is marked shared; its answers may come with init', async (t) => {
  const { init, issued, failures } = setup({ auth: [`plain[passwd=${passwd}]`], groups: ['eng', 'ops'] });
  const form = await init();
  t.match(form, { status: 'continue', shared: true }, 'no user, group or certificate: the same form for everyone');
  t.same(form.status === 'continue' && form.prompts.map((p) => p.name), ['group_list', 'username', 'password'], 'the group choice included');
  t.notOk((await init({ username: 'alice' }) as { shared?: boolean }).shared, 'a login that names its user: its own form');
  t.notOk((await init({ groupname: 'ops' }) as { shared?: boolean }).shared, 'a chosen group comes first in the list: its own form');
  // the worker served that form itself: the login begins with the answers in one step
  t.match(await init({ answers: { group_list: 'ops', username: 'alice', password: 'alice-pw' } }), { status: 'ok', username: 'alice' });
  t.equal(issued[0]!.groupname, 'ops', 'the group answered in the shared form');
  const wrong = await init({ answers: { username: 'bob', password: 'nope' } });
  t.match(wrong, { status: 'continue', error: 'Login failed.' }, 'a wrong password: the form again, now with a login id');
  t.notOk((wrong as { shared?: boolean }).shared, 'a form with an error is not shared');
  t.same(failures, ['bob'], 'the failure counts for the ban score');

  const cert = setup({ auth: ['certificate', `plain[passwd=${passwd}]`] });
  t.notOk((await cert.init({ cert: { username: 'alice', groups: [] } }) as { shared?: boolean }).shared, 'a certificate\'s login: its own form');
  const either = setup({ auth: [`plain[passwd=${passwd}]`], enable: ['certificate'] });
  t.match(await either.init(), { status: 'continue', shared: true }, 'enable-auth = certificate: a client without one sees the shared form');
});

t.test('three wrong answers end the login', async (t) => {
  const { init, cont } = setup({ auth: ['plain[' + passwd + ']'] });
  let r = await init();
  for (let i = 0; i < 2; i++) r = await cont(r, { username: 'bob', password: 'x' });
  t.equal(r.status, 'continue');
  t.equal((await cont(r, { username: 'bob', password: 'x' })).status, 'fail');
});

t.test('certificate + password: both required, same user', async (t) => {
  const { init, cont } = setup({ auth: ['certificate', `plain[passwd=${passwd}]`] });
  t.match(await init(), { status: 'fail' }, 'no certificate: no form at all');
  const form = await init({ cert: { username: 'alice', groups: [] } });
  t.same(form.status === 'continue' && form.prompts.map((p) => p.name), ['password'], 'the user name comes from the certificate');
  t.match(await cont(form, { password: 'bob-pw' }), { status: 'continue', error: 'Login failed.' }, 'bob\'s password is not alice\'s');
  const form2 = await init({ cert: { username: 'alice', groups: [] } });
  t.match(await cont(form2, { password: 'alice-pw' }), { status: 'ok', username: 'alice' });
});

t.test('enable-auth = certificate: a certificate alone, or the password', async (t) => {
  const { init, cont } = setup({ auth: [`plain[passwd=${passwd}]`], enable: ['certificate'] });
  t.match(await init({ cert: { username: 'carol', groups: ['staff'] } }), { status: 'ok', username: 'carol' });
  const form = await init();
  t.match(await cont(form, { username: 'bob', password: 'bob-pw' }), { status: 'ok', username: 'bob' });
});

t.test('select-group: the choice is offered, kept and checked', async (t) => {
  const { init, cont, issued } = setup({ auth: [`plain[passwd=${passwd}]`], groups: ['eng', 'ops'], defaultGroup: 'Default' });
  const form = await init({ groupname: 'ops' });
  const select = form.status === 'continue' ? form.prompts[0] : undefined;
  t.match(select, { name: 'group_list', type: 'select' });
  t.equal(select?.options?.[0]?.value, 'ops', 'the client\'s --authgroup is the first choice');
  t.ok(select?.options?.some((o) => o.value === '' && o.label === 'Default'), 'default-select-group is a choice');
  t.match(await cont(form, { group_list: 'ops', username: 'alice', password: 'alice-pw' }), { status: 'ok' });
  t.equal(issued[0]!.groupname, 'ops');
  const bobs = await init();
  t.match(await cont(bobs, { group_list: 'eng', username: 'bob', password: 'bob-pw' }), { status: 'fail' }, 'bob is not in eng');
});
