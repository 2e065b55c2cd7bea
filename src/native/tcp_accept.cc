// tcpAccept(listenFd, max): up to `max` connections waiting on a listening TCP socket, each
// with TCP_NODELAY set and its addresses read. main only hands a client's connection to a
// worker, so it never needs node's net.Socket for it: building one and tearing it down cost
// main a third of a millisecond per client, on the client's way to its TLS handshake.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

// "198.18.0.2" / "2001:db8::1"; an IPv4-mapped IPv6 address as its IPv4 form, as main logs it
void SetAddress(Napi::Object o, const char* addrKey, const char* portKey, const sockaddr_storage& ss) {
  Napi::Env env = o.Env();
  char buf[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    else inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    port = ntohs(in6->sin6_port);
  }
  o.Set(addrKey, Napi::String::New(env, buf));
  o.Set(portKey, Napi::Number::New(env, port));
}

Napi::Value TcpAccept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int lfd;
  int64_t max;
  if (!ArgFd(info, 0, &lfd) || !ArgInt(info, 1, "max", 1, 1024, &max)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  while (n < max) {
    sockaddr_storage peer;
    socklen_t plen = sizeof(peer);
    int fd = accept4(lfd, reinterpret_cast<sockaddr*>(&peer), &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;  // a client gone while queued
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      // EMFILE and the like: what was accepted still goes out; the next call reports it
      if (n > 0) break;
      return ThrowErrno(env, errno, "accept4", "fd " + std::to_string(lfd));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_storage local;
    socklen_t llen = sizeof(local);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen) < 0) local.ss_family = AF_UNSPEC;
    Napi::Object c = Napi::Object::New(env);
    c.Set("fd", Napi::Number::New(env, fd));
    SetAddress(c, "remoteAddr", "remotePort", peer);
    SetAddress(c, "localAddr", "localPort", local);
    out.Set(n++, c);
  }
  return out;
}

}  // namespace

void InitTcpAccept(Napi::Env env, Napi::Object exports) {
  exports.Set("tcpAccept", Napi::Function::New(env, TcpAccept, "tcpAccept"));
}

}  // namespace ocs
