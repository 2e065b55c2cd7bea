/*
 * The engine proper: loads "keys" that are only public keys tagged with where their
 * private half lives, and EC / RSA methods whose private operations go to sec-mod.
 *
 * The legacy EC_KEY_METHOD / RSA_METHOD / ENGINE interfaces are the only way OpenSSL 3.0
 * lets node:tls (privateKeyEngine) use a key it cannot see; they are deprecated, not gone.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "keyfwd.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

static int err_lib = 0;
static int ex_ec = -1;
static int ex_rsa = -1;
static EC_KEY_METHOD *ec_method = NULL;
static RSA_METHOD *rsa_method = NULL;

static ERR_STRING_DATA reason_strings[] = {
  {0, "ocserv-ts key forwarding"},
  {OCS_KF_R_UNAVAILABLE, "sec-mod unavailable for the private-key operation"},
  {OCS_KF_R_TIMEOUT, "sec-mod did not answer the private-key operation in time"},
  {OCS_KF_R_REFUSED, "sec-mod refused the private-key operation"},
  {OCS_KF_R_BAD_REPLY, "unreadable answer from sec-mod"},
  {OCS_KF_R_BAD_IDENTIFIER, "malformed key identifier"},
  {OCS_KF_R_UNSUPPORTED, "operation not forwarded by this engine"},
  {0, NULL},
};

/* a macro, so the error names the method that failed rather than a helper */
#define raise_reason(reason) \
  do { \
    ERR_new(); \
    ERR_set_debug(OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC); \
    ERR_set_error(err_lib, (reason), NULL); \
  } while (0)

static void free_target(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
  free(ptr);
}

/* ---------- identifier: "fd=N;key=I;timeout=MS;spki=HEX" ---------- */

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static int parse_uint(const char *s, size_t n, long max, long *out) {
  long v = 0;
  if (n == 0 || n > 9) return 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return 0;
    v = v * 10 + (s[i] - '0');
  }
  if (v > max) return 0;
  *out = v;
  return 1;
}

/* Fills t and returns the DER public key (caller frees), or NULL. */
static uint8_t *parse_identifier(const char *id, ocs_kf_target *t, size_t *der_len) {
  long fd = -1, key = -1, timeout = 2000;
  uint8_t *der = NULL;
  const char *p = id;
  *der_len = 0;
  while (*p) {
    const char *end = strchr(p, ';');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    if (!eq) goto bad;
    size_t klen = (size_t)(eq - p);
    const char *v = eq + 1;
    size_t vlen = n - klen - 1;
    if (klen == 2 && !memcmp(p, "fd", 2)) { if (!parse_uint(v, vlen, 65535, &fd)) goto bad; }
    else if (klen == 3 && !memcmp(p, "key", 3)) { if (!parse_uint(v, vlen, 255, &key)) goto bad; }
    else if (klen == 7 && !memcmp(p, "timeout", 7)) { if (!parse_uint(v, vlen, 60000, &timeout)) goto bad; }
    else if (klen == 4 && !memcmp(p, "spki", 4)) {
      if (vlen == 0 || vlen % 2 || der) goto bad;
      der = malloc(vlen / 2);
      if (!der) goto bad;
      for (size_t i = 0; i < vlen / 2; i++) {
        int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
        if (hi < 0 || lo < 0) goto bad;
        der[i] = (uint8_t)(hi << 4 | lo);
      }
      *der_len = vlen / 2;
    } else goto bad;
    p += n;
    if (*p == ';') p++;
  }
  if (fd < 0 || key < 0 || !der) goto bad;
  t->fd = (int)fd;
  t->key = (unsigned)key;
  t->timeout_ms = (int)timeout;
  return der;
bad:
  free(der);
  return NULL;
}

/* ---------- ECDSA ---------- */

static int ec_sign(int type, const unsigned char *dgst, int dlen, unsigned char *sig, unsigned int *siglen,
                   const BIGNUM *kinv, const BIGNUM *r, EC_KEY *eckey) {
  const ocs_kf_target *t = EC_KEY_get_ex_data(eckey, ex_ec);
  int reason = OCS_KF_R_UNSUPPORTED;
  int n = t ? ocs_kf_exchange(t, "ecdsa", dgst, (size_t)dlen, sig, (size_t)ECDSA_size(eckey), &reason) : -1;
  if (n < 0) { raise_reason(reason); return 0; }
  *siglen = (unsigned int)n;
  return 1;
}

