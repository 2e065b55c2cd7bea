// listen-netns: sockets created inside another network namespace (netns.cc).
#pragma once

namespace ocs {

// A new socket (SOCK_NONBLOCK | SOCK_CLOEXEC) made inside the namespace behind `handle`
// (from netnsOpen), or -1 with *err set. Safe to call from the JS thread at any time: the
// namespace's own thread makes it, so the caller needs no capability.
int NetnsSocket(int handle, int family, int type, int* err);

}  // namespace ocs
