#include "packet_io.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include "errors.h"
#include "fd_util.h"
#include "modules.h"
#include "tun_offload.h"

namespace ocs {
namespace {

bool GetBytes(Napi::Value v, const uint8_t** data, size_t* len) {
  if (!v.IsTypedArray()) return false;
  napi_typedarray_type type;
  size_t length;
  void* p;
  napi_value ab;
  size_t offset;
  if (napi_get_typedarray_info(v.Env(), v, &type, &length, &p, &ab, &offset) != napi_ok)
    return false;
  size_t elem = 1;
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      elem = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      elem = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      elem = 8;
      break;
    default:
      break;
  }
  *data = static_cast<const uint8_t*>(p);
  *len = length * elem;
  return true;
}

bool OptSize(Napi::Env env, Napi::Object opts, const char* key, bool required, size_t def,
             size_t min, size_t max, size_t* out) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) {
    if (required) {
      ThrowType(env, std::string("opts.") + key + " is required");
      return false;
    }
    *out = def;
    return true;
  }
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= static_cast<double>(min) && d <= static_cast<double>(max)) ||
      d != static_cast<double>(static_cast<size_t>(d))) {
    Napi::RangeError::New(env, std::string("opts.") + key + " must be an integer in [" +
                                   std::to_string(min) + ", " + std::to_string(max) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *out = static_cast<size_t>(d);
  return true;
}

bool OptFn(Napi::Env env, Napi::Object cb, const char* key, bool required,
           Napi::FunctionReference* out) {
  Napi::Value v = cb.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) ThrowType(env, std::string("callbacks.") + key + " must be a function");
    return !required;
  }
  if (!v.IsFunction()) {
    ThrowType(env, std::string("callbacks.") + key + " must be a function");
    return false;
  }
  *out = Napi::Persistent(v.As<Napi::Function>());
  return true;
}

// Errors after which reading again can only fail the same way.
bool IsFatalReadError(int err) {
  return err == EBADF || err == EBADFD || err == EFAULT || err == EINVAL || err == ENOTSOCK ||
         err == ENOTCONN;
}

constexpr size_t kMmsgChunk = 64;

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
// segments per UDP_SEGMENT send (the kernel's UDP_MAX_SEGMENTS is 64 or more), and their
// bytes: one send is one IP datagram before the split
constexpr size_t kGsoMaxSegments = 64;
constexpr size_t kGsoMaxBytes = 65000;

}  // namespace

Napi::Function PacketIO::Define(Napi::Env env) {
  return DefineClass(
      env, "PacketIO",
      {
          InstanceMethod("start", &PacketIO::Start),
          InstanceMethod("pause", &PacketIO::Pause),
          InstanceMethod("write", &PacketIO::Write),
          InstanceMethod("writeMany", &PacketIO::WriteMany),
          InstanceMethod("writeSlab", &PacketIO::WriteSlab),
          InstanceMethod("close", &PacketIO::Close),
          InstanceMethod("stats", &PacketIO::Stats),
          InstanceMethod("ref", &PacketIO::RefLoop),
          InstanceMethod("unref", &PacketIO::UnrefLoop),
          InstanceAccessor("queuedBytes", &PacketIO::GetQueuedBytes, nullptr),
          InstanceAccessor("fd", &PacketIO::GetFd, nullptr),
          InstanceAccessor("closed", &PacketIO::GetClosed, nullptr),
      });
}

