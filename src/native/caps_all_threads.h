// Capability limits for one thread, and for every thread of the process
// (src/native/caps_all_threads.cc).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace ocs {

// The kernel's highest capability number (/proc/sys/kernel/cap_last_cap).
int LastCap();

// The calling thread's bounding set (when it may: CAP_SETPCAP), permitted and effective
// sets shrink to `keep`; inheritable and ambient become empty. Nothing is ever raised.
// Async-signal-safe. 0, or an errno with *call naming the failed step.
int LimitThisThread(uint64_t keep, int lastCap, const char** call);

struct CapsFailure {
  int err = 0;
  const char* call = "";
  std::string detail;  // which thread, and why
};

// LimitThisThread on every thread of the process. False (and *why) if some thread could
// not be reached or kept more than it should; those already done stay limited.
bool LimitAllThreads(uint64_t keep, CapsFailure* why);

}  // namespace ocs
