/**
 * listen-netns, as ocserv: the TCP and UDP sockets clients reach (and the UDP socket main
 * makes for each DTLS client) are created inside the named network namespace, while main,
 * sec-mod, the workers and every tun device stay in the namespace the server started in.
 * A socket keeps the namespace it was made in, so the rest of the code serves it unchanged.
 */
import { join } from 'node:path';
import { netnsListen, netnsOpen } from '../native';

/** where `ip netns add NAME` puts the namespace (ocserv's path too) */
export const NETNS_DIR = '/var/run/netns';

export class ListenNetnsError extends Error {
  override name = 'ListenNetnsError';
}

export class ListenNamespace {
  private constructor(readonly name: string, readonly handle: number) {}

  /**
   * Opens the namespace; must run while main may still enter namespaces (before it drops
   * its capabilities). Throws a ListenNetnsError that says what is wrong.
   */
  static open(name: string): ListenNamespace {
    const path = join(NETNS_DIR, name);
    try {
      return new ListenNamespace(name, netnsOpen(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? `there is no network namespace '${name}' (${path} does not exist; \`ip netns add ${name}\` makes one)`
        : code === 'EINVAL' ? `${path} is not a network namespace`
          : code === 'EPERM' ? `not allowed to enter the network namespace ${path} (main needs CAP_SYS_ADMIN at start)`
            : `cannot use the network namespace ${path}: ${(err as Error).message}`;
      throw new ListenNetnsError(`listen-netns: ${why}`);
    }
  }

  /**
   * A listening TCP socket of the namespace for `host` (all addresses when undefined: IPv6
   * and IPv4 on '::', or IPv4 alone where the namespace has no IPv6).
   */
  tcp(host: string | undefined, port: number): number {
    if (host !== undefined) return netnsListen(this.handle, host, port, 'tcp');
    try {
      return netnsListen(this.handle, '::', port, 'tcp');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
      return netnsListen(this.handle, '0.0.0.0', port, 'tcp');
    }
  }

  /** A bound UDP socket of the namespace (all IPv4 addresses when `host` is undefined, as without listen-netns). */
  udp(host: string | undefined, port: number): number {
    return netnsListen(this.handle, host ?? '0.0.0.0', port, 'udp');
  }
}
