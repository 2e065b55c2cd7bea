/**
 * `session-store` and its companions: where a cluster of ocserv-ts servers keeps the state
 * they share (docs/CLUSTER.md). Parsed here so that a bad URL is a config error with its
 * line, like every other option, and not a connection failure later.
 */
import { hostname } from 'node:os';

export interface SessionStoreConfig {
  /** redis:// or rediss:// */
  tls: boolean;
  host: string;
  port: number;
  db: number;
  /** from the URL's user part; a password file takes precedence */
  username?: string;
  password?: string;
  passwordFile?: string;
  caCert?: string;
  /** prefix of every key */
  prefix: string;
  /** this server's name in the cluster */
  node: string;
}

const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export interface StoreOptions {
  url: string;
  passwordFile?: string;
  caCert?: string;
  prefix?: string;
  node?: string;
}

/** The parsed settings, or the reason they are wrong (the caller adds file and line). */
export function parseSessionStore(o: StoreOptions): SessionStoreConfig | { error: string; option: string } {
  let u: URL;
  try {
    u = new URL(o.url);
  } catch {
    return { option: 'session-store', error: `${JSON.stringify(o.url)} is not a URL (expected redis://host:port/db)` };
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    return { option: 'session-store', error: `${u.protocol.replace(/:$/, '')} is not a store ocserv-ts knows (use redis:// or rediss://)` };
  }
  if (!u.hostname) return { option: 'session-store', error: 'the URL names no host' };
  const port = u.port ? Number(u.port) : 6379;
  const path = u.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,5}$/.test(path)) return { option: 'session-store', error: `${JSON.stringify(path)} is not a database number` };
  const node = o.node ?? hostname();
  if (!NODE_NAME_RE.test(node)) {
    return { option: 'cluster-node-name', error: `${JSON.stringify(node)} is not a usable node name (letters, digits, '.', '_', '-'; at most 63)` };
  }
  const prefix = o.prefix ?? 'ocserv-ts:';
  if (prefix.length > 64 || /\s/.test(prefix)) return { option: 'session-store-prefix', error: 'the prefix must be at most 64 characters without spaces' };
  if (o.caCert && u.protocol !== 'rediss:') return { option: 'session-store-ca-cert', error: 'a CA certificate needs a rediss:// session-store' };
  return {
    tls: u.protocol === 'rediss:',
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: path === '' ? 0 : Number(path),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(o.passwordFile ? { passwordFile: o.passwordFile } : {}),
    ...(o.caCert ? { caCert: o.caCert } : {}),
    prefix,
    node,
  };
}
