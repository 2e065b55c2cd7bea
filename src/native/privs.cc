// Least privilege for the process tree: main keeps the few capabilities it still uses
// after start-up (and children started later can regain no more, because the bounding set
// shrinks too), and workers set no_new_privs so nothing they exec gains any.
// Raw capset/prctl: libcap is not something a fresh machine is guaranteed to have.
#include <errno.h>
#include <linux/capability.h>
#include <napi.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

int LastCap() {
  int last = CAP_LAST_CAP;
  if (FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    fclose(f);
  }
  return last;
}

// capsLimit(keep: number[]): bounding, permitted and effective sets become keep (what of
// it the process has), inheritable and ambient become empty. The bounding set needs
// CAP_SETPCAP, which goes last (with the rest) unless kept.
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
  int last = LastCap();
  // Without CAP_SETPCAP (a sec-mod restarted by a main that already dropped it) the
  // bounding set stays as the parent left it; permitted and effective still shrink below.
  bool canDropBounding = prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) == 1;
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) return ThrowErrno(env, errno, "capget");
  canDropBounding = canDropBounding && (data[0].effective & (1U << CAP_SETPCAP));
  for (int c = 0; canDropBounding && c <= last; c++) {
    if ((keep & (1ULL << c)) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) return ThrowErrno(env, errno, "prctl", "PR_CAPBSET_DROP");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return ThrowErrno(env, errno, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  }
  for (int i = 0; i < 2; i++) {
    uint32_t k = static_cast<uint32_t>(keep >> (32 * i));
    data[i].permitted &= k;
    data[i].effective &= k;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) return ThrowErrno(env, errno, "capset");
  return env.Undefined();
}

Napi::Value NoNewPrivs(const Napi::CallbackInfo& info) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ThrowErrno(info.Env(), errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  return info.Env().Undefined();
}

}  // namespace

void InitPrivs(Napi::Env env, Napi::Object exports) {
  exports.Set("capsLimit", Napi::Function::New(env, CapsLimit, "capsLimit"));
  exports.Set("noNewPrivs", Napi::Function::New(env, NoNewPrivs, "noNewPrivs"));
}

}  // namespace ocs
