// tun devices: open with TUNSETIFF and configure IPv4/IPv6 with plain
// ioctls, so main never spawns `ip` per session.
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <string>

#include "errors.h"
#include "fd_util.h"
#include "modules.h"

namespace ocs {
namespace {

// <linux/ipv6.h> has this struct but clashes with <netinet/in.h>; the
// layout is kernel ABI and fixed.
struct In6Ifreq {
  in6_addr addr;
  uint32_t prefixlen;
  int ifindex;
};

bool CheckIfName(Napi::Env env, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) {
    Napi::RangeError::New(env, "interface name must be 1.." +
                                   std::to_string(IFNAMSIZ - 1) + " bytes: '" + name + "'")
        .ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

void FillName(ifreq* ifr, const std::string& name) {
  memset(ifr, 0, sizeof(*ifr));
  memcpy(ifr->ifr_name, name.data(), name.size());
}

Napi::Value TunOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "name", &name)) return env.Undefined();
  // "vpns" means "the next free vpnsN"; the kernel expands %d itself.
  if (!name.empty() && name.find('%') == std::string::npos &&
      !isdigit(static_cast<unsigned char>(name.back())))
    name += "%d";
  if (!CheckIfName(env, name)) return env.Undefined();

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return ThrowErrno(env, errno, "open", "/dev/net/tun");
  ifreq ifr;
  FillName(&ifr, name);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  // vnetHdr: a virtio-net header before each packet, so that a worker can write runs of
  // TCP segments as one packet; offload (with vnetHdr): TSO and checksum offload, so that
  // it reads a sender's data in packets of up to 64 kB and cuts them itself (tun_offload.h)
  bool vnetHdr = false, offload = false;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Object o = info[1].As<Napi::Object>();
    if (!OptBool(env, o, "vnetHdr", false, &vnetHdr) || !OptBool(env, o, "offload", false, &offload)) return env.Undefined();
  }
  if (offload && !vnetHdr) return ThrowType(env, "opts.offload needs opts.vnetHdr");
  if (vnetHdr) ifr.ifr_flags |= IFF_VNET_HDR;
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, "ioctl", "TUNSETIFF " + name);
  }
  if (offload && ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) {
    int e = errno;
    CloseFd(fd);
    return ThrowErrno(env, e, "ioctl", std::string("TUNSETOFFLOAD ") + ifr.ifr_name);
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("fd", Napi::Number::New(env, fd));
  o.Set("name", Napi::String::New(env, ifr.ifr_name));
  return o;
}

bool GetAddrOpt(Napi::Env env, Napi::Object opts, const char* key, bool required,
                int family, void* out, bool* present) {
  Napi::Value v = opts.Get(key);
  *present = false;
  if (v.IsUndefined() || v.IsNull()) {
    if (required) ThrowType(env, std::string("opts.") + key + " is required");
    return !required;
  }
  if (!v.IsString()) {
    ThrowType(env, std::string("opts.") + key + " must be a string");
    return false;
  }
  std::string s = v.As<Napi::String>().Utf8Value();
  if (inet_pton(family, s.c_str(), out) != 1) {
    ThrowType(env, std::string("opts.") + key + " is not an IPv" +
                       (family == AF_INET ? "4" : "6") + " address: '" + s + "'");
    return false;
  }
  *present = true;
  return true;
}

// Closes the ioctl socket on every return path.
struct SockGuard {
  int fd;
  ~SockGuard() {
    if (fd >= 0) CloseFd(fd);
  }
};

bool SetAddr4(Napi::Env env, int s, const std::string& name, unsigned long req,
              const char* reqName, const in_addr& a) {
  ifreq ifr;
  FillName(&ifr, name);
  sockaddr_in sin;
  memset(&sin, 0, sizeof(sin));
  sin.sin_family = AF_INET;
  sin.sin_addr = a;
  memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
  if (ioctl(s, req, &ifr) < 0) {
    char buf[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, buf, sizeof(buf));
    ThrowErrno(env, errno, "ioctl", std::string(reqName) + " " + name + " " + buf);
    return false;
  }
  return true;
}

bool BringUp(Napi::Env env, int s, const std::string& name) {
  ifreq ifr;
  FillName(&ifr, name);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    ThrowErrno(env, errno, "ioctl", "SIOCGIFFLAGS " + name);
    return false;
  }
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
    ThrowErrno(env, errno, "ioctl", "SIOCSIFFLAGS " + name);
    return false;
  }
  return true;
}

