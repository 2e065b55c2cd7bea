/**
 * The fd number through which the TLS key engine reaches sec-mod. Key identifiers carry
 * this number and live as long as the SecureContext, so it never changes: a channel to a
 * restarted sec-mod is moved onto it. Until the first one arrives it holds /dev/null, on
 * which the engine's send fails cleanly ("sec-mod unavailable") and which can never be a
 * client's socket by accident.
 */
import { openSync } from 'node:fs';
import { moveFd } from '../native';

export class KeySlot {
  readonly fd = openSync('/dev/null', 'r');

  /** Takes fd over: afterwards it is closed and the slot refers to its socket. */
  attach(fd: number): void {
    moveFd(fd, this.fd);
  }
}
