// PacketIO: whole-datagram I/O on one fd (tun, SEQPACKET, connected UDP)
// driven by the libuv loop. See index.ts for the JS contract.
#pragma once

#include <napi.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "poll_handle.h"
#include "tun_offload.h"

namespace ocs {

class PacketIO : public Napi::ObjectWrap<PacketIO> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit PacketIO(const Napi::CallbackInfo& info);
  ~PacketIO() override;

  static constexpr size_t kMaxFds = 8;

 private:
  enum class Mode { kRead, kMsg };

  // A message that hit EAGAIN: owns a copy of the bytes and dups of the fds
  // so the caller may reuse its buffer and close its fds at once.
  struct Pending {
    std::vector<uint8_t> data;
    std::vector<int> fds;
  };

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Pause(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value WriteMany(const Napi::CallbackInfo& info);
  Napi::Value WriteSlab(const Napi::CallbackInfo& info);
  // Sends wiov_[0..n) as writeMany documents it (sendmmsg, queueing from EAGAIN on).
  Napi::Value SendBatch(Napi::Env env, size_t n);
  // A tun with a virtio-net header: writes wiov_[0..n) with runs of TCP segments coalesced
  // (tun_offload.h); returns how many it went through (fewer when coalescing was refused)
  // and adds those written to *written.
  size_t WriteCoalesced(Napi::Env env, size_t n, uint32_t* written);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value RefLoop(const Napi::CallbackInfo& info);
  Napi::Value UnrefLoop(const Napi::CallbackInfo& info);
  Napi::Value GetQueuedBytes(const Napi::CallbackInfo& info);
  Napi::Value GetFd(const Napi::CallbackInfo& info);
  Napi::Value GetClosed(const Napi::CallbackInfo& info);

  static void OnPoll(void* self, int status, int events);
  void HandleReadable();
  void HandlePollError();
  size_t ReadBatchRead(int* err, bool* eof);
  // A GSO packet read into gsoBuf_: its segments into the slots from `count` on, delivering
  // full batches on the way; returns the slots now filled.
  size_t SplitGso(const VnetHdr& vh, size_t len, size_t count);
  size_t ReadBatchMsg(int* err, bool* eof);
  size_t ReadBatchMmsg(int* err, bool* eof);
  void DeliverPackets(size_t count);
  bool IsPeerReset(int err) const;
  void FlushQueue();
  void UpdatePoll();
  void Shutdown(bool fromFinalizer);

  // Returns 0 or errno; never calls into JS.
  int SendOne(const uint8_t* data, size_t len, const int* fds, size_t nfds);
  // Send from a JS call: handles EAGAIN queueing and drop accounting.
  // Returns 1 / 0 / -1 as documented for write(); *err is set for errors
  // the caller must report.
  int SendFromJs(const uint8_t* data, size_t len, const int* fds, size_t nfds, int* err);
  bool Enqueue(const uint8_t* data, size_t len, const int* fds, size_t nfds, int* err);
  void ClearQueue();

  // Callbacks from the loop go through MakeCallback (async_hooks context,
  // nextTick/microtask draining); a throw becomes an ordinary uncaught
  // exception instead of being lost in C++.
  void CallFromLoop(Napi::FunctionReference& fn, const std::initializer_list<napi_value>& args);
  void EmitErrorFromLoop(int err, const char* syscall);
  // From a JS call (write) a throwing onError simply propagates to it.
  void EmitErrorFromJs(int err, const char* syscall);

  int fd_ = -1;
  Mode mode_ = Mode::kRead;
  bool dgram_ = false;  // SOCK_DGRAM: a 0-byte read is an empty datagram, not EOF
  // UDP: runs of equal-sized datagrams go out as one send with UDP_SEGMENT (the kernel
  // splits them), until the kernel refuses it once
  bool gso_ = false;
  size_t maxPacket_ = 0;
  size_t batch_ = 0;
  size_t headroom_ = 0;
  size_t slot_ = 0;
  bool wantFds_ = false;
  bool closeOnDestroy_ = true;
  // Report an oversized packet through onError (EMSGSIZE) instead of only counting it:
  // on an IPC channel a message that big means a misbehaving peer.
  bool strictSize_ = false;
  bool oversized_ = false;
  // lend: onPackets gets views of the read buffer itself, valid during the call only. A
  // fresh slab per read costs an allocation, and at tunnel rates V8 answers the external
  // memory it adds up to with full garbage collections.
  bool lend_ = false;
  size_t readOff_ = 0;  // where a packet is read within its slot (the headroom, when lent)

  PollHandle* poll_ = nullptr;
  bool reading_ = false;
  bool closed_ = false;
  bool eof_ = false;
  bool gcRef_ = false;
  bool needDrain_ = false;
  int pollErrors_ = 0;

  std::vector<uint8_t> rbuf_;      // not lent: the read buffer
  Napi::Reference<Napi::Buffer<uint8_t>> lentSlab_;  // lent: the read buffer, seen by JS
  Napi::Reference<Napi::ArrayBuffer> lentLens_;
  uint8_t* rbase_ = nullptr;
  std::vector<uint32_t> lens_;
  std::vector<uint8_t> nfds_;
  std::vector<int> rfds_;
  std::vector<mmsghdr> mmsgs_;
  std::vector<iovec> iovs_;
  std::vector<iovec> wiov_;  // a batch being written, kept to spare an allocation per write

  std::deque<Pending> queue_;
  size_t queuedBytes_ = 0;

  Napi::FunctionReference onPackets_, onError_, onClose_, onDrain_;
  std::unique_ptr<Napi::AsyncContext> async_;

  uint64_t rxPackets_ = 0, rxBytes_ = 0, txPackets_ = 0, txBytes_ = 0, drops_ = 0;
  // of txPackets_, those that went out in segmented (UDP_SEGMENT) sends
  uint64_t segmented_ = 0;
  // packets that went to the tun within coalesced writes
  uint64_t coalesced_ = 0;
  bool vnet_ = false;  // a tun with IFF_VNET_HDR
  // a tun with IFF_VNET_HDR, until the kernel refuses a coalesced write
  std::unique_ptr<CoalescedWrite> coalesce_;
  // a tun with TSO: where a read larger than a slot goes (a slot's worth, then kGsoTail)
  static constexpr size_t kGsoTail = 65536 + 256;
  std::unique_ptr<uint8_t[]> gsoBuf_;
  uint64_t split_ = 0;  // GSO packets read and cut into segments
};

}  // namespace ocs
