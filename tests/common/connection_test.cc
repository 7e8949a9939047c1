// Tests for Connection and ConnectionListener (connection.h) over loopback: backpressure (a
// peer that never reads stops being served once queued output passes the limit, and is served
// again once it reads), the TLS-handshake and idle timeouts, and the connection caps. The
// server runs on a libuv loop in its own thread; the test talks to it with blocking sockets.
#include "src/common/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "gtest/gtest.h"
#include "src/common/socket.h"
#include "src/common/tls_stream.h"
#include "tests/common/loopback_peer.h"

namespace vaultfs {
namespace {

using testing::ClosedByPeer;
using testing::ConnectFrom;

namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

// A libuv loop on its own thread; Run() executes a function on it and waits for the result.
class LoopThread {
 public:
  LoopThread() {
    uv_loop_init(&loop_);
    uv_async_init(&loop_, &async_,
                  [](uv_async_t* a) { static_cast<LoopThread*>(a->data)->RunQueued(); });
    async_.data = this;
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }
  ~LoopThread() {
    Run([this] { uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr); });
    thread_.join();
    uv_loop_close(&loop_);
  }

  template <typename F>
  auto Run(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    {
      std::lock_guard<std::mutex> l(mu_);
      queue_.emplace_back([&task] { task(); });
    }
    uv_async_send(&async_);
    return fut.get();
  }

  uv_loop_t* loop() { return &loop_; }

 private:
  void RunQueued() {
    std::deque<std::function<void()>> q;
    {
      std::lock_guard<std::mutex> l(mu_);
      q.swap(queue_);
    }
    for (auto& f : q) f();
  }

  uv_loop_t loop_{};
  uv_async_t async_{};
  std::mutex mu_;
  std::deque<std::function<void()>> queue_;
  std::thread thread_;
};

// Waits until cond() (evaluated on the test thread) holds or the deadline passes.
template <typename F>
bool WaitFor(F cond, milliseconds limit = milliseconds(20000)) {
  Deadline d = DeadlineIn(limit);
  while (Clock::now() < d) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(5));  // polling interval, not synchronisation
  }
  return cond();
}

// What the server application saw, read and written only on the loop thread.
struct ServerState {
  size_t processed = 0;   // request bytes answered
  size_t max_queued = 0;  // the largest queued() seen right after a Send
  size_t accepted = 0;
  std::vector<Status> closes;
  std::vector<std::shared_ptr<Connection>> live;
};

// An amplifying server: every request byte is answered with `reply` bytes, like a small
// request for a large reply (cluster_map). Input waits in `pending` while the connection is
// congested, as an application that stops taking requests would.
struct Amplifier {
  LoopThread lt;
  ServerState st;
  size_t reply = 16 << 10;
  std::unique_ptr<ConnectionListener> listener;
  uint16_t port = 0;

  Amplifier(std::shared_ptr<tls::TlsContext> tls, ConnectionLimits cl, ListenerLimits ll = {}) {
    lt.Run([&] {
      listener = std::make_unique<ConnectionListener>(
          lt.loop(), tls, cl, ll, [this](std::shared_ptr<Connection> c) { OnAccept(c); });
      auto p = listener->Listen(HostPort{"127.0.0.1", 0});
      EXPECT_TRUE(p.ok()) << p.status().ToString();
      port = p.ok() ? *p : 0;
    });
  }
  ~Amplifier() {
    lt.Run([&] {
      listener->Close(nullptr);
      st.live.clear();
    });
    // The close callbacks run on the loop before it ends; the listener outlives them.
    lt.Run([] {});
  }

