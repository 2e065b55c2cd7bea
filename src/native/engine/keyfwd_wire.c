/*
 * The engine's half of the worker <-> sec-mod key channel: the same msgpack envelope as
 * every other ocserv-ts IPC message ([type, id, re, body], src/ipc/codec.ts), but only
 * the one request and two replies this side needs, encoded and decoded by hand.
 *
 *   request  ["key.sign",   id, 0,  {"key": k, "op": op, "data": bin}]
 *   replies  ["key.signed", 0,  id, {"sig": bin}]
 *            ["key.error",  0,  id, {"reason": str}]
 */
#include "keyfwd.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_REPLY 4096

static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t next_id = 1;

/* ---------- encoding ---------- */

typedef struct { uint8_t *p; size_t len, cap; } wbuf;

static int put(wbuf *b, const void *src, size_t n) {
  if (b->len + n > b->cap) return 0;
  memcpy(b->p + b->len, src, n);
  b->len += n;
  return 1;
}

static int put_u8(wbuf *b, uint8_t v) { return put(b, &v, 1); }

static int put_str(wbuf *b, const char *s) {
  size_t n = strlen(s);
  if (n > 31) return 0; /* fixstr is all this side ever writes */
  return put_u8(b, 0xa0 | (uint8_t)n) && put(b, s, n);
}

static int put_u32(wbuf *b, uint32_t v) {
  uint8_t x[5] = {0xce, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
  return put(b, x, 5);
}

static int put_bin(wbuf *b, const uint8_t *data, size_t n) {
  if (n > 0xffff) return 0;
  uint8_t h[3] = {0xc5, (uint8_t)(n >> 8), (uint8_t)n};
  return put(b, h, 3) && put(b, data, n);
}

static size_t encode_request(uint8_t *out, size_t cap, uint32_t id, unsigned key, const char *op,
                             const uint8_t *data, size_t len) {
  wbuf b = {out, 0, cap};
  int ok = put_u8(&b, 0x94) && put_str(&b, "key.sign") && put_u32(&b, id) && put_u8(&b, 0) &&
           put_u8(&b, 0x83) && put_str(&b, "key") && put_u32(&b, key) &&
           put_str(&b, "op") && put_str(&b, op) && put_str(&b, "data") && put_bin(&b, data, len);
  return ok ? b.len : 0;
}

/* ---------- decoding ---------- */

typedef struct { const uint8_t *p, *end; } rbuf;

static int get_u8(rbuf *r, uint8_t *v) {
  if (r->p >= r->end) return 0;
  *v = *r->p++;
  return 1;
}

static int get_be(rbuf *r, size_t n, uint64_t *v) {
  if ((size_t)(r->end - r->p) < n) return 0;
  *v = 0;
  for (size_t i = 0; i < n; i++) *v = (*v << 8) | *r->p++;
  return 1;
}

static int get_uint(rbuf *r, uint64_t *v) {
  uint8_t t;
  if (!get_u8(r, &t)) return 0;
  if (t <= 0x7f) { *v = t; return 1; }
  switch (t) {
    case 0xcc: return get_be(r, 1, v);
    case 0xcd: return get_be(r, 2, v);
    case 0xce: return get_be(r, 4, v);
    case 0xcf: return get_be(r, 8, v);
    default: return 0;
  }
}

/* str or bin: a pointer into the buffer and its length */
static int get_bytes(rbuf *r, const uint8_t **s, size_t *n) {
  uint8_t t;
  uint64_t len;
  if (!get_u8(r, &t)) return 0;
  if ((t & 0xe0) == 0xa0) len = t & 0x1f;
  else if (t == 0xd9 || t == 0xc4) { if (!get_be(r, 1, &len)) return 0; }
  else if (t == 0xda || t == 0xc5) { if (!get_be(r, 2, &len)) return 0; }
  else if (t == 0xdb || t == 0xc6) { if (!get_be(r, 4, &len)) return 0; }
  else return 0;
  if ((uint64_t)(r->end - r->p) < len) return 0;
  *s = r->p;
  *n = (size_t)len;
  r->p += len;
  return 1;
}

static int key_is(const uint8_t *s, size_t n, const char *want) {
  return n == strlen(want) && memcmp(s, want, n) == 0;
}

static int skip(rbuf *r, int depth);

static int skip_n(rbuf *r, uint64_t n, int depth) {
  for (uint64_t i = 0; i < n; i++) if (!skip(r, depth)) return 0;
  return 1;
}

/* Skips one value of any type sec-mod might add; nesting is bounded. */
static int skip(rbuf *r, int depth) {
  uint8_t t;
  uint64_t n;
  const uint8_t *s;
  if (depth > 8 || r->p >= r->end) return 0;
  t = *r->p;
  if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) { r->p++; return 1; }
  if ((t & 0xe0) == 0xa0 || t == 0xd9 || t == 0xda || t == 0xdb || t == 0xc4 || t == 0xc5 || t == 0xc6)
    return get_bytes(r, &s, &n);
  r->p++;
  switch (t) {
    case 0xcc: case 0xd0: return get_be(r, 1, &n);
    case 0xcd: case 0xd1: return get_be(r, 2, &n);
    case 0xce: case 0xd2: case 0xca: return get_be(r, 4, &n);
    case 0xcf: case 0xd3: case 0xcb: return get_be(r, 8, &n);
    case 0xdc: return get_be(r, 2, &n) && skip_n(r, n, depth + 1);
    case 0xdd: return get_be(r, 4, &n) && skip_n(r, n, depth + 1);
    case 0xde: return get_be(r, 2, &n) && skip_n(r, 2 * n, depth + 1);
    case 0xdf: return get_be(r, 4, &n) && skip_n(r, 2 * n, depth + 1);
    default:
      if ((t & 0xf0) == 0x90) return skip_n(r, t & 0x0f, depth + 1);
      if ((t & 0xf0) == 0x80) return skip_n(r, 2 * (uint64_t)(t & 0x0f), depth + 1);
      return 0;
  }
}

