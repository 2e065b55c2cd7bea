// Per-client connected UDP sockets: main binds one to the listen address
// and connects it to a DTLS client, so the kernel routes that client's
// datagrams to the worker holding it instead of to main's listen socket.
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errors.h"
#include "fd_util.h"
#include "modules.h"
#include "netns.h"

namespace ocs {
namespace {

// Accepts "1.2.3.4", "::1", "fe80::1%eth0" and "::ffff:1.2.3.4"; the
// result is converted to `family` when the address has a form in it.
bool ParseAddr(const std::string& host, int port, int family, sockaddr_storage* ss,
               socklen_t* len) {
  memset(ss, 0, sizeof(*ss));
  std::string h = host;
  unsigned scope = 0;
  size_t pct = h.find('%');
  if (pct != std::string::npos) {
    std::string ifn = h.substr(pct + 1);
    h = h.substr(0, pct);
    scope = if_nametoindex(ifn.c_str());
    if (scope == 0) {
      char* end;
      unsigned long v = strtoul(ifn.c_str(), &end, 10);
      if (ifn.empty() || *end) return false;
      scope = static_cast<unsigned>(v);
    }
  }
  in_addr a4;
  in6_addr a6;
  bool is4 = inet_pton(AF_INET, h.c_str(), &a4) == 1;
  bool is6 = !is4 && inet_pton(AF_INET6, h.c_str(), &a6) == 1;
  if (!is4 && !is6) return false;
  if (family == AF_INET6 && is4) {
    // v4 peer on a dual-stack v6 socket: use the v4-mapped form.
    memset(&a6, 0, sizeof(a6));
    a6.s6_addr[10] = a6.s6_addr[11] = 0xff;
    memcpy(&a6.s6_addr[12], &a4, 4);
    is4 = false;
    is6 = true;
  } else if (family == AF_INET && is6) {
    if (!IN6_IS_ADDR_V4MAPPED(&a6)) return false;
    memcpy(&a4, &a6.s6_addr[12], 4);
    is4 = true;
    is6 = false;
  }
  if (is4) {
    sockaddr_in* sin = reinterpret_cast<sockaddr_in*>(ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    sin->sin_addr = a4;
    *len = sizeof(*sin);
  } else {
    sockaddr_in6* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    sin6->sin6_addr = a6;
    sin6->sin6_scope_id = scope;
    *len = sizeof(*sin6);
  }
  return true;
}

int FamilyOf(const std::string& host) {
  std::string h = host.substr(0, host.find('%'));
  in_addr a4;
  in6_addr a6;
  if (inet_pton(AF_INET, h.c_str(), &a4) == 1) return AF_INET;
  if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) return AF_INET6;
  return AF_UNSPEC;
}

Napi::Value UdpConnected(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string lhost, phost;
  int64_t lport, pport;
  if (!ArgString(info, 0, "localHost", &lhost) ||
      !ArgInt(info, 1, "localPort", 0, 65535, &lport) ||
      !ArgString(info, 2, "peerHost", &phost) ||
      !ArgInt(info, 3, "peerPort", 1, 65535, &pport))
    return env.Undefined();
  int family = FamilyOf(lhost);
  if (family == AF_UNSPEC) return ThrowType(env, "localHost is not an IP address: '" + lhost + "'");
  sockaddr_storage local, peer;
  socklen_t llen, plen;
  if (!ParseAddr(lhost, static_cast<int>(lport), family, &local, &llen))
    return ThrowType(env, "localHost is not an IP address: '" + lhost + "'");
  if (!ParseAddr(phost, static_cast<int>(pport), family, &peer, &plen))
    return ThrowType(env, "peerHost '" + phost + "' is not an address of the family of '" +
                              lhost + "'");

  // optional 5th argument: a netnsOpen handle (listen-netns), where the socket is made
  int64_t netns = 0;
  if (info.Length() > 4 && !info[4].IsUndefined() && !ArgInt(info, 4, "netns", 1, INT32_MAX, &netns))
    return env.Undefined();

  std::string what = lhost + ":" + std::to_string(lport) + " -> " + phost + ":" +
                     std::to_string(pport);
  int nserr = 0;
  int fd = netns ? NetnsSocket(static_cast<int>(netns), family, SOCK_DGRAM, &nserr)
                 : socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, netns ? nserr : errno, "socket", what);
  auto fail = [&](const char* call) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, call, what);
  };
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) return fail("setsockopt");
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) return fail("setsockopt");

  // Between bind() and connect() this socket matches every datagram to the
  // port and may win the lookup against main's listen socket. A drop-all
  // filter for that window keeps other clients' datagrams out of its queue,
  // so everything read later really comes from the connected peer.
  sock_filter dropAll[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
  sock_fprog prog = {1, dropAll};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0)
    return fail("setsockopt");
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), llen) < 0) return fail("bind");
  if (connect(fd, reinterpret_cast<sockaddr*>(&peer), plen) < 0) return fail("connect");
  int zero = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_DETACH_FILTER, &zero, sizeof(zero)) < 0)
    return fail("setsockopt");
  return Napi::Number::New(env, fd);
}

}  // namespace

void InitUdp(Napi::Env env, Napi::Object exports) {
  exports.Set("udpConnected", Napi::Function::New(env, UdpConnected, "udpConnected"));
}

}  // namespace ocs
