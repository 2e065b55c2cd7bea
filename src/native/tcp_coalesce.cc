#include "tcp_coalesce.h"

#include <netinet/in.h>
#include <string.h>

#include <napi.h>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

constexpr uint8_t kPsh = 0x08;
constexpr uint8_t kAck = 0x10;

inline uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Be32(const uint8_t* p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The Internet checksum's sum, unfolded: 32-bit words in a 64-bit accumulator are the same
// sum modulo 0xffff as 16-bit words, with the carries kept in the high bits.
uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
  for (; len >= 4; p += 4, len -= 4) acc += Be32(p);
  if (len >= 2) {
    acc += Be16(p);
    p += 2;
    len -= 2;
  }
  if (len) acc += static_cast<uint32_t>(p[0]) << 8;
  return acc;
}

uint16_t Fold(uint64_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

struct Segment {
  const uint8_t* p;
  size_t len;
  bool v6;
  size_t ipLen;
  size_t tcpLen;  // the TCP header's
  size_t payload;
  uint8_t flags;
};

uint64_t PseudoSum(const uint8_t* ip, bool v6, uint32_t tcpBytes) {
  return (v6 ? Sum(ip + 8, 32, 0) : Sum(ip + 12, 8, 0)) + IPPROTO_TCP + tcpBytes;
}

// A segment that may be part of a run: TCP with data, only ACK (and PSH) set, no IP
// options, not a fragment; IPv4 with DF, so that the IDs the kernel gives the segments
// when it cuts the packet again do not matter.
bool Parse(const iovec& v, Segment* s) {
  const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
  size_t len = v.iov_len;
  if (len < 40) return false;
  if (p[0] == 0x45) {
    if (Be16(p + 2) != len || Be16(p + 6) != 0x4000 || p[9] != IPPROTO_TCP) return false;
    if (Fold(Sum(p, 20, 0)) != 0xffff) return false;
    s->v6 = false;
    s->ipLen = 20;
  } else if ((p[0] >> 4) == 6) {
    if (len < 60 || Be16(p + 4) + 40u != len || p[6] != IPPROTO_TCP) return false;
    s->v6 = true;
    s->ipLen = 40;
  } else {
    return false;
  }
  const uint8_t* t = p + s->ipLen;
  s->tcpLen = static_cast<size_t>(t[12] >> 4) * 4;
  if (s->tcpLen < 20 || (t[12] & 0x0f) != 0 || s->ipLen + s->tcpLen >= len) return false;
  s->flags = t[13];
  if ((s->flags & ~(kAck | kPsh)) != 0 || !(s->flags & kAck)) return false;
  s->p = p;
  s->len = len;
  s->payload = len - s->ipLen - s->tcpLen;
  return true;
}

bool ChecksumOk(const Segment& s) {
  size_t tcpBytes = s.len - s.ipLen;
  return Fold(Sum(s.p + s.ipLen, tcpBytes, PseudoSum(s.p, s.v6, static_cast<uint32_t>(tcpBytes)))) == 0xffff;
}

// Whether c continues the run that began with h and so far ends with last, `payload` bytes
// long: the rules of the kernel's TCP GRO (same flow and addresses, next in sequence, same
// acknowledgement, window and options, equal sizes with only the last shorter, a push ends
// the run) and the 64 kB of one IP packet.
bool Continues(const Segment& h, const Segment& last, const Segment& c, size_t payload) {
  if (c.v6 != h.v6 || c.ipLen != h.ipLen || c.tcpLen != h.tcpLen) return false;
  if ((last.flags & kPsh) || last.payload != h.payload || c.payload > h.payload) return false;
  if ((h.v6 ? 0 : h.ipLen) + h.tcpLen + payload + c.payload > 65535) return false;
  const uint8_t* a = h.p;
  const uint8_t* b = c.p;
  if (h.v6) {
    if (memcmp(a, b, 4) != 0 || a[7] != b[7] || memcmp(a + 8, b + 8, 32) != 0) return false;
  } else {
    if (a[1] != b[1] || a[8] != b[8] || memcmp(a + 12, b + 12, 8) != 0) return false;
  }
  const uint8_t* ta = a + h.ipLen;
  const uint8_t* tb = b + c.ipLen;
  const uint8_t* tl = last.p + last.ipLen;
  if (memcmp(ta, tb, 4) != 0) return false;
  if (Be32(tb + 4) != Be32(tl + 4) + static_cast<uint32_t>(last.payload)) return false;
  if (memcmp(ta + 8, tb + 8, 4) != 0 || ta[12] != tb[12] || memcmp(ta + 14, tb + 14, 2) != 0) return false;
  return memcmp(ta + 20, tb + 20, h.tcpLen - 20) == 0;
}

}  // namespace