PacketIO::PacketIO(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketIO>(info) {
  Napi::Env env = info.Env();
  int fd;
  if (!ArgFd(info, 0, &fd)) return;
  if (info.Length() < 3 || !info[1].IsObject() || !info[2].IsObject()) {
    ThrowType(env, "usage: new PacketIO(fd, opts, callbacks)");
    return;
  }
  Napi::Object opts = info[1].As<Napi::Object>();
  Napi::Object cb = info[2].As<Napi::Object>();

  Napi::Value mv = opts.Get("mode");
  std::string mode = mv.IsString() ? mv.As<Napi::String>().Utf8Value() : "";
  if (mode == "read") {
    mode_ = Mode::kRead;
  } else if (mode == "msg") {
    mode_ = Mode::kMsg;
  } else {
    ThrowType(env, "opts.mode must be 'read' or 'msg'");
    return;
  }
  if (!OptSize(env, opts, "maxPacket", true, 0, 1, 16 << 20, &maxPacket_) ||
      !OptSize(env, opts, "batch", true, 0, 1, 1024, &batch_) ||
      !OptSize(env, opts, "headroom", false, 0, 0, 4096, &headroom_) ||
      !OptBool(env, opts, "fds", false, &wantFds_) ||
      !OptBool(env, opts, "closeOnDestroy", true, &closeOnDestroy_) ||
      !OptBool(env, opts, "strictSize", false, &strictSize_) ||
      !OptBool(env, opts, "lend", false, &lend_))
    return;
  if (wantFds_ && mode_ != Mode::kMsg) {
    ThrowType(env, "opts.fds needs mode 'msg'");
    return;
  }
  if (wantFds_ && lend_) {
    ThrowType(env, "opts.lend cannot be combined with opts.fds");
    return;
  }
  if (!OptFn(env, cb, "onPackets", true, &onPackets_) ||
      !OptFn(env, cb, "onError", false, &onError_) ||
      !OptFn(env, cb, "onClose", false, &onClose_) ||
      !OptFn(env, cb, "onDrain", false, &onDrain_))
    return;

  if (mode_ == Mode::kMsg) {
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
      ThrowErrno(env, errno, "getsockopt", "SO_TYPE fd " + std::to_string(fd));
      return;
    }
    if (type != SOCK_DGRAM && type != SOCK_SEQPACKET) {
      ThrowType(env, "mode 'msg' needs a SOCK_DGRAM or SOCK_SEQPACKET socket");
      return;
    }
    dgram_ = type == SOCK_DGRAM;
    int proto = 0;
    len = sizeof(proto);
    bool gso = true;
    if (!OptBool(env, opts, "gso", true, &gso)) return;
    gso_ = gso && dgram_ && getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) == 0 && proto == IPPROTO_UDP;
  }

  if (mode_ == Mode::kRead) {
    // A tun opened with IFF_VNET_HDR (main opens them so) puts a virtio-net header before
    // each packet; asking the fd keeps that a property of the device, not of a message.
    ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    vnet_ = ioctl(fd, TUNGETIFF, &ifr) == 0 && (ifr.ifr_flags & IFF_VNET_HDR) != 0;
    if (vnet_) {
      coalesce_ = std::make_unique<CoalescedWrite>();
      // not zeroed: its pages cost nothing until a packet larger than a slot arrives
      gsoBuf_.reset(new uint8_t[maxPacket_ + 1 + kGsoTail]);
    }
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
    Napi::Error::New(env, "no libuv loop").ThrowAsJavaScriptException();
    return;
  }
  int uverr = 0;
  poll_ = PollHandle::Create(loop, fd, this, &PacketIO::OnPoll, &uverr);
  if (poll_ == nullptr) {
    ThrowErrno(env, -uverr, "uv_poll_init", "fd " + std::to_string(fd));
    return;
  }

  // read(2) on a tun gives no truncation flag, so one spare byte tells an
  // oversized packet from one of exactly maxPacket bytes.
  // Lent, a packet is read after room for its headroom, so that packing the batch
  // (headroom, packet, headroom, packet...) only ever moves bytes towards the front.
  readOff_ = lend_ ? headroom_ : 0;
  slot_ = readOff_ + maxPacket_ + (mode_ == Mode::kRead ? 1 : 0);
  if (lend_) {
    Napi::Buffer<uint8_t> slab = Napi::Buffer<uint8_t>::New(env, batch_ * slot_);
    if (env.IsExceptionPending()) return;
    lentSlab_ = Napi::Persistent(slab);
    lentLens_ = Napi::Persistent(Napi::ArrayBuffer::New(env, batch_ * sizeof(uint32_t)));
    rbase_ = slab.Data();
  } else {
    rbuf_.resize(batch_ * slot_);
    rbase_ = rbuf_.data();
  }
  lens_.resize(batch_);
  nfds_.resize(batch_);
  if (wantFds_) rfds_.resize(batch_ * kMaxFds);
  if (mode_ == Mode::kMsg && !wantFds_) {
    // Fixed slots for recvmmsg; the read buffer never reallocates, so the
    // pointers set up here stay valid for the object's lifetime.
    iovs_.resize(batch_);
    mmsgs_.resize(batch_);
    for (size_t i = 0; i < batch_; i++) {
      iovs_[i].iov_base = rbase_ + i * slot_ + readOff_;
      iovs_[i].iov_len = maxPacket_;
      memset(&mmsgs_[i], 0, sizeof(mmsgs_[i]));
      mmsgs_[i].msg_hdr.msg_iov = &iovs_[i];
      mmsgs_[i].msg_hdr.msg_iovlen = 1;
    }
  }
  async_ = std::make_unique<Napi::AsyncContext>(env, "ocserv.PacketIO", info.This().As<Napi::Object>());
  // Only now is the fd ours: a constructor that threw must leave it open.
  fd_ = fd;
}

PacketIO::~PacketIO() { Shutdown(true); }

