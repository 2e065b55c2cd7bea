// A socket address as JavaScript shows it: the numeric text and the port.
#pragma once

#include <sys/socket.h>

#include <string>

namespace ocs {

// AF_INET / AF_INET6 as "198.18.0.2" / "2001:db8::1"; anything else as "" and port 0.
// unmapV4: an IPv4-mapped IPv6 address (a dual-stack socket's IPv4 peer) as its IPv4 form.
void SockaddrText(const sockaddr_storage& ss, bool unmapV4, std::string* text, int* port);

}  // namespace ocs