  void OnAccept(std::shared_ptr<Connection> c) {
    ++st.accepted;
    st.live.push_back(c);
    auto pending = std::make_shared<size_t>(0);
    std::weak_ptr<Connection> weak = c;
    auto pump = [this, weak, pending] {
      auto c = weak.lock();
      if (!c) return;
      while (*pending > 0 && !c->closed() && !c->congested()) {
        --*pending;
        ++st.processed;
        c->Send(std::string(reply, 'r'));
        st.max_queued = std::max(st.max_queued, c->queued());
      }
    };
    c->set_on_data([pending, pump](std::string_view b) {
      *pending += b.size();
      pump();
    });
    c->set_on_drain(pump);
    c->set_on_close([this, raw = c.get()](const Status& why) {
      st.closes.push_back(why);
      std::erase_if(st.live, [raw](auto& p) { return p.get() == raw; });
    });
    c->Start();
  }

  template <typename F>
  auto OnLoop(F f) {
    return lt.Run(std::move(f));
  }
};

// Sends all of data without blocking forever: false if the peer stops taking it.
bool SendAllWithin(int fd, std::string_view data, milliseconds limit) {
  return WriteAll(fd, data, DeadlineIn(limit)).ok();
}

TEST(ConnectionTest, PeerThatNeverReadsIsNoLongerServed) {
  ConnectionLimits cl;
  cl.high_water = 256 << 10;
  cl.low_water = 64 << 10;
  Amplifier srv(nullptr, cl);
  ASSERT_NE(srv.port, 0);
  UniqueFd fd = ConnectFrom("127.0.0.1", srv.port);
  // 2000 one-byte requests ask for 32 MiB of replies, far more than the kernel's socket
  // buffers hold: without backpressure every one would be answered into memory.
  const size_t kRequests = 2000;
  ASSERT_TRUE(SendAllWithin(fd.get(), std::string(kRequests, 'q'), milliseconds(20000)));
  // The server stops once its queue passes the limit and the kernel buffers are full.
  ASSERT_TRUE(WaitFor([&] {
    return srv.OnLoop([&] { return !srv.st.live.empty() && srv.st.live[0]->congested(); });
  })) << "the connection never became congested";
  size_t processed = srv.OnLoop([&] { return srv.st.processed; });
  EXPECT_LT(processed, kRequests) << "every request was answered into memory";
  size_t max_queued = srv.OnLoop([&] { return srv.st.max_queued; });
  EXPECT_LE(max_queued, cl.high_water + srv.reply);
  // The loop is not stuck: other connections are served meanwhile.
  {
    UniqueFd other = ConnectFrom("127.0.0.1", srv.port);
    ASSERT_TRUE(SendAllWithin(other.get(), "x", milliseconds(5000)));
    std::string got(srv.reply, '\0');
    Status st = ReadFull(other.get(), got.data(), got.size(), DeadlineIn(seconds(20)));
    EXPECT_TRUE(st.ok()) << st.ToString();
  }
  // Still not serving the flood: far from every request was answered.
  EXPECT_LT(srv.OnLoop([&] { return srv.st.processed; }), kRequests);
  // Once the peer reads, the rest is answered.
  std::string sink(1 << 20, '\0');
  size_t want = kRequests * srv.reply, got = 0;
  Deadline d = DeadlineIn(seconds(60));
  while (got < want && Clock::now() < d) {
    size_t n = std::min(sink.size(), want - got);
    Status st = ReadFull(fd.get(), sink.data(), n, d);
    ASSERT_TRUE(st.ok()) << st.ToString() << " after " << got << " bytes";
    got += n;
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(srv.OnLoop([&] { return srv.st.processed; }), kRequests + 1);
  EXPECT_LE(srv.OnLoop([&] { return srv.st.max_queued; }), cl.high_water + srv.reply);
}

TEST(ConnectionTest, CloseAfterWritesDeliversQueuedOutputFirst) {
  LoopThread lt;
  std::unique_ptr<ConnectionListener> listener;
  uint16_t port = lt.Run([&]() -> uint16_t {
    listener =
        std::make_unique<ConnectionListener>(lt.loop(), nullptr, ConnectionLimits{},
                                             ListenerLimits{}, [](std::shared_ptr<Connection> c) {
                                               c->Start();
                                               c->Send(std::string(3 << 20, 'z'));
                                               c->CloseAfterWrites(Status(EPROTO, "done"));
                                             });
    auto p = listener->Listen(HostPort{"127.0.0.1", 0});
    return p.ok() ? *p : 0;
  });
  ASSERT_NE(port, 0);
  UniqueFd fd = ConnectFrom("127.0.0.1", port);
  std::string got(3 << 20, '\0');
  Status st = ReadFull(fd.get(), got.data(), got.size(), DeadlineIn(seconds(20)));
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, std::string(3 << 20, 'z'));
  EXPECT_TRUE(ClosedByPeer(fd.get()));
  lt.Run([&] { listener->Close(nullptr); });
  lt.Run([] {});
}