void PacketIO::Shutdown(bool fromFinalizer) {
  if (closed_) return;
  closed_ = true;
  reading_ = false;
  if (poll_ != nullptr) {
    poll_->Close();
    poll_ = nullptr;
  }
  ClearQueue();
  if (fd_ >= 0 && closeOnDestroy_) CloseFd(fd_);
  if (!fromFinalizer) {
    if (gcRef_) Unref();
    gcRef_ = false;
    // The callbacks usually close over this object; dropping them breaks the
    // cycle through these strong references so the wrapper can be collected.
    onPackets_.Reset();
    onError_.Reset();
    onClose_.Reset();
    onDrain_.Reset();
  }
  std::vector<uint8_t>().swap(rbuf_);
  // JS may still hold the lent slab; it stays valid for it, just no longer ours
  if (!fromFinalizer) {
    lentSlab_.Reset();
    lentLens_.Reset();
  }
  rbase_ = nullptr;
  std::vector<mmsghdr>().swap(mmsgs_);
  std::vector<iovec>().swap(iovs_);
}

void PacketIO::ClearQueue() {
  for (Pending& p : queue_)
    for (int f : p.fds) CloseFd(f);
  queue_.clear();
  queuedBytes_ = 0;
  needDrain_ = false;
}

void PacketIO::UpdatePoll() {
  if (closed_ || poll_ == nullptr) return;
  int ev = (reading_ ? UV_READABLE : 0) | (queue_.empty() ? 0 : UV_WRITABLE);
  // uv_poll_start only validates arguments (epoll_ctl happens in the loop),
  // so it cannot fail for a handle that initialised fine.
  poll_->Set(ev);
  // Strong reference while the loop may call back into this object; weak
  // otherwise, so an idle, unreachable PacketIO can be finalized.
  if (ev != 0 && !gcRef_) {
    Ref();
    gcRef_ = true;
  } else if (ev == 0 && gcRef_) {
    Unref();
    gcRef_ = false;
  }
}

// A SEQPACKET peer that exits with messages from us still unread leaves
// ECONNRESET pending, which recvmsg returns *before* the peer's last
// messages and EOF. Reporting it would make users tear the channel down and
// lose those messages; the EOF that follows already says the peer is gone.
bool PacketIO::IsPeerReset(int err) const {
  return mode_ == Mode::kMsg && !dgram_ && err == ECONNRESET;
}

void PacketIO::CallFromLoop(Napi::FunctionReference& fn,
                            const std::initializer_list<napi_value>& args) {
  if (fn.IsEmpty()) return;
  Napi::Env env = Env();
  fn.MakeCallback(Value(), args, *async_);
  if (env.IsExceptionPending()) {
    // There is no JS caller to rethrow to; hand it to process
    // 'uncaughtException' exactly like a throw in a net.Socket listener.
    Napi::Error e = env.GetAndClearPendingException();
    napi_fatal_exception(env, e.Value());
  }
}

void PacketIO::EmitErrorFromLoop(int err, const char* syscall) {
  if (onError_.IsEmpty()) return;
  Napi::Error e = ErrnoError(Env(), err, syscall, "fd " + std::to_string(fd_));
  CallFromLoop(onError_, {e.Value()});
}

void PacketIO::EmitErrorFromJs(int err, const char* syscall) {
  if (onError_.IsEmpty()) return;
  Napi::Error e = ErrnoError(Env(), err, syscall, "fd " + std::to_string(fd_));
  onError_.Call(Value(), {e.Value()});
}

void PacketIO::OnPoll(void* p, int status, int events) {
  PacketIO* self = static_cast<PacketIO*>(p);
  if (self->closed_) return;
  Napi::HandleScope scope(self->Env());
  // Pins the wrapper: a callback below may close() and drop the last
  // JS reference, and `self` must stay valid until we return.
  Napi::Object pin = self->Value();
  (void)pin;
  if (status < 0) {
    self->HandlePollError();
    return;
  }
  self->pollErrors_ = 0;
  if (events & UV_WRITABLE) self->FlushQueue();
  if (self->closed_) return;
  if (events & (UV_READABLE | UV_DISCONNECT)) self->HandleReadable();
}

// libuv reports POLLERR as status UV_EBADF and has already stopped the
// handle. For a connected UDP socket that is just an ICMP error (e.g.
// ECONNREFUSED) and the flow must go on, so report it and re-arm.
void PacketIO::HandlePollError() {
  poll_->MarkStopped();
  uint64_t before = rxPackets_ + txPackets_ + drops_;
  bool progress = false;
  int soerr = 0;
  socklen_t len = sizeof(soerr);
  // SO_ERROR also clears the error, which is what stops POLLERR repeating.
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0) {
    progress = true;
    if (!IsPeerReset(soerr)) EmitErrorFromLoop(soerr, "recvmsg");
    if (closed_) return;
  }
  // A tun is no socket: there the read itself reports the condition
  // (EBADFD once the device is gone).
  bool wasEof = eof_;
  if (!queue_.empty()) FlushQueue();
  if (closed_) return;
  HandleReadable();
  if (closed_) return;
  if (eof_ != wasEof || rxPackets_ + txPackets_ + drops_ != before) progress = true;
  pollErrors_ = progress ? 0 : pollErrors_ + 1;
  if (pollErrors_ > 8) {
    // Nothing clears the condition: polling again would spin the loop.
    reading_ = false;
    ClearQueue();
    UpdatePoll();
    EmitErrorFromLoop(EIO, "poll");
    return;
  }
  UpdatePoll();
}

