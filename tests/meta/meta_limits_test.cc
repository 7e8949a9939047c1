// The client port's bounds (issue 20, item 2) against a real vaultfs-meta --single process:
// thousands of pipelined requests whose replies are never read cost the node bounded memory
// while it goes on serving others, silent connections are closed after the idle timeout, and
// connections beyond the per-address cap are refused while other addresses are served.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "gtest/gtest.h"
#include "src/common/frame.h"
#include "src/common/socket.h"
#include "src/common/tls_stream.h"
#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Resident memory of a process in KiB (VmRSS), or -1 if unreadable.
long RssKib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

template <typename F>
bool WaitFor(F cond, milliseconds limit) {
  Deadline d = DeadlineIn(limit);
  while (Clock::now() < d) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));  // polling interval, not synchronisation
  }
  return cond();
}

// A plain TCP connection to `port` from a chosen loopback source address.
UniqueFd ConnectFrom(const char* source, uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, source, &src.sin_addr);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)), 0) << strerror(errno);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)), 0) << strerror(errno);
  return UniqueFd(fd);
}

// node_info answered on fd (plain TCP): the connection is being served.
bool Served(int fd) {
  if (!WriteFrame(fd, R"({"id":7,"op":"node_info"})", DeadlineIn(seconds(10))).ok()) return false;
  auto r = ReadFrame(fd, DeadlineIn(seconds(20)));
  return r.ok() && r->find("\"ok\":true") != std::string::npos;
}

// True once the node closed fd (EOF or reset) before the deadline.
bool ClosedByNode(int fd, milliseconds limit) {
  Deadline d = DeadlineIn(limit);
  char b[4096];
  while (Clock::now() < d) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::recv(fd, b, sizeof(b), 0) <= 0) return true;
  }
  return false;
}

// Thousands of pipelined cluster_map requests, replies never read, over TLS as any user could
// send them (with a session the map lists every data server, a large reply). The node must
// stop reading them once its queue of replies is full: its memory stays within a bound, it
// serves another client meanwhile, and it is no larger after the connection closed.
TEST(MetaClientLimits, UnreadRepliesCostBoundedMemory) {
  MetaCluster cluster(1, /*single=*/true);
  ASSERT_TRUE(cluster.StartAll().ok());
  const HostPort addr = cluster.config().meta[0].address;
  auto other = cluster.Client();
  ASSERT_TRUE(other
                  ->Call("register", {{"user", "flooder"},
                                      {"salt", "00"},
                                      {"kdf", Json::object()},
                                      {"auth_key", std::string(64, 'a')},
                                      {"wrapped_master_key", "w"}})
                  .ok());
  ASSERT_TRUE(other->Login("flooder", std::string(64, 'a')).ok());
  const std::string session = other->session();
  auto first = other->Call("cluster_map", Json::object());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const size_t reply_bytes = first->dump().size();
  const long rss0 = RssKib(cluster.Pid(0));
  ASSERT_GT(rss0, 0);

  // 100,000 requests: more than 100 MB of replies if each were queued.
  constexpr int kRequests = 100000;
  std::string burst;
  for (int i = 0; i < kRequests; ++i) {
    burst += *EncodeFrame(R"({"id":)" + std::to_string(i) + R"(,"op":"cluster_map","session":")" +
                          session + R"("})");
  }
  ASSERT_GT(kRequests * reply_bytes, 100u << 20) << "cluster_map reply of " << reply_bytes;
  auto flood = Stream::Connect(addr, cluster.client_tls(), DeadlineIn(seconds(20)));
  ASSERT_TRUE(flood.ok()) << flood.status().ToString();
  // The node may stop reading before all of it is sent: then the write times out, as wanted.
  (void)flood->WriteAll(burst, DeadlineIn(seconds(10)));

  // The node keeps serving another client.
  auto again = other->Call("cluster_map", Json::object());
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  // Watch the node's memory for a while (until it passes the bound, at most 10 s, which is
  // longer than the node needs to answer every request when nothing stops it): without a bound
  // it grows past 100 MB as it answers.
  // The bound: the 4 MiB reply queue, the kernel's buffers are not ours, plus slack for the
  // allocator and TLS.
  const long bound = rss0 + 16 * 1024;
  long peak = 0;
  WaitFor(
      [&] {
        peak = std::max(peak, RssKib(cluster.Pid(0)));
        return peak > bound;
      },
      seconds(10));
  std::fprintf(stderr, "node RSS %ld KiB before the flood, at most %ld KiB during it\n", rss0,
               peak);
  EXPECT_LE(peak, bound) << "node grew from " << rss0 << " KiB to " << peak << " KiB";
  auto third = other->Call("node_info", Json::object());
  EXPECT_TRUE(third.ok()) << third.status().ToString();

  // Closing the flood releases what it held.
  *flood = Stream();
  EXPECT_TRUE(WaitFor([&] { return RssKib(cluster.Pid(0)) <= rss0 + 16 * 1024; }, seconds(20)))
      << "node at " << RssKib(cluster.Pid(0)) << " KiB after the flood closed, from " << rss0;
  EXPECT_TRUE(other->Call("node_info", Json::object()).ok());
  EXPECT_EQ(cluster.State(0), "running");
}

