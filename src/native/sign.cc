// KeySigner: sec-mod's private-key operation for a TLS handshake it does not run. The
// worker's engine (src/native/engine) sends what OpenSSL wants signed — an ECDSA digest,
// a PKCS#1 DigestInfo, or a PSS-encoded block — and this signs it as it is: node:crypto
// always hashes its input, so it cannot sign a digest someone else computed.
#include <napi.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <string>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

std::string OpensslError(const char* what) {
  char buf[256];
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return what;
  ERR_error_string_n(e, buf, sizeof buf);
  return std::string(what) + ": " + buf;
}

class KeySigner : public Napi::ObjectWrap<KeySigner> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "KeySigner",
                       {InstanceMethod("sign", &KeySigner::Sign),
                        InstanceMethod("publicKey", &KeySigner::PublicKey),
                        InstanceMethod("destroy", &KeySigner::Destroy),
                        InstanceAccessor("type", &KeySigner::Type, nullptr),
                        InstanceAccessor("bits", &KeySigner::Bits, nullptr),
                        InstanceAccessor("size", &KeySigner::Size, nullptr)});
  }

  // new KeySigner(pem: Buffer): the caller wipes its buffer afterwards.
  explicit KeySigner(const Napi::CallbackInfo& info) : Napi::ObjectWrap<KeySigner>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsBuffer()) {
      Napi::TypeError::New(env, "KeySigner(pem: Buffer)").ThrowAsJavaScriptException();
      return;
    }
    auto pem = info[0].As<Napi::Buffer<uint8_t>>();
    BIO* bio = BIO_new_mem_buf(pem.Data(), static_cast<int>(pem.Length()));
    // No passphrase callback: an encrypted key must fail here, not prompt on a terminal.
    key_ = bio ? PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr) : nullptr;
    BIO_free(bio);
    if (!key_) {
      Napi::Error::New(env, OpensslError("cannot read the private key")).ThrowAsJavaScriptException();
      return;
    }
    int id = EVP_PKEY_get_base_id(key_);
    if (id != EVP_PKEY_EC && id != EVP_PKEY_RSA) {
      EVP_PKEY_free(key_);
      key_ = nullptr;
      Napi::Error::New(env, "only EC and RSA server keys are supported").ThrowAsJavaScriptException();
    }
  }

  ~KeySigner() override { EVP_PKEY_free(key_); }

 private:
  static int NoPassphrase(char*, int, int, void*) { return -1; }

  bool Live(Napi::Env env) {
    if (key_) return true;
    Napi::Error::New(env, "KeySigner destroyed").ThrowAsJavaScriptException();
    return false;
  }

  Napi::Value Type(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::String::New(info.Env(), EVP_PKEY_get_base_id(key_) == EVP_PKEY_EC ? "ec" : "rsa");
  }

  Napi::Value Bits(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), EVP_PKEY_get_bits(key_));
  }

  // Largest signature: DER ECDSA signature, or the RSA modulus length.
  Napi::Value Size(const Napi::CallbackInfo& info) {
    if (!Live(info.Env())) return info.Env().Undefined();
    return Napi::Number::New(info.Env(), EVP_PKEY_get_size(key_));
  }

  // DER SubjectPublicKeyInfo, to match keys with certificates.
  Napi::Value PublicKey(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    unsigned char* der = nullptr;
    int len = i2d_PUBKEY(key_, &der);
    if (len <= 0) {
      Napi::Error::New(env, OpensslError("i2d_PUBKEY")).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    auto out = Napi::Buffer<uint8_t>::Copy(env, der, static_cast<size_t>(len));
    OPENSSL_free(der);
    return out;
  }

  // sign(data: Buffer, padding: 'ecdsa' | 'pkcs1' | 'none') -> Buffer
  // 'pkcs1' pads a DigestInfo (EMSA-PKCS1-v1_5), 'none' is the raw RSA private operation
  // on a modulus-sized block.
  Napi::Value Sign(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Live(env)) return env.Undefined();
    if (info.Length() < 2 || !info[0].IsBuffer() || !info[1].IsString()) {
      return ThrowType(env, "sign(data: Buffer, padding: string)");
    }
    auto data = info[0].As<Napi::Buffer<uint8_t>>();
    std::string padding = info[1].As<Napi::String>();
    bool ec = EVP_PKEY_get_base_id(key_) == EVP_PKEY_EC;
    int rsaPad = padding == "pkcs1" ? RSA_PKCS1_PADDING : padding == "none" ? RSA_NO_PADDING : -1;
    if (ec ? padding != "ecdsa" : rsaPad < 0) return ThrowType(env, "padding does not suit this key");
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key_, nullptr);
    size_t len = 0;
    bool ok = ctx && EVP_PKEY_sign_init(ctx) == 1 &&
              (ec || EVP_PKEY_CTX_set_rsa_padding(ctx, rsaPad) == 1) &&
              EVP_PKEY_sign(ctx, nullptr, &len, data.Data(), data.Length()) == 1;
    Napi::Buffer<uint8_t> out;
    if (ok) {
      out = Napi::Buffer<uint8_t>::New(env, len);
      ok = EVP_PKEY_sign(ctx, out.Data(), &len, data.Data(), data.Length()) == 1;
    }
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
      Napi::Error::New(env, OpensslError("EVP_PKEY_sign")).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // ECDSA signatures vary in length; the buffer was sized for the longest.
    return len == out.Length() ? out : Napi::Buffer<uint8_t>::Copy(env, out.Data(), len);
  }

  Napi::Value Destroy(const Napi::CallbackInfo& info) {
    EVP_PKEY_free(key_);
    key_ = nullptr;
    return info.Env().Undefined();
  }

  EVP_PKEY* key_ = nullptr;
};

}  // namespace

void InitSign(Napi::Env env, Napi::Object exports) {
  exports.Set("KeySigner", KeySigner::Define(env));
}

}  // namespace ocs
