/**
 * auth = "pam[...]" with the real PAM library, a real Unix user and real /etc/pam.d
 * services (test/helpers/pam-fixture.ts), driven through sec-mod's Authenticator the way a
 * worker drives it: forms out, answers in.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import pino from 'pino';
import { Authenticator, type AuthSuccess, type LoginConfig } from '../../src/secmod/login';
import { ConfigError, parseAuth } from '../../src/common/config';
import { peerProofShape } from '../../src/ipc/peer-proof';
import type { SecmodToWorker, WorkerToSecmod } from '../../src/ipc/messages';
import { FrameReader, findHelper, frame } from '../../src/secmod/auth/pam-helper';
import { buildTwoStepModule, createPamService, createPamUser, UNIX_STACK, type PamUser } from '../helpers/pam-fixture';

type Reply = SecmodToWorker['auth.reply'];
const proof = {} as ReturnType<typeof peerProofShape>;
const PASSWORD = 'pässwörd & <more> "words"';

let user: PamUser;
let unixService: string;
let twoStepService: string;
let hangService: string;

t.before(async () => {
  user = await createPamUser(t, PASSWORD);
  unixService = createPamService(t, UNIX_STACK);
  const mod = await buildTwoStepModule(t);
  twoStepService = createPamService(t, ['auth required pam_unix.so', `auth required ${mod} code=271828`, 'account required pam_unix.so']);
  hangService = createPamService(t, ['auth required pam_unix.so', `auth required ${mod} hang`, 'account required pam_unix.so']);
});

/** The helpers this process started that are still alive (one that is ending gets a moment). */
async function liveHelpers(): Promise<number[]> {
  for (let i = 0; ; i++) {
    const pids = helperPids();
    if (!pids.length || i === 50) return pids;
    await new Promise((r) => setTimeout(r, 100));
  }
}

function helperPids(): number[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && fs.readlinkSync(`/proc/${d}/exe`).endsWith('ocserv_pam_helper')) pids.push(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return pids;
}

function setup(auth: string, groups: string[] = []) {
  const lines: string[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => { lines.push(s); } });
  const cfg: LoginConfig = {
    auth: [parseAuth(auth, 'test.conf', 1)],
    enableAuth: [],
    selectGroups: groups.map((g) => ({ value: g, label: g })),
    defaultSelectGroup: undefined,
    autoSelectGroup: false,
    authTimeout: 60,
  };
  const issued: AuthSuccess[] = [];
  const a = new Authenticator(cfg, log, (s) => { issued.push(s); return { cookie: `cookie-${issued.length}` }; });
  t.teardown(() => a.close());
  const init = (extra: Partial<WorkerToSecmod['auth.init']> = {}) => a.init({ remoteAddr: '198.18.0.2', proof, userAgent: 'test', ...extra });
  const cont = (r: Reply, answers: Record<string, string>) => {
    if (r.status !== 'continue') throw new Error(`expected a form, got ${JSON.stringify(r)}`);
    return a.cont({ authId: r.authId, answers });
  };
  return { init, cont, issued, log: () => lines.join('') };
}

const prompts = (r: Reply) => (r.status === 'continue' ? r.prompts.map((p) => ({ name: p.name, label: p.label, type: p.type })) : r);

t.test('the Unix password logs in; the groups are the Unix groups', async (t) => {
  const { init, cont, issued } = setup(`pam[service=${unixService}]`);
  const first = await init();
  t.same(prompts(first), [{ name: 'username', label: 'Username:', type: 'text' }], 'PAM needs the user name first');
  const pw = await cont(first, { username: user.name });
  t.match(prompts(pw), [{ name: 'password', type: 'password', label: /Password/ }], 'then PAM\'s own password prompt');
  t.match(await cont(pw, { password: PASSWORD }), { status: 'ok', username: user.name });
  t.equal(issued[0]!.groupname, user.primary.name, 'no group chosen: the primary group');
  t.same(await liveHelpers(), [], 'the helper is gone');
});