// Plain TCP in both tests below, so the test can pick each connection's source address.
TEST(MetaClientLimits, IdleConnectionsAreClosed) {
  MetaCluster cluster(1, /*single=*/true, 1000, 100, Security::kInsecure);
  cluster.SetExtraArgs({"--client-idle-timeout-ms", "800"});
  ASSERT_TRUE(cluster.StartAll().ok());
  const uint16_t port = cluster.config().meta[0].address.port;

  // Half-open: a client that connected, was served once and then went silent.
  {
    UniqueFd quiet = ConnectFrom("127.0.0.1", port);
    ASSERT_TRUE(Served(quiet.get()));
    EXPECT_TRUE(ClosedByNode(quiet.get(), seconds(30)))
        << "a silent connection stayed open past the idle timeout";
  }
  // A connection that never sends a byte is closed the same way.
  {
    UniqueFd mute = ConnectFrom("127.0.0.1", port);
    EXPECT_TRUE(ClosedByNode(mute.get(), seconds(30)));
  }
  // The real client reconnects after its pooled connection was closed.
  auto c = cluster.Client();
  ASSERT_TRUE(c->Call("node_info", Json::object()).ok());
  // A witness opened after that call: once it is closed, the client's (older) one is too.
  UniqueFd witness = ConnectFrom("127.0.0.1", port);
  ASSERT_TRUE(ClosedByNode(witness.get(), seconds(30)));
  EXPECT_TRUE(c->Call("node_info", Json::object()).ok());
  EXPECT_EQ(cluster.State(0), "running");
}

TEST(MetaClientLimits, PerAddressCapRefusesExtraConnections) {
  MetaCluster cluster(1, /*single=*/true, 1000, 100, Security::kInsecure);
  cluster.SetExtraArgs({"--max-connections-per-address", "3"});
  ASSERT_TRUE(cluster.StartAll().ok());
  const uint16_t port = cluster.config().meta[0].address.port;

  // Three connections from 127.0.0.2 are served; a fourth is refused at once.
  std::vector<UniqueFd> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(ConnectFrom("127.0.0.2", port));
    ASSERT_TRUE(Served(held.back().get())) << "connection " << i;
  }
  UniqueFd extra = ConnectFrom("127.0.0.2", port);
  EXPECT_TRUE(ClosedByNode(extra.get(), seconds(10))) << "a fourth connection was accepted";
  // Another address is served meanwhile, and so is the real client.
  UniqueFd elsewhere = ConnectFrom("127.0.0.3", port);
  EXPECT_TRUE(Served(elsewhere.get()));
  EXPECT_TRUE(cluster.Client()->Call("node_info", Json::object()).ok());
  // Once one of the three closes, the address may connect again.
  held.pop_back();
  EXPECT_TRUE(WaitFor(
      [&] {
        UniqueFd next = ConnectFrom("127.0.0.2", port);
        return Served(next.get());
      },
      seconds(20)));
  EXPECT_NE(cluster.Log(0).find("per-address connection limit"), std::string::npos);
  EXPECT_EQ(cluster.State(0), "running");
}

}  // namespace
}  // namespace vaultfs::testing
