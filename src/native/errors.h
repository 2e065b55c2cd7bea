// Error construction and argument checking shared by all bindings.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace ocs {

// Shaped like Node's own system errors (code, negative errno, syscall) so
// TypeScript callers can handle them exactly like fs/net errors.
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall,
                       const std::string& detail = std::string());

// Throw helpers return undefined so bindings can `return Throw...(...)`.
Napi::Value ThrowErrno(Napi::Env env, int err, const char* syscall,
                       const std::string& detail = std::string());
Napi::Value ThrowType(Napi::Env env, const std::string& msg);

// Each returns false after throwing a TypeError/RangeError, so callers only
// need `if (!ArgX(...)) return env.Undefined();`.
bool ArgInt(const Napi::CallbackInfo& info, size_t i, const char* name,
            int64_t min, int64_t max, int64_t* out);
bool ArgFd(const Napi::CallbackInfo& info, size_t i, int* out);
bool ArgString(const Napi::CallbackInfo& info, size_t i, const char* name,
               std::string* out);
// opts[key] as a boolean: def when absent, a TypeError naming opts.key otherwise.
bool OptBool(Napi::Env env, Napi::Object opts, const char* key, bool def, bool* out);

}  // namespace ocs
