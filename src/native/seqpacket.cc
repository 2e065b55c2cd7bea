// AF_UNIX SOCK_SEQPACKET sockets: the IPC transport between processes
// (message boundaries are kept and fds travel with SCM_RIGHTS).
#include "modules.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "errors.h"
#include "fd_util.h"

namespace ocs {
namespace {

bool MakeAddr(Napi::Env env, const std::string& path, sockaddr_un* sa) {
  memset(sa, 0, sizeof(*sa));
  sa->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(sa->sun_path)) {
    ThrowErrno(env, ENAMETOOLONG, "socket", path);
    return false;
  }
  memcpy(sa->sun_path, path.data(), path.size());
  return true;
}

Napi::Value Pair(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return ThrowErrno(env, errno, "socketpair", "AF_UNIX SOCK_SEQPACKET");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, sv[0]));
  a.Set(1u, Napi::Number::New(env, sv[1]));
  return a;
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  int64_t backlog, mode = -1;
  if (!ArgString(info, 0, "path", &path)) return env.Undefined();
  if (!ArgInt(info, 1, "backlog", 0, 65535, &backlog)) return env.Undefined();
  if (info.Length() > 2 && !info[2].IsUndefined() &&
      !ArgInt(info, 2, "mode", 0, 07777, &mode))
    return env.Undefined();
  sockaddr_un sa;
  if (!MakeAddr(env, path, &sa)) return env.Undefined();

  // Only a leftover socket is removed: a regular file at a mistyped path
  // must not be deleted by starting the server.
  struct stat st;
  if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());

  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket", "AF_UNIX SOCK_SEQPACKET");
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) < 0) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, "bind", path);
  }
  // chmod between bind and listen: until listen() nobody can connect, so
  // there is no window in which the socket has the umask's permissions.
  if (mode >= 0 && chmod(path.c_str(), static_cast<mode_t>(mode)) < 0) {
    int e = errno;
    CloseFd(fd);
    unlink(path.c_str());
    return ThrowErrno(env, e, "chmod", path);
  }
  if (listen(fd, static_cast<int>(backlog)) < 0) {
    int e = errno;
    CloseFd(fd);
    unlink(path.c_str());
    return ThrowErrno(env, e, "listen", path);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return env.Undefined();
  sockaddr_un sa;
  if (!MakeAddr(env, path, &sa)) return env.Undefined();
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return ThrowErrno(env, errno, "socket", "AF_UNIX SOCK_SEQPACKET");
  // A unix connect completes immediately or fails with EAGAIN (backlog
  // full); it never stays "in progress", so non-blocking is safe here.
  int r;
  do {
    r = connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, "connect", path);
  }
  return Napi::Number::New(env, fd);
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  for (;;) {
    int nfd = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (nfd >= 0) return Napi::Number::New(env, nfd);
    if (errno == EINTR) continue;
    // ECONNABORTED: the client went away while queued; for the caller that
    // is the same as "nothing to accept right now".
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED)
      return Napi::Number::New(env, -1);
    return ThrowErrno(env, errno, "accept4", "fd " + std::to_string(fd));
  }
}

Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  ucred cr;
  socklen_t len = sizeof(cr);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0)
    return ThrowErrno(env, errno, "getsockopt", "SO_PEERCRED fd " + std::to_string(fd));
  Napi::Object o = Napi::Object::New(env);
  o.Set("pid", Napi::Number::New(env, cr.pid));
  o.Set("uid", Napi::Number::New(env, cr.uid));
  o.Set("gid", Napi::Number::New(env, cr.gid));
  return o;
}

}  // namespace

void InitSeqpacket(Napi::Env env, Napi::Object exports) {
  exports.Set("seqpacketPair", Napi::Function::New(env, Pair, "seqpacketPair"));
  exports.Set("seqpacketListen", Napi::Function::New(env, Listen, "seqpacketListen"));
  exports.Set("seqpacketConnect", Napi::Function::New(env, Connect, "seqpacketConnect"));
  exports.Set("seqpacketAccept", Napi::Function::New(env, Accept, "seqpacketAccept"));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred, "peerCred"));
}

}  // namespace ocs
