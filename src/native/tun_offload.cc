#include "tun_offload.h"

#include <netinet/in.h>
#include <string.h>

#include <algorithm>
#include <vector>

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

inline void PutBe32(uint8_t* p, uint32_t v) {
  v = __builtin_bswap32(v);
  memcpy(p, &v, 4);
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the checksum below reads words in little-endian order");

// The Internet checksum's sum of p[0..len) (16-bit big-endian words), added to acc,
// unfolded. Read 8 bytes at a time in host order: the ones' complement sum of byte-swapped
// words is the byte-swapped sum, so one swap at the end puts it in network order.
uint64_t Sum(const uint8_t* p, size_t len, uint64_t acc) {
  uint64_t s = 0;
  for (; len >= 8; p += 8, len -= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    s += (v & 0xffffffff) + (v >> 32);
  }
  if (len >= 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    s += v;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    s += v;
    p += 2;
    len -= 2;
  }
  if (len) s += p[0];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return acc + __builtin_bswap16(static_cast<uint16_t>(s));
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

// TCP over IPv4 without options or over IPv6 without extension headers, the IP length
// agreeing with len and the TCP header within it: the headers' lengths, or false.
bool TcpHeaders(const uint8_t* p, size_t len, bool* v6, size_t* ipLen, size_t* tcpLen) {
  if (len < 40) return false;
  if (p[0] == 0x45) {
    if (Be16(p + 2) != len || p[9] != IPPROTO_TCP) return false;
    *v6 = false;
    *ipLen = 20;
  } else if ((p[0] >> 4) == 6) {
    if (len < 60 || Be16(p + 4) + 40u != len || p[6] != IPPROTO_TCP) return false;
    *v6 = true;
    *ipLen = 40;
  } else {
    return false;
  }
  *tcpLen = static_cast<size_t>(p[*ipLen + 12] >> 4) * 4;
  return *tcpLen >= 20 && *ipLen + *tcpLen <= len;
}

// A segment that may be part of a run: TCP with data, only ACK (and PSH) set; IPv4 with DF
// and not a fragment, so that the IDs the kernel gives the segments when it cuts the packet
// again do not matter.
bool Parse(const iovec& v, Segment* s) {
  const uint8_t* p = static_cast<const uint8_t*>(v.iov_base);
  size_t len = v.iov_len;
  if (!TcpHeaders(p, len, &s->v6, &s->ipLen, &s->tcpLen)) return false;
  if (!s->v6 && Be16(p + 6) != 0x4000) return false;
  const uint8_t* t = p + s->ipLen;
  s->flags = t[13];
  if ((t[12] & 0x0f) != 0 || s->ipLen + s->tcpLen == len) return false;
  if ((s->flags & ~(kAck | kPsh)) != 0 || !(s->flags & kAck)) return false;
  s->p = p;
  s->len = len;
  s->payload = len - s->ipLen - s->tcpLen;
  return true;
}

// The segment's checksums (IPv4 header and TCP) verify.
bool ChecksumOk(const Segment& s) {
  if (!s.v6 && Fold(Sum(s.p, 20, 0)) != 0xffff) return false;
  size_t tcpBytes = s.len - s.ipLen;
  return Fold(Sum(s.p + s.ipLen, tcpBytes, PseudoSum(s.p, s.v6, static_cast<uint32_t>(tcpBytes)))) == 0xffff;
}

// The IP length field for tcpBytes of TCP header and data, and for IPv4 the header
// checksum over it (the id, when it changes, is set before).
void SetLengths(uint8_t* ip, bool v6, size_t ipLen, size_t tcpBytes) {
  if (v6) {
    PutBe16(ip + 4, static_cast<uint16_t>(tcpBytes));
    return;
  }
  PutBe16(ip + 2, static_cast<uint16_t>(ipLen + tcpBytes));
  PutBe16(ip + 10, 0);
  PutBe16(ip + 10, static_cast<uint16_t>(~Fold(Sum(ip, 20, 0))));
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
  SetLengths(ip, h.v6, h.ipLen, tcpBytes);
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

bool FinishChecksum(uint8_t* p, size_t len, const VnetHdr& h) {
  size_t start = h.csum_start, at = start + h.csum_offset;
  if (start >= len || at + 2 > len) return false;
  // 0 and 0xffff are the same in ones' complement; UDP must not send 0 (no checksum)
  uint16_t c = static_cast<uint16_t>(~Fold(Sum(p + start, len - start, 0)));
  PutBe16(p + at, c ? c : 0xffff);
  return true;
}

bool ParseGso(const uint8_t* p, size_t len, const VnetHdr& h, size_t maxSegment, GsoPacket* g) {
  size_t tcpLen;
  if (h.gso_size == 0 || !TcpHeaders(p, len, &g->v6, &g->ipLen, &tcpLen)) return false;
  if (h.gso_type != (g->v6 ? kVnetGsoTcpV6 : kVnetGsoTcpV4)) return false;
  if (!g->v6 && (Be16(p + 6) & 0x3fff) != 0) return false;
  g->hdrLen = g->ipLen + tcpLen;
  if (g->hdrLen >= len || g->hdrLen + h.gso_size > maxSegment) return false;
  g->p = p;
  g->len = len;
  g->gsoSize = h.gso_size;
  g->segments = (len - g->hdrLen + g->gsoSize - 1) / g->gsoSize;
  return true;
}

size_t WriteSegment(const GsoPacket& g, size_t k, uint8_t* out) {
  constexpr uint8_t kFin = 0x01, kCwr = 0x80;
  size_t off = k * g.gsoSize;
  size_t payload = std::min(g.gsoSize, g.len - g.hdrLen - off);
  memcpy(out, g.p, g.hdrLen);
  memcpy(out + g.hdrLen, g.p + g.hdrLen + off, payload);
  uint8_t* th = out + g.ipLen;
  size_t tcpBytes = g.hdrLen - g.ipLen + payload;
  if (!g.v6) PutBe16(out + 4, static_cast<uint16_t>(Be16(g.p + 4) + k));
  SetLengths(out, g.v6, g.ipLen, tcpBytes);
  PutBe32(th + 4, Be32(th + 4) + static_cast<uint32_t>(off));
  if (k + 1 < g.segments) th[13] &= static_cast<uint8_t>(~(kFin | kPsh));
  if (k > 0) th[13] &= static_cast<uint8_t>(~kCwr);
  PutBe16(th + 16, 0);
  PutBe16(th + 16, static_cast<uint16_t>(~Fold(Sum(th, tcpBytes, PseudoSum(out, g.v6, static_cast<uint32_t>(tcpBytes))))));
  return g.hdrLen + payload;
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

// The (vnet header, packet) arguments of the test functions below.
struct VnetInput {
  VnetHdr h;
  const uint8_t* p;
  size_t len;
};

bool VnetArg(const Napi::CallbackInfo& info, VnetInput* in) {
  if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsBuffer() || info[0].As<Napi::Buffer<uint8_t>>().Length() != sizeof(VnetHdr)) {
    ThrowType(info.Env(), "usage: (vnet: a 10-byte Buffer, packet: Buffer, ...)");
    return false;
  }
  memcpy(&in->h, info[0].As<Napi::Buffer<uint8_t>>().Data(), sizeof(VnetHdr));
  in->p = info[1].As<Napi::Buffer<uint8_t>>().Data();
  in->len = info[1].As<Napi::Buffer<uint8_t>>().Length();
  return true;
}

// For tests: what PacketIO makes of a GSO packet it reads (null: one it drops).
Napi::Value TunSegment(const Napi::CallbackInfo& info) {
  VnetInput in;
  int64_t maxSegment;
  if (!VnetArg(info, &in) || !ArgInt(info, 2, "maxSegment", 1, 65535, &maxSegment)) return info.Env().Undefined();
  GsoPacket g;
  if (!ParseGso(in.p, in.len, in.h, static_cast<size_t>(maxSegment), &g)) return info.Env().Null();
  Napi::Array out = Napi::Array::New(info.Env(), g.segments);
  std::vector<uint8_t> seg(g.hdrLen + g.gsoSize);
  for (size_t k = 0; k < g.segments; k++) {
    size_t n = WriteSegment(g, k, seg.data());
    out.Set(static_cast<uint32_t>(k), Napi::Buffer<uint8_t>::Copy(info.Env(), seg.data(), n));
  }
  return out;
}

// For tests: a packet with the checksum the kernel left partial finished (null: refused).
Napi::Value TunFinishChecksum(const Napi::CallbackInfo& info) {
  VnetInput in;
  if (!VnetArg(info, &in)) return info.Env().Undefined();
  auto copy = Napi::Buffer<uint8_t>::Copy(info.Env(), in.p, in.len);
  if (!FinishChecksum(copy.Data(), in.len, in.h)) return info.Env().Null();
  return copy;
}

}  // namespace

void InitTunOffload(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpCoalesce", Napi::Function::New(env, TcpCoalesce, "tcpCoalesce"));
  exports.Set("tunSegment", Napi::Function::New(env, TunSegment, "tunSegment"));
  exports.Set("tunFinishChecksum", Napi::Function::New(env, TunFinishChecksum, "tunFinishChecksum"));
}

}  // namespace ocs
