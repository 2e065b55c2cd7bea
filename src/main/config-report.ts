/**
 * What `ocserv-ts -t` prints: for a good file, what the server would serve; for a bad one,
 * every problem found, each as file:line: reason.
 */
import type { Config, ConfigError, ConfigWarning } from '../common/config';

/** Errors beyond this many are counted, not listed: a binary file would give thousands. */
const MAX_LISTED = 50;

function authLabel(m: Config['auth'][number]): string {
  return m.raw.trim();
}

/** Addresses the pool hands out: the network, the server's end of the tunnels and the broadcast address are not. */
function poolSize(prefix: number): number {
  return Math.max(0, 2 ** (32 - prefix) - 3);
}

export function configSummary(config: Config, warnings: ConfigWarning[]): string[] {
  const out: string[] = [`${config.file}: configuration OK`];
  const host = config.listenHost ?? 'all addresses';
  const dtls = config.udpPort > 0 ? `UDP ${config.udpPort} (DTLS)` : 'no DTLS (udp-port not set)';
  out.push(`  listen:    TCP ${config.tcpPort}, ${dtls}, on ${host}`);
  out.push(`  auth:      ${config.auth.map(authLabel).join(' + ')}${config.auth.length > 1 ? ' (all must succeed)' : ''}`);
  if (config.enableAuth.length) out.push(`  or else:   ${config.enableAuth.map(authLabel).join(' | ')} (enable-auth: any one suffices)`);
  if (config.acct) out.push(`  accounting: ${authLabel(config.acct)}`);
  if (config.ipv4) {
    out.push(`  pool:      ${config.ipv4.network}/${config.ipv4.prefix} (${poolSize(config.ipv4.prefix)} client addresses), tun devices ${config.device}N`);
  } else {
    out.push(`  pool:      none (no ipv4-network: clients get addresses only from the auth backend)`);
  }
  if (config.ipv6) {
    const { network, prefix, subnetPrefix } = config.ipv6;
    out.push(`  ipv6 pool: ${network}/${prefix}, a /${subnetPrefix} for each client`);
  }
  const routes = config.routes.length
    ? `${config.routes.map((r) => `${r.network}/${r.prefix}`).join(', ')}`
    : 'everything (full tunnel)';
  out.push(`  routes:    ${routes}${config.noRoutes.length ? `; not: ${config.noRoutes.map((r) => `${r.network}/${r.prefix}`).join(', ')}` : ''}`);
  if (config.dns.length) out.push(`  dns:       ${config.dns.join(', ')}`);
  out.push(`  certs:     ${config.serverCert.join(', ')}`);
  out.push(`  workers:   run as ${config.runAsUser}:${config.runAsGroup}, ${config.clientsPerWorker} client(s) each, max-clients ${config.maxClients || 'unlimited'}`);
  const notYet = [...new Set(warnings.filter((w) => w.notYet).map((w) => w.option))];
  if (notYet.length) out.push(`  not acted on yet: ${notYet.join(', ')}`);
  const ignored = [...new Set(warnings.filter((w) => w.reason).map((w) => w.option))];
  if (ignored.length) out.push(`  ignored:   ${ignored.join(', ')} (see the warnings above)`);
  if (config.vhosts?.length) out.push(`  not served: ${config.vhosts.map((v) => `[vhost:${v}]`).join(', ')} (virtual hosts)`);
  return out;
}

/** Every problem of a failed load, one line each. */
export function errorLines(err: ConfigError): string[] {
  const all = [err, ...err.also];
  const lines = all.slice(0, MAX_LISTED).map((e) => e.message);
  if (all.length > MAX_LISTED) lines.push(`... and ${all.length - MAX_LISTED} more errors`);
  return lines;
}
