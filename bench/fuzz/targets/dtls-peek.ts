/**
 * main's look at the first datagram of a new UDP peer (src/dtls/peek.ts): anyone on the
 * internet reaches it, before any session exists. It may say "not a ClientHello" (null) or
 * name a session id that lies inside the datagram; nothing else, and never throw.
 */
import fc from 'fast-check';
import { clientHelloSessionId } from '../../../src/dtls/peek';
import { clientHelloDatagram } from '../dtls-gen';
import { mix } from '../gen';
import { check, type FuzzTarget } from '../target';

export function fuzz(input: Buffer): void {
  const sid = clientHelloSessionId(input);
  if (sid === null) return;
  check(Buffer.isBuffer(sid), 'a Buffer or null');
  check(sid.length >= 1 && sid.length <= 32, `session id of ${sid.length} bytes`);
  check(sid.buffer === input.buffer && sid.byteOffset >= input.byteOffset && sid.byteOffset + sid.length <= input.byteOffset + input.length,
    'the session id lies inside the datagram');
}

export const target: FuzzTarget = {
  name: 'dtls-peek',
  surface: 'the first UDP datagram of any peer, read by main to find the session it belongs to',
  sources: ['dtls/peek.js'],
  fuzz,
  inputs: mix(fc.oneof({ arbitrary: clientHelloDatagram, weight: 4 }, { arbitrary: clientHelloDatagram.map((d) => d.subarray(0, 13 + 12 + 40)), weight: 1 }), 1500),
};
