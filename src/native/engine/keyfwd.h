/*
 * ocserv_keyfwd: an OpenSSL engine whose private keys hold only the public half. Every
 * private-key operation a TLS handshake needs is sent to sec-mod over a SEQPACKET socket
 * and the signature it returns is handed back to OpenSSL.
 *
 * Built as its own shared object with Node's OpenSSL headers and deliberately not linked
 * against libcrypto: its OpenSSL calls bind to the copy inside the `node` binary, the one
 * node:tls uses.
 */
#ifndef OCS_KEYFWD_H
#define OCS_KEYFWD_H

#include <stddef.h>
#include <stdint.h>

#define OCS_KF_ENGINE_ID "ocserv_keyfwd"

/* Where a key's operations go: parsed from node:tls's privateKeyIdentifier. */
typedef struct {
  int fd;          /* SEQPACKET socket to sec-mod (the worker keeps this number valid) */
  unsigned key;    /* index of server-key in sec-mod's list */
  int timeout_ms;  /* longest the handshake (and the worker's event loop) waits */
} ocs_kf_target;

/* Reasons, also OpenSSL error reason codes in the engine's error library. */
enum {
  OCS_KF_R_UNAVAILABLE = 100, /* no socket to sec-mod, or it is closed */
  OCS_KF_R_TIMEOUT,           /* sec-mod did not answer in time */
  OCS_KF_R_REFUSED,           /* sec-mod answered with an error */
  OCS_KF_R_BAD_REPLY,         /* the answer could not be read */
  OCS_KF_R_BAD_IDENTIFIER,    /* privateKeyIdentifier is malformed */
  OCS_KF_R_UNSUPPORTED,       /* key type or padding this engine does not forward */
};

/*
 * Sends one operation ("ecdsa", "rsa-pkcs1", "rsa-pss") and waits for the result.
 * Returns its length (at most outcap), or -1 with *reason set.
 */
int ocs_kf_exchange(const ocs_kf_target *t, const char *op, const uint8_t *data, size_t len,
                    uint8_t *out, size_t outcap, int *reason);

#endif
