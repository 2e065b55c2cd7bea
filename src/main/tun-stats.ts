import { readFileSync } from 'node:fs';
import type { SessionStats } from '../ipc/messages';

const DEV_RE = /^[A-Za-z0-9_.-]{1,15}$/;

function read(dev: string, file: string): number | undefined {
  if (!DEV_RE.test(dev)) return undefined;
  try {
    const n = Number(readFileSync(`/sys/class/net/${dev}/${file}`, 'utf8').trim());
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A session's traffic as the kernel counts it on its tun (what ocserv's occtl reads over
 * netlink): rx is what the client sent, tx what it was sent, over CSTP and DTLS alike. Read
 * by main itself, so the figures need no trust in the worker and are current to the packet.
 */
export function tunCounters(dev: string): SessionStats | undefined {
  const rxBytes = read(dev, 'statistics/rx_bytes');
  const txBytes = read(dev, 'statistics/tx_bytes');
  if (rxBytes === undefined || txBytes === undefined) return undefined;
  return { rxBytes, txBytes, rxPackets: read(dev, 'statistics/rx_packets') ?? 0, txPackets: read(dev, 'statistics/tx_packets') ?? 0 };
}

export function tunMtu(dev: string): number | undefined {
  return read(dev, 'mtu');
}
