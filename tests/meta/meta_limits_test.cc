// The client port's bounds (issue 20, item 2) against a real vaultfs-meta --single process:
// thousands of pipelined requests whose replies are never read cost the node bounded memory
// while it goes on serving others, silent connections are closed after the idle timeout, and
// connections beyond the per-address cap are refused while other addresses are served.
// The raft port's bounds (MetaRaftLimits) against a group of three over mutual TLS: the
// per-address cap, the handshake deadline, and a flood of unauthenticated handshakes from a
// hundred addresses, while the group goes on electing and committing.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "src/common/frame.h"
#include "src/common/socket.h"
#include "src/common/tls.h"
#include "src/common/tls_stream.h"
#include "tests/common/loopback_peer.h"
#include "tests/common/proc_status.h"
#include "tests/common/wait.h"
#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// node_info answered on fd (plain TCP): the connection is being served.
bool Served(int fd) {
  if (!WriteFrame(fd, R"({"id":7,"op":"node_info"})", DeadlineIn(seconds(10))).ok()) return false;
  auto r = ReadFrame(fd, DeadlineIn(seconds(20)));
  return r.ok() && r->find("\"ok\":true") != std::string::npos;
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
  const long rss0 = RssKiB(cluster.Pid(0));
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
        peak = std::max(peak, RssKiB(cluster.Pid(0)));
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
  EXPECT_TRUE(WaitFor([&] { return RssKiB(cluster.Pid(0)) <= rss0 + 16 * 1024; }, seconds(20)))
      << "node at " << RssKiB(cluster.Pid(0)) << " KiB after the flood closed, from " << rss0;
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
    EXPECT_TRUE(ClosedByPeer(quiet.get(), seconds(30)))
        << "a silent connection stayed open past the idle timeout";
  }
  // A connection that never sends a byte is closed the same way.
  {
    UniqueFd mute = ConnectFrom("127.0.0.1", port);
    EXPECT_TRUE(ClosedByPeer(mute.get(), seconds(30)));
  }
  // The real client reconnects after its pooled connection was closed.
  auto c = cluster.Client();
  ASSERT_TRUE(c->Call("node_info", Json::object()).ok());
  // A witness opened after that call: once it is closed, the client's (older) one is too.
  UniqueFd witness = ConnectFrom("127.0.0.1", port);
  ASSERT_TRUE(ClosedByPeer(witness.get(), seconds(30)));
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
  EXPECT_TRUE(ClosedByPeer(extra.get(), seconds(10))) << "a fourth connection was accepted";
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

// ---- the raft port ----

// The first flight of a TLS client, as an unauthenticated stranger sends it: the node answers
// with its own flight and then waits for a certificate that never comes.
std::string ClientHello(const MetaCluster& cluster) {
  auto e = tls::TlsEngine::Connect(cluster.client_tls(), "127.0.0.1");
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? (*e)->TakeOutput() : std::string();
}

// Sends `hello` on fd and waits for the node's answer: true once a byte comes back, false if
// the node closed the connection (or nothing came before the deadline).
bool AnswersHello(int fd, const std::string& hello, milliseconds limit) {
  if (::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
    return false;
  }
  Deadline d = DeadlineIn(limit);
  char b[4096];
  while (Clock::now() < d) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    return ::recv(fd, b, sizeof(b), 0) > 0;
  }
  return false;
}

// The node has not closed fd (yet): nothing to read and no end of stream.
bool StillOpen(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) == 0) return true;
  char b;
  return ::recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// One committed write through the group (register goes through raft).
Status Commit(MetaClient* c, const std::string& user) {
  auto r = c->Call("register", {{"user", user},
                                {"salt", "00"},
                                {"kdf", Json::object()},
                                {"auth_key", kAuth},
                                {"wrapped_master_key", "w"}});
  return r.ok() ? Status::Ok() : r.status();
}

MetaClientOptions Patient() {
  MetaClientOptions o;
  o.deadline = seconds(60);
  return o;
}

TEST(MetaRaftLimits, PerAddressCapRefusesExtraConnections) {
  MetaCluster cluster(3, /*single=*/false);
  // A long handshake timeout, so that only the cap can close a connection during the test.
  cluster.SetExtraArgs(
      {"--max-raft-connections-per-address", "4", "--tls-handshake-timeout", "120"});
  ASSERT_TRUE(cluster.StartAll().ok());
  ASSERT_GE(cluster.WaitLeader(seconds(60)), 0);
  const uint16_t port = cluster.config().meta[0].raft_address.port;
  const std::string hello = ClientHello(cluster);

  // Four silent connections from 127.0.0.2 are held; a fifth is closed at once.
  std::vector<UniqueFd> held;
  for (int i = 0; i < 4; ++i) held.push_back(ConnectFrom("127.0.0.2", port));
  UniqueFd extra = ConnectFrom("127.0.0.2", port);
  EXPECT_TRUE(ClosedByPeer(extra.get(), seconds(20))) << "a fifth connection was kept";
  for (auto& fd : held) EXPECT_TRUE(StillOpen(fd.get()));
  // Another address gets a TLS handshake meanwhile, and the group commits.
  UniqueFd elsewhere = ConnectFrom("127.0.0.3", port);
  EXPECT_TRUE(AnswersHello(elsewhere.get(), hello, seconds(20)));
  auto c = cluster.Client(Patient());
  EXPECT_TRUE(Commit(c.get(), "cap1").ok());
  // Once one of the four closes, the address may connect again.
  held.pop_back();
  EXPECT_TRUE(WaitFor(
      [&] {
        UniqueFd next = ConnectFrom("127.0.0.2", port);
        return AnswersHello(next.get(), hello, seconds(5));
      },
      seconds(20)));
  EXPECT_NE(cluster.Log(0).find("per-address connection limit"), std::string::npos);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(cluster.State(i), "running");
}

