// Capabilities belong to threads, not processes: capset(2) and PR_CAPBSET_DROP change the
// calling thread only. A Node process has many threads (libuv's threadpool runs fs work,
// V8's platform workers, node's SIGUSR1 watchdog, worker_threads), so a drop done by the
// main thread alone leaves every other thread with all it had — fs.promises.writeFile
// still bypasses file permissions with CAP_DAC_OVERRIDE. (set*id is different: glibc
// makes every thread run it, which is why workers, which leave uid 0, were never affected.)
//
// LimitAllThreads does what glibc does for set*id, for capabilities (libcap's libpsx does
// the same): each thread in /proc/self/task is sent a signal whose handler limits that
// thread, and is waited for. Threads are visited one at a time, and the task list is read
// again until a whole pass finds every thread within the limits, checked in
// /proc/self/task/TID/status rather than trusted. That covers threads started during the
// broadcast: a thread is visible in the task list before the clone() that made it
// returns, so a child of a thread not yet limited shows up on a later pass, and a child of
// one already limited inherits the lowered sets.
//
// The signal is 32, which glibc reserves for pthread_cancel (SIGCANCEL) and Node does not
// use. A signal from the ordinary SIGRTMIN..SIGRTMAX range would not do: node's SIGUSR1
// watchdog thread blocks every signal pthread_sigmask lets it block, which is all but
// glibc's two internal ones (32 and 33, SIGSETXID). glibc's sigaction() refuses those, so
// the handler goes in with rt_sigaction(2) directly, for the duration of the broadcast,
// and whatever was there before is put back afterwards.
#include "caps_all_threads.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <vector>

namespace ocs {

int LastCap() {
  int last = CAP_LAST_CAP;
  if (FILE* f = fopen("/proc/sys/kernel/cap_last_cap", "r")) {
    if (fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
    fclose(f);
  }
  return last;
}

int LimitThisThread(uint64_t keep, int lastCap, const char** call) {
  __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capget, &hdr, data) != 0) {
    *call = "capget";
    return errno;
  }
  // The bounding set goes first, while CAP_SETPCAP may still be effective. Without it (a
  // sec-mod restarted by a main that already dropped it) the bounding set stays as the
  // parent left it, already within what the parent kept.
  if (data[0].effective & (1U << CAP_SETPCAP)) {
    for (int c = 0; c <= lastCap && c < 64; c++) {
      if ((keep & (1ULL << c)) || prctl(PR_CAPBSET_READ, c, 0, 0, 0) != 1) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
        *call = "prctl(PR_CAPBSET_DROP)";
        return errno;
      }
    }
  }
  // kernels before 4.3 have no ambient set (EINVAL)
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    *call = "prctl(PR_CAP_AMBIENT_CLEAR_ALL)";
    return errno;
  }
  for (int i = 0; i < 2; i++) {
    uint32_t k = static_cast<uint32_t>(keep >> (32 * i));
    data[i].permitted &= k;
    data[i].effective &= k;
    data[i].inheritable = 0;
  }
  if (syscall(SYS_capset, &hdr, data) != 0) {
    *call = "capset";
    return errno;
  }
  return 0;
}

namespace {

constexpr int kSignal = 32;  // glibc's SIGCANCEL; see the top of the file
constexpr int kTimeoutMs = 5000;  // a thread in uninterruptible sleep (slow disk) handles it late
constexpr int kUnblockMs = 1000;  // see AskThread

// One request at a time (g_broadcast): the thread asked, and its answer.
std::mutex g_broadcast;
uint64_t g_keep;
int g_lastCap;
std::atomic<pid_t> g_target{0};
std::atomic<bool> g_answered{false};
int g_err;
const char* g_call;

pid_t Tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

void OnSignal(int, siginfo_t* si, void*) {
  int saved = errno;
  // only what LimitAllThreads sent, to the thread it is waiting for
  if (si->si_code == SI_TKILL && si->si_pid == getpid() && Tid() == g_target.load()) {
    const char* call = "";
    g_err = LimitThisThread(g_keep, g_lastCap, &call);
    g_call = call;
    g_answered.store(true, std::memory_order_release);
  }
  errno = saved;
}

// rt_sigaction(2)'s own struct (x86_64, arm64 and the generic layout).
struct KernelSigaction {
  uintptr_t handler;
  unsigned long flags;
  void (*restorer)();
  uint64_t mask;
};

int RawSigaction(int sig, const KernelSigaction* act, KernelSigaction* old) {
  return syscall(SYS_rt_sigaction, sig, act, old, sizeof(uint64_t)) == 0 ? 0 : errno;
}

// The handler as glibc itself would install it (on x86_64 the kernel needs glibc's
// sa_restorer trampoline to return from a handler): set on SIGRTMAX with sigaction(),
// read back raw, and that SIGRTMAX restored at once.
int InstallHandler(KernelSigaction* previous) {
  struct sigaction sa = {}, scratchOld = {};
  sa.sa_sigaction = OnSignal;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  if (sigaction(SIGRTMAX, &sa, &scratchOld) != 0) return errno;
  KernelSigaction k = {};
  int e = RawSigaction(SIGRTMAX, nullptr, &k);
  sigaction(SIGRTMAX, &scratchOld, nullptr);
  return e != 0 ? e : RawSigaction(kSignal, &k, previous);
}

void RestoreHandler(const KernelSigaction& previous) {
  // Ignoring discards one still pending (a thread that timed out): under the default
  // action it would kill the process when it arrives.
  KernelSigaction ignore = {};
  ignore.handler = reinterpret_cast<uintptr_t>(SIG_IGN);
  RawSigaction(kSignal, &ignore, nullptr);
  RawSigaction(kSignal, &previous, nullptr);
}

struct ThreadStatus {
  std::string name;
  uint64_t sigBlk = 0, capInh = 0, capPrm = 0, capEff = 0, capBnd = 0, capAmb = 0;
};

// false once the thread is gone
bool ReadStatus(pid_t tid, ThreadStatus* st) {
  std::string path = "/proc/self/task/" + std::to_string(tid) + "/status";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) text.append(buf, n);
  close(fd);
  if (text.empty()) return false;
  auto hex = [&](const char* field, uint64_t* out) {
    size_t at = text.find(std::string("\n") + field + ":");
    if (at != std::string::npos) *out = strtoull(text.c_str() + at + strlen(field) + 2, nullptr, 16);
  };
  hex("SigBlk", &st->sigBlk);
  hex("CapInh", &st->capInh);
  hex("CapPrm", &st->capPrm);
  hex("CapEff", &st->capEff);
  hex("CapBnd", &st->capBnd);
  hex("CapAmb", &st->capAmb);
  if (text.compare(0, 5, "Name:") == 0) {
    size_t start = text.find_first_not_of(" \t", 5);
    st->name = text.substr(start, text.find('\n') - start);
  }
  return true;
}