t.test('gid-min leaves out system groups; select-group uses what is left', async (t) => {
  const groups = [user.system.name, user.extra.name];
  const login = async (auth: string, group: string) => {
    const { init, cont } = setup(auth, groups);
    const first = await init({ groupname: group });
    const pw = await cont(first, { username: user.name, group_list: group });
    return cont(pw, { password: PASSWORD });
  };
  t.match(await login(`pam[service=${unixService}]`, user.system.name), { status: 'ok' }, 'without gid-min every group counts');
  t.match(await login(`pam[service=${unixService},gid-min=1000]`, user.extra.name), { status: 'ok' }, 'an ordinary group counts');
  t.match(await login(`pam[service=${unixService},gid-min=1000]`, user.system.name),
    { status: 'fail', message: `You are not a member of group ${user.system.name}.` }, `gid ${user.system.gid} is below gid-min`);
});

t.test('a wrong password or an unknown user gets the form again', async (t) => {
  const { init, cont, issued, log } = setup(`pam[service=${unixService}]`);
  const first = await init();
  const wrong = await cont(await cont(first, { username: user.name }), { password: 'not it' });
  t.match(wrong, { status: 'continue', error: 'Login failed.' });
  t.same(prompts(wrong), [{ name: 'username', label: 'Username:', type: 'text' }], 'the login starts over');
  const unknown = await cont(await cont(wrong, { username: `${user.name}nope` }), { password: 'x' });
  t.match(unknown, { status: 'continue', error: 'Login failed.' }, 'an unknown user looks the same to the client');
  t.same(issued, []);
  t.match(log(), /"reason":"ocserv-ts-test-[0-9a-f]+: pam_authenticate: Authentication failure"/);
  t.same(await liveHelpers(), []);
});

t.test('two questions: password, then a code, each a form', async (t) => {
  const { init, cont } = setup(`pam[service=${twoStepService}]`);
  const pw = await cont(await init(), { username: user.name });
  const code = await cont(pw, { password: PASSWORD });
  t.match(code, { status: 'continue', message: 'A code was sent to <your> phone & mail.' }, 'PAM_TEXT_INFO is the form\'s message');
  t.same(prompts(code), [{ name: 'answer', label: 'Verification code:', type: 'text' }], 'the module\'s prompt, echo on');
  t.match(await cont(code, { answer: '271828' }), { status: 'ok', username: user.name });

  const again = await cont(await cont(await init(), { username: user.name }), { password: PASSWORD });
  const refused = await cont(again, { answer: '000000' });
  t.match(refused, { status: 'continue', error: 'That code is not right.' }, 'PAM_ERROR_MSG reaches the client');
});

t.test('a hung module fails the login after the timeout; others go on', async (t) => {
  const { init, cont, log } = setup(`pam[service=${hangService},timeout=1]`);
  const pw = await cont(await init(), { username: user.name });
  const other = setup(`pam[service=${unixService}]`);
  const hung = cont(pw, { password: PASSWORD });
  // while PAM hangs, another login runs to the end
  const otherPw = await other.cont(await other.init(), { username: user.name });
  t.match(await other.cont(otherPw, { password: PASSWORD }), { status: 'ok' }, 'a login meanwhile succeeds');
  t.match(await hung, { status: 'fail', message: 'Login failed.' });
  t.match(log(), /PAM gave no prompt or verdict in time/);
  t.match(log(), new RegExp(`"reason":"PAM service '${hangService}' did not answer within 1 s"`));
  t.same(await liveHelpers(), [], 'the hung helper was killed');
});

t.test('an abandoned login stops its helper', async (t) => {
  const a = new Authenticator({
    auth: [parseAuth(`pam[service=${twoStepService}]`, 'test.conf', 1)], enableAuth: [], selectGroups: [], autoSelectGroup: false, authTimeout: 60,
  }, pino({ level: 'silent' }), () => ({ cookie: 'c' }));
  const first = await a.init({ remoteAddr: '198.18.0.2', proof, userAgent: 'test' });
  if (first.status !== 'continue') throw new Error('no form');
  await a.cont({ authId: first.authId, answers: { username: user.name } });
  t.equal(helperPids().length, 1, 'PAM waits for the password in its helper');
  a.close();
  t.same(await liveHelpers(), [], 'closing the login killed it');
});