size_t PacketIO::ReadBatchRead(int* err, bool* eof) {
  size_t count = 0;
  // count < batch_: a GSO packet's segments may have filled every slot
  for (size_t tries = 0; tries < batch_ && count < batch_;) {
    uint8_t* p = rbase_ + count * slot_ + readOff_;
    size_t room = slot_ - readOff_;
    VnetHdr vh;
    // what does not fit the slot, a GSO packet, goes on in gsoBuf_ right after a copy of it
    iovec iov[3] = {{&vh, sizeof(vh)}, {p, room}, {gsoBuf_.get() + room, kGsoTail}};
    ssize_t n = vnet_ ? readv(fd_, iov, 3) : read(fd_, p, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) *err = errno;
      break;
    }
    tries++;
    if (n == 0) {
      *eof = true;
      break;
    }
    if (vnet_) {
      if (static_cast<size_t>(n) <= sizeof(vh)) {
        drops_++;
        continue;
      }
      n -= sizeof(vh);
      size_t len = static_cast<size_t>(n);
      // the kernel reports a packet's whole length even when it did not fit what was given
      if (len > room + kGsoTail) {
        drops_++;
        oversized_ = true;
        continue;
      }
      if (vh.gso_type != kVnetGsoNone) {
        memcpy(gsoBuf_.get(), p, std::min(len, room));
        count = SplitGso(vh, len, count);
        if (closed_) return 0;
        if (!reading_) break;
        continue;
      }
      if ((vh.flags & kVnetNeedsCsum) && len <= maxPacket_ && !FinishChecksum(p, len, vh)) {
        drops_++;
        continue;
      }
    }
    if (static_cast<size_t>(n) > maxPacket_) {
      drops_++;
      oversized_ = true;
      continue;
    }
    lens_[count] = static_cast<uint32_t>(n);
    nfds_[count] = 0;
    count++;
  }
  return count;
}

size_t PacketIO::SplitGso(const VnetHdr& vh, size_t len, size_t count) {
  GsoPacket g;
  if (!ParseGso(gsoBuf_.get(), len, vh, maxPacket_, &g)) {
    drops_++;
    return count;
  }
  split_++;
  for (size_t k = 0; k < g.segments; k++) {
    // more segments than the batch has slots: what is there goes now, the rest after it
    if (count == batch_) {
      DeliverPackets(count);
      count = 0;
      if (closed_) return 0;
    }
    lens_[count] = static_cast<uint32_t>(WriteSegment(g, k, rbase_ + count * slot_ + readOff_));
    nfds_[count] = 0;
    count++;
  }
  return count;
}

size_t PacketIO::ReadBatchMsg(int* err, bool* eof) {
  size_t count = 0;
  for (size_t tries = 0; tries < batch_;) {
    uint8_t* p = rbase_ + count * slot_ + readOff_;
    iovec iov = {p, maxPacket_};
    alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msghdr mh;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cbuf;
    mh.msg_controllen = sizeof(cbuf);
    ssize_t n = recvmsg(fd_, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) *err = errno;
      break;
    }
    tries++;
    int* out = &rfds_[count * kMaxFds];
    size_t nf = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      const unsigned char* src = CMSG_DATA(c);
      for (size_t j = 0; j < k; j++) {
        int f;
        memcpy(&f, src + j * sizeof(int), sizeof(int));
        if (nf < kMaxFds)
          out[nf++] = f;
        else
          CloseFd(f);
      }
    }
    // On SEQPACKET a 0-byte read is EOF; an empty message carrying fds is not.
    if (n == 0 && nf == 0 && !dgram_) {
      *eof = true;
      break;
    }
    if (mh.msg_flags & MSG_TRUNC) {
      drops_++;
      oversized_ = true;
      for (size_t j = 0; j < nf; j++) CloseFd(out[j]);
      continue;
    }
    lens_[count] = static_cast<uint32_t>(n);
    nfds_[count] = static_cast<uint8_t>(nf);
    count++;
  }
  return count;
}

