// seccompWorker(): the system-call allowlist of a worker (isolate-workers = true), applied
// to every thread of the process (TSYNC). Installed once the worker has loaded its code and
// its TLS engine, so what remains is serving sockets it was handed: no new sockets, no
// exec, no fork, no ptrace, files only for reading.
//
// A call outside the list fails with EPERM rather than killing the worker, so a call this
// list missed shows up as an error in the log instead of a dead process; clone3 fails with
// ENOSYS so glibc falls back to clone, whose flags can be checked (threads only).
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <napi.h>
#include <sched.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <vector>

#include "errors.h"
#include "modules.h"

namespace ocs {
namespace {

#if defined(__x86_64__)
constexpr uint32_t kArch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t kArch = AUDIT_ARCH_AARCH64;
#else
#error "seccomp filter: unsupported architecture"
#endif

// Allowed without looking at arguments. Names missing on an architecture are skipped.
const int kAllowed[] = {
    SYS_read, SYS_write, SYS_readv, SYS_writev, SYS_pread64, SYS_pwrite64, SYS_close, SYS_lseek,
    SYS_fstat, SYS_newfstatat, SYS_statx, SYS_readlinkat, SYS_faccessat, SYS_getdents64, SYS_fstatfs,
    SYS_fsync, SYS_fdatasync, SYS_fcntl, SYS_dup, SYS_dup3, SYS_pipe2, SYS_close_range,
    SYS_mmap, SYS_munmap, SYS_mprotect, SYS_madvise, SYS_mremap, SYS_brk, SYS_membarrier, SYS_mincore,
    SYS_futex, SYS_set_robust_list, SYS_get_robust_list, SYS_rseq, SYS_sched_yield, SYS_sched_getaffinity,
    SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_pwait, SYS_eventfd2, SYS_ppoll, SYS_pselect6,
    SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack, SYS_restart_syscall,
    SYS_getpid, SYS_gettid, SYS_getppid, SYS_tgkill, SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid,
    SYS_getresuid, SYS_getresgid, SYS_getrandom, SYS_uname, SYS_sysinfo, SYS_getrusage, SYS_times,
    SYS_clock_gettime, SYS_clock_getres, SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday,
    SYS_prlimit64, SYS_getcwd, SYS_exit, SYS_exit_group,
    SYS_recvfrom, SYS_recvmsg, SYS_recvmmsg, SYS_sendto, SYS_sendmsg, SYS_sendmmsg, SYS_shutdown,
    SYS_getsockname, SYS_getpeername, SYS_getsockopt, SYS_setsockopt,
#ifdef SYS_epoll_pwait2
    SYS_epoll_pwait2,
#endif
#ifdef SYS_pkey_alloc
    SYS_pkey_alloc, SYS_pkey_free, SYS_pkey_mprotect,
#endif
#ifdef SYS_faccessat2
    SYS_faccessat2,
#endif
#if defined(__x86_64__)
    SYS_stat, SYS_lstat, SYS_access, SYS_readlink, SYS_dup2, SYS_pipe, SYS_poll, SYS_select,
    SYS_epoll_wait, SYS_epoll_create, SYS_arch_prctl, SYS_time,
#endif
};

// TUNGETIFF: PacketIO asks a tun whether it carries virtio-net headers
const uint32_t kIoctls[] = {FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, TCGETS, TIOCGWINSZ, TUNGETIFF};
const uint32_t kPrctls[] = {PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE, 0x53564d41 /* PR_SET_VMA */};

constexpr uint32_t kDeny = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
constexpr uint32_t kNoSys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);
constexpr uint32_t kWriteFlags = O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND;

constexpr uint32_t ArgLow(int i) { return offsetof(struct seccomp_data, args) + 8 * i; }

class Program {
 public:
  void Load(uint32_t off) { p_.push_back(BPF_STMT(BPF_LD | BPF_W | BPF_ABS, off)); }
  void Ret(uint32_t v) { p_.push_back(BPF_STMT(BPF_RET | BPF_K, v)); }
  // if A == k: return v
  void IfEqRet(uint32_t k, uint32_t v) {
    p_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, k, 0, 1));
    Ret(v);
  }
  // if A has any bit of k: return v
  void IfSetRet(uint32_t k, uint32_t v) {
    p_.push_back(BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, k, 0, 1));
    Ret(v);
  }
  // if nr == k, run `body` (which must end in returns); else go on
  template <typename F>
  void ForSyscall(uint32_t nr, F body) {
    size_t jump = p_.size();
    p_.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 0));
    body();
    p_[jump].jf = static_cast<uint8_t>(p_.size() - jump - 1);
    Load(offsetof(struct seccomp_data, nr));
  }
  std::vector<sock_filter>& code() { return p_; }

 private:
  std::vector<sock_filter> p_;
};

std::vector<sock_filter> Build() {
  Program b;
  b.Load(offsetof(struct seccomp_data, arch));
  b.code().push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kArch, 1, 0));
  b.Ret(SECCOMP_RET_KILL_PROCESS);
  b.Load(offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
  // x32 system calls share the arch value
  b.code().push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
  b.Ret(kDeny);
#endif
  for (int nr : kAllowed) b.IfEqRet(static_cast<uint32_t>(nr), SECCOMP_RET_ALLOW);
  b.IfEqRet(SYS_clone3, kNoSys);
  b.ForSyscall(SYS_clone, [&] {
    b.Load(ArgLow(0));
    b.IfSetRet(CLONE_THREAD, SECCOMP_RET_ALLOW);
    b.Ret(kDeny);
  });
  b.ForSyscall(SYS_openat, [&] {
    b.Load(ArgLow(2));
    b.IfSetRet(kWriteFlags, kDeny);
    b.Ret(SECCOMP_RET_ALLOW);
  });
#if defined(__x86_64__)
  b.ForSyscall(SYS_open, [&] {
    b.Load(ArgLow(1));
    b.IfSetRet(kWriteFlags, kDeny);
    b.Ret(SECCOMP_RET_ALLOW);
  });
#endif
  b.ForSyscall(SYS_ioctl, [&] {
    b.Load(ArgLow(1));
    for (uint32_t cmd : kIoctls) b.IfEqRet(cmd, SECCOMP_RET_ALLOW);
    b.Ret(kDeny);
  });
  b.ForSyscall(SYS_prctl, [&] {
    b.Load(ArgLow(0));
    for (uint32_t op : kPrctls) b.IfEqRet(op, SECCOMP_RET_ALLOW);
    b.Ret(kDeny);
  });
  b.Ret(kDeny);
  return b.code();
}

Napi::Value SeccompWorker(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<sock_filter> code = Build();
  sock_fprog prog = {static_cast<unsigned short>(code.size()), code.data()};
  // seccomp requires no_new_privs (or CAP_SYS_ADMIN); set it here too so the call stands alone
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ThrowErrno(env, errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog);
  if (r != 0) return ThrowErrno(env, r > 0 ? EAGAIN : errno, "seccomp", r > 0 ? "thread " + std::to_string(r) + " could not be synchronised" : "");
  return env.Undefined();
}

}  // namespace

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("seccompWorker", Napi::Function::New(env, SeccompWorker, "seccompWorker"));
}

}  // namespace ocs
