// What systemd integration needs and Node lacks: a datagram to the
// NOTIFY_SOCKET (sd_notify) and a look at the sockets systemd passes in
// (socket activation), to tell the TCP listener from the UDP one.
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "fd_util.h"
#include "modules.h"
#include "sockaddr_text.h"

namespace ocs {
namespace {

// sdNotify(path, state): one datagram, as sd_notify(3). A path starting
// with '@' names an abstract socket. Only AF_UNIX is supported (systemd's
// vsock form is for virtual machines).
Napi::Value SdNotify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path, state;
  if (!ArgString(info, 0, "path", &path) || !ArgString(info, 1, "state", &state))
    return env.Undefined();
  sockaddr_un sun;
  memset(&sun, 0, sizeof(sun));
  sun.sun_family = AF_UNIX;
  if (path.size() < 2 || path.size() >= sizeof(sun.sun_path) || (path[0] != '/' && path[0] != '@'))
    return ThrowType(env, "NOTIFY_SOCKET must be an absolute path or @abstract name: '" + path + "'");
  memcpy(sun.sun_path, path.data(), path.size());
  if (sun.sun_path[0] == '@') sun.sun_path[0] = '\0';
  // an abstract name is exactly as long as given; a path ends at its NUL
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                         (path[0] == '@' ? 0 : 1));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket", path);
  ssize_t n;
  do n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&sun), len);
  while (n < 0 && errno == EINTR);
  int e = errno;
  CloseFd(fd);
  if (n < 0) return ThrowErrno(env, e, "sendto", path);
  return env.Undefined();
}

// socketInfo(fd): { type: 'stream'|'dgram'|'seqpacket'|'other',
//   family: 'inet'|'inet6'|'unix'|'other', listening: boolean,
//   address: string, port: number }  (address and port of inet sockets)
Napi::Value SocketInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  int type = 0, accepting = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return ThrowErrno(env, errno, "getsockopt", "SO_TYPE");
  len = sizeof(accepting);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0) accepting = 0;
  sockaddr_storage ss;
  memset(&ss, 0, sizeof(ss));
  len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return ThrowErrno(env, errno, "getsockname");
  Napi::Object o = Napi::Object::New(env);
  o.Set("type", type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "other");
  o.Set("family", ss.ss_family == AF_INET ? "inet" : ss.ss_family == AF_INET6 ? "inet6" : ss.ss_family == AF_UNIX ? "unix" : "other");
  o.Set("listening", Napi::Boolean::New(env, accepting != 0));
  std::string text;
  int port;
  SockaddrText(ss, false, &text, &port);
  o.Set("address", text);
  o.Set("port", Napi::Number::New(env, port));
  return o;
}

}  // namespace

void InitSystemd(Napi::Env env, Napi::Object exports) {
  exports.Set("sdNotify", Napi::Function::New(env, SdNotify, "sdNotify"));
  exports.Set("socketInfo", Napi::Function::New(env, SocketInfo, "socketInfo"));
}

}  // namespace ocs
