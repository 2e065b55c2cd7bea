/**
 * The ocpasswd password file, as ocserv's `auth = "plain[passwd=...]"` reads it:
 * `user:group[,group...]:crypt-hash`, a `!` before the hash locks the account.
 *
 * Logins are checked with the system's crypt(3) (libxcrypt, through the native addon, off
 * the event loop), as ocserv checks them: every scheme the system knows works, and a check
 * costs sec-mod no JavaScript time. The SHA-crypt below writes new hashes (ocpasswd-ts) and
 * is the reference the native check is tested against.
 *
 * SHA-crypt is implemented here rather than taken from the `unixcrypt` package:
 * unixcrypt is ESM-only with an `exports` map that has no `require` condition, so the
 * CommonJS build cannot load it, and its verify() throws when a hash's length differs
 * from the recomputed one.
 */
import * as cryptoModule from 'node:crypto';
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { cryptAsync } from '../native';

export interface PasswdEntry { user: string; groups: string[]; hash: string; locked: boolean }

export type CheckResult = 'ok' | 'bad-password' | 'no-user' | 'locked' | 'empty-password';

/** `hash` is stored without the lock mark; `locked` carries it. */
export function parsePasswd(text: string, file: string): { entries: Map<string, PasswdEntry>; errors: string[] } {
  const entries = new Map<string, PasswdEntry>();
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.trimStart().startsWith('#')) return;
    // Reasons never quote the line: it may hold a hash.
    const fail = (reason: string) => errors.push(`${file}:${i + 1}: ${reason}`);
    const fields = line.split(':');
    // ocserv ignores fields after the hash, so a file it accepts stays accepted.
    if (fields.length < 3) return fail('expected user:group:hash');
    const [user, group, field] = fields;
    if (user === '') return fail('empty user name');
    if (entries.has(user)) return fail(`duplicate user '${user}', the first entry is used`);
    const locked = field.startsWith('!');
    entries.set(user, { user, groups: parseGroups(group), hash: locked ? field.slice(1) : field, locked });
  });
  return { entries, errors };
}

/** ocpasswd writes `*` for "no group". */
function parseGroups(field: string): string[] {
  const groups = field.split(',').map((g) => g.trim()).filter((g) => g !== '' && g !== '*');
  return [...new Set(groups)];
}

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SCHEMES = {
  '5': { alg: 'sha256', size: 32, chars: 43 },
  '6': { alg: 'sha512', size: 64, chars: 86 },
} as const;
// Output byte order of the SHA-crypt spec (Drepper), three bytes per 4 characters.
const ORDER = {
  sha256: [0, 10, 20, 21, 1, 11, 12, 22, 2, 3, 13, 23, 24, 4, 14, 15, 25, 5, 6, 16, 26, 27, 7, 17, 18, 28, 8, 9, 19, 29],
  sha512: [0, 21, 42, 22, 43, 1, 44, 2, 23, 3, 24, 45, 25, 46, 4, 47, 5, 26, 6, 27, 48, 28, 49, 7, 50, 8, 29, 9, 30, 51,
    31, 52, 10, 53, 11, 32, 12, 33, 54, 34, 55, 13, 56, 14, 35, 15, 36, 57, 37, 58, 16, 59, 17, 38, 18, 39, 60, 40, 61, 19, 62, 20, 41],
};
const ROUNDS_DEFAULT = 5000;
// crypt() clamps rounds to this range and prints the clamped value, so a stored hash
// outside it (or with a non-canonical number) can never match, as with ocserv.
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999999999;
const HASH_RE = /^\$([56])\$(?:rounds=([1-9][0-9]{0,8})\$)?([^$]{0,16})\$([./0-9A-Za-z]+)$/;

