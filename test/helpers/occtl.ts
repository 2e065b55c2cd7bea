/** occtl-ts against a server under test, run in the topology's server namespace. */
import { join } from 'node:path';
import { repoRoot, serverEnv, type ServerHandle, type Topology } from './netns';

export const OCCTL = join(repoRoot(), 'bin', 'occtl-ts');

/** occtl-ts's output for `args` (e.g. '-j', 'show', 'users'), whatever its exit code. */
export async function occtl(topo: Topology, server: ServerHandle, ...args: string[]): Promise<string> {
  const r = await topo.exec(topo.serverNs, process.execPath, [OCCTL, '-s', server.files.occtlSocketPath, ...args], { env: serverEnv() });
  return r.stdout;
}

export type OcctlUser = Record<string, string | number>;

/** `occtl-ts -j show users`, parsed. */
export async function occtlUsers(topo: Topology, server: ServerHandle): Promise<OcctlUser[]> {
  return JSON.parse((await occtl(topo, server, '-j', 'show', 'users')) || '[]') as OcctlUser[];
}
