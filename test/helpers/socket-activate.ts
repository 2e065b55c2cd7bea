/**
 * Does for a test what systemd does for ocserv-ts.socket + ocserv-ts.service: opens the
 * listening sockets (TCP listen(), UDP bound, both with SO_REUSEADDR), starts the command
 * with them as fds 3 and 4, LISTEN_FDS=2, LISTEN_FDNAMES and LISTEN_PID set to the pid of
 * the process that receives them (set in a shell that then execs, as systemd sets it after
 * fork), and NOTIFY_SOCKET when given. Then it closes its own copies, forwards SIGTERM and
 * SIGINT, and exits as the command did. Run inside the server's network namespace:
 *
 *   node socket-activate.js HOST TCP_PORT UDP_PORT NOTIFY_SOCKET|- -- command args...
 */
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

process.noDeprecation = true; // Socket._handle, the only way to a dgram socket's fd

async function main(): Promise<void> {
  const sep = process.argv.indexOf('--');
  const [host, tcpPort, udpPort, notify] = process.argv.slice(2, sep);
  const cmd = process.argv.slice(sep + 1);
  if (!host || !tcpPort || !udpPort || !notify || sep < 0 || cmd.length === 0) throw new Error('usage: socket-activate HOST TCP UDP NOTIFY|- -- cmd...');

  const tcp = createServer();
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen({ host, port: Number(tcpPort), backlog: 1024 }, resolve);
  });
  const udp = createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', reuseAddr: true });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind({ address: host, port: Number(udpPort) }, resolve);
  });
  const tcpFd = (tcp as unknown as { _handle: { fd: number } })._handle.fd;
  const udpFd = (udp as unknown as { _handle: { fd: number } })._handle.fd;

  const env: NodeJS.ProcessEnv = { ...process.env, LISTEN_FDS: '2', LISTEN_FDNAMES: 'ocserv-ts.socket:ocserv-ts.socket' };
  delete env.LISTEN_PID;
  if (notify !== '-') env.NOTIFY_SOCKET = notify;
  const child = spawn('/bin/sh', ['-c', 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"', 'sh', ...cmd], {
    stdio: ['ignore', 'inherit', 'inherit', tcpFd, udpFd],
    env,
  });
  // the child has its own copies now; ours would only compete for connections and datagrams
  tcp.close();
  udp.close();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
}

main().catch((err) => {
  process.stderr.write(`socket-activate: ${(err as Error).message}\n`);
  process.exit(1);
});
