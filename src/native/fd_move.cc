// moveFd(from, to): dup3 + close. The key engine in a worker reaches sec-mod through one
// fd number fixed in its key identifiers; when sec-mod is restarted, the new socket is
// moved onto that number, so the TLS contexts built earlier keep working.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <unistd.h>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

Napi::Value MoveFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int from, to;
  if (!ArgFd(info, 0, &from) || !ArgFd(info, 1, &to)) return env.Undefined();
  if (from == to) return env.Undefined();
  int r;
  do r = dup3(from, to, O_CLOEXEC); while (r < 0 && errno == EINTR);
  if (r < 0) return ThrowErrno(env, errno, "dup3");
  close(from);
  return env.Undefined();
}

}  // namespace

void InitFdMove(Napi::Env env, Napi::Object exports) {
  exports.Set("moveFd", Napi::Function::New(env, MoveFd, "moveFd"));
}

}  // namespace ocs
