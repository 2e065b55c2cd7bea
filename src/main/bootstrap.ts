/**
 * First start without a configuration file: make a self-contained state directory
 * (CA, server certificate, password file with a demo user, ocserv.conf) so that
 * `ocserv-ts` works out of the box and prints how to connect with a pinned certificate.
 */
import { X509Certificate, createHash, createPrivateKey, createPublicKey, randomBytes, randomInt } from 'node:crypto';
import { chmodSync, closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { hashPassword, parsePasswd, verifyCrypt } from '../secmod/passwd';

export interface BootstrapResult {
  stateDir: string; configPath: string; certPath: string; keyPath: string; caPath: string; passwdPath: string;
  /** demoPassword is '' when it is unknown: passwd existed without demo-password, or demo's password was changed. */
  demoUser: string; demoPassword: string; pin: string /* 'pin-sha256:<base64>' */; created: boolean;
}

export const DEFAULT_STATE_DIR = '/var/lib/ocserv-ts';
const DEMO_USER = 'demo';
const DAY = 86400e3;

/** Creates only what is missing, never overwrites (the admin may have replaced any file). */
export function ensureDefaultState(opts: { stateDir?: string; hostnames?: string[]; addresses?: string[] } = {}): BootstrapResult {
  const stateDir = opts.stateDir ?? DEFAULT_STATE_DIR;
  const p = (name: string) => join(stateDir, name);
  const r: BootstrapResult = {
    stateDir, configPath: p('ocserv.conf'), certPath: p('server-cert.pem'), keyPath: p('server-key.pem'),
    caPath: p('ca.pem'), passwdPath: p('passwd'), demoUser: DEMO_USER, demoPassword: '', pin: '', created: false,
  };
  if (!existsSync(stateDir)) {
    mkdirSync(stateDir, { recursive: true, mode: 0o755 });
    chmodSync(stateDir, 0o755); // mkdir applied the umask
  }
  let created = false;
  const add = (path: string, data: string, mode: number) => { created = writeNew(path, data, mode) || created; };

  if (!existsSync(r.certPath)) {
    const addresses = opts.addresses ?? localAddresses();
    // A certificate without any subjectAltName would match nothing.
    let names = opts.hostnames ?? [hostname()];
    if (names.length === 0 && addresses.length === 0) names = [hostname()];
    for (const a of addresses) if (!isIP(a)) throw new Error(`bootstrap: '${a}' is not an IP address`);
    const caKeyPath = p('ca-key.pem');
    if (!existsSync(caKeyPath)) {
      if (existsSync(r.caPath)) throw new Error(`bootstrap: ${r.caPath} exists without ${caKeyPath}; cannot issue ${r.certPath}`);
      add(caKeyPath, newKeyPem(), 0o600);
    }
    const caKey = forge.pki.privateKeyFromPem(readFileSync(caKeyPath, 'utf8'));
    // A key written just before a crash gets its certificate now instead of being replaced.
    if (!existsSync(r.caPath)) add(r.caPath, caCertPem(caKey, names[0] ?? addresses[0]), 0o644);
    const caPem = readFileSync(r.caPath, 'utf8');
    assertKeyMatches(caPem, readFileSync(caKeyPath, 'utf8'), r.caPath);
    if (!existsSync(r.keyPath)) add(r.keyPath, newKeyPem(), 0o600);
    const serverKey = forge.pki.privateKeyFromPem(readFileSync(r.keyPath, 'utf8'));
    add(r.certPath, serverCertPem(serverKey, caKey, forge.pki.certificateFromPem(caPem), names, addresses), 0o644);
  }
  if (!existsSync(r.keyPath)) throw new Error(`bootstrap: ${r.certPath} exists without ${r.keyPath}`);
  const certPem = readFileSync(r.certPath, 'utf8');
  assertKeyMatches(certPem, readFileSync(r.keyPath, 'utf8'), r.certPath);
  r.pin = certPin(certPem);

  const demoPath = p('demo-password');
  const passwdExisted = existsSync(r.passwdPath);
  if (!passwdExisted && !existsSync(demoPath)) add(demoPath, `${randomPassword(16)}\n`, 0o600);
  const demo = existsSync(demoPath) ? readFileSync(demoPath, 'utf8').trim() : '';
  if (!passwdExisted && demo === '') throw new Error(`bootstrap: ${demoPath} is empty; remove it to get a new demo password`);
  if (!passwdExisted) add(r.passwdPath, `${DEMO_USER}:${DEMO_USER}:${hashPassword(demo)}\n`, 0o600);
  // Only repeat the password in the banner while it still opens the account.
  const entry = parsePasswd(readFileSync(r.passwdPath, 'utf8'), r.passwdPath).entries.get(DEMO_USER);
  r.demoPassword = demo !== '' && entry && !entry.locked && verifyCrypt(demo, entry.hash) ? demo : '';

  add(r.configPath, defaultConfig(r), 0o644);
  r.created = created;
  return r;
}

/** What `openconnect --servercert pin-sha256:` compares: SHA-256 of the DER SubjectPublicKeyInfo. */
export function certPin(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  return `pin-sha256:${createHash('sha256').update(spki).digest('base64')}`;
}

export function openconnectCommand(r: BootstrapResult, host: string, port: number): string {
  const url = `https://${isIP(host) === 6 ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}/`;
  const cmd = `sudo openconnect --protocol=anyconnect --user=${shellQuote(r.demoUser)} --servercert ${r.pin} ${url}`;
  if (r.demoPassword === '') return cmd;
  return `echo ${shellQuote(r.demoPassword)} | ${cmd.replace(' --servercert', ' --passwd-on-stdin --servercert')}`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_.,:@%+=\/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Letters and digits only, so the password survives being pasted into any shell or form. */
function randomPassword(length: number): string {
  const chars = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
  return Array.from({ length }, () => chars[randomInt(chars.length)]).join('');
}

/** Global unicast addresses of this host: what clients may type instead of a name. */
function localAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      if (a.internal || (a.family === 'IPv6' && /^fe[89ab]/i.test(a.address))) continue;
      if (!out.includes(a.address)) out.push(a.address);
    }
  }
  return out;
}

