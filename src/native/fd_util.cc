#include "fd_util.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "errors.h"
#include "modules.h"

namespace ocs {

int SetNonblock(int fd, bool on) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0) return errno;
  int nfl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
  if (nfl != fl && fcntl(fd, F_SETFL, nfl) < 0) return errno;
  return 0;
}

int SetCloexec(int fd, bool on) {
  int fl = fcntl(fd, F_GETFD);
  if (fl < 0) return errno;
  int nfl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
  if (nfl != fl && fcntl(fd, F_SETFD, nfl) < 0) return errno;
  return 0;
}

int CloseFd(int fd) {
  if (close(fd) < 0 && errno != EINTR) return errno;
  return 0;
}

namespace {

Napi::Value CloseFdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  int err = CloseFd(fd);
  if (err) return ThrowErrno(env, err, "close", "fd " + std::to_string(fd));
  return env.Undefined();
}

// The last close of a tun device unregisters the interface, and that waits for RCU grace
// periods: 10-30 ms here, asleep in the kernel. On the threadpool, the event loop that
// serves everyone else does not sleep with it.
class CloseWorker : public Napi::AsyncWorker {
 public:
  CloseWorker(Napi::Env env, int fd) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override { err_ = CloseFd(fd_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (err_) deferred_.Reject(ErrnoError(env, err_, "close", "fd " + std::to_string(fd_)).Value());
    else deferred_.Resolve(env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  int err_ = 0;
};

Napi::Value CloseFdAsyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  auto* w = new CloseWorker(env, fd);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value DupFdJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  // Lowest result 3: if stdio was closed, a dup must not become "stdout".
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (nfd < 0) return ThrowErrno(env, errno, "fcntl", "F_DUPFD_CLOEXEC fd " + std::to_string(fd));
  return Napi::Number::New(env, nfd);
}

Napi::Value SetCloexecJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsBoolean()) return ThrowType(env, "on must be a boolean");
  int err = SetCloexec(fd, info[1].As<Napi::Boolean>().Value());
  if (err) return ThrowErrno(env, err, "fcntl", "F_SETFD fd " + std::to_string(fd));
  return env.Undefined();
}

Napi::Value SetNonblockJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsBoolean()) return ThrowType(env, "on must be a boolean");
  int err = SetNonblock(fd, info[1].As<Napi::Boolean>().Value());
  if (err) return ThrowErrno(env, err, "fcntl", "F_SETFL fd " + std::to_string(fd));
  return env.Undefined();
}

}  // namespace

void InitFdUtil(Napi::Env env, Napi::Object exports) {
  exports.Set("closeFd", Napi::Function::New(env, CloseFdJs, "closeFd"));
  exports.Set("closeFdAsync", Napi::Function::New(env, CloseFdAsyncJs, "closeFdAsync"));
  exports.Set("dupFd", Napi::Function::New(env, DupFdJs, "dupFd"));
  exports.Set("setCloexec", Napi::Function::New(env, SetCloexecJs, "setCloexec"));
  exports.Set("setNonblock", Napi::Function::New(env, SetNonblockJs, "setNonblock"));
}

}  // namespace ocs