TEST(ConnectionTest, IdleConnectionIsClosed) {
  ConnectionLimits cl;
  cl.idle_timeout = milliseconds(200);
  Amplifier srv(nullptr, cl);
  UniqueFd fd = ConnectFrom("127.0.0.1", srv.port);
  // Activity first: a request answered.
  ASSERT_TRUE(SendAllWithin(fd.get(), "x", milliseconds(5000)));
  std::string got(srv.reply, '\0');
  ASSERT_TRUE(ReadFull(fd.get(), got.data(), got.size(), DeadlineIn(seconds(20))).ok());
  // Then silence, as from a peer that vanished without a FIN.
  EXPECT_TRUE(ClosedByPeer(fd.get())) << "an idle connection stayed open";
  ASSERT_TRUE(WaitFor([&] { return srv.OnLoop([&] { return srv.st.closes.size(); }) == 1; }));
  Status why = srv.OnLoop([&] { return srv.st.closes[0]; });
  EXPECT_EQ(why.code(), ETIMEDOUT) << why.ToString();
  EXPECT_EQ(srv.OnLoop([&] { return srv.listener->connections(); }), 0u);
}

TEST(ConnectionTest, PeerThatStopsReadingIsClosedWhenIdle) {
  ConnectionLimits cl;
  cl.high_water = 64 << 10;
  cl.low_water = 16 << 10;
  cl.idle_timeout = milliseconds(300);
  Amplifier srv(nullptr, cl);
  UniqueFd fd = ConnectFrom("127.0.0.1", srv.port);
  // Enough replies to fill every buffer on the way; then nothing moves any more.
  ASSERT_TRUE(SendAllWithin(fd.get(), std::string(2000, 'q'), milliseconds(20000)));
  ASSERT_TRUE(WaitFor([&] { return srv.OnLoop([&] { return srv.st.closes.size(); }) == 1; }))
      << "a connection whose replies were never taken stayed open";
  EXPECT_EQ(srv.OnLoop([&] { return srv.st.closes[0].code(); }), ETIMEDOUT);
}

TEST(ConnectionTest, CapsRefuseExtraConnections) {
  ListenerLimits ll;
  ll.max_per_address = 2;
  ll.max_connections = 3;
  Amplifier srv(nullptr, ConnectionLimits{}, ll);
  auto connections = [&] { return srv.OnLoop([&] { return srv.listener->connections(); }); };
  auto refused = [&] { return srv.OnLoop([&] { return srv.listener->refused(); }); };
  UniqueFd a1 = ConnectFrom("127.0.0.1", srv.port);
  UniqueFd a2 = ConnectFrom("127.0.0.1", srv.port);
  ASSERT_TRUE(WaitFor([&] { return connections() == 2; }));
  // A third from the same address is refused...
  UniqueFd a3 = ConnectFrom("127.0.0.1", srv.port);
  EXPECT_TRUE(ClosedByPeer(a3.get()));
  EXPECT_EQ(refused(), 1u);
  // ...while another address is still served.
  UniqueFd b1 = ConnectFrom("127.0.0.2", srv.port);
  ASSERT_TRUE(WaitFor([&] { return connections() == 3; }));
  ASSERT_TRUE(SendAllWithin(b1.get(), "x", milliseconds(5000)));
  std::string got(srv.reply, '\0');
  EXPECT_TRUE(ReadFull(b1.get(), got.data(), got.size(), DeadlineIn(seconds(20))).ok());
  // The total cap holds for every address.
  UniqueFd c1 = ConnectFrom("127.0.0.3", srv.port);
  EXPECT_TRUE(ClosedByPeer(c1.get()));
  EXPECT_EQ(refused(), 2u);
  // A closed connection frees its slot.
  a1.Reset();
  ASSERT_TRUE(WaitFor([&] { return connections() == 2; }));
  UniqueFd a4 = ConnectFrom("127.0.0.1", srv.port);
  ASSERT_TRUE(WaitFor([&] { return connections() == 3; }));
  EXPECT_FALSE(ClosedByPeer(a4.get(), milliseconds(200)));
  EXPECT_EQ(refused(), 2u);
}

class ConnectionTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* root = std::getenv("VAULTFS_SOURCE_ROOT");
    ASSERT_NE(root, nullptr) << "VAULTFS_SOURCE_ROOT is not set (meson sets it)";
    char tmpl[] = "/tmp/vaultfs_conn_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new fs::path(tmpl);
    std::string cmd = std::string(root) + "/tools/mkcerts " + dir_->string() + " server >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }
  static std::shared_ptr<tls::TlsContext> Ctx(bool server) {
    auto id = server
                  ? tls::LoadIdentity((*dir_ / "ca.pem").string(), (*dir_ / "server.pem").string(),
                                      (*dir_ / "server.key").string())
                  : tls::LoadIdentity((*dir_ / "ca.pem").string());
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    if (!id.ok()) return nullptr;
    auto c = server ? tls::TlsContext::Server(*id, tls::ClientCerts::kNone)
                    : tls::TlsContext::Client(*id);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }
  static fs::path* dir_;
};
fs::path* ConnectionTlsTest::dir_ = nullptr;

TEST_F(ConnectionTlsTest, TlsRequestsAreAnswered) {
  Amplifier srv(Ctx(true), ConnectionLimits{});
  auto s = Stream::Connect(HostPort{"127.0.0.1", srv.port}, Ctx(false), DeadlineIn(seconds(20)));
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_TRUE(s->WriteAll("ab", DeadlineIn(seconds(20))).ok());
  std::string got(2 * srv.reply, '\0');
  Status st = s->ReadFull(got.data(), got.size(), DeadlineIn(seconds(20)));
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(got, std::string(2 * srv.reply, 'r'));
}

TEST_F(ConnectionTlsTest, SilentPeerIsClosedAtTheHandshakeTimeout) {
  ConnectionLimits cl;
  cl.handshake_timeout = milliseconds(200);
  cl.idle_timeout = milliseconds(0);  // only the handshake deadline can close it
  Amplifier srv(Ctx(true), cl);
  UniqueFd fd = ConnectFrom("127.0.0.1", srv.port);
  EXPECT_TRUE(ClosedByPeer(fd.get())) << "a peer that never said hello stayed connected";
  ASSERT_TRUE(WaitFor([&] { return srv.OnLoop([&] { return srv.st.closes.size(); }) == 1; }));
  Status why = srv.OnLoop([&] { return srv.st.closes[0]; });
  EXPECT_EQ(why.code(), ETIMEDOUT);
  EXPECT_NE(why.message().find("handshake"), std::string::npos) << why.ToString();
}

TEST_F(ConnectionTlsTest, GarbageInsteadOfTlsCloses) {
  Amplifier srv(Ctx(true), ConnectionLimits{});
  UniqueFd fd = ConnectFrom("127.0.0.1", srv.port);
  ASSERT_TRUE(SendAllWithin(fd.get(), std::string(100, '\x16'), milliseconds(5000)));
  EXPECT_TRUE(ClosedByPeer(fd.get()));
  ASSERT_TRUE(WaitFor([&] { return srv.OnLoop([&] { return srv.st.closes.size(); }) == 1; }));
  EXPECT_EQ(srv.OnLoop([&] { return srv.st.processed; }), 0u);
}

}  // namespace
}  // namespace vaultfs
