/**
 * The occtl control protocol: what occtl-ts asks main over the control socket, and what
 * main answers. It rides the same msgpack envelopes and Channel as the other process pairs.
 *
 * occtl-ts is less trusted than the server's own processes (any local process that got
 * past the socket's permissions can speak it), so everything it sends is described by
 * validators and a bad message closes that control connection only.
 */
import { bool, obj, optional, str, uint, type Infer } from './validate';

/** Where occtl-ts and main meet unless ocserv.conf says otherwise (`occtl-socket-file`). */
export const DEFAULT_OCCTL_SOCKET = '/run/ocserv-ts-occtl.socket';

/** Lists are sent in parts below this many bytes of JSON, so no message nears MAX_MESSAGE. */
export const LIST_PART_BYTES = 24 * 1024;

// ---------- occtl-ts -> main (untrusted) ----------

const none = obj({});
const name = obj({ name: str(256) });
const id = obj({ id: uint(0xffffffff) });
const sid = obj({ sid: str(64) });

export const ctlToMain = {
  'ctl.status': none,
  /** cluster: the users of every server of the cluster (occtl-ts show cluster users) */
  'ctl.users': obj({ cluster: optional(bool) }),
  'ctl.user': name,
  'ctl.id': id,
  'ctl.sessions': obj({ all: bool }),
  'ctl.session': sid,
  'ctl.bans': none,
  'ctl.unban': obj({ ip: str(64) }),
  'ctl.disconnect.user': name,
  'ctl.disconnect.id': id,
  'ctl.terminate.session': sid,
  'ctl.reload': none,
  'ctl.stop': none,
  /** Answered with the current users; then main sends a `ctl.event` per connect and disconnect. */
  'ctl.events': none,
};
export type CtlToMain = { [K in keyof typeof ctlToMain]: Infer<(typeof ctlToMain)[K]> };

// ---------- what main reports ----------

/** One connected user, with the facts ocserv's occtl prints for it. Times are epoch ms. */
export interface UserInfo {
  /** in a cluster: the server the user is connected through (cluster-node-name) */
  node?: string;
  id: number;
  workerPid: number;
  username: string;
  groupname: string;
  state: string;
  vhost: string;
  device: string;
  mtu: number;
  remoteIp: string;
  localDeviceIp: string;
  /** the client's VPN address and the server's end of the tun */
  ipv4: string;
  ptpIpv4: string;
  /** the same for IPv6 (the client's address without its length); empty or absent without IPv6 */
  ipv6?: string;
  ptpIpv6?: string;
  userAgent: string;
  hostname: string;
  rxBytes: number;
  txBytes: number;
  dpd: number;
  keepalive: number;
  connectedAt: number;
  sid: string;
  tlsCipher: string;
  dtlsCipher: string;
  dns: string[];
  nbns: string[];
  splitDns: string[];
  /** `network/netmask`; empty means the tunnel carries all traffic */
  routes: string[];
  noRoutes: string[];
  iroutes: string[];
  restrictToRoutes: boolean;
  restrictToPorts: string[];
}

/** A session (cookie) as sec-mod knows it, including logins still in progress. */
export interface SecmodSessionInfo {
  sid: string;
  username: string;
  groupname: string;
  userAgent: string;
  remoteAddr: string;
  createdAt: number;
  /** 0 while a tunnel uses it (it does not expire then) */
  expiresAt: number;
  state: 'authenticated' | 'authenticating' | 'auth failed';
  inUse: boolean;
  activated: boolean;
}

export interface BanInfo {
  ip: string;
  score: number;
  /** epoch ms; set only while the address is banned */
  expiresAt?: number;
}

export interface StatusInfo {
  pid: number;
  secmodPid: number;
  startedAt: number;
  lastReset: number;
  activeSessions: number;
  totalSessions: number;
  sessionsHandled: number;
  timedOut: number;
  idleTimedOut: number;
  closedByError: number;
  totalAuthFailures: number;
  authFailures: number;
  bannedIps: number;
  secmodEntries: number;
  /** seconds */
  avgAuthTime: number;
  maxAuthTime: number;
  avgSessionTime: number;
  maxSessionTime: number;
  minMtu: number;
  maxMtu: number;
  rxBytes: number;
  txBytes: number;
  workers: number;
  clientsPerWorker: number;
}

export interface CtlEvent { connected: boolean; user: UserInfo; reason?: string }

// ---------- main -> occtl-ts (trusted by the CLI) ----------

export interface MainToCtl {
  'ctl.status.reply': StatusInfo;
  /** A part of a long list; the reply that ends the request carries the last part. */
  'ctl.part': { items: unknown[] };
  'ctl.list': { items: unknown[] };
  'ctl.result': { ok: boolean; message?: string };
  'ctl.event': CtlEvent;
  /** Sent instead of any answer to a peer that may not use the socket; main then closes it. */
  'ctl.refused': { message: string };
}
