// The offloads of a tun with a virtio-net header (IFF_VNET_HDR), both ways.
// Written to it: a run of in-order segments of one flow, as a client's TCP sends them,
// becomes one large packet that the kernel takes as a GSO packet, so its IP and TCP receive
// paths run once for the run instead of once per segment (what GRO does for a network
// card), and the receiver acknowledges the run instead of every other segment.
// Read from it, with TUNSETOFFLOAD's TSO and checksum offload on: the kernel hands over a
// TCP sender's data as packets of up to 64 kB that are cut here into the segments the
// client gets (what TSO does in a network card), and leaves checksums to be finished here.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

namespace ocs {

// struct virtio_net_hdr: <linux/virtio_net.h> does not compile as C++ (a member named
// `class`); the layout is kernel ABI and fixed. Host byte order (legacy virtio on a
// little-endian host, which is what tun assumes unless told otherwise).
struct VnetHdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
static_assert(sizeof(VnetHdr) == 10, "virtio_net_hdr is 10 bytes");
constexpr uint8_t kVnetNeedsCsum = 1;   // VIRTIO_NET_HDR_F_NEEDS_CSUM
constexpr uint8_t kVnetGsoNone = 0;     // VIRTIO_NET_HDR_GSO_NONE
constexpr uint8_t kVnetGsoTcpV4 = 1;    // VIRTIO_NET_HDR_GSO_TCPV4
constexpr uint8_t kVnetGsoTcpV6 = 4;    // VIRTIO_NET_HDR_GSO_TCPV6

// the most segments one coalesced packet carries (the kernel's GRO stops at 64 too)
constexpr size_t kCoalesceMaxSegments = 64;
// IPv4 and IPv6 headers with options, and a TCP header with options
constexpr size_t kCoalesceMaxHeaders = 60 + 60;

// One write to the tun: the virtio-net header, then iov[0..iovcnt) as the packet.
struct CoalescedWrite {
  VnetHdr vnet;
  // the run's first headers, rewritten for the whole (lengths, checksums, flags)
  uint8_t headers[kCoalesceMaxHeaders];
  // iov[0] is the headers (or, for a packet written as it came, the whole packet)
  iovec iov[kCoalesceMaxSegments + 1];
  size_t iovcnt;
  // how many of the caller's packets this write carries
  size_t packets;
};

// Plans the write for packets[at..n): the longest run from `at` that coalesces (1 when
// the packet at `at` cannot start one: not TCP, a flag beyond ACK and PSH, no payload,
// a checksum that does not verify, IP options or fragments). Each segment of a run has
// its checksum verified before it joins, as the kernel would have verified it.
void PlanCoalescedWrite(const iovec* packets, size_t n, size_t at, CoalescedWrite* out);

// Finishes a checksum the kernel left partial (kVnetNeedsCsum): the sum from csum_start to
// the end, stored at csum_start + csum_offset. false: those point outside the packet.
bool FinishChecksum(uint8_t* p, size_t len, const VnetHdr& h);

// A GSO packet read from the tun, checked: TCP over IPv4 (no options) or IPv6 (no
// extension headers), lengths that agree, segments of at most maxSegment bytes.
struct GsoPacket {
  const uint8_t* p;
  size_t len;
  bool v6;
  size_t ipLen;
  size_t hdrLen;  // IP and TCP headers
  size_t gsoSize;
  size_t segments;
};
bool ParseGso(const uint8_t* p, size_t len, const VnetHdr& h, size_t maxSegment, GsoPacket* g);

// Writes segment k of g at out (room for g.hdrLen + g.gsoSize bytes): the headers with
// this segment's lengths, sequence number, IP id and flags (FIN and PSH on the last only,
// CWR on the first only) and a whole checksum. Returns its length.
size_t WriteSegment(const GsoPacket& g, size_t k, uint8_t* out);

}  // namespace ocs
