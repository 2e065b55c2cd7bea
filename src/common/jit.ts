/**
 * Imported first by each process's entry point, so the flag holds before anything else is
 * compiled. A login and a tunnel set-up run hundreds of functions once each; V8 runs such
 * code in its interpreter until it has been called often, which a path taken once per
 * client never is. --always-sparkplug compiles every function to baseline machine code on
 * its first call instead (a quick, non-optimising compile; hot code is still optimised as
 * before). Measured over 20 openconnect logins, from its TCP connect to "Configured as":
 * median 15.0 → 13.4 ms, nothing else changed.
 */
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--always-sparkplug');
