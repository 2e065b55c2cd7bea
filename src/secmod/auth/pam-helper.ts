/**
 * The PAM helper process (src/native/pam/ocserv_pam_helper.c) seen from sec-mod: spawning
 * it, its framed wire format, and stopping it. One helper runs one login and exits; the
 * backend logic (forms, groups, time bounds) is in pam.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Largest payload either side sends (ocserv_pam_helper.c: MAX_FRAME). */
export const MAX_FRAME = 4096;
const HEADER = 5;
const STDERR_KEEP = 2048;
/** after its verdict, how long a helper may take to finish pam_end and exit */
const RELEASE_MS = 5000;

export type HelperEvent =
  | { kind: 'prompt'; echo: boolean; text: string }
  | { kind: 'info'; error: boolean; text: string }
  | { kind: 'user'; name: string }
  | { kind: 'group'; gid: number; name: string }
  | { kind: 'ok' }
  | { kind: 'fail'; retry: boolean; text: string }
  /** the process ended, failed to start, or broke the protocol */
  | { kind: 'gone'; why: string };

const HELPER_REL = path.join('build', 'Release', 'ocserv_pam_helper');

/**
 * Next to the native addon: walk up from this file's directory (src/secmod/auth under ts
 * tools, dist/src/secmod/auth after tsc) to <repo>/build/Release.
 */
export function findHelper(): string | undefined {
  const override = process.env.OCSERV_PAM_HELPER;
  if (override) return override;
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, HELPER_REL);
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

export function frame(type: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(HEADER);
  head.write(type, 0, 1, 'latin1');
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** Splits the helper's stdout into events; a malformed stream is one 'gone' event. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): HelperEvent[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: HelperEvent[] = [];
    while (this.buf.length >= HEADER) {
      const len = this.buf.readUInt32BE(1);
      if (len > MAX_FRAME) return [...out, { kind: 'gone', why: `PAM helper sent a ${len}-byte frame` }];
      if (this.buf.length < HEADER + len) break;
      const type = String.fromCharCode(this.buf[0]!);
      const text = this.buf.subarray(HEADER, HEADER + len).toString('utf8');
      this.buf = this.buf.subarray(HEADER + len);
      const ev = decode(type, text);
      out.push(ev);
      if (ev.kind === 'gone') break;
    }
    return out;
  }
}

function decode(type: string, text: string): HelperEvent {
  switch (type) {
    case 'P': return { kind: 'prompt', echo: false, text };
    case 'E': return { kind: 'prompt', echo: true, text };
    case 'I': return { kind: 'info', error: false, text };
    case 'R': return { kind: 'info', error: true, text };
    case 'U': return { kind: 'user', name: text };
    case 'K': return { kind: 'ok' };
    case 'F': return { kind: 'fail', retry: text.startsWith('1'), text: text.slice(1) };
    case 'G': {
      const colon = text.indexOf(':');
      const gid = Number(text.slice(0, colon));
      if (colon < 1 || !Number.isInteger(gid)) return { kind: 'gone', why: 'PAM helper sent a malformed group' };
      return { kind: 'group', gid, name: text.slice(colon + 1) };
    }
    default:
      return { kind: 'gone', why: `PAM helper sent an unknown frame type ${JSON.stringify(type)}` };
  }
}

/** One running helper: events come out in order through next(), answers go in through answer(). */
export class PamHelper {
  private readonly child: ChildProcess;
  private readonly queue: HelperEvent[] = [];
  private waiter?: (ev: HelperEvent) => void;
  private stderr = '';
  private ended = false;
  private reaped = false;

  constructor(helperPath: string, service: string, user: string, rhost: string) {
    // Its own process group (detached): a hung module's children die with it. A fixed,
    // small environment: nothing of sec-mod's reaches PAM modules.
    this.child = spawn(helperPath, [], {
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
    });
    const reader = new FrameReader();
    this.child.stdout!.on('data', (c: Buffer) => {
      for (const ev of reader.push(c)) this.emit(ev);
    });
    this.child.stderr!.on('data', (c: Buffer) => { this.stderr = (this.stderr + c.toString('utf8')).slice(-STDERR_KEEP); });
    this.child.stdin!.on('error', () => { /* the helper exited; its 'exit' says why */ });
    this.child.on('error', (err) => this.emit({ kind: 'gone', why: `cannot run the PAM helper ${helperPath}: ${err.message}` }));
    this.child.on('exit', () => { this.reaped = true; });
    // 'close', not 'exit': only then has all of stdout been read
    this.child.on('close', (code, signal) => {
      const tail = this.stderr.trim() ? `; it said: ${this.stderr.trim()}` : '';
      this.emit({ kind: 'gone', why: `PAM helper ended (${signal ?? `exit ${code}`}) without a verdict${tail}` });
    });
    for (const [t, v] of [['s', service], ['u', user], ['h', rhost]] as const) this.write(t, Buffer.from(v, 'utf8'));
  }

  /** The next event, or undefined after `ms` without one. */
  next(ms: number): Promise<HelperEvent | undefined> {
    const ready = this.queue.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.waiter = undefined; resolve(undefined); }, ms);
      this.waiter = (ev) => { clearTimeout(timer); resolve(ev); };
    });
  }

  answer(value: Buffer): void {
    this.write('A', value);
  }

  /**
   * PAM decided: the helper is ending on its own (pam_end, then exit). Give it a moment
   * for that and kill it only if it lingers.
   */
  release(): void {
    this.ended = true;
    this.waiter = undefined;
    this.queue.length = 0;
    this.child.stdin!.end();
    if (this.reaped) return;
    const timer = setTimeout(() => this.kill(), RELEASE_MS);
    timer.unref();
    this.child.once('exit', () => clearTimeout(timer));
  }

  /** Ends the helper and whatever its modules started; safe to call more than once. */
  kill(): void {
    this.ended = true;
    this.waiter = undefined;
    this.queue.length = 0;
    // Only while the helper is unreaped is its pid (and so its group id) surely still ours.
    if (this.reaped || this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      this.child.kill('SIGKILL');
    }
  }

  private write(type: string, payload: Buffer): void {
    if (this.ended || !this.child.stdin!.writable) return;
    this.child.stdin!.write(frame(type, payload));
  }

  private emit(ev: HelperEvent): void {
    if (this.ended) return;
    // after the verdict or a failure, the process ending is no news
    if (ev.kind === 'gone' && this.queue.some((e) => e.kind === 'gone')) return;
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(ev);
    } else {
      this.queue.push(ev);
    }
  }
}
