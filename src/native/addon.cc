// Module entry point of ocserv_native; see src/native/index.ts for the API.
#include <napi.h>

#include "modules.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  ocs::InitAead(env, exports);
  ocs::InitCrypt(env, exports);
  ocs::InitCstpReader(env, exports);
  ocs::InitFdUtil(env, exports);
  ocs::InitFdMove(env, exports);
  ocs::InitFdWatcher(env, exports);
  ocs::InitHmac(env, exports);
  ocs::InitIcmpEcho(env, exports);
  ocs::InitNetns(env, exports);
  ocs::InitPacketIO(env, exports);
  ocs::InitPrivs(env, exports);
  ocs::InitSeccomp(env, exports);
  ocs::InitSeqpacket(env, exports);
  ocs::InitSign(env, exports);
  ocs::InitSockopt(env, exports);
  ocs::InitSystemd(env, exports);
  ocs::InitTcpAccept(env, exports);
  ocs::InitTun(env, exports);
  ocs::InitTunOffload(env, exports);
  ocs::InitUdp(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ocserv_native, Init)
