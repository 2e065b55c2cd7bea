// Record-layer AEAD for DTLS (AES-GCM, ChaCha20-Poly1305) with a key schedule set up once
// per direction and reused for every record: node:crypto would build a new cipher object
// per packet, which dominated the cost of the DTLS data path.
//
// Record format (RFC 6347, RFC 5288, RFC 7905): 13-byte header; for GCM an 8-byte explicit
// nonce (epoch|seq) then ciphertext and a 16-byte tag; for ChaCha20 ciphertext and tag.
// Additional data: epoch|seq (8), type, version, plaintext length.
#include <napi.h>
#include <openssl/evp.h>

#include <cstring>
#include <string>

#include "modules.h"

namespace ocs {
namespace {

constexpr size_t kHeader = 13;
constexpr size_t kTag = 16;

void PutSeq(uint8_t* p, uint32_t epoch, uint64_t seq) {
  p[0] = epoch >> 8;
  p[1] = epoch & 0xff;
  for (int i = 0; i < 6; i++) p[2 + i] = (seq >> (40 - 8 * i)) & 0xff;
}

class Aead : public Napi::ObjectWrap<Aead> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Aead",
                       {InstanceMethod("seal", &Aead::Seal), InstanceMethod("sealSpans", &Aead::SealSpans),
                        InstanceMethod("open", &Aead::Open)});
  }

  explicit Aead(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Aead>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsString() || !info[1].IsBuffer() || !info[2].IsBuffer()) {
      Napi::TypeError::New(env, "Aead(alg, key, iv)").ThrowAsJavaScriptException();
      return;
    }
    std::string alg = info[0].As<Napi::String>();
    auto key = info[1].As<Napi::Buffer<uint8_t>>();
    auto iv = info[2].As<Napi::Buffer<uint8_t>>();
    const EVP_CIPHER* c = nullptr;
    if (alg == "aes-128-gcm") c = EVP_aes_128_gcm();
    else if (alg == "aes-256-gcm") c = EVP_aes_256_gcm();
    else if (alg == "chacha20-poly1305") c = EVP_chacha20_poly1305();
    chacha_ = alg == "chacha20-poly1305";
    size_t ivLen = chacha_ ? 12 : 4;
    if (!c || static_cast<size_t>(EVP_CIPHER_get_key_length(c)) != key.Length() || iv.Length() != ivLen) {
      Napi::TypeError::New(env, "Aead: unsupported algorithm or wrong key/iv length").ThrowAsJavaScriptException();
      return;
    }
    memcpy(iv_, iv.Data(), ivLen);
    enc_ = EVP_CIPHER_CTX_new();
    dec_ = EVP_CIPHER_CTX_new();
    if (!enc_ || !dec_ || EVP_EncryptInit_ex(enc_, c, nullptr, key.Data(), nullptr) != 1 ||
        EVP_DecryptInit_ex(dec_, c, nullptr, key.Data(), nullptr) != 1) {
      Napi::Error::New(env, "Aead: cipher initialisation failed").ThrowAsJavaScriptException();
    }
  }

  ~Aead() override {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
  }

 private:
  void Nonce(uint8_t out[12], uint32_t epoch, uint64_t seq) const {
    uint8_t s[8];
    PutSeq(s, epoch, seq);
    if (chacha_) {
      memcpy(out, iv_, 12);
      for (int i = 0; i < 8; i++) out[4 + i] ^= s[i];
    } else {
      memcpy(out, iv_, 4);
      memcpy(out + 4, s, 8);
    }
  }

  size_t Overhead() const { return (chacha_ ? 0 : 8) + kTag; }

  // One record at p (header, explicit nonce, ciphertext of prefix + packet, tag); false
  // when OpenSSL fails. Returns the record's length in *recLen.
  bool SealOne(uint8_t* p, uint32_t type, uint32_t version, uint32_t epoch, uint64_t seq,
               const uint8_t* prefix, size_t prefixLen, const uint8_t* pkt, size_t pktLen,
               size_t* recLen) {
    size_t ptLen = prefixLen + pktLen;
    size_t fragLen = Overhead() + ptLen;
    p[0] = type;
    p[1] = version >> 8;
    p[2] = version & 0xff;
    PutSeq(p + 3, epoch, seq);
    p[11] = fragLen >> 8;
    p[12] = fragLen & 0xff;
    uint8_t nonce[12];
    Nonce(nonce, epoch, seq);
    uint8_t* body = p + kHeader;
    if (!chacha_) {
      memcpy(body, nonce + 4, 8);
      body += 8;
    }
    uint8_t ad[13];
    memcpy(ad, p + 3, 8);
    ad[8] = type;
    ad[9] = p[1];
    ad[10] = p[2];
    ad[11] = ptLen >> 8;
    ad[12] = ptLen & 0xff;
    int len = 0;
    *recLen = kHeader + fragLen;
    return EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce) == 1 &&
           EVP_EncryptUpdate(enc_, nullptr, &len, ad, sizeof ad) == 1 &&
           (prefixLen == 0 || EVP_EncryptUpdate(enc_, body, &len, prefix, static_cast<int>(prefixLen)) == 1) &&
           EVP_EncryptUpdate(enc_, body + prefixLen, &len, pkt, static_cast<int>(pktLen)) == 1 &&
           EVP_EncryptFinal_ex(enc_, body + ptLen, &len) == 1 &&
           EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, kTag, body + ptLen) == 1;
  }

  // seal(type, version, epoch, firstSeq, prefix: Buffer, packets: Buffer[]) -> Buffer
  // All records back to back, record i sealing prefix + packets[i] with sequence firstSeq+i.
  Napi::Value Seal(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t type = info[0].As<Napi::Number>().Uint32Value();
    uint32_t version = info[1].As<Napi::Number>().Uint32Value();
    uint32_t epoch = info[2].As<Napi::Number>().Uint32Value();
    uint64_t seq = static_cast<uint64_t>(info[3].As<Napi::Number>().DoubleValue());
    auto prefix = info[4].As<Napi::Buffer<uint8_t>>();
    auto packets = info[5].As<Napi::Array>();
    uint32_t n = packets.Length();
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
      total += kHeader + Overhead() + prefix.Length() + packets.Get(i).As<Napi::Buffer<uint8_t>>().Length();
    }
    auto out = Napi::Buffer<uint8_t>::New(env, total);
    uint8_t* p = out.Data();
    for (uint32_t i = 0; i < n; i++, seq++) {
      auto pkt = packets.Get(i).As<Napi::Buffer<uint8_t>>();
      size_t recLen;
      if (!SealOne(p, type, version, epoch, seq, prefix.Data(), prefix.Length(), pkt.Data(), pkt.Length(), &recLen)) {
        Napi::Error::New(env, "Aead: seal failed").ThrowAsJavaScriptException();
        return env.Null();
      }
      p += recLen;
    }
    return out;
  }

  // sealSpans(type, version, epoch, firstSeq, prefix: Buffer, src: Buffer, spans: Uint32Array,
  //           count, out: Buffer, outLengths: Uint32Array) -> bytes written to out
  // The data path's seal: packet i is src[spans[2i], +spans[2i+1]); its record goes into
  // the caller's out, back to back, and its length into outLengths[i]. Nothing is
  // allocated, so a busy tunnel makes no garbage.
  Napi::Value SealSpans(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 10 || !info[4].IsBuffer() || !info[5].IsBuffer() || !info[6].IsTypedArray() ||
        !info[8].IsBuffer() || !info[9].IsTypedArray() ||
        info[6].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array ||
        info[9].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array) {
      Napi::TypeError::New(env, "sealSpans(type, version, epoch, firstSeq, prefix, src, spans, count, out, outLengths)")
          .ThrowAsJavaScriptException();
      return env.Null();
    }
    uint32_t type = info[0].As<Napi::Number>().Uint32Value();
    uint32_t version = info[1].As<Napi::Number>().Uint32Value();
    uint32_t epoch = info[2].As<Napi::Number>().Uint32Value();
    uint64_t seq = static_cast<uint64_t>(info[3].As<Napi::Number>().DoubleValue());
    auto prefix = info[4].As<Napi::Buffer<uint8_t>>();
    auto src = info[5].As<Napi::Buffer<uint8_t>>();
    auto spans = info[6].As<Napi::Uint32Array>();
    double count = info[7].As<Napi::Number>().DoubleValue();
    auto out = info[8].As<Napi::Buffer<uint8_t>>();
    auto outLens = info[9].As<Napi::Uint32Array>();
    if (!(count >= 0) || count * 2 > spans.ElementLength() || count > outLens.ElementLength()) {
      Napi::RangeError::New(env, "sealSpans: count exceeds spans or outLengths").ThrowAsJavaScriptException();
      return env.Null();
    }
    size_t n = static_cast<size_t>(count);
    size_t off = 0;
    for (size_t i = 0; i < n; i++, seq++) {
      size_t at = spans[2 * i], len = spans[2 * i + 1];
      if (at > src.Length() || len > src.Length() - at ||
          kHeader + Overhead() + prefix.Length() + len > out.Length() - off) {
        Napi::RangeError::New(env, "sealSpans: a span lies outside src, or out is too small").ThrowAsJavaScriptException();
        return env.Null();
      }
      size_t recLen;
      if (!SealOne(out.Data() + off, type, version, epoch, seq, prefix.Data(), prefix.Length(), src.Data() + at, len, &recLen)) {
        Napi::Error::New(env, "Aead: seal failed").ThrowAsJavaScriptException();
        return env.Null();
      }
      outLens[i] = static_cast<uint32_t>(recLen);
      off += recLen;
    }
    return Napi::Number::New(env, static_cast<double>(off));
  }

  // open(type, version, epoch, seq, fragment) -> plaintext length, decrypted in place at
  // fragment offset explicitNonceLength; -1 when the record does not authenticate.
  Napi::Value Open(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    uint32_t type = info[0].As<Napi::Number>().Uint32Value();
    uint32_t version = info[1].As<Napi::Number>().Uint32Value();
    uint32_t epoch = info[2].As<Napi::Number>().Uint32Value();
    uint64_t seq = static_cast<uint64_t>(info[3].As<Napi::Number>().DoubleValue());
    auto frag = info[4].As<Napi::Buffer<uint8_t>>();
    size_t explicitLen = chacha_ ? 0 : 8;
    if (frag.Length() < explicitLen + kTag) return Napi::Number::New(env, -1);
    size_t ctLen = frag.Length() - explicitLen - kTag;
    uint8_t nonce[12];
    if (chacha_) {
      Nonce(nonce, epoch, seq);
    } else {
      memcpy(nonce, iv_, 4);
      memcpy(nonce + 4, frag.Data(), 8);
    }
    uint8_t ad[13];
    PutSeq(ad, epoch, seq);
    ad[8] = type;
    ad[9] = version >> 8;
    ad[10] = version & 0xff;
    ad[11] = ctLen >> 8;
    ad[12] = ctLen & 0xff;
    uint8_t* ct = frag.Data() + explicitLen;
    uint8_t tag[kTag];
    memcpy(tag, ct + ctLen, kTag);
    int len = 0;
    if (EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce) != 1 ||
        EVP_DecryptUpdate(dec_, nullptr, &len, ad, sizeof ad) != 1 ||
        EVP_DecryptUpdate(dec_, ct, &len, ct, static_cast<int>(ctLen)) != 1 ||
        EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, kTag, tag) != 1 ||
        EVP_DecryptFinal_ex(dec_, ct + len, &len) != 1) {
      return Napi::Number::New(env, -1);
    }
    return Napi::Number::New(env, static_cast<double>(ctLen));
  }

  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
  uint8_t iv_[12] = {0};
  bool chacha_ = false;
};

}  // namespace

void InitAead(Napi::Env env, Napi::Object exports) { exports.Set("Aead", Aead::Define(env)); }

}  // namespace ocs
