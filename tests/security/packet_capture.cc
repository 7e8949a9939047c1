// Loopback capture for the security suite: see packet_capture.h.
#include "tests/security/packet_capture.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vaultfs::testing {

namespace {

uint16_t Be16(const unsigned char* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t Be32(const unsigned char* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}

// Parses one IPv4 packet; false if it is not a well-formed TCP segment.
bool ParseTcp(const unsigned char* p, size_t n, TcpSegment* out) {
  if (n < 20 || (p[0] >> 4) != 4) return false;
  const size_t ip_hl = size_t{p[0] & 0x0fu} * 4;
  const size_t total = Be16(p + 2);
  if (ip_hl < 20 || total > n || total < ip_hl + 20 || p[9] != IPPROTO_TCP) return false;
  const unsigned char* t = p + ip_hl;
  const size_t tcp_hl = static_cast<size_t>(t[12] >> 4) * 4;
  if (tcp_hl < 20 || ip_hl + tcp_hl > total) return false;
  out->src_port = Be16(t);
  out->dst_port = Be16(t + 2);
  out->seq = Be32(t + 4);
  out->syn = (t[13] & 0x02) != 0;
  out->payload.assign(reinterpret_cast<const char*>(t + tcp_hl), total - ip_hl - tcp_hl);
  return true;
}

// A classic BPF program run on each packet from its IPv4 header on (SOCK_DGRAM): keep TCP
// segments whose source or destination port lies in one of `ranges`.
std::vector<sock_filter> PortFilter(const std::vector<std::pair<uint16_t, uint16_t>>& ranges) {
  const size_t n = 3 + 2 * (1 + 2 * ranges.size()) + 2;
  const size_t drop = n - 2, accept = n - 1;
  std::vector<sock_filter> p;
  auto jump = [&](size_t target) { return static_cast<uint8_t>(target - (p.size() + 1)); };
  p.push_back(BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9));  // IP protocol
  p.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, jump(drop)));
  p.push_back(BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0));  // X = IP header length
  for (uint32_t port_offset : {0u, 2u}) {               // source port, destination port
    p.push_back(BPF_STMT(BPF_LD | BPF_H | BPF_IND, port_offset));
    for (const auto& [lo, hi] : ranges) {
      p.push_back(BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, lo, 0, 1));
      p.push_back(BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, hi, 0, jump(accept)));
    }
  }
  p.push_back(BPF_STMT(BPF_RET | BPF_K, 0));
  p.push_back(BPF_STMT(BPF_RET | BPF_K, 0x40000));
  return p;
}

}  // namespace

PacketCapture::~PacketCapture() { Stop(); }

Status PacketCapture::Start(const std::vector<std::pair<uint16_t, uint16_t>>& port_ranges) {
  const unsigned lo = if_nametoindex("lo");
  if (lo == 0) return Status(ENODEV, "no loopback interface");
  // SOCK_DGRAM: the kernel strips the (fake) link header, so each read is one IP packet.
  fd_ = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
  if (fd_ < 0) return Status(errno, std::string("AF_PACKET socket: ") + std::strerror(errno));
  if (!port_ranges.empty()) {
    std::vector<sock_filter> prog = PortFilter(port_ranges);
    sock_fprog fprog{static_cast<unsigned short>(prog.size()), prog.data()};
    if (setsockopt(fd_, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof(fprog)) != 0) {
      int e = errno;
      close(fd_);
      fd_ = -1;
      return Status(e, std::string("SO_ATTACH_FILTER: ") + std::strerror(e));
    }
  }
  // Room for bursts while the reader thread is descheduled on a loaded machine; FORCE needs
  // CAP_NET_ADMIN, plain SO_RCVBUF is capped by net.core.rmem_max.
  int buf = 64 << 20;
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) != 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
  }
  sockaddr_ll sll{};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_IP);
  sll.sll_ifindex = static_cast<int>(lo);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) {
    int e = errno;
    close(fd_);
    fd_ = -1;
    return Status(e, std::string("bind to lo: ") + std::strerror(e));
  }
  // Counters start at bind; reading them resets them, so the drops of the window are exact.
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  stop_ = false;
  reader_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void PacketCapture::Stop() {
  if (fd_ < 0) return;
  stop_ = true;
  if (reader_.joinable()) reader_.join();
  tpacket_stats st{};
  socklen_t len = sizeof(st);
  if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0) drops_ = st.tp_drops;
  close(fd_);
  fd_ = -1;
}

