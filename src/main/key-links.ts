import { closeFd, seqpacketPair } from '../native';
import type { SecmodProcess } from './secmod-proc';
import type { WorkerProc } from './workers';

/**
 * Gives a worker's TLS key engine its own channel to sec-mod (src/ipc/key-messages.ts):
 * at the worker's start, and again for every worker when sec-mod has been restarted. A
 * socketpair made here, so sec-mod needs no listening socket and answers only workers
 * main started.
 */
export function linkKeys(secmod: SecmodProcess, w: WorkerProc): void {
  const [secmodEnd, workerEnd] = seqpacketPair();
  secmod.channel?.send('key.attach', { workerId: w.id }, [secmodEnd]);
  w.channel.send('key.attach', {}, [workerEnd]);
  closeFd(secmodEnd);
  closeFd(workerEnd);
}
