// FdWatcher: readiness notifications for an fd that PacketIO cannot read,
// e.g. a listening SEQPACKET socket (call seqpacketAccept when readable).
#include <errno.h>
#include <sys/socket.h>

#include <memory>

#include "errors.h"
#include "modules.h"
#include "poll_handle.h"

namespace ocs {
namespace {

class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {
                           InstanceMethod("start", &FdWatcher::Start),
                           InstanceMethod("stop", &FdWatcher::Stop),
                           InstanceMethod("close", &FdWatcher::Close),
                           InstanceMethod("ref", &FdWatcher::RefLoop),
                           InstanceMethod("unref", &FdWatcher::UnrefLoop),
                       });
  }

  explicit FdWatcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FdWatcher>(info) {
    Napi::Env env = info.Env();
    if (!ArgFd(info, 0, &fd_)) return;
    if (info.Length() < 2 || !info[1].IsFunction()) {
      ThrowType(env, "usage: new FdWatcher(fd, onEvent)");
      return;
    }
    cb_ = Napi::Persistent(info[1].As<Napi::Function>());
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int uverr = 0;
    poll_ = PollHandle::Create(loop, fd_, this, &FdWatcher::OnPoll, &uverr);
    if (poll_ == nullptr) {
      ThrowErrno(env, -uverr, "uv_poll_init", "fd " + std::to_string(fd_));
      return;
    }
    async_ = std::make_unique<Napi::AsyncContext>(env, "ocserv.FdWatcher",
                                                  info.This().As<Napi::Object>());
  }

  ~FdWatcher() override { Shutdown(true); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (poll_ == nullptr) {
      Napi::Error::New(env, "FdWatcher is closed").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    bool r = info.Length() > 0 && info[0].ToBoolean().Value();
    bool w = info.Length() > 1 && info[1].ToBoolean().Value();
    SetEvents((r ? UV_READABLE : 0) | (w ? UV_WRITABLE : 0));
    return env.Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    SetEvents(0);
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(false);
    return info.Env().Undefined();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) poll_->SetLoopRef(true);
    return info.This();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr) poll_->SetLoopRef(false);
    return info.This();
  }

  void SetEvents(int ev) {
    if (poll_ == nullptr) return;
    poll_->Set(ev);
    // Kept alive by the loop while watching, collectable when idle.
    if (ev != 0 && !gcRef_) {
      Ref();
      gcRef_ = true;
    } else if (ev == 0 && gcRef_) {
      Unref();
      gcRef_ = false;
    }
  }

  void Shutdown(bool fromFinalizer) {
    if (poll_ == nullptr) return;
    poll_->Close();
    poll_ = nullptr;
    if (!fromFinalizer) {
      if (gcRef_) Unref();
      gcRef_ = false;
      cb_.Reset();
    }
  }

  static void OnPoll(void* p, int status, int events) {
    FdWatcher* self = static_cast<FdWatcher*>(p);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    Napi::Object pin = self->Value();
    (void)pin;
    Napi::Value err = env.Null();
    if (status < 0) {
      // libuv stopped the handle on POLLERR; tell JS why and let it decide
      // whether to start() again.
      self->poll_->MarkStopped();
      int soerr = 0;
      socklen_t len = sizeof(soerr);
      int e = (getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
                  ? soerr
                  : -status;
      err = ErrnoError(env, e, "poll", "fd " + std::to_string(self->fd_)).Value();
      self->SetEvents(0);
    }
    self->cb_.MakeCallback(self->Value(),
                           {err, Napi::Boolean::New(env, (events & UV_READABLE) != 0),
                            Napi::Boolean::New(env, (events & UV_WRITABLE) != 0)},
                           *self->async_);
    if (env.IsExceptionPending())
      napi_fatal_exception(env, env.GetAndClearPendingException().Value());
  }

  int fd_ = -1;
  bool gcRef_ = false;
  PollHandle* poll_ = nullptr;
  Napi::FunctionReference cb_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace

void InitFdWatcher(Napi::Env env, Napi::Object exports) {
  exports.Set("FdWatcher", FdWatcher::Define(env));
}

}  // namespace ocs
