// One-shot HMACs on the login path, with OpenSSL's HMAC() from Node's own OpenSSL:
// - hmac(hash, key, data): for the MACs computed once or twice per login (main's proof of a
//   client to sec-mod, the TLS 1.3 key schedule of a tunnel's native CSTP reader). node:crypto's
//   Hmac is an object with a key import and a stream behind it: code that runs once per login
//   stays cold, and one such MAC cost 50 to 100 us there, this call a few.
// - tlsPHash(hash, secret, seed, length): TLS's P_hash (RFC 5246 section 5), the expansion under
//   the DTLS PRF of every handshake (master secret, key block, both Finished), two HMACs per
//   block and a dozen and more per handshake.
#include <napi.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>
#include <vector>

#include "modules.h"

namespace ocs {
namespace {

const EVP_MD* DigestByName(const std::string& name) {
  if (name == "sha256") return EVP_sha256();
  if (name == "sha384") return EVP_sha384();
  if (name == "sha1") return EVP_sha1();
  if (name == "md5") return EVP_md5();
  return nullptr;
}

// an empty Buffer may have no storage at all, and OpenSSL's HMAC() fails on a null key or data
const uint8_t kEmpty[1] = {0};
const uint8_t* Bytes(const Napi::Buffer<uint8_t>& b) { return b.Length() ? b.Data() : kEmpty; }

// the PRF's outputs are at most a key block (a few hundred bytes); this bounds a caller's mistake
constexpr uint32_t kMaxLength = 1024;

// The arguments both functions start with: a hash name and two Buffers (and for tlsPHash a
// length). False, with a JavaScript exception pending, when they are not that.
bool DigestArgs(const Napi::CallbackInfo& info, const char* name, const char* usage, bool withLength, const EVP_MD** md) {
  Napi::Env env = info.Env();
  if (info.Length() < (withLength ? 4u : 3u) || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsBuffer() || (withLength && !info[3].IsNumber())) {
    Napi::TypeError::New(env, usage).ThrowAsJavaScriptException();
    return false;
  }
  *md = DigestByName(info[0].As<Napi::String>().Utf8Value());
  if (*md == nullptr) {
    Napi::TypeError::New(env, std::string(name) + ": hash must be sha256, sha384, sha1 or md5").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

Napi::Value Hmac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EVP_MD* md;
  if (!DigestArgs(info, "hmac", "hmac(hash: string, key: Buffer, data: Buffer)", false, &md)) return env.Undefined();
  auto key = info[1].As<Napi::Buffer<uint8_t>>();
  auto data = info[2].As<Napi::Buffer<uint8_t>>();
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(md, Bytes(key), static_cast<int>(key.Length()), Bytes(data), data.Length(), mac, &len) == nullptr) {
    Napi::Error::New(env, "hmac: HMAC failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Buffer<uint8_t>::Copy(env, mac, len);
}

Napi::Value TlsPHash(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const EVP_MD* md;
  if (!DigestArgs(info, "tlsPHash", "tlsPHash(hash: string, secret: Buffer, seed: Buffer, length: number)", true, &md)) return env.Undefined();
  auto secret = info[1].As<Napi::Buffer<uint8_t>>();
  auto seed = info[2].As<Napi::Buffer<uint8_t>>();
  const uint32_t len = info[3].As<Napi::Number>().Uint32Value();
  if (len == 0 || len > kMaxLength) {
    Napi::RangeError::New(env, "tlsPHash: length must be 1 to 1024").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const size_t mdLen = EVP_MD_get_size(md);
  // A(i) followed by the seed: A(i+1) = HMAC(A(i)), block i = HMAC(A(i) | seed)
  std::vector<uint8_t> aSeed(mdLen + seed.Length());
  if (seed.Length()) std::memcpy(aSeed.data() + mdLen, seed.Data(), seed.Length());
  uint8_t block[EVP_MAX_MD_SIZE];
  unsigned int outLen = 0;
  auto out = Napi::Buffer<uint8_t>::New(env, len);
  bool ok = HMAC(md, Bytes(secret), static_cast<int>(secret.Length()), Bytes(seed), seed.Length(), aSeed.data(), &outLen) != nullptr;
  for (uint32_t done = 0; ok && done < len;) {
    ok = HMAC(md, Bytes(secret), static_cast<int>(secret.Length()), aSeed.data(), aSeed.size(), block, &outLen) != nullptr;
    if (!ok) break;
    const uint32_t n = std::min<uint32_t>(len - done, outLen);
    std::memcpy(out.Data() + done, block, n);
    done += n;
    if (done < len) {
      // the next A(i) goes through block: HMAC() is not documented to allow input and output to overlap
      ok = HMAC(md, Bytes(secret), static_cast<int>(secret.Length()), aSeed.data(), mdLen, block, &outLen) != nullptr;
      std::memcpy(aSeed.data(), block, mdLen);
    }
  }
  OPENSSL_cleanse(block, sizeof block);
  OPENSSL_cleanse(aSeed.data(), mdLen);
  if (!ok) {
    Napi::Error::New(env, "tlsPHash: HMAC failed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return out;
}

}  // namespace

void InitHmac(Napi::Env env, Napi::Object exports) {
  exports.Set("hmac", Napi::Function::New(env, Hmac, "hmac"));
  exports.Set("tlsPHash", Napi::Function::New(env, TlsPHash, "tlsPHash"));
}

}  // namespace ocs
