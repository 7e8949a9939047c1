// PacketCapture: records every IPv4/TCP segment on the loopback interface for a test window,
// through an AF_PACKET socket (root or CAP_NET_RAW; no tshark or libpcap needed). The security
// suite uses it to look at exactly what a network observer would see: secrets in any segment,
// and whether the byte streams to the cluster's ports are TLS records.
//
// Each loopback packet is seen twice by a packet socket (leaving and arriving); like libpcap,
// only the arriving copy is kept. Streams() puts each direction of each TCP connection back
// together by sequence number, so a secret split across two segments is still found.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/common/status.h"

namespace vaultfs::testing {

struct TcpSegment {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  bool syn = false;
  std::string payload;
};

// One direction of one TCP connection (both ends are 127.0.0.1 in this suite).
struct FlowKey {
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  auto operator<=>(const FlowKey&) const = default;
};

struct FlowStream {
  bool saw_syn = false;  // the stream starts at the connection's first byte
  bool complete = true;  // no hole: every byte between first and last segment was captured
  std::string bytes;     // payload in sequence order, from the first captured segment
  std::vector<size_t> segment_starts;  // offsets in `bytes` where a captured segment began
};

class PacketCapture {
 public:
  PacketCapture() = default;
  ~PacketCapture();
  PacketCapture(const PacketCapture&) = delete;
  PacketCapture& operator=(const PacketCapture&) = delete;

  // Opens the packet socket on "lo" and starts recording TCP segments with either port in one
  // of `port_ranges` (inclusive; empty: every TCP segment). The kernel does the filtering (a
  // classic BPF program), so other suites' bulk traffic on this machine neither costs memory
  // here nor overflows the socket's buffer. EPERM without the privilege.
  Status Start(const std::vector<std::pair<uint16_t, uint16_t>>& port_ranges = {});
  // Stops recording (waits for the reader thread) and reports drops the kernel counted.
  void Stop();

  // Valid after Stop().
  const std::vector<TcpSegment>& segments() const { return segments_; }
  const std::string& raw() const { return raw_; }  // every kept IP packet, concatenated
  uint64_t kernel_drops() const { return drops_; }
  std::map<FlowKey, FlowStream> Streams() const;

 private:
  void Run();

  int fd_ = -1;
  std::thread reader_;
  std::atomic<bool> stop_{false};
  std::vector<TcpSegment> segments_;
  std::string raw_;
  uint64_t drops_ = 0;
};

// True if `stream` from `offset` on is a run of whole TLS records (content type 20..23,
// version 0x0301..0x0304, length <= 2^14 + 256), the last of which may be cut off by the end
// of the capture. *records receives how many record headers were walked.
bool IsTlsRecordStream(const std::string& stream, size_t offset, size_t* records);

}  // namespace vaultfs::testing