static int get_map_len(rbuf *r, uint64_t *n) {
  uint8_t t;
  if (!get_u8(r, &t)) return 0;
  if ((t & 0xf0) == 0x80) { *n = t & 0x0f; return 1; }
  if (t == 0xde) return get_be(r, 2, n);
  if (t == 0xdf) return get_be(r, 4, n);
  return 0;
}

/*
 * 1: the reply to `id`, signature copied to out; 0: some other (stale) message;
 * -1 with *reason: a refusal or an unreadable message.
 */
static int decode_reply(const uint8_t *msg, size_t len, uint32_t id, uint8_t *out, size_t outcap,
                        size_t *outlen, int *reason) {
  rbuf r = {msg, msg + len};
  uint8_t t;
  const uint8_t *type, *s;
  size_t type_len, n;
  uint64_t rid, re, entries;
  int have_sig = 0;
  *reason = OCS_KF_R_BAD_REPLY;
  if (!get_u8(&r, &t) || t != 0x94) return -1;
  if (!get_bytes(&r, &type, &type_len) || !get_uint(&r, &rid) || !get_uint(&r, &re)) return -1;
  if (re != id) return 0;
  if (!get_map_len(&r, &entries)) return -1;
  for (uint64_t i = 0; i < entries; i++) {
    if (!get_bytes(&r, &s, &n)) return -1;
    if (key_is(s, n, "sig")) {
      const uint8_t *sig;
      size_t sig_len;
      if (!get_bytes(&r, &sig, &sig_len) || sig_len > outcap) return -1;
      memcpy(out, sig, sig_len);
      *outlen = sig_len;
      have_sig = 1;
    } else if (!skip(&r, 0)) {
      return -1;
    }
  }
  if (key_is(type, type_len, "key.signed") && have_sig) return 1;
  if (key_is(type, type_len, "key.error")) *reason = OCS_KF_R_REFUSED;
  return -1;
}

/* ---------- the socket ---------- */

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` until the deadline: 1 ready, 0 timed out, -1 socket gone. */
static int wait_fd(int fd, short events, long long deadline) {
  for (;;) {
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd p = {fd, events, 0};
    int r = poll(&p, 1, (int)left);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (p.revents & POLLNVAL)) return -1;
    if (r == 0) return 0;
    if (p.revents & events) return 1;
    return -1; /* POLLHUP / POLLERR with nothing to read */
  }
}

/* Replies that arrive after their request timed out would otherwise answer the next one. */
static void drain_stale(int fd) {
  uint8_t junk[MAX_REPLY];
  while (recv(fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {}
}

static int exchange_locked(const ocs_kf_target *t, const char *op, const uint8_t *data, size_t len,
                           uint8_t *out, size_t outcap, int *reason) {
  uint8_t req[1200];
  uint8_t reply[MAX_REPLY];
  long long deadline = now_ms() + t->timeout_ms;
  uint32_t id = next_id++;
  if (next_id > 0x7fffffff) next_id = 1;
  size_t n = encode_request(req, sizeof req, id, t->key, op, data, len);
  if (n == 0) { *reason = OCS_KF_R_UNSUPPORTED; return -1; }
  if (t->fd < 0) { *reason = OCS_KF_R_UNAVAILABLE; return -1; }
  drain_stale(t->fd);
  for (;;) {
    ssize_t w = send(t->fd, req, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w == (ssize_t)n) break;
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      int ready = wait_fd(t->fd, POLLOUT, deadline);
      if (ready > 0) continue;
      *reason = ready == 0 ? OCS_KF_R_TIMEOUT : OCS_KF_R_UNAVAILABLE;
      return -1;
    }
    *reason = OCS_KF_R_UNAVAILABLE;
    return -1;
  }
  for (;;) {
    int ready = wait_fd(t->fd, POLLIN, deadline);
    if (ready <= 0) { *reason = ready == 0 ? OCS_KF_R_TIMEOUT : OCS_KF_R_UNAVAILABLE; return -1; }
    ssize_t r = recv(t->fd, reply, sizeof reply, MSG_DONTWAIT);
    if (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (r <= 0) { *reason = OCS_KF_R_UNAVAILABLE; return -1; }
    size_t sig_len = 0;
    int d = decode_reply(reply, (size_t)r, id, out, outcap, &sig_len, reason);
    if (d == 1) return (int)sig_len;
    if (d < 0) return -1;
  }
}

int ocs_kf_exchange(const ocs_kf_target *t, const char *op, const uint8_t *data, size_t len,
                    uint8_t *out, size_t outcap, int *reason) {
  pthread_mutex_lock(&exchange_lock);
  int r = exchange_locked(t, op, data, len, out, outcap, reason);
  pthread_mutex_unlock(&exchange_lock);
  return r;
}
