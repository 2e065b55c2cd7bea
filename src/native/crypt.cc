// cryptAsync(key, setting): the system's crypt(3) (libxcrypt) on the libuv threadpool, so
// sec-mod checks a password file entry as ocserv does — every scheme the system knows
// ($6$, $5$, $y$ yescrypt, $2b$ bcrypt) — at C speed and without blocking its event loop
// while twenty clients log in at once. Resolves with the hash, or null for a setting
// crypt(3) refuses (an unknown or malformed scheme).
#include <crypt.h>
#include <napi.h>
#include <string.h>

#include <memory>
#include <string>

#include "modules.h"

namespace ocs {
namespace {

class CryptWorker : public Napi::AsyncWorker {
 public:
  CryptWorker(Napi::Env env, std::string key, std::string setting)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), key_(std::move(key)), setting_(std::move(setting)) {}

  ~CryptWorker() override {
    explicit_bzero(key_.data(), key_.size());
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    // struct crypt_data is tens of kB: not for a threadpool stack
    auto data = std::make_unique<struct crypt_data>();
    memset(data.get(), 0, sizeof(struct crypt_data));
    const char* out = crypt_rn(key_.c_str(), setting_.c_str(), data.get(), sizeof(struct crypt_data));
    // libxcrypt's failure token starts with '*'
    if (out != nullptr && out[0] != '*') {
      ok_ = true;
      result_ = out;
    }
    explicit_bzero(data.get(), sizeof(struct crypt_data));
  }

  void OnOK() override {
    Napi::Env env = Env();
    deferred_.Resolve(ok_ ? Napi::String::New(env, result_) : env.Null());
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string key_;
  std::string setting_;
  std::string result_;
  bool ok_ = false;
};

Napi::Value CryptAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "cryptAsync(key: string, setting: string)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string key = info[0].As<Napi::String>().Utf8Value();
  std::string setting = info[1].As<Napi::String>().Utf8Value();
  // crypt(3) stops at a NUL; a key or setting with one inside is not what was meant
  if (key.find('\0') != std::string::npos || setting.find('\0') != std::string::npos || key.size() > 4096 || setting.size() > 512) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Resolve(env.Null());
    return d.Promise();
  }
  auto* w = new CryptWorker(env, std::move(key), std::move(setting));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitCrypt(Napi::Env env, Napi::Object exports) {
  exports.Set("cryptAsync", Napi::Function::New(env, CryptAsync));
}

}  // namespace ocs
