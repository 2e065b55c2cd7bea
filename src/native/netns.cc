// listen-netns: the client-facing sockets live in another network namespace while the
// process (tun devices, routes, sec-mod, workers) stays in its own.
//
// A socket belongs to the namespace of the thread that called socket(); bind, listen,
// connect and I/O then work from any thread. setns() needs CAP_SYS_ADMIN, which main gives
// up after start-up, yet main makes a UDP socket per DTLS client for as long as it runs.
// So each opened namespace gets a thread of its own that enters it once, drops every
// capability of its own (socket() needs none), and from then on makes sockets on request.
// Threads have their own namespace and capabilities; the rest of the process is untouched.
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "caps_all_threads.h"
#include "errors.h"
#include "fd_util.h"
#include "modules.h"

namespace ocs {
namespace {

struct Factory {
  std::mutex m;
  std::condition_variable cv;
  int nsfd = -1;
  // start-up: set once the thread is in the namespace (or failed to get there)
  bool started = false;
  int startErr = 0;
  const char* startCall = "";
  // one request at a time, guarded by `busy`
  bool busy = false;
  bool pending = false;
  bool quit = false;
  int family = 0, type = 0;
  int resultFd = -1, resultErr = 0;
};

std::mutex g_lock;
std::map<int, Factory*> g_factories;
int g_next = 1;

// The bounding set too: this thread stays root, and capsLimit later leaves no thread a
// larger bounding set than its own caller's (src/native/caps_all_threads.cc).
int DropThreadCaps() {
  const char* call = "";
  return LimitThisThread(0, LastCap(), &call);
}

void* Run(void* arg) {
  Factory* f = static_cast<Factory*>(arg);
  std::unique_lock<std::mutex> lk(f->m);
  if (setns(f->nsfd, CLONE_NEWNET) != 0) {
    f->startErr = errno;
    f->startCall = "setns";
  } else if (int e = DropThreadCaps()) {
    f->startErr = e;
    f->startCall = "capset";
  }
  CloseFd(f->nsfd);
  f->nsfd = -1;
  f->started = true;
  bool failed = f->startErr != 0;
  f->cv.notify_all();
  if (failed) return nullptr;  // netnsOpen reports it and forgets this factory
  for (;;) {
    f->cv.wait(lk, [f] { return f->pending || f->quit; });
    if (f->quit) break;
    int fd = socket(f->family, f->type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    f->resultFd = fd;
    f->resultErr = fd < 0 ? errno : 0;
    f->pending = false;
    f->cv.notify_all();
  }
  lk.unlock();
  delete f;
  return nullptr;
}

Factory* Find(int handle) {
  std::lock_guard<std::mutex> g(g_lock);
  auto it = g_factories.find(handle);
  return it == g_factories.end() ? nullptr : it->second;
}

// netnsOpen(path): a handle for the namespace at `path` (/var/run/netns/NAME).
Napi::Value NetnsOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path;
  if (!ArgString(info, 0, "path", &path)) return env.Undefined();
  int nsfd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) return ThrowErrno(env, errno, "open", path);
  Factory* f = new Factory();
  f->nsfd = nsfd;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t tid;
  int e = pthread_create(&tid, &attr, Run, f);
  pthread_attr_destroy(&attr);
  if (e != 0) {
    CloseFd(nsfd);
    delete f;
    return ThrowErrno(env, e, "pthread_create", path);
  }
  std::unique_lock<std::mutex> lk(f->m);
  f->cv.wait(lk, [f] { return f->started; });
  if (f->startErr != 0) {
    int err = f->startErr;
    const char* call = f->startCall;
    lk.unlock();
    delete f;  // the thread has returned without touching it again
    // setns on a file that is no network namespace fails with EINVAL
    return ThrowErrno(env, err, call, path);
  }
  lk.unlock();
  std::lock_guard<std::mutex> g(g_lock);
  int handle = g_next++;
  g_factories[handle] = f;
  return Napi::Number::New(env, handle);
}

bool ParseHost(const std::string& host, int port, sockaddr_storage* ss, socklen_t* len) {
  addrinfo hints = {};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  hints.ai_family = AF_UNSPEC;
  addrinfo* res = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(host.c_str(), service.c_str(), &hints, &res) != 0 || res == nullptr) return false;
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
  return true;
}