void PlanCoalescedWrite(const iovec* packets, size_t n, size_t at, CoalescedWrite* w) {
  memset(&w->vnet, 0, sizeof(w->vnet));
  w->iov[0] = packets[at];
  w->iovcnt = 1;
  w->packets = 1;
  Segment h, c;
  if (at + 1 >= n || !Parse(packets[at], &h)) return;
  Segment last = h;
  size_t payload = h.payload;
  size_t k = at + 1;
  for (; k < n && k - at < kCoalesceMaxSegments; k++) {
    if (!Parse(packets[k], &c) || !Continues(h, last, c, payload)) break;
    // verified only once there is a run, so that lone packets cost nothing
    if (k == at + 1 && !ChecksumOk(h)) return;
    if (!ChecksumOk(c)) break;
    payload += c.payload;
    last = c;
  }
  size_t count = k - at;
  if (count == 1) return;

  size_t hdrLen = h.ipLen + h.tcpLen;
  uint8_t* ip = w->headers;
  uint8_t* th = ip + h.ipLen;
  memcpy(ip, h.p, hdrLen);
  th[13] = last.flags;
  uint32_t tcpBytes = static_cast<uint32_t>(h.tcpLen + payload);
  if (h.v6) {
    PutBe16(ip + 4, static_cast<uint16_t>(tcpBytes));
  } else {
    PutBe16(ip + 2, static_cast<uint16_t>(hdrLen + payload));
    PutBe16(ip + 10, 0);
    PutBe16(ip + 10, static_cast<uint16_t>(~Fold(Sum(ip, 20, 0))));
  }
  // for the kernel to finish (kVnetNeedsCsum): the pseudo-header's sum, not inverted
  PutBe16(th + 16, Fold(PseudoSum(ip, h.v6, tcpBytes)));
  w->vnet.flags = kVnetNeedsCsum;
  w->vnet.gso_type = h.v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4;
  w->vnet.hdr_len = static_cast<uint16_t>(hdrLen);
  w->vnet.gso_size = static_cast<uint16_t>(h.payload);
  w->vnet.csum_start = static_cast<uint16_t>(h.ipLen);
  w->vnet.csum_offset = 16;
  w->iov[0] = {ip, hdrLen};
  for (size_t i = 0; i < count; i++) {
    const iovec& v = packets[at + i];
    w->iov[i + 1] = {static_cast<uint8_t*>(v.iov_base) + hdrLen, v.iov_len - hdrLen};
  }
  w->iovcnt = count + 1;
  w->packets = count;
}

namespace {

// For tests: the writes PacketIO would make to a tun with a virtio-net header for these
// packets, each as { vnet: the 10-byte header, packet: what follows it, packets: how many }.
Napi::Value TcpCoalesce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "usage: tcpCoalesce(packets: Uint8Array[])");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<iovec> pk(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      return ThrowType(env, "tcpCoalesce: packet " + std::to_string(i) + " is not a Uint8Array");
    auto u = v.As<Napi::Uint8Array>();
    pk[i] = {u.Data(), u.ByteLength()};
  }
  Napi::Array out = Napi::Array::New(env);
  CoalescedWrite w;
  for (size_t at = 0, k = 0; at < pk.size(); at += w.packets, k++) {
    PlanCoalescedWrite(pk.data(), pk.size(), at, &w);
    size_t len = 0;
    for (size_t i = 0; i < w.iovcnt; i++) len += w.iov[i].iov_len;
    auto packet = Napi::Buffer<uint8_t>::New(env, len);
    for (size_t i = 0, off = 0; i < w.iovcnt; off += w.iov[i].iov_len, i++)
      memcpy(packet.Data() + off, w.iov[i].iov_base, w.iov[i].iov_len);
    Napi::Object o = Napi::Object::New(env);
    o.Set("vnet", Napi::Buffer<uint8_t>::Copy(env, reinterpret_cast<const uint8_t*>(&w.vnet), sizeof(w.vnet)));
    o.Set("packet", packet);
    o.Set("packets", Napi::Number::New(env, static_cast<double>(w.packets)));
    out.Set(static_cast<uint32_t>(k), o);
  }
  return out;
}

}  // namespace

void InitTcpCoalesce(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpCoalesce", Napi::Function::New(env, TcpCoalesce, "tcpCoalesce"));
}

}  // namespace ocs