size_t PacketIO::ReadBatchMmsg(int* err, bool* eof) {
  for (size_t i = 0; i < batch_; i++) {
    mmsgs_[i].msg_len = 0;
    mmsgs_[i].msg_hdr.msg_flags = 0;
  }
  int r;
  do {
    r = recvmmsg(fd_, mmsgs_.data(), static_cast<unsigned>(batch_), MSG_DONTWAIT, nullptr);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno != EAGAIN) *err = errno;
    return 0;
  }
  // Packets are compacted to the front so every mode hands DeliverPackets
  // the same layout (packet i in slot i).
  size_t count = 0;
  for (int i = 0; i < r; i++) {
    size_t n = mmsgs_[i].msg_len;
    if (n == 0 && !dgram_) {
      *eof = true;
      break;
    }
    if (mmsgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
      drops_++;
      oversized_ = true;
      continue;
    }
    if (count != static_cast<size_t>(i))
      memmove(rbase_ + count * slot_ + readOff_, rbase_ + i * slot_ + readOff_, n);
    lens_[count] = static_cast<uint32_t>(n);
    nfds_[count] = 0;
    count++;
  }
  return count;
}

void PacketIO::HandleReadable() {
  if (!reading_ || closed_) return;
  int err = 0;
  bool eof = false;
  size_t count;
  if (mode_ == Mode::kRead)
    count = ReadBatchRead(&err, &eof);
  else if (wantFds_)
    count = ReadBatchMsg(&err, &eof);
  else
    count = ReadBatchMmsg(&err, &eof);

  if (count > 0) {
    DeliverPackets(count);
    if (closed_) return;
  }
  if (oversized_) {
    oversized_ = false;
    if (strictSize_) {
      EmitErrorFromLoop(EMSGSIZE, mode_ == Mode::kRead ? "read" : "recvmsg");
      if (closed_) return;
    }
  }
  if (err != 0) {
    // A tun whose device was deleted reads EBADFD/EIO: that is its EOF.
    if (mode_ == Mode::kRead && (err == EIO || err == EBADFD)) {
      eof = true;
    } else if (!IsPeerReset(err)) {
      if (IsFatalReadError(err)) {
        reading_ = false;
        UpdatePoll();
      }
      EmitErrorFromLoop(err, mode_ == Mode::kRead ? "read" : "recvmsg");
      if (closed_) return;
    }
  }
  if (eof && !eof_) {
    eof_ = true;
    reading_ = false;
    UpdatePoll();
    CallFromLoop(onClose_, {});
  }
}

void PacketIO::DeliverPackets(size_t count) {
  Napi::Env env = Env();
  size_t bytes = 0;
  for (size_t i = 0; i < count; i++) bytes += lens_[i];
  rxPackets_ += count;
  rxBytes_ += bytes;
  if (lend_) {
    // Packed in place: packet i's slot starts at or after where it goes, so each move
    // is towards the front and never over a packet still to move.
    uint8_t* base = rbase_;
    size_t off = 0;
    for (size_t i = 0; i < count; i++) {
      memset(base + off, 0, headroom_);
      off += headroom_;
      const uint8_t* src = base + i * slot_ + readOff_;
      if (src != base + off) memmove(base + off, src, lens_[i]);
      off += lens_[i];
    }
    Napi::ArrayBuffer lensAb = lentLens_.Value();
    memcpy(lensAb.Data(), lens_.data(), count * sizeof(uint32_t));
    // The typed array is a new view each time (the lengths' count is its length); the
    // memory under it is not.
    Napi::Uint32Array lens = Napi::Uint32Array::New(env, count, lensAb, 0);
    CallFromLoop(onPackets_, {lentSlab_.Value(), lens, env.Null()});
    return;
  }
  size_t total = bytes + count * headroom_;
  // One allocation per event, however many packets it carried.
  Napi::Buffer<uint8_t> slab = Napi::Buffer<uint8_t>::New(env, total);
  if (env.IsExceptionPending()) {
    napi_fatal_exception(env, env.GetAndClearPendingException().Value());
    return;
  }
  // A typed array filled in place: setting elements of a JS array one by one cost more
  // than the rest of the delivery (a property lookup per packet).
  Napi::Uint32Array lens = Napi::Uint32Array::New(env, count);
  uint32_t* lensOut = lens.Data();
  Napi::Value fdsv = env.Null();
  Napi::Array fdsArr;
  if (wantFds_) {
    fdsArr = Napi::Array::New(env, count);
    fdsv = fdsArr;
  }
  uint8_t* out = slab.Data();
  size_t off = 0;
  for (size_t i = 0; i < count; i++) {
    // Node buffers are not zeroed; headroom must not expose old heap bytes.
    memset(out + off, 0, headroom_);
    off += headroom_;
    memcpy(out + off, rbase_ + i * slot_, lens_[i]);
    off += lens_[i];
    lensOut[i] = static_cast<uint32_t>(lens_[i]);
    if (wantFds_) {
      if (nfds_[i] == 0) {
        fdsArr.Set(static_cast<uint32_t>(i), env.Null());
      } else {
        Napi::Array a = Napi::Array::New(env, nfds_[i]);
        for (size_t j = 0; j < nfds_[i]; j++)
          a.Set(static_cast<uint32_t>(j), Napi::Number::New(env, rfds_[i * kMaxFds + j]));
        fdsArr.Set(static_cast<uint32_t>(i), a);
      }
    }
  }
  CallFromLoop(onPackets_, {slab, lens, fdsv});
}