t.test('a missing service file is pointed out', async (t) => {
  const { log } = setup('pam[service=ocserv-ts-no-such-service]');
  // Linux-PAM then uses /etc/pam.d/other, which on Debian is the common-* stack
  t.match(log(), /no PAM service file \/etc\/pam.d\/ocserv-ts-no-such-service: PAM uses \/etc\/pam.d\/other instead/);
});

t.test('config: pam parameters are checked', async (t) => {
  t.same(parseAuth('pam', 'f', 1).params, {});
  t.same(parseAuth('pam[gid-min=1000]', 'f', 1).params, { 'gid-min': '1000' });
  t.same(parseAuth('pam[service=ocserv-ts-test,timeout=3]', 'f', 1).params, { service: 'ocserv-ts-test', timeout: '3' });
  for (const bad of ['pam[gid-min=x]', 'pam[service=../shadow]', 'pam[service=a/b]', 'pam[timeout=0]', 'pam[timeout=81]', 'pam[color=blue]']) {
    t.throws(() => parseAuth(bad, 'f', 7), ConfigError, bad);
  }
});

t.test('the helper holds no more capabilities than the sec-mod that started it', async (t) => {
  // A root parent with only sec-mod's two capabilities but a full bounding set (a sec-mod
  // that main restarted): exec alone would give the child the whole bounding set back.
  const parent = `
import ctypes, struct, subprocess, sys, time
keep = (1 << 2) | (1 << 29)
if ctypes.CDLL(None).syscall(126, struct.pack('II', 0x20080522, 0), struct.pack('6I', keep, keep, 0, 0, 0, 0)) != 0: sys.exit('capset')
child = subprocess.Popen([sys.argv[1]], stdin=subprocess.PIPE)
time.sleep(0.5)
print(''.join(l for l in open('/proc/%d/status' % child.pid) if l.startswith(('CapPrm', 'CapEff', 'CapBnd'))))
child.kill()
`;
  const out = await new Promise<string>((resolve, reject) => {
    const c = spawn('python3', ['-c', parent, findHelper()!], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    c.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    c.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`python3 exited ${code}`))));
  });
  t.match(out, /CapPrm:\s+0000000020000004/, 'permitted: CAP_DAC_READ_SEARCH and CAP_AUDIT_WRITE only');
  t.match(out, /CapEff:\s+0000000020000004/);
  t.notMatch(out, /CapBnd:\s+0000000020000004/, 'although the bounding set would allow more');
});

t.test('the helper refuses broken input', async (t) => {
  const helper = findHelper();
  t.ok(helper, 'built next to the addon');
  const runWith = (input: Buffer) => new Promise<{ code: number | null; out: Buffer }>((resolve) => {
    const c = spawn(helper!, [], { stdio: ['pipe', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stdin.on('error', () => {});
    c.stdin.end(input);
    c.on('close', (code) => resolve({ code, out: Buffer.concat(out) }));
  });
  const start = (service: string, name: string) =>
    Buffer.concat([frame('s', Buffer.from(service)), frame('u', Buffer.from(name)), frame('h', Buffer.from('198.18.0.2'))]);
  t.equal((await runWith(start('../passwd', user.name))).code, 2, 'a service that is a path');
  t.equal((await runWith(start(unixService, 'a\0b'))).code, 2, 'a NUL in the user name');
  t.equal((await runWith(Buffer.concat([frame('s', Buffer.from(unixService)), Buffer.from([0x75, 0xff, 0xff, 0xff, 0xff])]))).code, 2, 'an oversized frame');
  const eof = await runWith(start(unixService, user.name));
  t.equal(eof.code, 1, 'no answer to the password prompt: PAM fails');
  const events = new FrameReader().push(eof.out);
  t.match(events[0], { kind: 'prompt', echo: false });
  t.match(events.at(-1), { kind: 'fail' });
  t.match(new FrameReader().push(Buffer.from([0x51, 0, 0, 0, 0])), [{ kind: 'gone' }], 'an unknown frame type');
  t.match(new FrameReader().push(Buffer.from([0x49, 0, 1, 0, 0])), [{ kind: 'gone' }], 'a frame over the limit');
});
