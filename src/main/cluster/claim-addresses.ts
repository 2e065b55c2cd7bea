/**
 * A session's addresses in a cluster: picked from this server's pools as usual, then claimed
 * in the store. An address another server's session holds stays reserved here while the next
 * one is tried, so the local pick moves on; all such reservations are returned at the end.
 */
import type { EffectiveSession } from '../../common/session-config';
import type { Addresses, LeaseRequest, SessionAddresses } from '../addresses';
import type { LeaseClaims } from './lease-claims';

const TRIES = 16;

export const v6Key = (a: { remote: string; prefix: number }) => `${a.remote}/${a.prefix}`;

export async function leaseClaimed(addrs: Addresses, claims: LeaseClaims, eff: EffectiveSession, req: LeaseRequest, sid: string):
  Promise<SessionAddresses | { reason: string }> {
  const taken: SessionAddresses[] = [];
  try {
    for (let i = 0; i < TRIES; i++) {
      const got = addrs.lease(eff, req);
      if ('reason' in got) return taken.length ? { reason: `${got.reason} (addresses held by other servers of the cluster were skipped)` } : got;
      const v4 = got.v4 ? await claims.claim(got.v4.remote, sid) : { ok: true };
      const v6 = got.v6 && v4.ok ? await claims.claim(v6Key(got.v6), sid) : { ok: true };
      // a tunnel of the same session elsewhere gives way on the 'replace' message (server.ts)
      if (v4.ok && v6.ok) return got;
      if (v4.ok && got.v4) claims.release(got.v4.remote, sid);
      // keep the one another server holds out of this server's next pick; give back the other
      taken.push({ v4: v4.ok ? undefined : got.v4, v6: v4.ok ? got.v6 : undefined });
      addrs.release({ v4: v4.ok ? got.v4 : undefined, v6: v4.ok ? undefined : got.v6 });
    }
    return { reason: 'no free address found in the cluster' };
  } finally {
    for (const t of taken) addrs.release(t);
  }
}
