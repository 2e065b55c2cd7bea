import { routeText, type Config } from '../common/config';
import { portPolicyText } from '../common/port-policy';
import type { EffectiveSession } from '../common/session-config';
import type { UserInfo } from '../ipc/control';
import type { SessionStats, WorkerToMain } from '../ipc/messages';
import type { MainSession } from './sessions';

export type WorkerSessionInfo = WorkerToMain['session.info.reply']['sessions'][number];

/**
 * What a session was given when it opened. Kept per session because a reload changes the
 * configuration for new sessions only.
 */
export interface SessionSnapshot extends Pick<UserInfo,
  'dns' | 'nbns' | 'splitDns' | 'routes' | 'noRoutes' | 'iroutes' | 'restrictToRoutes' | 'restrictToPorts' | 'dpd' | 'keepalive' | 'mtu'> {
  /** the worker's last answer, for when it cannot answer now */
  info?: WorkerSessionInfo;
  /** the best traffic figures seen so far */
  stats: SessionStats;
}

const route = routeText;

/** `given`: the session's own settings (per-user/group files, auth backend), else the configuration's */
export function snapshotOf(c: Config, mtu: number | undefined, given?: EffectiveSession): SessionSnapshot {
  const g = given ?? { dns: c.dns, nbns: c.nbns, splitDns: c.splitDns, routes: c.routes, noRoutes: c.noRoutes, iroutes: [], restrictToRoutes: c.restrictToRoutes, restrictToPorts: c.restrictToPorts, dpd: c.dpd, keepalive: c.keepalive };
  return {
    dns: [...g.dns],
    nbns: [...g.nbns],
    splitDns: [...g.splitDns],
    routes: g.routes.map(route),
    noRoutes: g.noRoutes.map(route),
    iroutes: g.iroutes.map(route),
    restrictToRoutes: g.restrictToRoutes,
    restrictToPorts: portPolicyText(g.restrictToPorts),
    dpd: g.dpd,
    keepalive: g.keepalive,
    mtu: mtu ?? c.mtu ?? 0,
    stats: { rxBytes: 0, txBytes: 0, rxPackets: 0, txPackets: 0 },
  };
}

/** Counters only grow; whichever source saw more is the closer to the truth. */
export function maxStats(a: SessionStats, b?: SessionStats): SessionStats {
  if (!b) return a;
  return {
    rxBytes: Math.max(a.rxBytes, b.rxBytes),
    txBytes: Math.max(a.txBytes, b.txBytes),
    rxPackets: Math.max(a.rxPackets, b.rxPackets),
    txPackets: Math.max(a.txPackets, b.txPackets),
  };
}

export function userInfo(s: MainSession, snap: SessionSnapshot, workerPid: number, listenHost?: string): UserInfo {
  const info = snap.info;
  return {
    id: s.sessionId,
    workerPid,
    username: s.username,
    groupname: s.groupname,
    state: 'connected',
    vhost: 'default',
    device: s.tunName,
    mtu: snap.mtu,
    remoteIp: s.remoteAddr,
    localDeviceIp: info?.localAddr || listenHost || '',
    ipv4: s.lease?.remote ?? '',
    ptpIpv4: s.lease?.local ?? '',
    ipv6: s.lease6?.remote ?? '',
    ptpIpv6: s.lease6?.local ?? '',
    userAgent: info?.userAgent ?? '',
    // a per-user `hostname` replaced the client's own
    hostname: s.client.hostname || info?.hostname || '',
    rxBytes: snap.stats.rxBytes,
    txBytes: snap.stats.txBytes,
    dpd: snap.dpd,
    keepalive: snap.keepalive,
    connectedAt: s.startedAt,
    sid: s.sid,
    tlsCipher: info?.tlsCipher ?? '',
    dtlsCipher: s.dtlsCipher ?? '',
    dns: snap.dns,
    nbns: snap.nbns,
    splitDns: snap.splitDns,
    routes: snap.routes,
    noRoutes: snap.noRoutes,
    iroutes: snap.iroutes,
    restrictToRoutes: snap.restrictToRoutes,
    restrictToPorts: snap.restrictToPorts,
  };
}