int PacketIO::SendOne(const uint8_t* data, size_t len, const int* fds, size_t nfds) {
  iovec iov = {const_cast<uint8_t*>(data), len};
  msghdr mh;
  memset(&mh, 0, sizeof(mh));
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (nfds > 0) {
    memset(cbuf, 0, sizeof(cbuf));
    mh.msg_control = cbuf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t r;
  do {
    r = sendmsg(fd_, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (r < 0 && errno == EINTR);
  return r < 0 ? errno : 0;
}

bool PacketIO::Enqueue(const uint8_t* data, size_t len, const int* fds, size_t nfds, int* err) {
  Pending p;
  for (size_t i = 0; i < nfds; i++) {
    int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
    if (d < 0) {
      *err = errno;
      for (int f : p.fds) CloseFd(f);
      return false;
    }
    p.fds.push_back(d);
  }
  p.data.assign(data, data + len);
  queue_.push_back(std::move(p));
  queuedBytes_ += len;
  needDrain_ = true;
  UpdatePoll();
  return true;
}

int PacketIO::SendFromJs(const uint8_t* data, size_t len, const int* fds, size_t nfds,
                         int* err) {
  if (mode_ == Mode::kRead) {
    ssize_t r;
    static const VnetHdr kPlain{};  // a packet as it is: no offload asked of the kernel
    iovec iov[2] = {{const_cast<VnetHdr*>(&kPlain), sizeof(kPlain)}, {const_cast<uint8_t*>(data), len}};
    do {
      r = vnet_ ? writev(fd_, iov, 2) : write(fd_, data, len);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
      txPackets_++;
      txBytes_ += len;
      return 1;
    }
    drops_++;
    // A full tun/qdisc is congestion, not a failure: the packet is dropped
    // like a router would, and the caller only sees -1.
    if (errno != EAGAIN && errno != ENOBUFS) *err = errno;
    return -1;
  }
  // Later packets must not overtake queued ones.
  if (queue_.empty()) {
    int e = SendOne(data, len, fds, nfds);
    if (e == 0) {
      txPackets_++;
      txBytes_ += len;
      return 1;
    }
    if (e != EAGAIN) {
      drops_++;
      if (e != ENOBUFS) *err = e;
      return -1;
    }
  }
  if (!Enqueue(data, len, fds, nfds, err)) {
    drops_++;
    return -1;
  }
  return 0;
}

void PacketIO::FlushQueue() {
  while (!queue_.empty() && !closed_) {
    Pending& p = queue_.front();
    int e = SendOne(p.data.data(), p.data.size(), p.fds.data(), p.fds.size());
    if (e == EAGAIN) break;
    size_t n = p.data.size();
    for (int f : p.fds) CloseFd(f);
    queuedBytes_ -= n;
    queue_.pop_front();
    if (e == 0) {
      txPackets_++;
      txBytes_ += n;
      continue;
    }
    drops_++;
    if (e != ENOBUFS) EmitErrorFromLoop(e, "sendmsg");
  }
  if (closed_) return;
  if (queue_.empty()) {
    UpdatePoll();
    if (needDrain_) {
      needDrain_ = false;
      CallFromLoop(onDrain_, {});
    }
  }
}

Napi::Value PacketIO::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) {
    Napi::Error::New(env, "PacketIO is closed").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // After onClose there is nothing left to read; restarting would only
  // report the same EOF again.
  if (eof_) return env.Undefined();
  int e = SetNonblock(fd_, true);
  if (e != 0) return ThrowErrno(env, e, "fcntl", "O_NONBLOCK fd " + std::to_string(fd_));
  reading_ = true;
  UpdatePoll();
  return env.Undefined();
}

Napi::Value PacketIO::Pause(const Napi::CallbackInfo& info) {
  reading_ = false;
  UpdatePoll();
  return info.Env().Undefined();
}

Napi::Value PacketIO::Write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const uint8_t* data;
  size_t len;
  if (info.Length() < 1 || !GetBytes(info[0], &data, &len))
    return ThrowType(env, "write: buf must be a Buffer or Uint8Array");
  int fds[kMaxFds];
  size_t nfds = 0;
  if (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNull()) {
    if (!info[1].IsArray()) return ThrowType(env, "write: fds must be an array");
    Napi::Array a = info[1].As<Napi::Array>();
    nfds = a.Length();
    if (nfds > 0 && mode_ != Mode::kMsg) return ThrowType(env, "write: fds need mode 'msg'");
    if (nfds > kMaxFds)
      return ThrowType(env, "write: at most " + std::to_string(kMaxFds) + " fds per message");
    for (size_t i = 0; i < nfds; i++) {
      Napi::Value v = a.Get(static_cast<uint32_t>(i));
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= INT32_MAX) || d != static_cast<double>(static_cast<int>(d)))
        return ThrowType(env, "write: fds must be non-negative integers");
      fds[i] = static_cast<int>(d);
    }
  }
  if (closed_) return Napi::Number::New(env, -1);
  int err = 0;
  int r = SendFromJs(data, len, fds, nfds, &err);
  if (err != 0) {
    EmitErrorFromJs(err, mode_ == Mode::kRead ? "write" : "sendmsg");
    if (env.IsExceptionPending()) return env.Undefined();
  }
  return Napi::Number::New(env, r);
}