Napi::Value TunConfigure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "name", &name) || !CheckIfName(env, name)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsObject()) return ThrowType(env, "opts must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();

  in_addr addr, peer, mask;
  bool hasAddr, hasPeer, hasMask;
  if (!GetAddrOpt(env, opts, "address", true, AF_INET, &addr, &hasAddr) ||
      !GetAddrOpt(env, opts, "peer", false, AF_INET, &peer, &hasPeer) ||
      !GetAddrOpt(env, opts, "netmask", false, AF_INET, &mask, &hasMask))
    return env.Undefined();
  if (!hasMask) mask.s_addr = htonl(0xffffffffu);
  Napi::Value mtuV = opts.Get("mtu");
  if (!mtuV.IsNumber()) return ThrowType(env, "opts.mtu must be a number");
  int64_t mtu = mtuV.As<Napi::Number>().Int64Value();
  if (mtu < 68 || mtu > 65535) {
    Napi::RangeError::New(env, "opts.mtu must be in [68, 65535]").ThrowAsJavaScriptException();
    return env.Undefined();
  }

  SockGuard s{socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return ThrowErrno(env, errno, "socket", "AF_INET");
  // Address before peer and netmask: SIOCSIFADDR resets both to defaults
  // derived from the address.
  if (!SetAddr4(env, s.fd, name, SIOCSIFADDR, "SIOCSIFADDR", addr)) return env.Undefined();
  if (hasPeer && !SetAddr4(env, s.fd, name, SIOCSIFDSTADDR, "SIOCSIFDSTADDR", peer))
    return env.Undefined();
  if (!SetAddr4(env, s.fd, name, SIOCSIFNETMASK, "SIOCSIFNETMASK", mask)) return env.Undefined();

  ifreq ifr;
  FillName(&ifr, name);
  ifr.ifr_mtu = static_cast<int>(mtu);
  if (ioctl(s.fd, SIOCSIFMTU, &ifr) < 0)
    return ThrowErrno(env, errno, "ioctl", "SIOCSIFMTU " + name + " " + std::to_string(mtu));
  if (!BringUp(env, s.fd, name)) return env.Undefined();
  return env.Undefined();
}

// Reads opts[key] as an integer in [lo, hi]; absent is fine unless required.
bool GetIntOpt(Napi::Env env, Napi::Object opts, const char* key, bool required, int64_t lo,
               int64_t hi, int64_t* out, bool* present) {
  Napi::Value v = opts.Get(key);
  *present = false;
  if (v.IsUndefined() || v.IsNull()) {
    if (required) ThrowType(env, std::string("opts.") + key + " is required");
    return !required;
  }
  if (!v.IsNumber()) {
    ThrowType(env, std::string("opts.") + key + " must be a number");
    return false;
  }
  *out = v.As<Napi::Number>().Int64Value();
  if (*out < lo || *out > hi) {
    Napi::RangeError::New(env, std::string("opts.") + key + " must be in [" + std::to_string(lo) +
                                   ", " + std::to_string(hi) + "]")
        .ThrowAsJavaScriptException();
    return false;
  }
  *present = true;
  return true;
}

// IPv6 of a tun, as ocserv does it: optionally the MTU first (IPv6 needs 1280), the
// address with its prefix length, up, then optionally a route to the client's prefix
// (SIOCADDRT with in6_rtmsg, metric 1). The kernel drops address and route with the device.
Napi::Value TunConfigure6(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name;
  if (!ArgString(info, 0, "name", &name) || !CheckIfName(env, name)) return env.Undefined();
  if (info.Length() < 2 || !info[1].IsObject()) return ThrowType(env, "opts must be an object");
  Napi::Object opts = info[1].As<Napi::Object>();
  In6Ifreq req;
  memset(&req, 0, sizeof(req));
  in6_addr route;
  int64_t prefix = 0, mtu = 0, routePrefix = 128;
  bool has, hasMtu, hasRoute, hasRoutePrefix;
  if (!GetAddrOpt(env, opts, "address", true, AF_INET6, &req.addr, &has) ||
      !GetIntOpt(env, opts, "prefix", true, 0, 128, &prefix, &has) ||
      !GetIntOpt(env, opts, "mtu", false, 1280, 65535, &mtu, &hasMtu) ||
      !GetAddrOpt(env, opts, "route", false, AF_INET6, &route, &hasRoute) ||
      !GetIntOpt(env, opts, "routePrefix", false, 0, 128, &routePrefix, &hasRoutePrefix))
    return env.Undefined();
  req.prefixlen = static_cast<uint32_t>(prefix);

  SockGuard s{socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)};
  if (s.fd < 0) return ThrowErrno(env, errno, "socket", "AF_INET6");
  ifreq ifr;
  FillName(&ifr, name);
  if (ioctl(s.fd, SIOCGIFINDEX, &ifr) < 0)
    return ThrowErrno(env, errno, "ioctl", "SIOCGIFINDEX " + name);
  req.ifindex = ifr.ifr_ifindex;
  if (hasMtu) {
    FillName(&ifr, name);
    ifr.ifr_mtu = static_cast<int>(mtu);
    if (ioctl(s.fd, SIOCSIFMTU, &ifr) < 0)
      return ThrowErrno(env, errno, "ioctl", "SIOCSIFMTU " + name + " " + std::to_string(mtu));
  }
  char buf[INET6_ADDRSTRLEN];
  if (ioctl(s.fd, SIOCSIFADDR, &req) < 0) {
    inet_ntop(AF_INET6, &req.addr, buf, sizeof(buf));
    return ThrowErrno(env, errno, "ioctl",
                      "SIOCSIFADDR " + name + " " + buf + "/" + std::to_string(prefix));
  }
  if (!BringUp(env, s.fd, name)) return env.Undefined();
  if (hasRoute) {
    in6_rtmsg rt;
    memset(&rt, 0, sizeof(rt));
    rt.rtmsg_dst = route;
    rt.rtmsg_dst_len = static_cast<uint16_t>(routePrefix);
    rt.rtmsg_ifindex = req.ifindex;
    rt.rtmsg_metric = 1;
    rt.rtmsg_flags = RTF_UP;
    if (ioctl(s.fd, SIOCADDRT, &rt) < 0) {
      inet_ntop(AF_INET6, &route, buf, sizeof(buf));
      return ThrowErrno(env, errno, "ioctl",
                        "SIOCADDRT " + name + " " + buf + "/" + std::to_string(routePrefix));
    }
  }
  return env.Undefined();
}

}  // namespace

void InitTun(Napi::Env env, Napi::Object exports) {
  exports.Set("tunOpen", Napi::Function::New(env, TunOpen, "tunOpen"));
  exports.Set("tunConfigure", Napi::Function::New(env, TunConfigure, "tunConfigure"));
  exports.Set("tunConfigure6", Napi::Function::New(env, TunConfigure6, "tunConfigure6"));
}

}  // namespace ocs