type OneShotHash = (alg: string, data: Buffer, encoding: 'buffer') => Buffer;
/** crypto.hash (Node >= 20.12) where present, a hash object otherwise. */
const oneShot: (alg: string, data: Buffer) => Buffer = (() => {
  const h = (cryptoModule as unknown as { hash?: OneShotHash }).hash;
  return h ? (alg: string, data: Buffer) => h(alg, data, 'buffer') : (alg: string, data: Buffer) => createHash(alg).update(data).digest();
})();

function repeatTo(digest: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let off = 0; off < length; off += digest.length) digest.copy(out, off, 0, Math.min(digest.length, length - off));
  return out;
}

function shaCrypt(alg: 'sha256' | 'sha512', size: number, key: Buffer, salt: Buffer, rounds: number): string {
  const b = createHash(alg).update(key).update(salt).update(key).digest();
  const a = createHash(alg).update(key).update(salt);
  for (let left = key.length; left > 0; left -= size) a.update(b.subarray(0, Math.min(left, size)));
  for (let bits = key.length; bits > 0; bits >>= 1) a.update(bits & 1 ? b : key);
  let c: Buffer = a.digest();
  const dp = createHash(alg);
  for (let i = 0; i < key.length; i++) dp.update(key);
  const p = repeatTo(dp.digest(), key.length);
  const ds = createHash(alg);
  for (let i = 0; i < 16 + c[0]; i++) ds.update(salt);
  const s = repeatTo(ds.digest(), salt.length);
  // The rounds dominate a login (5000 by default): one-shot hashing of a reused buffer is
  // several times cheaper than a hash object per round.
  const buf = Buffer.allocUnsafe(2 * Math.max(size, key.length) + salt.length + key.length);
  for (let i = 0; i < rounds; i++) {
    let n = (i & 1 ? p : c).copy(buf, 0);
    if (i % 3) n += s.copy(buf, n);
    if (i % 7) n += p.copy(buf, n);
    n += (i & 1 ? c : p).copy(buf, n);
    c = oneShot(alg, buf.subarray(0, n));
  }
  let out = '';
  const put = (w: number, n: number) => {
    for (; n > 0; n--, w >>= 6) out += ALPHABET[w & 63];
  };
  const order = ORDER[alg];
  for (let i = 0; i < order.length; i += 3) put((c[order[i]] << 16) | (c[order[i + 1]] << 8) | c[order[i + 2]], 4);
  if (alg === 'sha256') put((c[31] << 8) | c[30], 3);
  else put(c[63], 2);
  return out;
}

/** True for the hash formats verifyCrypt understands ($5$ and $6$ SHA-crypt). */
export function isSupportedHash(hash: string): boolean {
  const m = HASH_RE.exec(hash);
  if (!m) return false;
  const rounds = m[2] === undefined ? ROUNDS_DEFAULT : Number(m[2]);
  return rounds >= ROUNDS_MIN && rounds <= ROUNDS_MAX && m[4].length === SCHEMES[m[1] as '5' | '6'].chars;
}

/** Only the final comparison is constant-time; the work depends on the hash's own rounds. */
export function verifyCrypt(password: string, hash: string): boolean {
  if (!isSupportedHash(hash)) return false;
  const [, id, rounds, salt, digest] = HASH_RE.exec(hash)!;
  const { alg, size } = SCHEMES[id as '5' | '6'];
  const got = shaCrypt(alg, size, Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'),
    rounds === undefined ? ROUNDS_DEFAULT : Number(rounds));
  return timingSafeEqual(Buffer.from(got), Buffer.from(digest));
}

export function hashPassword(password: string, scheme: 'sha512' | 'sha256' = 'sha512'): string {
  // ocpasswd refuses empty passwords too; such an entry could never log in.
  if (password === '') throw new RangeError('empty password');
  const id = scheme === 'sha512' ? '6' : '5';
  // 64 symbols, so masking a random byte keeps the salt uniform.
  const salt = Array.from(randomBytes(16), (x) => ALPHABET[x & 63]).join('');
  return `$${id}$${salt}$${shaCrypt(SCHEMES[id].alg, SCHEMES[id].size, Buffer.from(password, 'utf8'), Buffer.from(salt), ROUNDS_DEFAULT)}`;
}