static ECDSA_SIG *ec_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv, const BIGNUM *r,
                              EC_KEY *eckey) {
  unsigned char der[256];
  unsigned int len = 0;
  if ((size_t)ECDSA_size(eckey) > sizeof der) return NULL;
  if (!ec_sign(0, dgst, dlen, der, &len, kinv, r, eckey)) return NULL;
  const unsigned char *p = der;
  return d2i_ECDSA_SIG(NULL, &p, (long)len);
}

static int ec_sign_setup(EC_KEY *eckey, BN_CTX *ctx, BIGNUM **kinv, BIGNUM **r) {
  raise_reason(OCS_KF_R_UNSUPPORTED);
  return 0;
}

/* ---------- RSA ---------- */

/*
 * OpenSSL pads before it calls here: PKCS#1 v1.5 signatures arrive as the DigestInfo with
 * RSA_PKCS1_PADDING, PSS signatures as the encoded block with RSA_NO_PADDING. Both go to
 * sec-mod as they are, so it can check their form before it exponentiates (a raw private
 * operation on anything else would be a decryption oracle).
 */
static int rsa_priv_enc(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding) {
  const ocs_kf_target *t = RSA_get_ex_data(rsa, ex_rsa);
  const char *op = padding == RSA_PKCS1_PADDING ? "rsa-pkcs1" : padding == RSA_NO_PADDING ? "rsa-pss" : NULL;
  int reason = OCS_KF_R_UNSUPPORTED;
  int n = t && op ? ocs_kf_exchange(t, op, from, (size_t)flen, to, (size_t)RSA_size(rsa), &reason) : -1;
  if (n < 0 || n != RSA_size(rsa)) {
    raise_reason(n < 0 ? reason : OCS_KF_R_BAD_REPLY);
    return -1;
  }
  return n;
}

/* Static-RSA key exchange would need this; the cipher list excludes it (kRSA). */
static int rsa_priv_dec(int flen, const unsigned char *from, unsigned char *to, RSA *rsa, int padding) {
  raise_reason(OCS_KF_R_UNSUPPORTED);
  return -1;
}

/* ---------- key loading ---------- */

static EVP_PKEY *wrap_ec(ENGINE *e, EVP_PKEY *pub, ocs_kf_target *t) {
  const EC_KEY *src = EVP_PKEY_get0_EC_KEY(pub);
  EC_KEY *ec = src ? EC_KEY_new_method(e) : NULL;
  EVP_PKEY *pk = NULL;
  if (!ec || !EC_KEY_set_group(ec, EC_KEY_get0_group(src)) ||
      !EC_KEY_set_public_key(ec, EC_KEY_get0_public_key(src)) || !EC_KEY_set_ex_data(ec, ex_ec, t))
    goto fail;
  t = NULL; /* owned by ec now */
  pk = EVP_PKEY_new();
  if (!pk || !EVP_PKEY_assign_EC_KEY(pk, ec)) goto fail;
  return pk;
fail:
  EVP_PKEY_free(pk);
  EC_KEY_free(ec);
  free(t);
  return NULL;
}

static EVP_PKEY *wrap_rsa(ENGINE *e, EVP_PKEY *pub, ocs_kf_target *t) {
  const RSA *src = EVP_PKEY_get0_RSA(pub);
  RSA *rsa = src ? RSA_new_method(e) : NULL;
  EVP_PKEY *pk = NULL;
  BIGNUM *n = NULL, *ex = NULL;
  if (!rsa) goto fail;
  n = BN_dup(RSA_get0_n(src));
  ex = BN_dup(RSA_get0_e(src));
  if (!n || !ex || !RSA_set0_key(rsa, n, ex, NULL)) goto fail;
  n = ex = NULL;
  if (!RSA_set_ex_data(rsa, ex_rsa, t)) goto fail;
  t = NULL;
  pk = EVP_PKEY_new();
  if (!pk || !EVP_PKEY_assign_RSA(pk, rsa)) goto fail;
  return pk;
fail:
  BN_free(n);
  BN_free(ex);
  EVP_PKEY_free(pk);
  RSA_free(rsa);
  free(t);
  return NULL;
}

