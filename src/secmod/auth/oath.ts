/**
 * One-time passwords from a liboath "users file", the `otp=` file of
 * `auth = "plain[passwd=...,otp=...]"`. One token a line, fields separated by blanks:
 *
 *   TYPE USER PIN SECRET-HEX [COUNTER [LAST-OTP [LAST-TIME]]]
 *
 * TYPE is HOTP, HOTP/E, HOTP/E/6|7|8 (counter based, RFC 4226) or HOTP/T30, HOTP/T60 with
 * an optional /6|7|8 (time based, RFC 6238, 30 or 60 second steps); the digits default
 * to 6. PIN is ignored here as ocserv ignores it (liboath checks it only when the caller
 * passes a password; `-` means none, `+` verified elsewhere). Lines of another shape
 * (comments, unknown types) are skipped and kept as they are when the file is rewritten.
 *
 * After a successful login the token's line is rewritten the way liboath writes it:
 * counter of the code used, the code, and the local time as 2024-01-31T12:00:00L.
 * The code stored there is what refuses a replay: the same code again, and for time
 * based tokens any code of a step not later than it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { closeSync, fchownSync, fstatSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';

export interface OathToken {
  /** the type as written, e.g. HOTP/T30/6 */
  type: string;
  user: string;
  pin: string;
  /** the secret as written (hex), kept verbatim when the line is rewritten */
  secretText: string;
  secret: Buffer;
  digits: number;
  /** seconds per step for TOTP; undefined for counter based tokens */
  step?: number;
  /** HOTP: the counter of the last code used (the next search starts there) */
  counter: bigint;
  lastOtp?: string;
  lastTime?: string;
  /** index into the file's lines */
  line: number;
}

/** How far from the expected code we look: TOTP steps either side of now, HOTP counters ahead. */
export interface OathWindows { totp: number; hotp: number }

/**
 * Smaller than ocserv's (it passes 20 to liboath: ±10 minutes for TOTP), since every code
 * in the window is one an attacker may guess: a TOTP clock may be one step off, an HOTP
 * token may have been pressed a few times without logging in.
 */
export const DEFAULT_WINDOWS: OathWindows = { totp: 1, hotp: 10 };

/** liboath's buffer for the secret; longer ones make it fail, so they fail here as well */
const MAX_SECRET_BYTES = 32;
const TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dL$/;

/** Digits and step of a token type; undefined for a type liboath does not know. */
export function parseTokenType(type: string): { digits: number; step?: number } | undefined {
  const hotp = /^HOTP(?:\/E(?:\/([678]))?)?$/.exec(type);
  if (hotp) return { digits: Number(hotp[1] ?? 6) };
  const totp = /^HOTP\/T(30|60)(?:\/([678]))?$/.exec(type);
  if (totp) return { digits: Number(totp[2] ?? 6), step: Number(totp[1]) };
  return undefined;
}

/** RFC 4226: HMAC-SHA-1 of the 8-byte counter, dynamic truncation, the low `digits` decimal digits. */
export function hotp(secret: Buffer, counter: bigint | number, digits = 6): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', secret).update(msg).digest();
  const off = mac[mac.length - 1]! & 0x0f;
  const bin = mac.readUInt32BE(off) & 0x7fffffff;
  return String(bin % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 with T0 = 0: the HOTP of the number of whole steps since the epoch. */
export function totp(secret: Buffer, unixSeconds: number, step = 30, digits = 6): string {
  return hotp(secret, BigInt(Math.floor(unixSeconds / step)), digits);
}

/** `error`: a line of a known type whose secret, counter or time is malformed (`user` says whose). */
export type ParsedLine = { token: OathToken } | { error: string; user: string } | { skip: true };

export function parseLine(text: string, index: number): ParsedLine {
  const f = text.split(/[ \t\r\n]+/).filter((x) => x !== '');
  const type = f[0] === undefined ? undefined : parseTokenType(f[0]);
  // no key: liboath skips the line rather than failing
  if (!type || f.length < 4) return { skip: true };
  const [typeText, user, pin, secretText, counterText, lastOtp, lastTime] = f as [string, string, string, string, ...(string | undefined)[]];
  const bad = (what: string): ParsedLine => ({ error: `line ${index + 1}: ${what}`, user });
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(secretText)) return bad('the secret is not hexadecimal');
  const secret = Buffer.from(secretText, 'hex');
  if (secret.length > MAX_SECRET_BYTES) return bad(`the secret is longer than ${MAX_SECRET_BYTES} bytes`);
  if (counterText !== undefined && !/^\d{1,20}$/.test(counterText)) return bad('the counter is not a number');
  if (lastTime !== undefined && !TIME_RE.test(lastTime)) return bad('the time is not like 2024-01-31T12:00:00L');
  const counter = counterText === undefined ? 0n : BigInt(counterText);
  if (counter >= 1n << 64n) return bad('the counter is out of range');
  return {
    token: { type: typeText, user, pin, secretText, secret, digits: type.digits, step: type.step, counter, lastOtp, lastTime, line: index },
  };
}