Napi::Value PacketIO::WriteMany(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray())
    return ThrowType(env, "writeMany: bufs must be an array of Buffers");
  Napi::Array arr = info[0].As<Napi::Array>();
  uint32_t n = arr.Length();
  if (closed_) return Napi::Number::New(env, 0);
  wiov_.resize(n);
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t* d;
    size_t l;
    if (!GetBytes(arr.Get(i), &d, &l))
      return ThrowType(env, "writeMany: element " + std::to_string(i) +
                                " is not a Buffer or Uint8Array");
    wiov_[i] = {const_cast<uint8_t*>(d), l};
  }
  return SendBatch(env, n);
}

Napi::Value PacketIO::WriteSlab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsBuffer() || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    return ThrowType(env, "usage: writeSlab(slab: Buffer, lengths: Uint32Array, count: number)");
  auto slab = info[0].As<Napi::Buffer<uint8_t>>();
  auto lens = info[1].As<Napi::Uint32Array>();
  int64_t count;
  if (!ArgInt(info, 2, "count", 0, static_cast<int64_t>(lens.ElementLength()), &count)) return env.Undefined();
  size_t n = static_cast<size_t>(count);
  if (closed_) return Napi::Number::New(env, 0);
  wiov_.resize(n);
  size_t off = 0;
  for (size_t i = 0; i < n; i++) {
    size_t l = lens[i];
    if (l > slab.Length() - off) {
      Napi::RangeError::New(env, "writeSlab: the lengths add up to more than the slab").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    wiov_[i] = {slab.Data() + off, l};
    off += l;
  }
  return SendBatch(env, n);
}

Napi::Value PacketIO::SendBatch(Napi::Env env, size_t n) {
  const char* syscall = mode_ == Mode::kRead ? "write" : "sendmsg";
  uint32_t done = 0;
  size_t i = 0;

  // sendmmsg only while nothing is queued: otherwise new packets would
  // overtake queued ones.
  if (mode_ == Mode::kMsg) {
    mmsghdr mm[kMmsgChunk];
    // per message: how many datagrams it carries, and its UDP_SEGMENT control message
    size_t segs[kMmsgChunk];
    alignas(cmsghdr) char ctl[kMmsgChunk][CMSG_SPACE(sizeof(uint16_t))];
    while (i < n && queue_.empty() && !closed_) {
      size_t k = 0;
      for (size_t at = i; at < n && k < kMmsgChunk; k++) {
        memset(&mm[k], 0, sizeof(mm[k]));
        mm[k].msg_hdr.msg_iov = &wiov_[at];
        size_t run = 1;
        if (gso_) {
          // equal sizes, the last may be shorter: the kernel cuts at the first one's size
          size_t size = wiov_[at].iov_len, total = size;
          while (at + run < n && run < kGsoMaxSegments && size > 0 && total + wiov_[at + run].iov_len <= kGsoMaxBytes &&
                 wiov_[at + run].iov_len <= size) {
            total += wiov_[at + run].iov_len;
            if (wiov_[at + run++].iov_len < size) break;
          }
          if (run > 1) {
            mm[k].msg_hdr.msg_control = ctl[k];
            mm[k].msg_hdr.msg_controllen = sizeof(ctl[k]);
            cmsghdr* c = CMSG_FIRSTHDR(&mm[k].msg_hdr);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t gsoSize = static_cast<uint16_t>(size);
            memcpy(CMSG_DATA(c), &gsoSize, sizeof(gsoSize));
          }
        }
        mm[k].msg_hdr.msg_iovlen = run;
        segs[k] = run;
        at += run;
      }
      int r;
      do {
        r = sendmmsg(fd_, mm, static_cast<unsigned>(k), MSG_DONTWAIT | MSG_NOSIGNAL);
      } while (r < 0 && errno == EINTR);
      if (r > 0) {
        for (int j = 0; j < r; j++) {
          for (size_t s = 0; s < segs[j]; s++) txBytes_ += wiov_[i + s].iov_len;
          txPackets_ += segs[j];
          if (segs[j] > 1) segmented_ += segs[j];
          i += segs[j];
          done += segs[j];
        }
        continue;
      }
      int e = r < 0 ? errno : EAGAIN;
      if (e == EAGAIN) break;  // the rest goes through the queue below
      if (segs[0] > 1 && (e == EIO || e == EINVAL || e == EOPNOTSUPP || e == ENOPROTOOPT)) {
        // no segmentation offload on this route (or an old kernel): datagram by datagram from now on
        gso_ = false;
        continue;
      }
      drops_ += segs[0];
      i += segs[0];
      if (e != ENOBUFS) {
        EmitErrorFromJs(e, "sendmmsg");
        if (env.IsExceptionPending()) return env.Undefined();
      }
    }
  }
  if (mode_ == Mode::kRead && coalesce_) {
    i = WriteCoalesced(env, n, &done);
    if (env.IsExceptionPending()) return env.Undefined();
  }
  for (; i < n && !closed_; i++) {
    int err = 0;
    int r = SendFromJs(static_cast<const uint8_t*>(wiov_[i].iov_base), wiov_[i].iov_len, nullptr, 0, &err);
    if (r >= 0) done++;
    if (err != 0) {
      EmitErrorFromJs(err, syscall);
      if (env.IsExceptionPending()) return env.Undefined();
    }
  }
  return Napi::Number::New(env, done);
}

