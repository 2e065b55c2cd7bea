#include "errors.h"

#include <string.h>

#include <cmath>

namespace ocs {

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& detail) {
  // strerrorname_np gives the symbolic name (glibc >= 2.32) for every errno,
  // including ones libuv has no UV_E* constant for (EBADFD, ...).
  const char* name = strerrorname_np(err);
  std::string code = name ? name : ("E" + std::to_string(err));
  std::string msg = syscall;
  if (!detail.empty()) msg += " (" + detail + ")";
  msg += ": ";
  msg += strerror(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  // Negative like libuv/Node, so err.errno compares equal to what
  // node:fs and node:net report for the same failure.
  e.Set("errno", Napi::Number::New(env, -err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall,
                       const std::string& detail) {
  ErrnoError(env, err, syscall, detail).ThrowAsJavaScriptException();
  return env.Undefined();
}

Napi::Value ThrowType(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name,
            int64_t min, int64_t max, int64_t* out) {
  Napi::Env env = info.Env();
  if (i >= info.Length() || !info[i].IsNumber()) {
    ThrowType(env, std::string(name) + " must be a number");
    return false;
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(min) ||
      d > static_cast<double>(max)) {
    Napi::RangeError::New(env, std::string(name) + " must be an integer in [" +
                                   std::to_string(min) + ", " +
                                   std::to_string(max) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<int64_t>(d);
  return true;
}

bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* out) {
  int64_t v;
  if (!ArgInt(info, i, "fd", 0, INT32_MAX, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name,
               std::string* out) {
  if (i >= info.Length() || !info[i].IsString()) {
    ThrowType(info.Env(), std::string(name) + " must be a string");
    return false;
  }
  *out = info[i].As<Napi::String>().Utf8Value();
  // Every string here ends up as a C string (path, interface name, address);
  // an embedded NUL would silently truncate it.
  if (out->find('\0') != std::string::npos) {
    ThrowType(info.Env(), std::string(name) + " must not contain NUL");
    return false;
  }
  return true;
}

bool OptBool(Napi::Env env, Napi::Object opts, const char* key, bool def, bool* out) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) {
    *out = def;
    return true;
  }
  if (!v.IsBoolean()) {
    ThrowType(env, std::string("opts.") + key + " must be a boolean");
    return false;
  }
  *out = v.As<Napi::Boolean>().Value();
  return true;
}

}  // namespace ocs