function describeHash(hash: string): string {
  const prefix = /^\$[^$]*\$/.exec(hash)?.[0];
  if (prefix === '$5$' || prefix === '$6$') return `malformed ${prefix} hash (bad rounds, salt or length)`;
  return prefix ? `unsupported hash scheme ${prefix}` : 'unsupported hash scheme (not $id$)';
}

/**
 * crypt(3) of `password` under the stored hash, compared with it in constant time:
 * 'refused' when crypt(3) does not take the hash (an unknown or malformed scheme).
 */
async function cryptCheck(password: string, hash: string): Promise<'match' | 'differs' | 'refused'> {
  if (hash === '') return 'differs';
  const got = await cryptAsync(password, hash);
  if (got === null) return 'refused';
  return got.length === hash.length && timingSafeEqual(Buffer.from(got), Buffer.from(hash)) ? 'match' : 'differs';
}

/** True when crypt(3) of `password` under the stored hash gives that hash. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  return (await cryptCheck(password, hash)) === 'match';
}

let dummyHash: string | undefined;
/** Spends the time of a real verification so that unknown or locked users are not told apart by timing. */
async function burn(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomInt(1 << 30).toString(36) + 'x');
  await verifyPassword(password || 'x', dummyHash);
}

export class PasswdFile {
  lastError?: string;
  /** Malformed-line reports of the last successful read ("file:line: reason"). */
  errors: string[] = [];
  private entries = new Map<string, PasswdEntry>();
  private stamp = '';

  constructor(readonly path: string) {}

  /**
   * Never throws for a missing/unreadable file: the user is then 'no-user' and lastError says
   * why. `unsupported`: a loggable reason (no hash text) when crypt(3) refuses the stored hash.
   */
  async check(user: string, password: string): Promise<{ result: CheckResult; groups: string[]; unsupported?: string }> {
    if (password === '') return { result: 'empty-password', groups: [] };
    this.refresh();
    const entry = this.entries.get(user);
    if (!entry) {
      await burn(password);
      return { result: 'no-user', groups: [] };
    }
    if (entry.locked) {
      await burn(password);
      return { result: 'locked', groups: [] };
    }
    // An empty stored hash means "OTP only" in ocserv; without OTP it is refused there as well.
    const verdict = await cryptCheck(password, entry.hash);
    if (verdict !== 'match') {
      return { result: 'bad-password', groups: [], ...(verdict === 'refused' ? { unsupported: describeHash(entry.hash) } : {}) };
    }
    return { result: 'ok', groups: [...entry.groups] };
  }

  /**
   * The groups of an unlocked user whose stored hash is empty, undefined for anyone else:
   * with an OTP file ocserv asks such a user for the one-time code alone.
   */
  otpOnly(user: string): { groups: string[] } | undefined {
    this.refresh();
    const entry = this.entries.get(user);
    return entry && !entry.locked && entry.hash === '' ? { groups: [...entry.groups] } : undefined;
  }

  /** The groups of every user, in file order, for auto-select-group. */
  allGroups(): string[] {
    this.refresh();
    return [...new Set([...this.entries.values()].flatMap((e) => e.groups))];
  }

  /** Re-reads on any change of inode, size, mtime or ctime: ocpasswd replaces the file by rename. */
  private refresh(): void {
    let stamp: string;
    let text: string;
    try {
      const st = statSync(this.path, { bigint: true });
      stamp = `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (stamp === this.stamp) return;
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      this.entries = new Map();
      this.errors = [];
      this.stamp = '';
      this.lastError = `${this.path}: ${(e as Error).message}`;
      return;
    }
    const parsed = parsePasswd(text, this.path);
    this.entries = parsed.entries;
    this.errors = parsed.errors;
    this.stamp = stamp;
    this.lastError = undefined;
  }
}