size_t PacketIO::WriteCoalesced(Napi::Env env, size_t n, uint32_t* written) {
  CoalescedWrite& w = *coalesce_;
  iovec iov[kCoalesceMaxSegments + 2];
  size_t i = 0;
  while (i < n && !closed_) {
    PlanCoalescedWrite(wiov_.data(), n, i, &w);
    if (w.packets == 1) {
      int err = 0;
      if (SendFromJs(static_cast<const uint8_t*>(wiov_[i].iov_base), wiov_[i].iov_len, nullptr, 0, &err) >= 0) ++*written;
      i++;
      if (err != 0) {
        EmitErrorFromJs(err, "write");
        if (env.IsExceptionPending()) return i;
      }
      continue;
    }
    iov[0] = {&w.vnet, sizeof(w.vnet)};
    memcpy(&iov[1], w.iov, w.iovcnt * sizeof(iovec));
    ssize_t r;
    do {
      r = writev(fd_, iov, static_cast<int>(w.iovcnt + 1));
    } while (r < 0 && errno == EINTR);
    if (r < 0 && errno != EAGAIN && errno != ENOBUFS) {
      // a kernel that will not take the coalesced packet: each segment as it came, from now on
      coalesce_.reset();
      return i;
    }
    if (r < 0) {
      drops_ += w.packets;
    } else {
      txPackets_ += w.packets;
      coalesced_ += w.packets;
      *written += static_cast<uint32_t>(w.packets);
      for (size_t k = 0; k < w.packets; k++) txBytes_ += wiov_[i + k].iov_len;
    }
    i += w.packets;
  }
  return i;
}

Napi::Value PacketIO::Close(const Napi::CallbackInfo& info) {
  Shutdown(false);
  return info.Env().Undefined();
}

Napi::Value PacketIO::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxPackets", Napi::Number::New(env, static_cast<double>(rxPackets_)));
  o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(rxBytes_)));
  o.Set("txPackets", Napi::Number::New(env, static_cast<double>(txPackets_)));
  o.Set("txBytes", Napi::Number::New(env, static_cast<double>(txBytes_)));
  o.Set("drops", Napi::Number::New(env, static_cast<double>(drops_)));
  o.Set("segmented", Napi::Number::New(env, static_cast<double>(segmented_)));
  o.Set("coalesced", Napi::Number::New(env, static_cast<double>(coalesced_)));
  o.Set("split", Napi::Number::New(env, static_cast<double>(split_)));
  return o;
}

Napi::Value PacketIO::RefLoop(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) poll_->SetLoopRef(true);
  return info.This();
}

Napi::Value PacketIO::UnrefLoop(const Napi::CallbackInfo& info) {
  if (poll_ != nullptr) poll_->SetLoopRef(false);
  return info.This();
}

Napi::Value PacketIO::GetQueuedBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(queuedBytes_));
}

Napi::Value PacketIO::GetFd(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fd_);
}

Napi::Value PacketIO::GetClosed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), closed_);
}

void InitPacketIO(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketIO", PacketIO::Define(env));
}

}  // namespace ocs
