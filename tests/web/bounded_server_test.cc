// BoundedServer (src/web/bounded_server.h): the web gateway's connection caps and timeouts, on
// a real listening socket with a trivial handler. Connections from 127.0.0.2/.3 stand for
// different remote addresses.
#include "src/web/bounded_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "src/common/socket.h"
#include "tests/common/loopback_peer.h"

namespace vaultfs::web {
namespace {

using testing::ConnectFrom;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool WaitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
  auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

// Everything the server sends on fd until it closes or `limit` passes; `closed` says which.
std::string ReadUntilClosed(int fd, std::chrono::milliseconds limit, bool* closed) {
  std::string got;
  auto end = Clock::now() + limit;
  *closed = false;
  while (Clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(left.count(), 0))) <= 0) break;
    char b[4096];
    ssize_t n = ::recv(fd, b, sizeof(b), 0);
    if (n <= 0) {
      *closed = true;
      break;
    }
    got.append(b, static_cast<size_t>(n));
  }
  return got;
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

const std::string kPing = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const std::string kPingClose = "GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

// One BoundedServer on 127.0.0.1 with GET /ping, run on its own thread until destroyed.
class RunningServer {
 public:
  explicit RunningServer(WebLimits limits) : server_(limits) {
    server_.Get("/ping", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("pong", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    EXPECT_TRUE(WaitUntil([&] { return server_.is_running(); }));
  }
  ~RunningServer() {
    server_.stop();
    thread_.join();
  }
  BoundedServer& server() { return server_; }
  int port() const { return port_; }

  // A fresh connection from `source` gets an answer to GET /ping.
  bool Serves(const char* source) {
    UniqueFd fd = ConnectFrom(source, port_);
    if (::send(fd.get(), kPingClose.data(), kPingClose.size(), MSG_NOSIGNAL) < 0) return false;
    bool closed = false;
    return ReadUntilClosed(fd.get(), 20s, &closed).find("pong") != std::string::npos;
  }

 private:
  BoundedServer server_;
  int port_ = -1;
  std::thread thread_;
};

TEST(BoundedServer, PerAddressCapClosesTheExcessConnectionOnly) {
  WebLimits limits;
  limits.workers = 8;
  limits.max_per_address = 2;
  limits.idle_timeout = 60s;
  RunningServer s(limits);

  UniqueFd a = ConnectFrom("127.0.0.2", s.port());
  UniqueFd b = ConnectFrom("127.0.0.2", s.port());
  ASSERT_TRUE(WaitUntil([&] { return s.server().active() == 2; }));

  UniqueFd extra = ConnectFrom("127.0.0.2", s.port());
  bool closed = false;
  EXPECT_EQ(ReadUntilClosed(extra.get(), 20s, &closed), "");
  EXPECT_TRUE(closed) << "a third connection from one address must be closed at once";
  EXPECT_EQ(s.server().refused(), 1u);

  // Another address is served, and so are the two held connections.
  EXPECT_TRUE(s.Serves("127.0.0.3"));
  ASSERT_GT(::send(a.get(), kPingClose.data(), kPingClose.size(), MSG_NOSIGNAL), 0);
  EXPECT_NE(ReadUntilClosed(a.get(), 20s, &closed).find("pong"), std::string::npos);

  // Once one of the two is gone, the address may connect again.
  ASSERT_TRUE(WaitUntil([&] { return s.server().active() == 1; }));
  EXPECT_TRUE(s.Serves("127.0.0.2"));
}

TEST(BoundedServer, ConnectionsBeyondWorkersAndQueueAreClosedAtOnce) {
  WebLimits limits;
  limits.workers = 1;
  limits.max_queued = 1;
  limits.idle_timeout = 60s;
  RunningServer s(limits);

  UniqueFd served = ConnectFrom("127.0.0.2", s.port());
  ASSERT_TRUE(WaitUntil([&] { return s.server().active() == 1; }));
  UniqueFd queued = ConnectFrom("127.0.0.2", s.port());
  // The queued one is accepted but waits; a third finds the queue full.
  UniqueFd third = ConnectFrom("127.0.0.3", s.port());
  bool closed = false;
  EXPECT_EQ(ReadUntilClosed(third.get(), 20s, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(s.server().refused(), 1u);

  // When the worker is free, the queued connection is served.
  served.Reset();
  ASSERT_GT(::send(queued.get(), kPingClose.data(), kPingClose.size(), MSG_NOSIGNAL), 0);
  EXPECT_NE(ReadUntilClosed(queued.get(), 20s, &closed).find("pong"), std::string::npos);
}

TEST(BoundedServer, IdleConnectionsAreClosedAndTheirWorkerFreed) {
  WebLimits limits;
  limits.workers = 1;
  limits.idle_timeout = 200ms;
  RunningServer s(limits);

  UniqueFd fd = ConnectFrom("127.0.0.2", s.port());
  ASSERT_GT(::send(fd.get(), kPing.data(), kPing.size(), MSG_NOSIGNAL), 0);
  bool closed = false;
  std::string got = ReadUntilClosed(fd.get(), 20s, &closed);
  EXPECT_NE(got.find("pong"), std::string::npos);
  EXPECT_TRUE(closed) << "a kept-alive connection that stays idle must be closed";
  EXPECT_TRUE(WaitUntil([&] { return s.server().active() == 0; }));
  EXPECT_TRUE(s.Serves("127.0.0.2"));
}

TEST(BoundedServer, PipelinedRequestsAreAllAnswered) {
  RunningServer s(WebLimits{});
  UniqueFd fd = ConnectFrom("127.0.0.2", s.port());
  std::string three = kPing + kPing + kPingClose;
  ASSERT_EQ(::send(fd.get(), three.data(), three.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(three.size()));
  bool closed = false;
  EXPECT_EQ(Count(ReadUntilClosed(fd.get(), 20s, &closed), "pong"), 3u);
  EXPECT_TRUE(closed);
}

TEST(BoundedServer, APeerThatNeverReadsHoldsOneWorkerUntilTheWriteTimesOut) {
  WebLimits limits;
  limits.workers = 2;
  limits.io_timeout = 300ms;
  limits.idle_timeout = 60s;
  limits.max_requests_per_connection = 1000000;
  RunningServer s(limits);

  // Far more pipelined requests than the socket buffers can hold answers for; never read.
  UniqueFd flood = ConnectFrom("127.0.0.2", s.port(), 4096);
  ASSERT_TRUE(WaitUntil([&] { return s.server().active() == 1; }));
  std::string many;
  for (int i = 0; i < 100000; ++i) many += kPing;
  size_t sent = 0;
  while (sent < many.size()) {
    pollfd p{flood.get(), POLLOUT, 0};
    if (::poll(&p, 1, 2000) <= 0) break;  // the server stopped reading: that is the point
    ssize_t n = ::send(flood.get(), many.data() + sent, many.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  // Meanwhile another client is served by the other worker.
  EXPECT_TRUE(s.Serves("127.0.0.3"));
  // The stalled write times out and the worker is freed, though the peer is still connected
  // and neither idle nor out of requests.
  EXPECT_TRUE(WaitUntil([&] { return s.server().active() == 0; }, 30s));
  // It gave up on this peer: far fewer answers than requests, then the end of the connection.
  bool closed = false;
  EXPECT_LT(Count(ReadUntilClosed(flood.get(), 20s, &closed), "pong"), 100000u);
  EXPECT_TRUE(closed);
}

}  // namespace
}  // namespace vaultfs::web
