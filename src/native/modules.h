// One Init per binding file; addon.cc calls them all.
#pragma once

#include <napi.h>

namespace ocs {

void InitAead(Napi::Env env, Napi::Object exports);
void InitCrypt(Napi::Env env, Napi::Object exports);
void InitCstpReader(Napi::Env env, Napi::Object exports);
void InitFdUtil(Napi::Env env, Napi::Object exports);
void InitFdMove(Napi::Env env, Napi::Object exports);
void InitFdWatcher(Napi::Env env, Napi::Object exports);
void InitHmac(Napi::Env env, Napi::Object exports);
void InitIcmpEcho(Napi::Env env, Napi::Object exports);
void InitNetns(Napi::Env env, Napi::Object exports);
void InitPacketIO(Napi::Env env, Napi::Object exports);
void InitPrivs(Napi::Env env, Napi::Object exports);
void InitSeccomp(Napi::Env env, Napi::Object exports);
void InitSeqpacket(Napi::Env env, Napi::Object exports);
void InitSign(Napi::Env env, Napi::Object exports);
void InitSockopt(Napi::Env env, Napi::Object exports);
void InitSystemd(Napi::Env env, Napi::Object exports);
void InitTcpAccept(Napi::Env env, Napi::Object exports);
void InitTun(Napi::Env env, Napi::Object exports);
void InitTunOffload(Napi::Env env, Napi::Object exports);
void InitUdp(Napi::Env env, Napi::Object exports);

}  // namespace ocs
