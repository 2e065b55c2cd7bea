/**
 * tls-priorities: ocserv takes a GnuTLS priority string; ocserv-ts runs on OpenSSL (through
 * node:tls), so the string is translated into what a secure context takes: protocol
 * versions, the cipher suite list, server preference, key-exchange groups. docs/TLS.md has
 * the table. A token with no OpenSSL counterpart is ignored and named in one warning: the
 * server always starts, with the nearest policy it can express.
 */

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

/** What the worker's secure context is built with (crosses the IPC as plain data). */
export interface TlsPolicy {
  minVersion: TlsVersion;
  maxVersion: TlsVersion;
  /** OpenSSL cipher string, TLS 1.3 suites (TLS_*) first; absent: Node's defaults */
  ciphers?: string;
  /** %SERVER_PRECEDENCE: the server's order of cipher suites wins over the client's */
  honorCipherOrder: boolean;
  /** groups for (EC)DHE, OpenSSL names joined by ':'; absent: OpenSSL's defaults */
  ecdhCurve?: string;
  /** %NO_TICKETS: no session tickets */
  noTickets: boolean;
}

export interface TlsPolicyResult {
  policy: TlsPolicy;
  /** what could not be carried over, for one warning at start (empty: nothing) */
  ignored: string[];
}

/** No tls-priorities: TLS 1.2 and 1.3 with Node's cipher list. */
export const DEFAULT_TLS_POLICY: TlsPolicy = { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', honorCipherOrder: false, noTickets: false };

// ---------- what GnuTLS names and OpenSSL can offer ----------

const CIPHERS = ['AES-256-GCM', 'CHACHA20-POLY1305', 'AES-128-GCM', 'AES-256-CBC', 'AES-128-CBC'] as const;
const KXS = ['ECDHE-ECDSA', 'ECDHE-RSA', 'DHE-RSA', 'RSA'] as const;
const MACS = ['AEAD', 'SHA1', 'SHA256', 'SHA384'] as const;
type Cipher = typeof CIPHERS[number];
type Kx = typeof KXS[number];
type Mac = typeof MACS[number];
type Version = 'TLS1.0' | 'TLS1.1' | 'TLS1.2' | 'TLS1.3';
const VERSIONS: Version[] = ['TLS1.0', 'TLS1.1', 'TLS1.2', 'TLS1.3'];

/** TLS 1.2 suites OpenSSL has, by their GnuTLS parts */
const SUITES_12: [name: string, kx: Kx, cipher: Cipher, mac: Mac][] = [
  ['ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-ECDSA', 'AES-256-GCM', 'AEAD'],
  ['ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA', 'AES-256-GCM', 'AEAD'],
  ['DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA', 'AES-256-GCM', 'AEAD'],
  ['AES256-GCM-SHA384', 'RSA', 'AES-256-GCM', 'AEAD'],
  ['ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-ECDSA', 'CHACHA20-POLY1305', 'AEAD'],
  ['ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE-RSA', 'CHACHA20-POLY1305', 'AEAD'],
  ['DHE-RSA-CHACHA20-POLY1305', 'DHE-RSA', 'CHACHA20-POLY1305', 'AEAD'],
  ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA', 'AES-128-GCM', 'AEAD'],
  ['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA', 'AES-128-GCM', 'AEAD'],
  ['DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA', 'AES-128-GCM', 'AEAD'],
  ['AES128-GCM-SHA256', 'RSA', 'AES-128-GCM', 'AEAD'],
  ['ECDHE-ECDSA-AES256-SHA384', 'ECDHE-ECDSA', 'AES-256-CBC', 'SHA384'],
  ['ECDHE-RSA-AES256-SHA384', 'ECDHE-RSA', 'AES-256-CBC', 'SHA384'],
  ['DHE-RSA-AES256-SHA256', 'DHE-RSA', 'AES-256-CBC', 'SHA256'],
  ['AES256-SHA256', 'RSA', 'AES-256-CBC', 'SHA256'],
  ['ECDHE-ECDSA-AES256-SHA', 'ECDHE-ECDSA', 'AES-256-CBC', 'SHA1'],
  ['ECDHE-RSA-AES256-SHA', 'ECDHE-RSA', 'AES-256-CBC', 'SHA1'],
  ['DHE-RSA-AES256-SHA', 'DHE-RSA', 'AES-256-CBC', 'SHA1'],
  ['AES256-SHA', 'RSA', 'AES-256-CBC', 'SHA1'],
  ['ECDHE-ECDSA-AES128-SHA256', 'ECDHE-ECDSA', 'AES-128-CBC', 'SHA256'],
  ['ECDHE-RSA-AES128-SHA256', 'ECDHE-RSA', 'AES-128-CBC', 'SHA256'],
  ['DHE-RSA-AES128-SHA256', 'DHE-RSA', 'AES-128-CBC', 'SHA256'],
  ['AES128-SHA256', 'RSA', 'AES-128-CBC', 'SHA256'],
  ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA', 'AES-128-CBC', 'SHA1'],
  ['ECDHE-RSA-AES128-SHA', 'ECDHE-RSA', 'AES-128-CBC', 'SHA1'],
  ['DHE-RSA-AES128-SHA', 'DHE-RSA', 'AES-128-CBC', 'SHA1'],
  ['AES128-SHA', 'RSA', 'AES-128-CBC', 'SHA1'],
];

/** TLS 1.3 suites: only the cipher matters (key exchange and MAC are fixed by the version) */
const SUITES_13: [name: string, cipher: Cipher][] = [
  ['TLS_AES_256_GCM_SHA384', 'AES-256-GCM'],
  ['TLS_CHACHA20_POLY1305_SHA256', 'CHACHA20-POLY1305'],
  ['TLS_AES_128_GCM_SHA256', 'AES-128-GCM'],
];

/** GnuTLS group names -> OpenSSL's */
const GROUPS: Record<string, string> = {
  'X25519': 'X25519', 'X448': 'X448',
  'SECP256R1': 'P-256', 'SECP384R1': 'P-384', 'SECP521R1': 'P-521',
  'FFDHE2048': 'ffdhe2048', 'FFDHE3072': 'ffdhe3072', 'FFDHE4096': 'ffdhe4096', 'FFDHE6144': 'ffdhe6144', 'FFDHE8192': 'ffdhe8192',
};
const DEFAULT_GROUPS = ['X25519', 'SECP256R1', 'SECP384R1', 'SECP521R1', 'X448', 'FFDHE2048', 'FFDHE3072'];

/** GnuTLS algorithms OpenSSL (as Node builds it) will not offer here: removing them changes nothing */
const NEVER_OFFERED = new Set([
  'ARCFOUR-128', 'ARCFOUR-40', '3DES-CBC', 'DES-CBC', 'RC2-40', 'NULL', 'CAMELLIA-128-CBC', 'CAMELLIA-256-CBC',
  'CAMELLIA-128-GCM', 'CAMELLIA-256-GCM', 'AES-128-CCM', 'AES-256-CCM', 'AES-128-CCM-8', 'AES-256-CCM-8', 'GOST28147-TC26Z-CNT',
  'MD5', 'GOST28147-TC26Z-IMIT', 'STREEBOG-256', 'STREEBOG-512', 'UMAC-96', 'UMAC-128',
  'DHE-DSS', 'ANON-DH', 'ANON-ECDH', 'PSK', 'DHE-PSK', 'ECDHE-PSK', 'RSA-PSK', 'SRP', 'SRP-RSA', 'SRP-DSS', 'RSA-EXPORT', 'VKO-GOST-12',
  'VERS-SSL3.0', 'FFDHE-ALL',
]);

/** modifiers with nothing to do here (the behaviour they tune is OpenSSL's already or not applicable) */
const HARMLESS = new Set(['%COMPAT', '%LATEST_RECORD_VERSION', '%SSL3_RECORD_VERSION', '%SAFE_RENEGOTIATION', '%STATELESS_COMPRESSION']);

interface Sets { ciphers: Cipher[]; kxs: Kx[]; macs: Mac[]; versions: Version[]; groups: string[] }

function base(keyword: string): Sets | undefined {
  const all = { versions: [...VERSIONS], groups: [...DEFAULT_GROUPS] };
  switch (keyword) {
    case 'NORMAL':
    case 'SYSTEM':
    case '@SYSTEM':
      return { ...all, ciphers: ['AES-256-GCM', 'CHACHA20-POLY1305', 'AES-256-CBC', 'AES-128-GCM', 'AES-128-CBC'], kxs: [...KXS], macs: ['AEAD', 'SHA1'] };
    case 'PERFORMANCE':
      return { ...all, ciphers: ['AES-128-GCM', 'AES-256-GCM', 'CHACHA20-POLY1305', 'AES-128-CBC', 'AES-256-CBC'], kxs: [...KXS], macs: ['AEAD', 'SHA1'] };
    case 'LEGACY':
      return { ...all, ciphers: [...CIPHERS], kxs: [...KXS], macs: [...MACS] };
    case 'PFS':
      return { ...all, ciphers: ['AES-256-GCM', 'CHACHA20-POLY1305', 'AES-256-CBC', 'AES-128-GCM', 'AES-128-CBC'], kxs: ['ECDHE-ECDSA', 'ECDHE-RSA', 'DHE-RSA'], macs: ['AEAD', 'SHA1'] };
    case 'SECURE128':
    case 'SECURE':
      return { ...all, ciphers: ['AES-256-GCM', 'CHACHA20-POLY1305', 'AES-128-GCM', 'AES-256-CBC', 'AES-128-CBC'], kxs: [...KXS], macs: [...MACS] };
    case 'SECURE192':
    case 'SECURE256':
      return { ...all, ciphers: ['AES-256-GCM', 'CHACHA20-POLY1305', 'AES-256-CBC'], kxs: [...KXS], macs: ['AEAD', 'SHA384', 'SHA256'] };
    case 'SUITEB128':
    case 'SUITEB192':
      return { versions: ['TLS1.2'], ciphers: keyword === 'SUITEB128' ? ['AES-128-GCM', 'AES-256-GCM'] : ['AES-256-GCM'], kxs: ['ECDHE-ECDSA'], macs: ['AEAD'], groups: keyword === 'SUITEB128' ? ['SECP256R1', 'SECP384R1'] : ['SECP384R1'] };
    case 'NONE':
      return { versions: [], ciphers: [], kxs: [], macs: [], groups: [] };
    default:
      return undefined;
  }
}

function edit<T extends string>(list: T[], item: T, add: boolean): T[] {
  const rest = list.filter((x) => x !== item);
  return add ? [...rest, item] : rest;
}

/**
 * Translates a GnuTLS priority string. Never throws: what it cannot express is listed in
 * `ignored`, and a string that leaves nothing usable gives the defaults.
 */
export function tlsPolicy(priorities: string | undefined): TlsPolicyResult {
  if (priorities === undefined || priorities.trim() === '') return { policy: { ...DEFAULT_TLS_POLICY }, ignored: [] };
  const ignored: string[] = [];
  const note = (s: string) => { if (!ignored.includes(s)) ignored.push(s); };
  let sets: Sets | undefined;
  let honor = false;
  let noTickets = false;
  let groupsNamed = false;
  for (const raw of priorities.split(':')) {
    const tok = raw.trim();
    if (!tok) continue;
    const sign = tok[0];
    if (sign === '%') {
      if (tok === '%SERVER_PRECEDENCE') honor = true;
      else if (tok === '%NO_TICKETS' || tok === '%NO_TICKETS_TLS12') noTickets = true;
      else if (!HARMLESS.has(tok)) note(`${tok} (no OpenSSL counterpart)`);
      continue;
    }
    if (sign !== '+' && sign !== '-' && sign !== '!') {
      // a base keyword; several may be chained with '+' in GnuTLS ("NORMAL" is by far the usual)
      const b = base(tok.toUpperCase());
      if (b) sets = b;
      else note(`${tok} (unknown keyword)`);
      continue;
    }
    if (!sets) sets = base('NORMAL')!; // GnuTLS needs a keyword first; read a bare list as NORMAL's edits
    const add = sign === '+';
    const name = tok.slice(1).toUpperCase();
    if (!applyToken(sets, name, add)) {
      if (NEVER_OFFERED.has(name)) { if (add) note(`${tok} (not offered by ocserv-ts)`); }
      else if (/^VERS-DTLS/.test(name) || /^(COMP|CTYPE)-/.test(name)) { /* DTLS, compression, certificate types: not this context's business */ }
      else if (name === 'SIGN-ALL') { /* what OpenSSL does anyway */ }
      else if (/^SIGN-/.test(name)) note(`${tok} (signature algorithms are OpenSSL's defaults)`);
      else note(`${tok} (unknown)`);
    }
    if (/^(GROUP|CURVE)-/.test(name)) groupsNamed = true;
  }
  const s = sets ?? base('NORMAL')!;
  return finish(s, honor, noTickets, groupsNamed, note, ignored);
}

/** applies one +/- token to the sets; false when it names nothing this module knows */
function applyToken(s: Sets, name: string, add: boolean): boolean {
  if (name === 'VERS-ALL' || name === 'VERS-TLS-ALL') { s.versions = add ? [...VERSIONS] : []; return true; }
  if (name.startsWith('VERS-') && (VERSIONS as string[]).includes(name.slice(5))) { s.versions = edit(s.versions, name.slice(5) as Version, add); return true; }
  if (name === 'CIPHER-ALL') { s.ciphers = add ? [...CIPHERS] : []; return true; }
  if ((CIPHERS as readonly string[]).includes(name)) { s.ciphers = edit(s.ciphers, name as Cipher, add); return true; }
  if (name === 'KX-ALL') { s.kxs = add ? [...KXS] : []; return true; }
  if ((KXS as readonly string[]).includes(name)) { s.kxs = edit(s.kxs, name as Kx, add); return true; }
  if (name === 'MAC-ALL') { s.macs = add ? [...MACS] : []; return true; }
  if (name === 'SHA512') return true; // no TLS suite uses it
  if ((MACS as readonly string[]).includes(name)) { s.macs = edit(s.macs, name as Mac, add); return true; }
  if (name === 'GROUP-ALL' || name === 'CURVE-ALL') { s.groups = add ? Object.keys(GROUPS) : []; return true; }
  const g = /^(?:GROUP|CURVE)-(.+)$/.exec(name);
  if (g && GROUPS[g[1]]) { s.groups = edit(s.groups, g[1], add); return true; }
  if (g && (g[1] === 'EC-ALL' || g[1] === 'DH-ALL')) {
    const ec = g[1] === 'EC-ALL';
    const which = Object.keys(GROUPS).filter((k) => k.startsWith('FFDHE') !== ec);
    s.groups = add ? [...s.groups.filter((x) => !which.includes(x)), ...which] : s.groups.filter((x) => !which.includes(x));
    return true;
  }
  return false;
}

function finish(s: Sets, honor: boolean, noTickets: boolean, groupsNamed: boolean, note: (s: string) => void, ignored: string[]): TlsPolicyResult {
  const order = (c: Cipher) => s.ciphers.indexOf(c);
  const suites12 = SUITES_12
    .filter(([, kx, c, mac]) => s.kxs.includes(kx) && s.ciphers.includes(c) && s.macs.includes(mac))
    .sort((a, b) => order(a[2]) - order(b[2]) || s.macs.indexOf(a[3]) - s.macs.indexOf(b[3]) || s.kxs.indexOf(a[1]) - s.kxs.indexOf(b[1]))
    .map(([name]) => name);
  const suites13 = SUITES_13.filter(([, c]) => s.ciphers.includes(c)).sort((a, b) => order(a[1]) - order(b[1])).map(([name]) => name);
  const v12 = s.versions.includes('TLS1.2') && suites12.length > 0;
  const v13 = s.versions.includes('TLS1.3') && suites13.length > 0;
  if (s.versions.includes('TLS1.2') && !v12) note('TLS 1.2 (no cipher suite left for it)');
  if (s.versions.includes('TLS1.3') && !v13) note('TLS 1.3 (no cipher suite left for it)');
  if (!v12 && !v13) {
    note('the whole string: it leaves neither TLS 1.2 nor TLS 1.3 usable (ocserv-ts offers no older version), so the defaults apply');
    return { policy: { ...DEFAULT_TLS_POLICY }, ignored };
  }
  const groups = s.groups.map((g) => GROUPS[g]).filter(Boolean);
  if (groupsNamed && groups.length === 0) note('the group list (it leaves none; OpenSSL\'s defaults apply)');
  const policy: TlsPolicy = {
    minVersion: v12 ? 'TLSv1.2' : 'TLSv1.3',
    maxVersion: v13 ? 'TLSv1.3' : 'TLSv1.2',
    // a version that is off still gets no suites listed, so OpenSSL cannot fall back to its own
    ciphers: [...(v13 ? suites13 : []), ...(v12 ? suites12 : [])].join(':'),
    honorCipherOrder: honor,
    noTickets,
  };
  if (groupsNamed && groups.length) policy.ecdhCurve = groups.join(':');
  return { policy, ignored };
}