/** Write-to-temp then link: readers never see a partial file and an existing one is never replaced. */
function writeNew(path: string, data: string, mode: number): boolean {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', mode);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    chmodSync(tmp, mode); // open() applied the umask to the mode
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function assertKeyMatches(certPem: string, keyPem: string, what: string): void {
  const fromCert = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' });
  const fromKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
  if (!fromCert.equals(fromKey)) throw new Error(`bootstrap: the key next to ${what} does not belong to it`);
}

/** node-forge hands RSA generation to node:crypto when present: about 0.1-0.5 s for 2048 bits. */
function newKeyPem(): string {
  const { privateKey } = forge.pki.rsa.generateKeyPair({ bits: 2048, e: 0x10001 });
  return forge.pki.privateKeyInfoToPem(forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(privateKey)));
}

type Key = forge.pki.rsa.PrivateKey;

function baseCert(key: Key, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  // Positive 127-bit serial: unique per certificate without keeping a counter.
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  // Backdated an hour so a client with a slightly slow clock still accepts it.
  cert.validity.notBefore = new Date(Date.now() - 3600e3);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  return cert;
}

function commonName(name: string | undefined, fallback: string): string {
  return name && name.length <= 64 ? name : fallback;
}

function caCertPem(key: Key, name: string | undefined): string {
  const cert = baseCert(key, 3650);
  const subject = [{ name: 'organizationName', value: 'ocserv-ts' }, { name: 'commonName', value: commonName(name && `ocserv-ts CA ${name}`, 'ocserv-ts CA') }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

/** 2 years stays under the 825 days that Apple clients accept for TLS server certificates. */
function serverCertPem(key: Key, caKey: Key, ca: forge.pki.Certificate, names: string[], addresses: string[]): string {
  const cert = baseCert(key, 730);
  cert.setSubject([{ name: 'organizationName', value: 'ocserv-ts' }, { name: 'commonName', value: commonName(names[0] ?? addresses[0], 'ocserv-ts') }]);
  cert.setIssuer(ca.subject.attributes);
  const caSki = ca.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | null;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...names.map((value) => ({ type: 2, value })), ...addresses.map((ip) => ({ type: 7, ip }))] },
    { name: 'subjectKeyIdentifier' },
    ...(caSki?.subjectKeyIdentifier ? [{ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(caSki.subjectKeyIdentifier) }] : []),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return forge.pki.certificateToPem(cert);
}

function defaultConfig(r: BootstrapResult): string {
  return `# ocserv-ts default configuration, written on first start because no configuration
# file was given. Same syntax and options as ocserv.conf(5). To customise, copy it to
# /etc/ocserv-ts/ocserv.conf (or pass -c) and edit; this file is never rewritten.

# Users: ocpasswd format. Add some with: ocpasswd -c ${r.passwdPath} <user>
# The 'demo' user's password is in ${r.stateDir}/demo-password; delete the user
# (ocpasswd -c ${r.passwdPath} -d demo) once real users exist.
auth = "plain[passwd=${r.passwdPath}]"

tcp-port = 443
udp-port = 443

# Workers face the network, so they give up root.
run-as-user = nobody
run-as-group = nogroup

# Names differ from ocserv's defaults so both can run on one machine.
socket-file = /run/ocserv-ts-socket
use-occtl = true
occtl-socket-file = /run/ocserv-ts-occtl.socket
pid-file = /run/ocserv-ts.pid
isolate-workers = true

# Issued by ${r.caPath} (a CA made for this server). Clients either pin the key
# (openconnect --servercert ${r.pin})
# or import ca.pem. Replace both lines with a certificate for your DNS name when you have one.
server-cert = ${r.certPath}
server-key = ${r.keyPath}

max-clients = 128
max-same-clients = 2
rate-limit-ms = 100
server-stats-reset-time = 604800

# Long keepalive and mobile DPD spare the batteries of phones.
keepalive = 32400
dpd = 90
mobile-dpd = 1800
switch-to-tcp-timeout = 25
try-mtu-discovery = false

auth-timeout = 240
min-reauth-time = 300
max-ban-score = 80
ban-reset-time = 1200
cookie-timeout = 300
deny-roaming = false
rekey-time = 172800
rekey-method = ssl

cisco-client-compat = true
dtls-legacy = true

device = vpns
predictable-ips = true
# Client addresses. 10.73.224.0/24 avoids the ranges that home routers, Docker
# (172.17-31.x), WSL2 (172.16.0.0/12), Kubernetes, Podman, GCP and OpenVPN use by default;
# change it if your networks use it.
ipv4-network = 10.73.224.0
ipv4-netmask = 255.255.255.0

# All client traffic goes through the VPN. For it to reach beyond this host, enable
# forwarding and NAT here, e.g.: sysctl -w net.ipv4.ip_forward=1 and
#   nft add rule ip nat postrouting ip saddr 10.73.224.0/24 masquerade
route = default
# Clients keep their own resolvers unless you set one reachable through the VPN:
#dns = 10.73.224.1
`;
}
