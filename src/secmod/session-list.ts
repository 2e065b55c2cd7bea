import type { SecmodSessionInfo } from '../ipc/control';
import type { PendingInfo } from './login';
import type { CookieSession } from './sessions';

/**
 * What `occtl show sessions` lists: every issued cookie, then the logins still in progress
 * (as ocserv's sec-mod does), oldest first. Cookies themselves never leave sec-mod.
 */
export function sessionList(cookies: CookieSession[], pending: PendingInfo[]): SecmodSessionInfo[] {
  const out: SecmodSessionInfo[] = cookies.map((c) => ({
    sid: c.sid,
    username: c.username,
    groupname: c.groupname,
    userAgent: c.userAgent,
    remoteAddr: c.remoteAddr,
    createdAt: c.createdAt,
    expiresAt: c.inUse ? 0 : c.expiresAt,
    state: 'authenticated',
    inUse: c.inUse,
    activated: c.activated,
  }));
  for (const p of pending) {
    out.push({
      sid: p.sid,
      username: p.username,
      groupname: '',
      userAgent: p.userAgent,
      remoteAddr: p.remoteAddr,
      createdAt: p.createdAt,
      expiresAt: 0,
      state: p.failures > 0 ? 'auth failed' : 'authenticating',
      inUse: false,
      activated: false,
    });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt);
}