// Within the limits: no more than `keep`, and no more bounding set than the calling
// thread was left with.
bool Within(const ThreadStatus& st, uint64_t keep, uint64_t bounding) {
  return (st.capPrm & ~keep) == 0 && (st.capEff & ~keep) == 0 && st.capInh == 0 && st.capAmb == 0 &&
         (st.capBnd & ~bounding) == 0;
}

std::vector<pid_t> Tasks() {
  std::vector<pid_t> tids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(atoi(e->d_name)));
    }
    closedir(d);
  }
  return tids;
}

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

std::string Who(pid_t tid, const ThreadStatus& st) {
  return "thread " + std::to_string(tid) + " (" + st.name + ")";
}

std::string Hex(uint64_t v) {
  char b[20];
  snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

// Asks one thread to limit itself and waits for its answer. false and *why on failure;
// a thread that exits meanwhile needs nothing more.
bool AskThread(pid_t pid, pid_t tid, ThreadStatus st, uint64_t keep, uint64_t bounding, CapsFailure* why) {
  // A thread being born (pthread_create) runs with every signal blocked until it has
  // started, and a thread may block signals for a short stretch of its own: it gets
  // kUnblockMs to take the signal again (or to turn out born within the limits, or to end).
  const int64_t unblockBy = NowMs() + kUnblockMs;
  while (st.sigBlk & (1ULL << (kSignal - 1))) {
    if (NowMs() > unblockBy) {
      *why = {EPERM, "capsLimit", Who(tid, st) + " blocks signal " + std::to_string(kSignal) + ", so its capabilities cannot be lowered"};
      return false;
    }
    timespec pause = {0, 100 * 1000};
    nanosleep(&pause, nullptr);
    if (!ReadStatus(tid, &st) || Within(st, keep, bounding)) return true;
  }
  g_answered.store(false);
  g_target.store(tid);
  if (syscall(SYS_tgkill, pid, tid, kSignal) != 0) {
    if (errno == ESRCH) return true;
    *why = {errno, "tgkill", Who(tid, st)};
    return false;
  }
  const int64_t deadline = NowMs() + kTimeoutMs;
  while (!g_answered.load(std::memory_order_acquire)) {
    if (syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH) return true;
    if (NowMs() > deadline) {
      *why = {ETIMEDOUT, "capsLimit", Who(tid, st) + " did not lower its capabilities within " + std::to_string(kTimeoutMs) + " ms (signal " + std::to_string(kSignal) + ")"};
      return false;
    }
    timespec pause = {0, 100 * 1000};
    nanosleep(&pause, nullptr);
  }
  if (g_err != 0) {
    *why = {g_err, g_call, Who(tid, st)};
    return false;
  }
  return true;
}

}  // namespace

bool LimitAllThreads(uint64_t keep, CapsFailure* why) {
  std::lock_guard<std::mutex> lock(g_broadcast);
  const pid_t pid = getpid(), self = Tid();
  g_keep = keep;
  g_lastCap = LastCap();
  // The caller first: threads it starts from now on are born limited.
  const char* call = "";
  if (int e = LimitThisThread(keep, g_lastCap, &call)) {
    *why = {e, call, "the calling thread"};
    return false;
  }
  ThreadStatus mine;
  if (!ReadStatus(self, &mine)) {
    *why = {errno != 0 ? errno : EIO, "open", "/proc/self/task/" + std::to_string(self) + "/status"};
    return false;
  }
  KernelSigaction previous = {};
  if (int e = InstallHandler(&previous)) {
    *why = {e, "rt_sigaction", "signal " + std::to_string(kSignal)};
    return false;
  }
  bool ok = true;
  for (bool clean = false; ok && !clean;) {
    clean = true;
    for (pid_t tid : Tasks()) {
      ThreadStatus st;
      if (tid == self || !ReadStatus(tid, &st) || Within(st, keep, mine.capBnd)) continue;
      clean = false;
      if (!(ok = AskThread(pid, tid, st, keep, mine.capBnd, why))) break;
      ThreadStatus after;
      if (ReadStatus(tid, &after) && !Within(after, keep, mine.capBnd)) {
        *why = {EPERM, "capsLimit", Who(tid, after) + " still has CapPrm " + Hex(after.capPrm) + " CapEff " + Hex(after.capEff) +
                                        " CapBnd " + Hex(after.capBnd) + " CapAmb " + Hex(after.capAmb)};
        ok = false;
        break;
      }
    }
  }
  g_target.store(0);
  RestoreHandler(previous);
  return ok;
}

}  // namespace ocs
