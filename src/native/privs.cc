// Least privilege for the process tree: main keeps the few capabilities it still uses
// after start-up (and children started later can regain no more, because the bounding set
// shrinks too), and workers set no_new_privs so nothing they exec gains any. With
// chroot-dir, a worker starts as root and confines itself (chrootTo, becomeUser).
// Raw capset/prctl: libcap is not something a fresh machine is guaranteed to have.
#include <errno.h>
#include <napi.h>
#include <grp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <string>

#include "caps_all_threads.h"
#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

// capsLimit(keep: number[]): for every thread of the process, bounding, permitted and
// effective sets become keep (what of it the thread has), inheritable and ambient become
// empty. The bounding set needs CAP_SETPCAP, which goes last (with the rest) unless kept.
// Capabilities are per thread, hence LimitAllThreads (src/native/caps_all_threads.cc).
Napi::Value CapsLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) return ThrowType(env, "capsLimit(keep: number[])");
  auto arr = info[0].As<Napi::Array>();
  uint64_t keep = 0;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr.Get(i);
    if (!v.IsNumber()) return ThrowType(env, "capability numbers expected");
    int c = v.As<Napi::Number>().Int32Value();
    if (c < 0 || c > 63) return ThrowType(env, "capability number out of range");
    keep |= 1ULL << c;
  }
  CapsFailure why;
  if (!LimitAllThreads(keep, &why)) return ThrowErrno(env, why.err, why.call, why.detail);
  return env.Undefined();
}

Napi::Value NoNewPrivs(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ThrowErrno(info.Env(), errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  return info.Env().Undefined();
}

// chrootTo(dir): chdir there, make it the root, and stand at its "/" (chroot-dir). The
// root directory is shared by every thread of the process.
Napi::Value ChrootTo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir;
  if (!ArgString(info, 0, "dir", &dir)) return env.Undefined();
  if (chdir(dir.c_str()) != 0) return ThrowErrno(env, errno, "chdir", dir);
  if (chroot(".") != 0) return ThrowErrno(env, errno, "chroot", dir);
  if (chdir("/") != 0) return ThrowErrno(env, errno, "chdir", "/ in " + dir);
  return env.Undefined();
}

// becomeUser(uid, gid): the group list becomes just gid, then real, effective and saved
// ids all change, so nothing can be regained; leaving uid 0 empties the capability sets.
// glibc applies set*id to every thread of the process.
Napi::Value BecomeUser(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t uid, gid;
  if (!ArgInt(info, 0, "uid", 0, UINT32_MAX - 1, &uid) || !ArgInt(info, 1, "gid", 0, UINT32_MAX - 1, &gid)) return env.Undefined();
  gid_t g = static_cast<gid_t>(gid);
  uid_t u = static_cast<uid_t>(uid);
  if (setgroups(1, &g) != 0) return ThrowErrno(env, errno, "setgroups", std::to_string(gid));
  if (setresgid(g, g, g) != 0) return ThrowErrno(env, errno, "setresgid", std::to_string(gid));
  if (setresuid(u, u, u) != 0) return ThrowErrno(env, errno, "setresuid", std::to_string(uid));
  return env.Undefined();
}

}  // namespace

void InitPrivs(Napi::Env env, Napi::Object exports) {
  exports.Set("capsLimit", Napi::Function::New(env, CapsLimit, "capsLimit"));
  exports.Set("noNewPrivs", Napi::Function::New(env, NoNewPrivs, "noNewPrivs"));
  exports.Set("chrootTo", Napi::Function::New(env, ChrootTo, "chrootTo"));
  exports.Set("becomeUser", Napi::Function::New(env, BecomeUser, "becomeUser"));
}

}  // namespace ocs