void PacketCapture::Run() {
  const unsigned lo = if_nametoindex("lo");
  std::string buf(1 << 17, '\0');  // loopback MTU is 64 KiB
  // Drains the socket completely after the stop request, so nothing sent before Stop() was
  // called and already queued is lost.
  while (true) {
    pollfd p{fd_, POLLIN, 0};
    int r = poll(&p, 1, 50);
    if (r == 0) {
      if (stop_) return;
      continue;
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    sockaddr_ll from{};
    socklen_t from_len = sizeof(from);
    ssize_t n =
        recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    if (from.sll_pkttype == PACKET_OUTGOING || from.sll_ifindex != static_cast<int>(lo)) continue;
    raw_.append(buf.data(), static_cast<size_t>(n));
    TcpSegment seg;
    if (ParseTcp(reinterpret_cast<const unsigned char*>(buf.data()), static_cast<size_t>(n),
                 &seg)) {
      segments_.push_back(std::move(seg));
    }
  }
}

std::map<FlowKey, FlowStream> PacketCapture::Streams() const {
  std::map<FlowKey, std::vector<const TcpSegment*>> by_flow;
  for (const auto& s : segments_) by_flow[{s.src_port, s.dst_port}].push_back(&s);
  std::map<FlowKey, FlowStream> out;
  for (const auto& [key, segs] : by_flow) {
    FlowStream& f = out[key];
    // The stream's origin: the byte after the SYN if it was captured, else the first data.
    bool have_base = false;
    uint32_t base = 0;
    for (const TcpSegment* s : segs) {
      if (s->syn) {
        base = s->seq + 1;
        have_base = true;
        f.saw_syn = true;
        break;
      }
    }
    for (const TcpSegment* s : segs) {
      if (have_base || s->payload.empty()) continue;
      base = s->seq;
      have_base = true;
    }
    // Sequence numbers wrap: offsets are differences taken modulo 2^32.
    std::map<uint32_t, const std::string*> by_offset;
    for (const TcpSegment* s : segs) {
      if (s->payload.empty() || static_cast<int32_t>(s->seq - base) < 0) continue;
      const std::string*& slot = by_offset[s->seq - base];
      if (slot == nullptr || slot->size() < s->payload.size()) slot = &s->payload;
    }
    for (const auto& [offset, payload] : by_offset) {
      const uint64_t end = uint64_t{offset} + payload->size();
      if (offset > f.bytes.size()) {  // a hole: keep only the contiguous prefix
        f.complete = false;
        break;
      }
      if (end <= f.bytes.size()) continue;  // a retransmission of bytes we have
      if (offset == f.bytes.size()) f.segment_starts.push_back(offset);
      f.bytes.append(*payload, f.bytes.size() - offset, std::string::npos);
    }
  }
  return out;
}

bool IsTlsRecordStream(const std::string& stream, size_t offset, size_t* records) {
  *records = 0;
  size_t pos = offset;
  while (pos + 5 <= stream.size()) {
    const auto* h = reinterpret_cast<const unsigned char*>(stream.data() + pos);
    const size_t len = Be16(h + 3);
    if (h[0] < 20 || h[0] > 23 || h[1] != 3 || h[2] < 1 || h[2] > 4 || len > 16384 + 256) {
      return false;
    }
    ++*records;
    pos += 5 + len;
  }
  return true;
}

}  // namespace vaultfs::testing
