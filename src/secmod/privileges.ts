/**
 * sec-mod stays root (PAM wants it) but needs no capability beyond reading files it does
 * not own and what PAM modules may use to audit; it drops the rest as soon as it has
 * loaded the keys. The first sec-mod starts before main drops its own, so this is what
 * limits it; a restarted one is limited by main's bounding set as well. capsLimit lowers
 * every thread, so the threadpool that runs sec-mod's async file reads holds no more.
 */
import type { Logger } from '../common/log';
import { capsLimit } from '../native';

export const SECMOD_CAPABILITIES: Record<string, number> = {
  CAP_DAC_READ_SEARCH: 2,
  CAP_AUDIT_WRITE: 29,
};

export function dropSecmodCapabilities(log: Logger): void {
  try {
    capsLimit(Object.values(SECMOD_CAPABILITIES));
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot drop the capabilities sec-mod does not need');
  }
}