// netnsListen(handle, host, port, kind, backlog): a socket of the namespace bound to
// host:port (SO_REUSEADDR, as ocserv's), listening when kind is 'tcp'. '::' takes IPv4 too
// (as node's default listener); any other IPv6 address only IPv6.
Napi::Value NetnsListen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t handle, port, backlog;
  std::string host, kind;
  if (!ArgInt(info, 0, "handle", 1, INT32_MAX, &handle) || !ArgString(info, 1, "host", &host) ||
      !ArgInt(info, 2, "port", 0, 65535, &port) || !ArgString(info, 3, "kind", &kind) ||
      !ArgInt(info, 4, "backlog", 1, 65535, &backlog))
    return env.Undefined();
  if (kind != "tcp" && kind != "udp") return ThrowType(env, "kind must be 'tcp' or 'udp'");
  sockaddr_storage ss;
  socklen_t len;
  if (!ParseHost(host, static_cast<int>(port), &ss, &len)) return ThrowType(env, "host is not an IP address: '" + host + "'");
  bool tcp = kind == "tcp";
  std::string what = kind + " " + host + ":" + std::to_string(port);
  int err = 0;
  int fd = NetnsSocket(static_cast<int>(handle), ss.ss_family, tcp ? SOCK_STREAM : SOCK_DGRAM, &err);
  if (fd < 0) return ThrowErrno(env, err, "socket", what);
  auto fail = [&](const char* call) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, call, what);
  };
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) return fail("setsockopt");
  if (ss.ss_family == AF_INET6) {
    const in6_addr& a = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
    int only = IN6_IS_ADDR_UNSPECIFIED(&a) ? 0 : 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &only, sizeof(only)) < 0) return fail("setsockopt");
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return fail("bind");
  if (tcp && listen(fd, static_cast<int>(backlog)) < 0) return fail("listen");
  return Napi::Number::New(env, fd);
}

// netnsSocket(handle, family, type): a bare socket of the namespace.
Napi::Value NetnsSocketJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t handle, family;
  std::string type;
  if (!ArgInt(info, 0, "handle", 1, INT32_MAX, &handle) || !ArgInt(info, 1, "family", 4, 6, &family) ||
      !ArgString(info, 2, "type", &type))
    return env.Undefined();
  if (family == 5) return ThrowType(env, "family must be 4 or 6");
  if (type != "stream" && type != "dgram") return ThrowType(env, "type must be 'stream' or 'dgram'");
  int err = 0;
  int fd = NetnsSocket(static_cast<int>(handle), family == 4 ? AF_INET : AF_INET6,
                       type == "stream" ? SOCK_STREAM : SOCK_DGRAM, &err);
  if (fd < 0) return ThrowErrno(env, err, "socket");
  return Napi::Number::New(env, fd);
}

// netnsClose(handle): the namespace's thread ends; the handle is unknown afterwards.
Napi::Value NetnsClose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t handle;
  if (!ArgInt(info, 0, "handle", 1, INT32_MAX, &handle)) return env.Undefined();
  Factory* f;
  {
    std::lock_guard<std::mutex> g(g_lock);
    auto it = g_factories.find(static_cast<int>(handle));
    if (it == g_factories.end()) return env.Undefined();
    f = it->second;
    g_factories.erase(it);
  }
  std::unique_lock<std::mutex> lk(f->m);
  f->cv.wait(lk, [f] { return !f->busy; });
  f->quit = true;
  f->cv.notify_all();
  return env.Undefined();  // the thread frees f
}

}  // namespace

int NetnsSocket(int handle, int family, int type, int* err) {
  Factory* f = Find(handle);
  if (f == nullptr) {
    *err = EBADF;
    return -1;
  }
  std::unique_lock<std::mutex> lk(f->m);
  f->cv.wait(lk, [f] { return !f->busy; });
  f->busy = true;
  f->family = family;
  f->type = type;
  f->pending = true;
  f->cv.notify_all();
  f->cv.wait(lk, [f] { return !f->pending; });
  int fd = f->resultFd;
  *err = f->resultErr;
  f->busy = false;
  f->cv.notify_all();
  return fd;
}

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("netnsOpen", Napi::Function::New(env, NetnsOpen, "netnsOpen"));
  exports.Set("netnsListen", Napi::Function::New(env, NetnsListen, "netnsListen"));
  exports.Set("netnsSocket", Napi::Function::New(env, NetnsSocketJs, "netnsSocket"));
  exports.Set("netnsClose", Napi::Function::New(env, NetnsClose, "netnsClose"));
}

}  // namespace ocs
