// fd helpers for C++ code; the closeFd/dupFd/... bindings live in
// fd_util.cc too.
#pragma once

namespace ocs {

// Return 0 or an errno value; they never throw so C++ code can use them
// on error paths.
int SetNonblock(int fd, bool on);
int SetCloexec(int fd, bool on);
// close(2) that treats EINTR as success: on Linux the fd is gone either way
// and retrying could close an fd another thread just got.
int CloseFd(int fd);

}  // namespace ocs
