// The few integer socket options the client-facing sockets are tuned with (net-priority,
// output-buffer, the DTLS receive buffer), by name so TypeScript needs no platform constants.
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <string>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

bool Lookup(const std::string& name, int* level, int* opt) {
  if (name == "priority") { *level = SOL_SOCKET; *opt = SO_PRIORITY; return true; }
  if (name == "sndbuf") { *level = SOL_SOCKET; *opt = SO_SNDBUF; return true; }
  if (name == "rcvbuf") { *level = SOL_SOCKET; *opt = SO_RCVBUF; return true; }
  // beyond net.core.rmem_max; needs CAP_NET_ADMIN
  if (name == "rcvbufforce") { *level = SOL_SOCKET; *opt = SO_RCVBUFFORCE; return true; }
  if (name == "tos") { *level = IPPROTO_IP; *opt = IP_TOS; return true; }
  if (name == "tclass") { *level = IPPROTO_IPV6; *opt = IPV6_TCLASS; return true; }
  if (name == "nodelay") { *level = IPPROTO_TCP; *opt = TCP_NODELAY; return true; }
  // UDP without checksums: the kernel refuses UDP_SEGMENT on such a socket (tests of the
  // fallback in packet_io.cc)
  if (name == "nocheck") { *level = SOL_SOCKET; *opt = SO_NO_CHECK; return true; }
  return false;
}

const char* kNames = "'priority', 'sndbuf', 'rcvbuf', 'rcvbufforce', 'tos', 'tclass', 'nodelay' or 'nocheck'";

// setSockoptInt(fd, name, value)
Napi::Value SetSockoptInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::string name;
  int64_t value;
  if (!ArgFd(info, 0, &fd) || !ArgString(info, 1, "name", &name) ||
      !ArgInt(info, 2, "value", INT32_MIN, INT32_MAX, &value))
    return env.Undefined();
  int level, opt;
  if (!Lookup(name, &level, &opt)) return ThrowType(env, std::string("name must be ") + kNames);
  int v = static_cast<int>(value);
  if (setsockopt(fd, level, opt, &v, sizeof(v)) < 0) {
    return ThrowErrno(env, errno, "setsockopt", name + "=" + std::to_string(v) + " fd " + std::to_string(fd));
  }
  return env.Undefined();
}

// getSockoptInt(fd, name): the value as the kernel keeps it (SO_SNDBUF: doubled)
Napi::Value GetSockoptInt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  std::string name;
  if (!ArgFd(info, 0, &fd) || !ArgString(info, 1, "name", &name)) return env.Undefined();
  int level, opt;
  if (!Lookup(name, &level, &opt)) return ThrowType(env, std::string("name must be ") + kNames);
  int v = 0;
  socklen_t len = sizeof(v);
  if (getsockopt(fd, level, opt, &v, &len) < 0) {
    return ThrowErrno(env, errno, "getsockopt", name + " fd " + std::to_string(fd));
  }
  return Napi::Number::New(env, v);
}

}  // namespace

void InitSockopt(Napi::Env env, Napi::Object exports) {
  exports.Set("setSockoptInt", Napi::Function::New(env, SetSockoptInt, "setSockoptInt"));
  exports.Set("getSockoptInt", Napi::Function::New(env, GetSockoptInt, "getSockoptInt"));
}

}  // namespace ocs