static EVP_PKEY *load_key(ENGINE *e, const char *key_id, UI_METHOD *ui, void *cb_data) {
  size_t der_len = 0;
  ocs_kf_target *t = malloc(sizeof *t);
  uint8_t *der = t ? parse_identifier(key_id ? key_id : "", t, &der_len) : NULL;
  EVP_PKEY *pub = NULL, *pk = NULL;
  if (!der) {
    free(t);
    raise_reason(OCS_KF_R_BAD_IDENTIFIER);
    return NULL;
  }
  const unsigned char *p = der;
  pub = d2i_PUBKEY(NULL, &p, (long)der_len);
  free(der);
  if (!pub) { free(t); raise_reason(OCS_KF_R_BAD_IDENTIFIER); return NULL; }
  switch (EVP_PKEY_get_base_id(pub)) {
    case EVP_PKEY_EC: pk = wrap_ec(e, pub, t); break;
    case EVP_PKEY_RSA: pk = wrap_rsa(e, pub, t); break;
    default: free(t); raise_reason(OCS_KF_R_UNSUPPORTED); break;
  }
  EVP_PKEY_free(pub);
  return pk;
}

/* ---------- binding ---------- */

static int make_methods(void) {
  if (!ec_method) {
    ec_method = EC_KEY_METHOD_new(EC_KEY_OpenSSL());
    if (!ec_method) return 0;
    EC_KEY_METHOD_set_sign(ec_method, ec_sign, ec_sign_setup, ec_sign_sig);
  }
  if (!rsa_method) {
    rsa_method = RSA_meth_dup(RSA_PKCS1_OpenSSL());
    if (!rsa_method) return 0;
    RSA_meth_set1_name(rsa_method, "ocserv-ts forwarded RSA");
    RSA_meth_set_priv_enc(rsa_method, rsa_priv_enc);
    RSA_meth_set_priv_dec(rsa_method, rsa_priv_dec);
  }
  if (ex_ec < 0) ex_ec = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_EC_KEY, 0, NULL, NULL, NULL, free_target);
  if (ex_rsa < 0) ex_rsa = CRYPTO_get_ex_new_index(CRYPTO_EX_INDEX_RSA, 0, NULL, NULL, NULL, free_target);
  if (ex_ec < 0 || ex_rsa < 0) return 0;
  if (!err_lib) {
    err_lib = ERR_get_next_error_library();
    for (ERR_STRING_DATA *s = reason_strings; s->string; s++) s->error = ERR_PACK(err_lib, 0, s->error);
    ERR_load_strings(err_lib, reason_strings);
  }
  return 1;
}

static int bind_keyfwd(ENGINE *e, const char *id) {
  if (id && strcmp(id, OCS_KF_ENGINE_ID) != 0) return 0;
  if (!make_methods()) return 0;
  return ENGINE_set_id(e, OCS_KF_ENGINE_ID) && ENGINE_set_name(e, "ocserv-ts: private keys held by sec-mod") &&
         ENGINE_set_load_privkey_function(e, load_key) && ENGINE_set_EC(e, ec_method) &&
         ENGINE_set_RSA(e, rsa_method);
}

/*
 * What IMPLEMENT_DYNAMIC_CHECK_FN / IMPLEMENT_DYNAMIC_BIND_FN expand to, written out so
 * the two entry points stay visible under node-gyp's -fvisibility=hidden. This object
 * shares the process's libcrypto, so there are no memory callbacks to adopt.
 */
EXPORT unsigned long v_check(unsigned long v) {
  return v >= OSSL_DYNAMIC_OLDEST ? OSSL_DYNAMIC_VERSION : 0;
}

EXPORT int bind_engine(ENGINE *e, const char *id, const dynamic_fns *fns) {
  return bind_keyfwd(e, id);
}
