#include "sockaddr_text.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace ocs {

void SockaddrText(const sockaddr_storage& ss, bool unmapV4, std::string* text, int* port) {
  char buf[INET6_ADDRSTRLEN] = "";
  *port = 0;
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf));
    *port = ntohs(in->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (unmapV4 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof(buf));
    else inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf));
    *port = ntohs(in6->sin6_port);
  }
  *text = buf;
}

}  // namespace ocs
