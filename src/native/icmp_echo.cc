// ping-leases: one ICMP echo request to an address main is about to lease, and a look at
// whether it was answered. A raw socket connected to the address (the kernel then passes
// only that host's packets) with a filter that lets echo replies through; the waiting is
// done by the event loop (FdWatcher), never here.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <string.h>
#include <sys/socket.h>

#include <string>

#include "errors.h"
#include "fd_util.h"
#include "modules.h"

namespace ocs {
namespace {

constexpr int kPayload = 56;  // what ping sends by default
constexpr uint8_t kEchoRequest4 = 8, kEchoReply4 = 0;

uint16_t Checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += (p[i] << 8) | p[i + 1];
  if (n & 1) sum += p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

bool Parse(const std::string& host, sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, host.c_str(), &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    *len = sizeof(*s4);
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    *len = sizeof(*s6);
    return true;
  }
  return false;
}

int FamilyOf(int fd) {
  sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return -1;
  return ss.ss_family;
}

// icmpEchoOpen(address): the raw socket (needs CAP_NET_RAW), O_NONBLOCK | O_CLOEXEC.
Napi::Value IcmpEchoOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string host;
  if (!ArgString(info, 0, "address", &host)) return env.Undefined();
  sockaddr_storage ss;
  socklen_t len;
  if (!Parse(host, &ss, &len)) return ThrowType(env, "not an IP address: '" + host + "'");
  bool v4 = ss.ss_family == AF_INET;
  int proto = v4 ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
  int fd = socket(ss.ss_family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return ThrowErrno(env, errno, "socket", "raw ICMP for " + host);
  auto fail = [&](const char* call) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, call, host);
  };
  if (v4) {
    icmp_filter filt = {~(1U << kEchoReply4)};
    if (setsockopt(fd, SOL_RAW, ICMP_FILTER, &filt, sizeof(filt)) < 0) return fail("setsockopt");
  } else {
    icmp6_filter filt;
    ICMP6_FILTER_SETBLOCKALL(&filt);
    ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &filt);
    if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filt, sizeof(filt)) < 0) return fail("setsockopt");
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return fail("connect");
  return Napi::Number::New(env, fd);
}

// icmpEchoSend(fd, id, seq): one echo request to the connected address.
Napi::Value IcmpEchoSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t id, seq;
  if (!ArgFd(info, 0, &fd) || !ArgInt(info, 1, "id", 0, 0xffff, &id) || !ArgInt(info, 2, "seq", 0, 0xffff, &seq))
    return env.Undefined();
  int family = FamilyOf(fd);
  if (family < 0) return ThrowErrno(env, errno, "getsockname", "fd " + std::to_string(fd));
  uint8_t pkt[8 + kPayload] = {};
  pkt[0] = family == AF_INET ? kEchoRequest4 : ICMP6_ECHO_REQUEST;
  pkt[4] = static_cast<uint8_t>(id >> 8);
  pkt[5] = static_cast<uint8_t>(id);
  pkt[6] = static_cast<uint8_t>(seq >> 8);
  pkt[7] = static_cast<uint8_t>(seq);
  for (int i = 0; i < kPayload; i++) pkt[8 + i] = static_cast<uint8_t>(i);
  if (family == AF_INET) {
    uint16_t c = Checksum(pkt, sizeof(pkt));
    pkt[2] = static_cast<uint8_t>(c >> 8);
    pkt[3] = static_cast<uint8_t>(c);
  }  // ICMPv6: the kernel fills the checksum in (it covers the pseudo-header)
  ssize_t n;
  do n = send(fd, pkt, sizeof(pkt), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return ThrowErrno(env, errno, "send", "ICMP echo fd " + std::to_string(fd));
  return env.Undefined();
}

// icmpEchoReplied(fd, id): reads what has arrived; true if an echo reply with this id came.
Napi::Value IcmpEchoReplied(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  int64_t id;
  if (!ArgFd(info, 0, &fd) || !ArgInt(info, 1, "id", 0, 0xffff, &id)) return env.Undefined();
  int family = FamilyOf(fd);
  if (family < 0) return ThrowErrno(env, errno, "getsockname", "fd " + std::to_string(fd));
  bool replied = false;
  uint8_t buf[1500];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      // EAGAIN: all read; an ICMP error queued on the socket is no answer either
      break;
    }
    const uint8_t* icmp = buf;
    size_t left = static_cast<size_t>(n);
    if (family == AF_INET) {  // IPv4 raw sockets see the IP header too
      if (left < 20) continue;
      size_t ihl = (buf[0] & 0x0f) * 4u;
      if (ihl < 20 || left < ihl + 8) continue;
      icmp += ihl;
      left -= ihl;
    }
    if (left < 8) continue;
    uint8_t reply = family == AF_INET ? kEchoReply4 : ICMP6_ECHO_REPLY;
    if (icmp[0] == reply && ((icmp[4] << 8) | icmp[5]) == id) replied = true;
  }
  return Napi::Boolean::New(env, replied);
}

}  // namespace

void InitIcmpEcho(Napi::Env env, Napi::Object exports) {
  exports.Set("icmpEchoOpen", Napi::Function::New(env, IcmpEchoOpen, "icmpEchoOpen"));
  exports.Set("icmpEchoSend", Napi::Function::New(env, IcmpEchoSend, "icmpEchoSend"));
  exports.Set("icmpEchoReplied", Napi::Function::New(env, IcmpEchoReplied, "icmpEchoReplied"));
}

}  // namespace ocs