function same(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * Where `otp` lies in the window of a time based token: steps from now, searched 0, +1,
 * -1, +2, ... as liboath does, so that of two equal codes the nearer wins.
 */
function totpOffset(t: OathToken, otp: string, nowSeconds: number, window: number): number | undefined {
  const base = Math.floor(nowSeconds / t.step!);
  for (let i = 0; i <= window; i++) {
    for (const off of i === 0 ? [0] : [i, -i]) {
      if (base + off >= 0 && same(hotp(t.secret, BigInt(base + off), t.digits), otp)) return off;
    }
  }
  return undefined;
}

export type TokenCheck =
  | { result: 'ok'; counter: bigint }
  | { result: 'invalid' }
  | { result: 'replayed' };

/** Checks a code against one token; `counter` is what the rewritten line records. */
export function checkToken(t: OathToken, otp: string, nowSeconds: number, w: OathWindows = DEFAULT_WINDOWS): TokenCheck {
  if (t.lastOtp !== undefined && t.lastOtp === otp) return { result: 'replayed' };
  if (otp.length !== t.digits || !/^\d+$/.test(otp)) return { result: 'invalid' };
  if (t.step === undefined) {
    for (let i = 0n; i <= BigInt(w.hotp); i++) {
      const c = t.counter + i;
      if (c >= 1n << 64n) break;
      if (same(hotp(t.secret, c, t.digits), otp)) return { result: 'ok', counter: c };
    }
    return { result: 'invalid' };
  }
  const off = totpOffset(t, otp, nowSeconds, w.totp);
  if (off === undefined) return { result: 'invalid' };
  // A code of an earlier step than the last one used is as stale as the same code; a last
  // code outside the window is older than everything in it.
  if (t.lastOtp !== undefined) {
    const prev = totpOffset(t, t.lastOtp, nowSeconds, w.totp);
    if (prev !== undefined && prev >= off) return { result: 'replayed' };
  }
  // liboath records the old value plus the distance from now; kept for files shared with it
  return { result: 'ok', counter: t.counter + BigInt(Math.abs(off)) };
}

/** Local time as liboath writes it: %Y-%m-%dT%H:%M:%S and a literal L. */
export function oathTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}L`;
}

export function tokenLine(t: OathToken, counter: bigint, otp: string, when: Date): string {
  return `${t.type}\t${t.user}\t${t.pin}\t${t.secretText}\t${counter}\t${otp}\t${oathTime(when)}\n`;
}

/** The file's lines with their own line ends, so that what is not rewritten stays byte for byte. */
export function splitLines(text: string): string[] {
  return text.match(/[^\n]*\n|[^\n]+$/g) ?? [];
}

export type OathResult =
  | { result: 'ok' }
  | { result: 'unknown-user' | 'invalid' | 'replayed' }
  /** the file is missing, unreadable, malformed for this user or cannot be rewritten */
  | { result: 'error'; reason: string };

/**
 * Verifies `otp` for `user` against the lines of a users file, first matching token first
 * (a user may hold several). Pure: returns the new text to write on success.
 */
export function authenticateText(text: string, user: string, otp: string, now: Date, w: OathWindows = DEFAULT_WINDOWS):
  OathResult & { text?: string } {
  const lines = splitLines(text);
  let seen = false;
  for (let i = 0; i < lines.length; i++) {
    const parsed = parseLine(lines[i]!, i);
    if ('skip' in parsed) continue;
    // liboath stops at a malformed line of the user; other users' lines do not concern this login
    if ('error' in parsed) {
      if (parsed.user === user) return { result: 'error', reason: parsed.error };
      continue;
    }
    const t = parsed.token;
    if (t.user !== user) continue;
    seen = true;
    const r = checkToken(t, otp, Math.floor(now.getTime() / 1000), w);
    if (r.result === 'replayed') return { result: 'replayed' };
    if (r.result === 'invalid') continue;
    lines[i] = tokenLine(t, r.counter, otp, now);
    return { result: 'ok', text: lines.join('') };
  }
  return { result: seen ? 'invalid' : 'unknown-user' };
}

/**
 * The users file on disk. Read afresh for every code (it is small, and the last code
 * used must be current); rewritten through FILE.new and a rename, owned as before and
 * mode 0600 as liboath leaves it. sec-mod does this synchronously, so two logins of
 * the same process never interleave; another program rewriting the file at the same
 * moment (liboath locks FILE.lock with fcntl, which Node cannot) is not excluded.
 */
export class OathUsersFile {
  constructor(readonly path: string, private readonly windows: OathWindows = DEFAULT_WINDOWS) {}

  authenticate(user: string, otp: string, now: Date = new Date()): OathResult {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return { result: 'error', reason: `cannot read ${this.path}: ${(err as Error).message}` };
    }
    const r = authenticateText(text, user, otp.trim(), now, this.windows);
    if (r.result !== 'ok') return r;
    try {
      this.replace(r.text!);
    } catch (err) {
      // not recorded means replayable: refuse rather than let the code be used twice
      return { result: 'error', reason: `cannot update ${this.path}: ${(err as Error).message}` };
    }
    return { result: 'ok' };
  }

  private replace(text: string): void {
    const tmp = `${this.path}.new`;
    const old = statSync(this.path);
    const fd = openSync(tmp, 'w', 0o600);
    let open = true;
    let renamed = false;
    try {
      writeSync(fd, text);
      const st = fstatSync(fd);
      if (st.uid !== old.uid || st.gid !== old.gid) fchownSync(fd, old.uid, old.gid);
      fsyncSync(fd);
      open = false;
      closeSync(fd);
      renameSync(tmp, this.path);
      renamed = true;
    } finally {
      // the fd number may belong to another file once closed: never close it twice
      if (open) closeSync(fd);
      if (!renamed) {
        try { unlinkSync(tmp); } catch { /* nothing to remove */ }
      }
    }
  }
}
