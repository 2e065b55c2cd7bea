// CstpReader: the client's half of an established CSTP channel, read from the TCP socket
// and opened here instead of by Node's TLS. Node hands JavaScript one callback per TLS
// record, and openconnect sends a record per packet: with many busy tunnels that per-record
// cost (a C++ to JavaScript call, a Buffer, the stream machinery) was most of a worker's
// user time. Here one readable event becomes one call with every frame it carried.
//
// TLS 1.3 only (RFC 8446 5.2-5.3): records of outer type application_data, AEAD with the
// client's application traffic key, nonce = iv XOR the 64-bit record sequence number,
// additional data = the 5-byte record header; the plaintext ends with its real content
// type and optional zero padding. The sequence number at the takeover is not known to
// JavaScript (Node does not expose OpenSSL's), so the first record is tried against the
// next `window` numbers, and the one that authenticates is taken.
//
// The frames (CSTP, 8-byte header 'S' 'T' 'F' 1, 16-bit length, type, 0) are delivered
// without headers, packed back to back in `slab`, their lengths and types in `lengths`
// and `types`: views of memory the next delivery reuses.
#include <errno.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "errors.h"
#include "modules.h"
#include "poll_handle.h"

namespace ocs {
namespace {

constexpr size_t kRecordHeader = 5;
constexpr size_t kTag = 16;
constexpr size_t kMaxCiphertext = 16384 + 256;
constexpr size_t kCstpHeader = 8;
// a read's worth after a partial record; allocated, not zeroed, so an idle session's
// buffers take no memory until used
constexpr size_t kInCap = 65536 + kRecordHeader + kMaxCiphertext;
// frames per delivery, and their bytes (plaintext is never longer than the ciphertext)
constexpr size_t kMaxFrames = 1024;
constexpr size_t kSlabCap = kInCap;
// reads per readable event, so one busy client cannot hold the loop
constexpr int kReadsPerEvent = 4;

class CstpReader : public Napi::ObjectWrap<CstpReader> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "CstpReader",
                       {InstanceMethod("start", &CstpReader::Start), InstanceMethod("close", &CstpReader::Close)});
  }

  // new CstpReader(fd, alg, key, iv, { onFrames, onKeyUpdate, onEnd }, window)
  explicit CstpReader(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CstpReader>(info) {
    Napi::Env env = info.Env();
    if (!ArgFd(info, 0, &fd_)) return;
    std::string alg;
    if (!ArgString(info, 1, "alg", &alg)) return;
    if (info.Length() < 5 || !info[2].IsBuffer() || !info[3].IsBuffer() || !info[4].IsObject()) {
      ThrowType(env, "usage: new CstpReader(fd, alg, key, iv, callbacks, window)");
      return;
    }
    if (alg == "aes-128-gcm") cipher_ = EVP_aes_128_gcm();
    else if (alg == "aes-256-gcm") cipher_ = EVP_aes_256_gcm();
    else if (alg == "chacha20-poly1305") cipher_ = EVP_chacha20_poly1305();
    if (cipher_ == nullptr) {
      ThrowType(env, "CstpReader: unsupported algorithm " + alg);
      return;
    }
    Napi::Object cbs = info[4].As<Napi::Object>();
    for (const char* name : {"onFrames", "onKeyUpdate", "onEnd"}) {
      if (!cbs.Get(name).IsFunction()) {
        ThrowType(env, std::string("CstpReader: callbacks.") + name + " must be a function");
        return;
      }
    }
    onFrames_ = Napi::Persistent(cbs.Get("onFrames").As<Napi::Function>());
    onKeyUpdate_ = Napi::Persistent(cbs.Get("onKeyUpdate").As<Napi::Function>());
    onEnd_ = Napi::Persistent(cbs.Get("onEnd").As<Napi::Function>());
    int64_t window = 64;
    if (info.Length() > 5 && !info[5].IsUndefined() && !ArgInt(info, 5, "window", 1, 4096, &window)) return;
    window_ = static_cast<uint64_t>(window);
    ctx_ = EVP_CIPHER_CTX_new();
    if (ctx_ == nullptr || !Rekey(info[2].As<Napi::Buffer<uint8_t>>(), info[3].As<Napi::Buffer<uint8_t>>())) {
      ThrowType(env, "CstpReader: wrong key or iv length");
      return;
    }
    in_.reset(new uint8_t[kInCap]);
    scratch_.reset(new uint8_t[kMaxCiphertext]);
    // not zeroed either (a Node buffer of this size would be): the slab owns it, and this
    // object holds the slab
    uint8_t* slabMem = new uint8_t[kSlabCap];
    Napi::Buffer<uint8_t> slab = Napi::Buffer<uint8_t>::New(env, slabMem, kSlabCap, [](Napi::Env, uint8_t* p) { delete[] p; });
    Napi::ArrayBuffer lens = Napi::ArrayBuffer::New(env, kMaxFrames * sizeof(uint32_t));
    Napi::ArrayBuffer types = Napi::ArrayBuffer::New(env, kMaxFrames);
    slab_ = slab.Data();
    lens_ = static_cast<uint32_t*>(lens.Data());
    types_ = static_cast<uint8_t*>(types.Data());
    Napi::Object self = info.This().As<Napi::Object>();
    self.Set("slab", slab);
    self.Set("lengths", Napi::Uint32Array::New(env, kMaxFrames, lens, 0));
    self.Set("types", Napi::Uint8Array::New(env, kMaxFrames, types, 0));
    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    int uverr = 0;
    poll_ = PollHandle::Create(loop, fd_, this, &CstpReader::OnPoll, &uverr);
    if (poll_ == nullptr) {
      ThrowErrno(env, -uverr, "uv_poll_init", "fd " + std::to_string(fd_));
      return;
    }
    async_ = std::make_unique<Napi::AsyncContext>(env, "ocserv.CstpReader", self);
  }

  ~CstpReader() override {
    Shutdown(true);
    if (ctx_ != nullptr) EVP_CIPHER_CTX_free(ctx_);
    OPENSSL_cleanse(iv_, sizeof(iv_));
  }

 private:
  bool Rekey(Napi::Buffer<uint8_t> key, Napi::Buffer<uint8_t> iv) {
    if (static_cast<size_t>(EVP_CIPHER_get_key_length(cipher_)) != key.Length() || iv.Length() != sizeof(iv_)) return false;
    if (EVP_DecryptInit_ex(ctx_, cipher_, nullptr, key.Data(), nullptr) != 1) return false;
    memcpy(iv_, iv.Data(), sizeof(iv_));
    seq_ = 0;
    return true;
  }

  Napi::Value Start(const Napi::CallbackInfo& info) {
    if (poll_ != nullptr && !ended_) {
      poll_->Set(UV_READABLE);
      if (!gcRef_) {
        Ref();
        gcRef_ = true;
      }
    }
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(false);
    return info.Env().Undefined();
  }

  void Shutdown(bool fromFinalizer) {
    // also stops a read loop that JavaScript closed the reader from (inside a callback)
    ended_ = true;
    if (poll_ != nullptr) {
      poll_->Close();
      poll_ = nullptr;
    }
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
    if (!fromFinalizer && gcRef_) {
      Unref();
      gcRef_ = false;
    }
  }

  // Opens the record at p (header + ciphertext) in place; false when it does not authenticate.
  bool Open(uint8_t* p, size_t ctLen, uint64_t seq, uint8_t* out) {
    uint8_t nonce[12];
    memcpy(nonce, iv_, 12);
    for (int i = 0; i < 8; i++) nonce[4 + i] ^= static_cast<uint8_t>(seq >> (56 - 8 * i));
    int n = 0;
    size_t body = ctLen - kTag;
    if (EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1) return false;
    if (EVP_DecryptUpdate(ctx_, nullptr, &n, p, kRecordHeader) != 1) return false;
    if (EVP_DecryptUpdate(ctx_, out, &n, p + kRecordHeader, static_cast<int>(body)) != 1) return false;
    if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTag, p + kRecordHeader + body) != 1) return false;
    return EVP_DecryptFinal_ex(ctx_, out + n, &n) == 1;
  }

  static void OnPoll(void* p, int status, int events) {
    CstpReader* self = static_cast<CstpReader*>(p);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    if (status < 0) {
      self->poll_->MarkStopped();
      self->End(std::string("read error: ") + uv_strerror(status), true);
      return;
    }
    (void)events;
    self->ReadAvailable();
  }

  void ReadAvailable() {
    for (int r = 0; r < kReadsPerEvent && !ended_; r++) {
      size_t space = kInCap - have_;
      ssize_t got = read(fd_, in_.get() + have_, space);
      if (got < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) End(std::string("read error: ") + strerror(errno), true);
        break;
      }
      if (got == 0) {
        Records();
        Deliver();
        End("eof", false);
        return;
      }
      have_ += static_cast<size_t>(got);
      Records();
      if (static_cast<size_t>(got) < space) break;  // drained for now
    }
    Deliver();
  }

  // Opens every whole record in in_, keeps a partial one at the front.
  void Records() {
    size_t off = 0;
    while (!ended_ && have_ - off >= kRecordHeader) {
      uint8_t* rec = in_.get() + off;
      size_t len = (static_cast<size_t>(rec[3]) << 8) | rec[4];
      if (rec[0] != 23 || rec[1] != 3 || len < kTag + 1 || len > kMaxCiphertext) {
        End("malformed TLS record from the client", true);
        return;
      }
      if (have_ - off < kRecordHeader + len) break;
      uint8_t* pt = rec + kRecordHeader;
      if (!synced_) {
        // out of place: a failed try must leave the ciphertext for the next
        bool found = false;
        for (uint64_t s = seq_; s < seq_ + window_; s++) {
          if (Open(rec, len, s, scratch_.get())) {
            seq_ = s;
            found = true;
            break;
          }
        }
        if (!found) {
          End("the client's first TLS record after CONNECT did not authenticate", true);
          return;
        }
        memcpy(pt, scratch_.get(), len - kTag);
        synced_ = true;
      } else if (!Open(rec, len, seq_, pt)) {
        End("a TLS record from the client did not authenticate", true);
        return;
      }
      seq_++;
      size_t n = len - kTag;
      while (n > 0 && pt[n - 1] == 0) n--;
      if (n == 0) {
        End("TLS record without a content type", true);
        return;
      }
      uint8_t type = pt[n - 1];
      n--;
      off += kRecordHeader + len;
      if (type == 23) {
        Cstp(pt, n);
      } else if (type == 21) {
        if (n >= 2 && pt[1] == 0) End("close_notify", false);
        else End("TLS alert " + std::to_string(n >= 2 ? pt[1] : 0) + " from the client", true);
      } else if (type == 22) {
        Handshake(pt, n);
      } else {
        End("unexpected TLS content type " + std::to_string(type), true);
      }
    }
    if (off > 0) {
      memmove(in_.get(), in_.get() + off, have_ - off);
      have_ -= off;
    }
  }

  // Post-handshake messages: only KeyUpdate (RFC 8446 4.6.3) may come from a client.
  void Handshake(const uint8_t* p, size_t n) {
    while (n >= 4 && !ended_) {
      size_t len = (static_cast<size_t>(p[1]) << 16) | (static_cast<size_t>(p[2]) << 8) | p[3];
      if (p[0] != 24 || len != 1 || n < 5) {
        End("unexpected TLS handshake message " + std::to_string(p[0]) + " from the client", true);
        return;
      }
      // what came before was opened with the old key: hand it over first
      Deliver();
      Napi::Value r = Call(onKeyUpdate_, {});
      if (ended_ || r.IsEmpty()) return;
      Napi::Array kv = r.IsArray() ? r.As<Napi::Array>() : Napi::Array::New(Env());
      if (kv.Length() != 2 || !kv.Get(0u).IsBuffer() || !kv.Get(1u).IsBuffer() ||
          !Rekey(kv.Get(0u).As<Napi::Buffer<uint8_t>>(), kv.Get(1u).As<Napi::Buffer<uint8_t>>())) {
        End("no key for the client's KeyUpdate", true);
        return;
      }
      // Rekey() restarted the sequence at 0 for the next record (this one was counted already)
      p += 5;
      n -= 5;
    }
    if (n != 0 && !ended_) End("truncated TLS handshake message from the client", true);
  }

  // Appends plaintext to the CSTP stream and cuts whole frames into the slab.
  void Cstp(const uint8_t* p, size_t n) {
    if (!carry_.empty()) {
      carry_.insert(carry_.end(), p, p + n);
      size_t used = Frames(carry_.data(), carry_.size());
      carry_.erase(carry_.begin(), carry_.begin() + static_cast<std::ptrdiff_t>(used));
      return;
    }
    size_t used = Frames(p, n);
    if (used < n) carry_.assign(p + used, p + n);
  }

  size_t Frames(const uint8_t* p, size_t n) {
    size_t off = 0;
    while (!ended_ && n - off >= kCstpHeader) {
      const uint8_t* h = p + off;
      if (h[0] != 'S' || h[1] != 'T' || h[2] != 'F' || h[3] != 1) {
        End("bad CSTP header magic", true);
        return n;
      }
      size_t len = (static_cast<size_t>(h[4]) << 8) | h[5];
      if (n - off < kCstpHeader + len) break;
      if (count_ == kMaxFrames || used_ + len > kSlabCap) Deliver();
      memcpy(slab_ + used_, h + kCstpHeader, len);
      used_ += len;
      lens_[count_] = static_cast<uint32_t>(len);
      types_[count_] = h[6];
      count_++;
      off += kCstpHeader + len;
    }
    return off;
  }

  void Deliver() {
    if (count_ == 0 || fd_ < 0) return;
    size_t count = count_;
    count_ = 0;
    used_ = 0;
    Call(onFrames_, {Napi::Number::New(Env(), static_cast<double>(count))});
  }

  void End(const std::string& reason, bool error) {
    if (ended_) return;
    ended_ = true;
    if (poll_ != nullptr) poll_->Set(0);
    Call(onEnd_, {Napi::String::New(Env(), reason), Napi::Boolean::New(Env(), error)});
  }

  // A callback from the loop: an exception in it is the process's, as from any I/O callback.
  Napi::Value Call(const Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args) {
    Napi::Env env = Env();
    Napi::Value r = fn.MakeCallback(Value(), args, *async_);
    if (env.IsExceptionPending()) napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    return r;
  }

  int fd_ = -1;
  const EVP_CIPHER* cipher_ = nullptr;
  EVP_CIPHER_CTX* ctx_ = nullptr;
  uint8_t iv_[12] = {};
  uint64_t seq_ = 0;
  uint64_t window_ = 64;
  bool synced_ = false;
  bool ended_ = false;
  bool gcRef_ = false;
  std::unique_ptr<uint8_t[]> in_;
  size_t have_ = 0;
  std::unique_ptr<uint8_t[]> scratch_;
  std::vector<uint8_t> carry_;
  uint8_t* slab_ = nullptr;
  uint32_t* lens_ = nullptr;
  uint8_t* types_ = nullptr;
  size_t count_ = 0;
  size_t used_ = 0;
  PollHandle* poll_ = nullptr;
  Napi::FunctionReference onFrames_;
  Napi::FunctionReference onKeyUpdate_;
  Napi::FunctionReference onEnd_;
  std::unique_ptr<Napi::AsyncContext> async_;
};

}  // namespace

void InitCstpReader(Napi::Env env, Napi::Object exports) {
  exports.Set("CstpReader", CstpReader::Define(env));
}

}  // namespace ocs