TEST(MetaRaftLimits, SilentPeersAreDroppedAtTheHandshakeTimeout) {
  MetaCluster cluster(3, /*single=*/false);
  cluster.SetExtraArgs({"--tls-handshake-timeout", "1"});
  ASSERT_TRUE(cluster.StartAll().ok());
  ASSERT_GE(cluster.WaitLeader(seconds(60)), 0);
  const HostPort raft = cluster.config().meta[0].raft_address;

  // Silent from the first byte: closed after about a second (well before 8 s).
  auto t0 = Clock::now();
  UniqueFd mute = ConnectFrom("127.0.0.2", raft.port);
  EXPECT_TRUE(ClosedByPeer(mute.get(), seconds(8))) << "a silent connection stayed open";
  EXPECT_GE(Clock::now() - t0, milliseconds(900)) << "closed before the timeout";
  // A node's certificate and a completed TLS handshake, but no raft preamble: the same.
  std::vector<std::string> args = cluster.TlsArgs(1);  // --tls-ca CA --tls-cert C --tls-key K
  auto id = tls::LoadIdentity(args[1], args[3], args[5]);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto ctx = tls::TlsContext::Client(*id);
  ASSERT_TRUE(ctx.ok());
  auto s = Stream::Connect(raft, *ctx, DeadlineIn(seconds(20)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  char b;
  Status end = s->ReadFull(&b, 1, DeadlineIn(seconds(8)));
  EXPECT_FALSE(end.ok());
  EXPECT_NE(end.code(), ETIMEDOUT) << "still open without a preamble";
  auto c = cluster.Client(Patient());
  EXPECT_TRUE(Commit(c.get(), "deadline1").ok());
  EXPECT_NE(cluster.Log(0).find("no TLS handshake and raft preamble within"), std::string::npos);
}

// 1,600 connections per node from 100 addresses, each sending a ClientHello (one in four:
// garbage instead) and never reading. Without caps every one holds a TLS server session until
// the handshake deadline; with them the node keeps at most max_connections. The group must
// go on committing, and elect a new leader when the old one is killed mid-flood.
TEST(MetaRaftLimits, HandshakeFloodCostsBoundedMemory) {
  MetaCluster cluster(3, /*single=*/false);
  // Commits are registrations, hundreds of them from one address: no register limit.
  cluster.SetExtraArgs({"--register-burst-per-address", "0", "--register-burst", "0"});
  ASSERT_TRUE(cluster.StartAll().ok());
  int leader = cluster.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  auto c = cluster.Client(Patient());
  ASSERT_TRUE(Commit(c.get(), "before").ok());
  long rss0[3];
  for (int i = 0; i < 3; ++i) {
    rss0[i] = RssKiB(cluster.Pid(i));
    ASSERT_GT(rss0[i], 0);
  }
  const std::string hello = ClientHello(cluster);
  const std::string garbage(16 << 10, '\x16');
  constexpr int kAddresses = 100, kPerAddress = 16;

  std::vector<UniqueFd> flood;
  std::atomic<bool> flooded{false};
  std::thread attacker([&] {
    for (int a = 0; a < kAddresses; ++a) {
      const std::string src = "127.0.1." + std::to_string(a + 1);
      for (int j = 0; j < kPerAddress; ++j) {
        for (int n = 0; n < 3; ++n) {
          UniqueFd fd = ConnectFrom(src.c_str(), cluster.config().meta[n].raft_address.port);
          const std::string& bytes = j % 4 == 3 ? garbage : hello;
          (void)::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
          flood.push_back(std::move(fd));
        }
      }
    }
    flooded = true;
  });
  // Commits go on while the flood arrives...
  int commits = 0;
  while (!flooded) {
    Status st = Commit(c.get(), "during" + std::to_string(commits));
    EXPECT_TRUE(st.ok()) << st.ToString();
    if (!st.ok()) break;
    ++commits;
  }
  attacker.join();
  std::fprintf(stderr, "%zu flood connections, %d commits while they arrived\n", flood.size(),
               commits);
  // ...and while it is held: sample every node's memory for a few seconds (the handshake
  // deadline is 10 s, so every unrefused stranger is still there).
  long peak[3] = {0, 0, 0};
  const long bound = 16 * 1024;  // KiB: max_connections sessions plus slack for the allocator
  WaitFor(
      [&] {
        for (int i = 0; i < 3; ++i) peak[i] = std::max(peak[i], RssKiB(cluster.Pid(i)));
        return false;
      },
      seconds(3));
  for (int i = 0; i < 3; ++i) {
    std::fprintf(stderr, "node %d RSS %ld KiB before the flood, at most %ld KiB during it\n", i + 1,
                 rss0[i], peak[i]);
    EXPECT_LE(peak[i], rss0[i] + bound) << "node " << i + 1;
  }
  EXPECT_TRUE(Commit(c.get(), "held").ok());
  // A new leader is elected through the flooded ports.
  leader = cluster.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  cluster.Kill(leader);
  int next = cluster.WaitLeader(seconds(60));
  EXPECT_GE(next, 0);
  EXPECT_NE(next, leader);
  EXPECT_TRUE(Commit(c.get(), "after").ok());
  flood.clear();
}

}  // namespace
}  // namespace vaultfs::testing
