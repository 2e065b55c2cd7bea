/**
 * The key channel: the OpenSSL engine inside a worker (src/native/engine) asks sec-mod for
 * the private-key operation of a TLS handshake. One channel per worker, made by main, so
 * sec-mod only ever answers workers main started. The engine encodes these by hand in C
 * (keyfwd_wire.c): change both together.
 */
import { bytes, obj, oneOf, uint, type Infer } from './validate';

/** ecdsa: a digest; rsa-pkcs1: a DigestInfo; rsa-pss: an EMSA-PSS encoded, modulus-sized block. */
export const KEY_OPS = ['ecdsa', 'rsa-pkcs1', 'rsa-pss'] as const;
export type KeyOp = (typeof KEY_OPS)[number];

/** Largest input: the block of an RSA-8192 key. */
export const MAX_KEY_INPUT = 1024;

export const keyToSecmod = {
  'key.sign': obj({ key: uint(255), op: oneOf(...KEY_OPS), data: bytes(MAX_KEY_INPUT) }),
};
export type KeyToSecmod = { [K in keyof typeof keyToSecmod]: Infer<(typeof keyToSecmod)[K]> };

export interface SecmodToKey {
  'key.signed': { sig: Buffer };
  'key.error': { reason: string };
}
