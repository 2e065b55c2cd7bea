/**
 * A compromised worker, for security tests. main starts it like any worker (its user, its
 * fds 3 and 4 to main and sec-mod), but the code is the attacker's: it speaks the real IPC
 * (src/ipc/channel.ts) and tries to make main and sec-mod act for other sessions.
 *
 * Loaded into every worker with OCSERV_TS_WORKER_NODE_ARGS="--require <this file>", it does
 * nothing unless the file named by OCSERV_TS_TEST_EVIL_PLAN exists when the worker starts;
 * then the first such worker (it creates `<plan>.taken`, so the plan's directory must be
 * writable by the worker user) has its own entry module compile to nothing and runs this
 * code instead; the others stay real workers. Every outcome goes to stdout as one line
 * `EVIL {json}` (workers share main's stdout).
 */
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';

export interface EvilPlan {
  /** a valid cookie of another user, who has no tunnel */
  cookie: string;
  /** connection ids of other workers' clients to open sessions on */
  foreignConnIds: number[];
  /** sessions of other workers to end or claim */
  foreignSessionIds: number[];
  /** the login id of another client's login in progress, and that client's address */
  authId: string;
  authAddr: string;
  /** answers for that login's form (the test hands over the right password: the id alone must not be enough) */
  authAnswers: Record<string, string>;
  /** files the attacker tries to read from inside the worker (the server key, the password file) */
  secrets: string[];
}

const planFile = process.env.OCSERV_TS_TEST_EVIL_PLAN;
if (planFile && existsSync(planFile) && claim(`${planFile}.taken`)) takeOver(JSON.parse(readFileSync(planFile, 'utf8')) as EvilPlan);

function claim(lock: string): boolean {
  try {
    closeSync(openSync(lock, 'wx'));
    return true;
  } catch {
    return false; // another worker is the evil one
  }
}

function report(what: Record<string, unknown>): void {
  process.stdout.write(`EVIL ${JSON.stringify({ pid: process.pid, ...what })}\n`);
}

function takeOver(plan: EvilPlan): void {
  const entry = path.resolve(process.argv[1] ?? '');
  // the real worker never runs: its entry module compiles to nothing
  const proto = (require('node:module') as { prototype: { _compile(content: string, file: string): unknown } }).prototype;
  const compile = proto._compile;
  proto._compile = function (this: unknown, content: string, file: string) {
    return compile.call(this, file === entry ? '' : content, file);
  };
  const { Channel } = require('../../src/ipc/channel') as typeof import('../../src/ipc/channel');
  const { createLogger } = require('../../src/common/log') as typeof import('../../src/common/log');
  const log = createLogger('evil-worker');
  type Loose = Record<string, unknown>;
  const main = new Channel<Loose, Loose>(3, { name: 'evil->main', log });
  const secmod = new Channel<Loose, Loose>(4, { name: 'evil->sec-mod', log });
  secmod.onClose((reason) => report({ step: 'sec-mod closed our channel', reason }));
  const zero = { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 };
  let attacked = false;

  main.on('worker.init', async () => {
    report({ step: 'init', uid: process.getuid?.(), gid: process.getgid?.() });
    for (const file of plan.secrets) {
      try {
        readFileSync(file);
        report({ step: 'read a secret', file, result: 'read' });
      } catch (err) {
        report({ step: 'read a secret', file, result: (err as NodeJS.ErrnoException).code ?? (err as Error).message });
      }
    }
    for (const connId of plan.foreignConnIds) {
      try {
        const r = await main.request('session.open', { connId, cookie: plan.cookie, mtu: { link: 1500, cstp: 1472 } });
        report({ step: 'session.open on a foreign connection', connId, reply: r.body, fds: r.fds.length });
      } catch (err) {
        report({ step: 'session.open on a foreign connection', connId, error: (err as Error).message });
      }
    }
    for (const sessionId of plan.foreignSessionIds) {
      main.send('session.closed', { sessionId, reason: 'forged by a worker', logout: true, stats: zero });
      main.send('session.dtls', { sessionId, cipher: 'forged' });
    }
    for (const connId of plan.foreignConnIds) main.send('conn.closed', { connId });
    report({ step: 'foreign sessions and connections claimed closed' });
  });

  // a client connection of our own: now with main's proof for it
  main.on('conn.new', async (msg) => {
    if (attacked) return;
    attacked = true;
    const { connId, proof } = msg as { connId: number; proof: Loose };
    report({ step: 'conn.new', connId, remoteAddr: proof.remoteAddr });
    const forged = randomBytes(32).toString('base64url');
    try {
      const r = await main.request('session.open', { connId, cookie: forged, mtu: { link: 1500, cstp: 1472 } });
      report({ step: 'session.open with a forged cookie', reply: r.body, fds: r.fds.length });
    } catch (err) {
      report({ step: 'session.open with a forged cookie', error: (err as Error).message });
    }
    const answers = plan.authAnswers;
    try {
      const r = await secmod.request('auth.cont', { authId: plan.authId, answers, proof });
      report({ step: 'auth.cont with another client\'s login id', reply: r.body });
    } catch (err) {
      report({ step: 'auth.cont with another client\'s login id', error: (err as Error).message });
    }
    // our own proof, relabelled with that client's address: the MAC no longer matches
    try {
      const r = await secmod.request('auth.cont', { authId: plan.authId, answers, proof: { ...proof, remoteAddr: plan.authAddr } });
      report({ step: 'auth.cont with a relabelled proof', reply: r.body });
    } catch (err) {
      report({ step: 'auth.cont with a relabelled proof', error: (err as Error).message });
    }
    report({ step: 'done' });
  });
}
