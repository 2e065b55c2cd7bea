#include "poll_handle.h"

namespace ocs {

PollHandle* PollHandle::Create(uv_loop_t* loop, int fd, void* owner, Callback cb, int* err) {
  PollHandle* h = new PollHandle();
  *err = uv_poll_init(loop, &h->poll_, fd);
  if (*err != 0) {
    // Nothing was registered with the loop, so plain delete is fine here.
    delete h;
    return nullptr;
  }
  h->poll_.data = h;
  h->owner_ = owner;
  h->cb_ = cb;
  return h;
}

int PollHandle::Set(int events) {
  if (events == events_) return 0;
  int r = events ? uv_poll_start(&poll_, events, OnPoll) : uv_poll_stop(&poll_);
  if (r == 0) events_ = events;
  return r;
}

void PollHandle::SetLoopRef(bool on) {
  if (on)
    uv_ref(reinterpret_cast<uv_handle_t*>(&poll_));
  else
    uv_unref(reinterpret_cast<uv_handle_t*>(&poll_));
}

void PollHandle::Close() {
  owner_ = nullptr;
  // uv_poll_stop removes the fd from epoll right away (uv_close would too,
  // but being explicit documents why the caller may close(fd) next).
  uv_poll_stop(&poll_);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll_), OnClose);
}

void PollHandle::OnPoll(uv_poll_t* p, int status, int events) {
  PollHandle* h = static_cast<PollHandle*>(p->data);
  if (h->owner_ != nullptr) h->cb_(h->owner_, status, events);
}

void PollHandle::OnClose(uv_handle_t* p) {
  delete static_cast<PollHandle*>(p->data);
}

}  // namespace ocs
