// A uv_poll_t that can outlive the object watching through it.
//
// libuv frees nothing itself and a handle's memory must stay valid until
// its close callback has run, which is after the current callback returns.
// The JS objects that own a watch (PacketIO, FdWatcher) can be closed from
// inside their own callbacks or finalized by the GC at any time, so the
// handle lives in its own allocation and only points back to its owner
// until Close() cuts that link.
#pragma once

#include <uv.h>

namespace ocs {

class PollHandle {
 public:
  using Callback = void (*)(void* owner, int status, int events);

  // Returns nullptr and sets *err (a negative UV error) on failure.
  // uv_poll_init puts the fd into O_NONBLOCK mode.
  static PollHandle* Create(uv_loop_t* loop, int fd, void* owner, Callback cb, int* err);

  // Watch exactly `events` (UV_READABLE | UV_WRITABLE); 0 stops watching.
  // Returns 0 or a negative UV error.
  int Set(int events);
  int events() const { return events_; }
  // libuv stops a poll handle by itself on POLLERR; the owner calls this so
  // the next Set() restarts it.
  void MarkStopped() { events_ = 0; }
  void SetLoopRef(bool on);
  // Detaches the owner and frees the handle once libuv is done with it.
  // Stops polling synchronously, so the fd may be closed right after.
  void Close();

 private:
  PollHandle() = default;
  static void OnPoll(uv_poll_t* h, int status, int events);
  static void OnClose(uv_handle_t* h);

  uv_poll_t poll_;
  void* owner_ = nullptr;
  Callback cb_ = nullptr;
  int events_ = 0;
};

}  // namespace ocs
