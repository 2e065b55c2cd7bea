/**
 * Aggregate throughput: many tunnels carrying iperf3 traffic at once, the load a server with
 * many busy users sees (and, for ocserv-ts with shared workers, several sessions per event
 * loop). Used by bench/all.ts.
 *
 * All tunnels run in the topology's one client namespace, each openconnect with its own tun.
 * The harness's vpnc-script routes the VPN network into the latest tun only, so each iperf3
 * client binds to its tunnel's address and device (SO_BINDTODEVICE): with the route lookup
 * restricted to that device, the kernel sends through it. Each tunnel has its own iperf3
 * server (one port each) in the server namespace, since an iperf3 server runs one test at a time.
 *
 * The 20 clients cannot start at the same instant (on 2 busy cores starting them takes a few
 * hundred ms), and summing each stream's own average would credit the streams that ran
 * partly alone. So the total is taken over a window in which every stream runs: from the
 * moment every one of the server's tuns has carried data until shortly before the first stream
 * can end, as bytes through the server's tuns (what its workers read from or wrote to them) per
 * second; the server's CPU is taken over the same window.
 */
import * as fs from 'node:fs';
import { serverTunAddress, ServerHandle, Topology, VpnSession } from '../test/helpers/netns';
import { sleep, summarize } from './common';
import { treeCpuSeconds } from './cpu';
import {
  Direction,
  IPERF_PORT,
  Mode,
  connectMode,
  iperfClient,
  startIperfServers,
  stopIperfServers,
} from './throughput';

export interface AggregateRun {
  direction: Direction;
  /** iperf3 clients that finished */
  streams: number;
  /** bytes through the server's tuns per second while all streams ran */
  mbps: number;
  /** how long that window was, s */
  windowS: number;
  /** the window began before every tunnel carried data (some stream started too late) */
  partial: boolean;
  /** tun bytes in the window */
  bytes: number;
  /** user + system CPU of all server processes in the window */
  cpuS: number;
  /** for comparison: the sum of the iperf3 receivers' own averages, and the slowest and fastest */
  streamSumMbps: number;
  minMbps: number;
  maxMbps: number;
  errors: string[];
}

/**
 * Bytes the server namespace's tuns have carried in one direction: upload = packets the
 * workers wrote into the tuns (rx), download = packets they read from them (tx). Read from
 * /proc/<pid>/net/dev of a process in that namespace, which shows its devices.
 */
function tunBytes(pid: number, dir: Direction, skip: Set<string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2)) {
    const m = /^\s*([^:\s]+):\s*(.*)$/.exec(line);
    if (!m || skip.has(m[1])) continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    out.set(m[1], dir === 'upload' ? f[0] : f[8]);
  }
  return out;
}

/** more than iperf3's control connection exchanges: the data stream has begun */
const STARTED_BYTES = 64 * 1024;

const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);

export interface AggregateResult {
  mode: Mode;
  /** tunnels that came up */
  tunnels: number;
  runs: AggregateRun[];
  /** set when the server offers no DTLS by design (not a failure) */
  na?: string;
  failures: string[];
}

export interface AggregateOptions {
  tunnels: number;
  mode: Mode;
  seconds: number;
  directions: Direction[];
  log?: (msg: string) => void;
}

/**
 * Connect `tunnels` sessions one by one (in a burst some would time out on a busy 2-core
 * machine, and set-up speed is measured elsewhere), then per direction start one iperf3
 * client per tunnel, all at once, for `seconds`.
 */
export async function measureAggregate(topo: Topology, server: ServerHandle, o: AggregateOptions): Promise<AggregateResult> {
  const r: AggregateResult = { mode: o.mode, tunnels: 0, runs: [], failures: [] };
  const sessions: VpnSession[] = [];
  try {
    for (let i = 0; i < o.tunnels; i++) {
      try {
        const c = await connectMode(topo, server, o.mode, { interfaceName: `ocsa${i}`, timeoutMs: 30_000 });
        if ('na' in c) {
          r.na = c.na;
          return r;
        }
        sessions.push(c.session);
      } catch (err) {
        r.failures.push(`tunnel ${i}: ${summarize(err)}`);
        o.log?.(`aggregate ${o.mode}: tunnel ${i} failed: ${err instanceof Error ? err.message : err}`);
      }
    }
    r.tunnels = sessions.length;
    if (!sessions.length) return r;
    if (o.mode === 'dtls') await sleep(500); // let openconnect's DTLS MTU probing settle
    const targets = await Promise.all(
      sessions.map(async (s, i) => ({
        addr: (await serverTunAddress(topo, s.address)) ?? '198.19.0.1',
        port: IPERF_PORT + i,
        bind: { addr: s.address, dev: s.tundev },
      })),
    );
    const pid = server.proc.pid!;
    const skip = new Set(['lo', topo.serverIf]);
    for (const direction of o.directions) {
      const servers = await startIperfServers(topo, targets);
      try {
        const base = tunBytes(pid, direction, skip);
        const t0 = Date.now();
        const clients = Promise.allSettled(targets.map((t) => iperfClient(topo, { ...t, seconds: o.seconds, dir: direction })));
        // every stream starts after t0 and runs `seconds`, so none ends before t0 + seconds
        const end = t0 + o.seconds * 1000 - Math.min(500, o.seconds * 100);
        // start of the window: once every tun has carried more than iperf3's control
        // exchange, i.e. every stream is under way (a stream that stalls later still counts)
        let prev = base;
        let partial = true;
        while (Date.now() < end - 500) {
          await sleep(100);
          prev = tunBytes(pid, direction, skip);
          const started = [...prev].filter(([dev, b]) => b - (base.get(dev) ?? b) > STARTED_BYTES).length;
          if (started >= targets.length) {
            partial = false;
            break;
          }
        }
        const t1 = Date.now();
        const b1 = total(prev);
        const cpu1 = treeCpuSeconds(pid);
        await sleep(Math.max(0, end - Date.now()));
        const b2 = total(tunBytes(pid, direction, skip));
        const cpu2 = treeCpuSeconds(pid);
        const windowS = (Date.now() - t1) / 1000;
        const results = await clients;
        const ok = results.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
        const run: AggregateRun = {
          direction,
          streams: ok.length,
          mbps: ((b2 - b1) * 8) / windowS / 1e6,
          windowS,
          partial,
          bytes: b2 - b1,
          cpuS: cpu2 - cpu1,
          streamSumMbps: ok.reduce((a, x) => a + x.mbps, 0),
          minMbps: Math.min(...ok.map((x) => x.mbps)),
          maxMbps: Math.max(...ok.map((x) => x.mbps)),
          errors: results.flatMap((x, i) => (x.status === 'rejected' ? [`stream ${i}: ${summarize(x.reason)}`] : [])),
        };
        r.runs.push(run);
        o.log?.(
          `aggregate ${o.mode} ${direction}: ${run.mbps.toFixed(1)} Mbit/s through ${targets.length} tunnels over ${windowS.toFixed(1)} s` +
            `${partial ? ' (NOT all tunnels carried data at the start)' : ''}, server CPU ${run.cpuS.toFixed(2)} s; ` +
            `iperf3: ${run.streams} streams, sum ${run.streamSumMbps.toFixed(1)} Mbit/s (${run.minMbps.toFixed(1)}–${run.maxMbps.toFixed(1)} each)`,
        );
        for (const e of run.errors.slice(0, 3)) o.log?.(`aggregate ${o.mode} ${direction}: ${e}`);
      } finally {
        await stopIperfServers(servers);
      }
    }
  } finally {
    await Promise.all(sessions.map((s) => s.disconnect()));
  }
  return r;
}
