// tcpAccept(listenFd, max): up to `max` connections waiting on a listening TCP socket, each
// with TCP_NODELAY set and its addresses read. main only hands a client's connection to a
// worker, so it never needs node's net.Socket for it: building one and tearing it down cost
// main a third of a millisecond per client, on the client's way to its TLS handshake.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "errors.h"
#include "modules.h"
#include "sockaddr_text.h"

namespace ocs {
namespace {

// an IPv4 client of a dual-stack listener is shown by its IPv4 address, as main logs it
void SetAddress(Napi::Object o, const char* addrKey, const char* portKey, const sockaddr_storage& ss) {
  std::string text;
  int port;
  SockaddrText(ss, true, &text, &port);
  o.Set(addrKey, Napi::String::New(o.Env(), text));
  o.Set(portKey, Napi::Number::New(o.Env(), port));
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
