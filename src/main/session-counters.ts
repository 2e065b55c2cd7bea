/**
 * A session's traffic: the worker's count of the client's packets, held to what the kernel
 * counted on the session's tun.
 *
 * The tun works with offloads (src/native/tun_offload.h): a run of a client's TCP segments
 * goes into it as one packet and what goes to the client comes out in packets of up to
 * 64 kB that the worker cuts. So the kernel counts fewer packets, and fewer bytes (the
 * headers of the merged segments), than the client sent and received; the worker counts
 * each of the client's packets. The worker's figures are taken, but never below the
 * kernel's (a worker cannot hide traffic) and never further above them than the headers of
 * the merged packets could make up (nor inflate it).
 */
import type { SessionStats, WorkerToMain } from '../ipc/messages';
import type { WorkerProc } from './workers';

/** the most header bytes one merged segment can add: IPv4 with options and TCP with options */
const MAX_HEADERS = 60 + 60;
/** the most segments one packet through the tun stands for: 64 coalesced; a 64 kB GSO packet cut at a small MSS */
const MAX_SEGMENTS = 64 * 1024 / 88;

function held(kernelBytes: number, kernelPackets: number, workerBytes: number, workerPackets: number): [number, number] {
  const packets = Math.max(kernelPackets, Math.min(workerPackets, Math.floor(kernelPackets * MAX_SEGMENTS)));
  const bytes = Math.max(kernelBytes, Math.min(workerBytes, kernelBytes + MAX_HEADERS * (packets - kernelPackets)));
  return [bytes, packets];
}

export function sessionTraffic(kernel: SessionStats, worker: SessionStats | undefined): SessionStats;
export function sessionTraffic(kernel: SessionStats | undefined, worker: SessionStats): SessionStats;
export function sessionTraffic(kernel: SessionStats | undefined, worker: SessionStats | undefined): SessionStats | undefined;
export function sessionTraffic(kernel: SessionStats | undefined, worker: SessionStats | undefined): SessionStats | undefined {
  if (!kernel || !worker) return kernel ?? worker;
  const [rxBytes, rxPackets] = held(kernel.rxBytes, kernel.rxPackets, worker.rxBytes, worker.rxPackets);
  const [txBytes, txPackets] = held(kernel.txBytes, kernel.txPackets, worker.txBytes, worker.txPackets);
  return { rxBytes, txBytes, rxPackets, txPackets };
}

type SessionInfo = WorkerToMain['session.info.reply']['sessions'][number];

/** What a worker says of these sessions now ([] when it does not answer within ms). */
export async function askWorker(w: WorkerProc, sessionIds: number[], ms: number): Promise<SessionInfo[]> {
  try {
    const r = await w.channel.request<'session.info', WorkerToMain['session.info.reply']>('session.info', { sessionIds }, undefined, ms);
    return r.body.sessions;
  } catch {
    return [];
  }
}
