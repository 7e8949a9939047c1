// The mutual-TLS raft transport (servers/meta/raft_tls_transport.h), driven the way libraft
// drives it: init, listen, connect, then uv_read_start/uv_write on the streams it hands over,
// uv_close + raft_free to let go of them, and close with connects still in flight. Hostile
// peers connect from a thread with blocking sockets while the test thread runs the loop: no
// client certificate, a certificate from another CA, a bad or oversized preamble, plain TCP
// garbage, silence. None of them may reach the accept callback. Every test ends with
// uv_loop_close() == 0, so a handle the transport forgot to close fails the test.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "servers/meta/raft_tls_transport.h"
#include "src/common/frame.h"
#include "src/common/socket.h"
#include "src/common/tls_stream.h"
#include "src/crypto/random.h"
#include "tests/meta/meta_cluster.h"

namespace vaultfs::meta {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Certificates for the whole suite: cluster CA "a" with two nodes, and an unrelated CA "b"
// whose "meta-1" has the same name as a real node (the CA decides, not the name).
struct Certs {
  std::string dir;
  tls::TlsIdentity node1, node2, impostor;
};
Certs* certs = nullptr;

class CertsEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    // As in vaultfs-meta: writing to a closed socket is an error, not the end of the process.
    ::signal(SIGPIPE, SIG_IGN);
    char tmpl[] = "/tmp/vaultfs-raft-tls-XXXXXX";
    certs = new Certs;
    certs->dir = mkdtemp(tmpl);
    Status st = vaultfs::testing::MakeCerts(certs->dir + "/a", {"meta-1", "meta-2"});
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = vaultfs::testing::MakeCerts(certs->dir + "/b", {"meta-1"});
    ASSERT_TRUE(st.ok()) << st.ToString();
    auto load = [](const std::string& ca, const std::string& name) {
      auto id = tls::LoadIdentity(ca + "/ca.pem", name + ".pem", name + ".key");
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      return id.ok() ? *id : tls::TlsIdentity{};
    };
    std::string a = certs->dir + "/a", b = certs->dir + "/b";
    certs->node1 = load(a, a + "/meta-1");
    certs->node2 = load(a, a + "/meta-2");
    certs->impostor = load(b, b + "/meta-1");
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(certs->dir, ec);
    delete certs;
  }
};
const auto* const kCertsEnv = ::testing::AddGlobalTestEnvironment(new CertsEnv);

std::shared_ptr<tls::TlsContext> ServerCtx(const tls::TlsIdentity& id) {
  auto c = tls::TlsContext::Server(id, tls::ClientCerts::kRequired);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}
std::shared_ptr<tls::TlsContext> ClientCtx(const tls::TlsIdentity& id) {
  auto c = tls::TlsContext::Client(id);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : nullptr;
}

std::string FreeAddress() {
  auto fd = ListenTcp(HostPort{"127.0.0.1", 0});
  return "127.0.0.1:" + std::to_string(fd.ok() ? *LocalPort(fd->get()) : 0);
}

int seq = 0;  // orders callbacks (connect completions before the close callback)

// One end of a stream libraft would own: reads everything into `got`.
struct Peer {
  uv_stream_t* stream = nullptr;
  std::string got;
  bool eof = false;
  std::vector<char> buf = std::vector<char>(64 * 1024);

  explicit Peer(uv_stream_t* s) : stream(s) { stream->data = this; }
  void StartReading() {
    uv_read_start(
        stream,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* p = static_cast<Peer*>(h->data);
          *b = uv_buf_init(p->buf.data(), static_cast<unsigned>(p->buf.size()));
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* p = static_cast<Peer*>(s->data);
          if (n > 0) p->got.append(b->base, static_cast<size_t>(n));
          if (n < 0) {
            p->eof = true;
            uv_read_stop(s);
          }
        });
  }
  void StopReading() { uv_read_stop(stream); }
  // Like libraft: the stream's memory is released with raft_free after uv_close.
  void Close() {
    if (stream == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(stream), [](uv_handle_t* h) { raft_free(h); });
    stream = nullptr;
  }
};

struct WriteReq {
  uv_write_t req{};
  std::string data;
  bool* done;
  int* status;
};

void Write(Peer* p, std::string data, bool* done, int* status) {
  auto* w = new WriteReq;
  w->data = std::move(data);
  w->done = done;
  w->status = status;
  w->req.data = w;
  uv_buf_t b = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  int rv = uv_write(&w->req, p->stream, &b, 1, [](uv_write_t* r, int st) {
    auto* w = static_cast<WriteReq*>(r->data);
    *w->done = true;
    *w->status = st;
    delete w;
  });
  ASSERT_EQ(rv, 0) << uv_strerror(rv);
}

struct Accepted {
  raft_id id;
  std::string address;
  std::unique_ptr<Peer> peer;
};

struct Node {
  raft_uv_transport t{};
  std::string address;
  std::vector<Accepted> accepted;
  bool closing = false, closed = false;
  int close_seq = 0;
};

struct Connect {
  raft_uv_connect req{};
  bool done = false;
  int status = -1;
  int seq = 0;
  std::unique_ptr<Peer> peer;
};

void OnConnect(raft_uv_connect* req, uv_stream_t* stream, int status) {
  auto* c = static_cast<Connect*>(req->data);
  c->done = true;
  c->status = status;
  c->seq = ++seq;
  if (stream != nullptr) c->peer = std::make_unique<Peer>(stream);
}

class RaftTlsTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    // A periodic tick so that one loop iteration never blocks longer than 10 ms.
    uv_timer_init(&loop_, &tick_);
    uv_timer_start(
        &tick_, [](uv_timer_t*) {}, 10, 10);
  }

  void TearDown() override {
    for (auto& n : nodes_) {
      for (auto& a : n->accepted) a.peer->Close();
      CloseNode(n.get());
    }
    for (auto& c : connects_) {
      if (c->peer) c->peer->Close();
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    auto deadline = Clock::now() + 10s;
    while (uv_loop_alive(&loop_) && Clock::now() < deadline) uv_run(&loop_, UV_RUN_NOWAIT);
    for (auto& n : nodes_) {
      if (n->closed) RaftTlsTransportClose(&n->t);
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "handles left open on the loop";
  }

  // Runs the loop until `done` holds; false after `limit`.
  bool RunUntil(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
    auto deadline = Clock::now() + limit;
    while (!done()) {
      if (Clock::now() > deadline) return false;
      uv_run(&loop_, UV_RUN_ONCE);
    }
    return true;
  }

  Node* NewNode(raft_id id, const tls::TlsIdentity& ident, RaftTlsOptions opts = {}) {
    auto n = std::make_unique<Node>();
    n->t.data = n.get();
    n->address = FreeAddress();
    opts.server = ServerCtx(ident);
    opts.client = ClientCtx(ident);
    Status st = RaftTlsTransportInit(&n->t, &loop_, opts);
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(n->t.init(&n->t, id, n->address.c_str()), 0) << n->t.errmsg;
    int rv = n->t.listen(
        &n->t, [](raft_uv_transport* t, raft_id id, const char* address, uv_stream_t* stream) {
          auto* n = static_cast<Node*>(t->data);
          n->accepted.push_back({id, address, std::make_unique<Peer>(stream)});
          n->accepted.back().peer->StartReading();
        });
    EXPECT_EQ(rv, 0) << n->t.errmsg;
    nodes_.push_back(std::move(n));
    return nodes_.back().get();
  }

  Connect* Dial(Node* from, raft_id to, const std::string& address) {
    connects_.push_back(std::make_unique<Connect>());
    Connect* c = connects_.back().get();
    c->req.data = c;
    int rv = from->t.connect(&from->t, &c->req, to, address.c_str(), OnConnect);
    EXPECT_EQ(rv, 0) << from->t.errmsg;
    return c;
  }

  void CloseNode(Node* n) {
    if (n->closing) return;
    n->closing = true;
    n->t.close(&n->t, [](raft_uv_transport* t) {
      auto* n = static_cast<Node*>(t->data);
      n->closed = true;
      n->close_seq = ++seq;
    });
    EXPECT_TRUE(RunUntil([n] { return n->closed; }));
  }

  // Runs `client` on a thread (blocking sockets) while this thread runs the loop.
  void RunClient(const std::function<void()>& client) {
    std::atomic<bool> finished{false};
    std::thread th([&] {
      client();
      finished = true;
    });
    bool ok = RunUntil([&] { return finished.load(); }, 60s);
    th.join();
    EXPECT_TRUE(ok);
  }

  uv_loop_t loop_{};
  uv_timer_t tick_{};
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Connect>> connects_;
};

std::string RandomBytes(size_t n) {
  auto r = crypto::RandomBytes(n);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : std::string(n, 'x');
}

// How a hostile or honest client's connection ended.
struct Outcome {
  bool connected = false;  // TCP (and TLS, when used) connect returned
  Status end;              // the first read after sending: closed or not
};

// TLS client: handshake, send `bytes`, then wait (bounded) for one byte or the end.
Outcome TlsClient(const std::string& address, std::shared_ptr<tls::TlsContext> ctx,
                  const std::string& bytes, std::chrono::milliseconds wait = 20s) {
  Outcome o;
  auto hp = ParseHostPort(address);
  auto deadline = DeadlineIn(wait);
  auto s = Stream::Connect(*hp, std::move(ctx), deadline);
  if (!s.ok()) {
    o.end = s.status();
    return o;
  }
  o.connected = true;
  if (!bytes.empty()) {
    Status st = s->WriteAll(bytes, deadline);
    if (!st.ok()) {
      o.end = st;
      return o;
    }
  }
  char c;
  o.end = s->ReadFull(&c, 1, deadline);
  return o;
}

Outcome PlainClient(const std::string& address, const std::string& bytes,
                    std::chrono::milliseconds wait = 20s) {
  Outcome o;
  auto hp = ParseHostPort(address);
  auto deadline = DeadlineIn(wait);
  auto fd = ConnectTcp(*hp, deadline);
  if (!fd.ok()) {
    o.end = fd.status();
    return o;
  }
  o.connected = true;
  if (!bytes.empty()) {
    Status st = WriteAll(fd->get(), bytes, deadline);
    if (!st.ok()) {
      o.end = st;
      return o;
    }
  }
  // Drain whatever the server sends (a TLS alert) until it closes.
  char buf[4096];
  for (;;) {
    Status st = ReadFull(fd->get(), buf, 1, deadline);
    if (!st.ok()) {
      o.end = st;
      return o;
    }
  }
}

// A blocking TCP connection to `address` from a chosen loopback source address.
UniqueFd ConnectFrom(const char* source, const std::string& address) {
  auto hp = ParseHostPort(address);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in src{}, dst{};
  src.sin_family = dst.sin_family = AF_INET;
  inet_pton(AF_INET, source, &src.sin_addr);
  inet_pton(AF_INET, hp->host.c_str(), &dst.sin_addr);
  dst.sin_port = htons(hp->port);
  EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), sizeof src), 0);
  EXPECT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&dst), sizeof dst), 0);
  return fd;
}

// The connection ended because the server closed it, not because our patience ran out.
void ExpectClosedByServer(const Outcome& o) {
  EXPECT_FALSE(o.end.ok()) << "the server answered";
  EXPECT_NE(o.end.code(), ETIMEDOUT) << "still open: " << o.end.ToString();
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(RaftTlsTransportTest, ExchangesMultiMegabyteMessagesBothWays) {
  RaftTlsOptions small;
  small.max_queued = 256 * 1024;  // exercise backpressure on both sides
  Node* a = NewNode(1, certs->node1, small);
  Node* b = NewNode(2, certs->node2, small);
  Connect* c = Dial(a, 2, b->address);
  ASSERT_TRUE(RunUntil([&] { return c->done && b->accepted.size() == 1; }));
  ASSERT_EQ(c->status, 0);
  ASSERT_NE(c->peer, nullptr);
  EXPECT_EQ(b->accepted[0].id, 1u);
  EXPECT_EQ(b->accepted[0].address, a->address);
  Peer* out = c->peer.get();
  Peer* in = b->accepted[0].peer.get();
  out->StartReading();

  const std::string big = RandomBytes(6u << 20), back = RandomBytes(3u << 20);
  bool w1 = false, w2 = false;
  int s1 = -1, s2 = -1;
  Write(out, "small first", &w1, &s1);
  ASSERT_TRUE(RunUntil([&] { return in->got.size() >= 11; }));
  EXPECT_EQ(in->got, "small first");
  in->got.clear();
  Write(out, big, &w1, &s1);
  Write(in, back, &w2, &s2);
  ASSERT_TRUE(RunUntil([&] {
    return in->got.size() >= big.size() && out->got.size() >= back.size();
  })) << in->got.size()
      << " and " << out->got.size() << " bytes arrived";
  EXPECT_TRUE(in->got == big);
  EXPECT_TRUE(out->got == back);
  ASSERT_TRUE(RunUntil([&] { return w1 && w2; }));
  EXPECT_EQ(s1, 0);
  EXPECT_EQ(s2, 0);

  // libraft closing its outbound stream ends the connection: the peer's stream sees EOF.
  out->Close();
  EXPECT_TRUE(RunUntil([&] { return in->eof; }));
}

TEST_F(RaftTlsTransportTest, ASlowReaderPausesTheSenderAndLosesNothing) {
  RaftTlsOptions small;
  small.max_queued = 256 * 1024;
  Node* a = NewNode(1, certs->node1, small);
  Node* b = NewNode(2, certs->node2, small);
  Connect* c = Dial(a, 2, b->address);
  ASSERT_TRUE(RunUntil([&] { return c->done && b->accepted.size() == 1; }));
  ASSERT_EQ(c->status, 0);
  Peer* in = b->accepted[0].peer.get();
  in->StopReading();
  // More than every kernel buffer on the way can hold: the write must stay pending while the
  // reader does not read, instead of the transport buffering it all.
  const std::string huge = RandomBytes(24u << 20);
  bool done = false;
  int status = -1;
  Write(c->peer.get(), huge, &done, &status);
  RunUntil([&] { return done; }, 1500ms);
  EXPECT_FALSE(done) << "24 MiB were accepted while nobody read";
  in->StartReading();
  ASSERT_TRUE(RunUntil([&] { return in->got.size() >= huge.size() && done; })) << in->got.size();
  EXPECT_TRUE(in->got == huge);
  EXPECT_EQ(status, 0);
}

TEST_F(RaftTlsTransportTest, AcceptsAnHonestRawClientAndDeliversBytesAfterThePreamble) {
  Node* b = NewNode(2, certs->node2);
  Outcome o;
  RunClient([&] {
    auto hp = ParseHostPort(b->address);
    auto deadline = DeadlineIn(20s);
    auto s = Stream::Connect(*hp, ClientCtx(certs->node1), deadline);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    // Preamble and the first message in one write.
    ASSERT_TRUE(s->WriteAll(EncodeRaftTlsPreamble(1, "127.0.0.1:4242") + "hello", deadline).ok());
    char c;
    o.end = s->ReadFull(&c, 1, DeadlineIn(200ms));  // nothing comes back, nothing closes
  });
  EXPECT_EQ(o.end.code(), ETIMEDOUT) << o.end.ToString();
  ASSERT_EQ(b->accepted.size(), 1u);
  EXPECT_EQ(b->accepted[0].id, 1u);
  EXPECT_EQ(b->accepted[0].address, "127.0.0.1:4242");
  EXPECT_TRUE(RunUntil([&] { return b->accepted[0].peer->got == "hello"; }));
}

TEST_F(RaftTlsTransportTest, RefusesAClientWithoutCertificateAndLogsItOnce) {
  Node* b = NewNode(2, certs->node2);
  tls::TlsIdentity anonymous{certs->node1.ca_pem, "", ""};
  Outcome first, second;
  ::testing::internal::CaptureStderr();
  RunClient([&] {
    first = TlsClient(b->address, ClientCtx(anonymous), EncodeRaftTlsPreamble(9, "127.0.0.1:1"));
    second = TlsClient(b->address, ClientCtx(anonymous), EncodeRaftTlsPreamble(9, "127.0.0.1:1"));
  });
  RunUntil([] { return false; }, 200ms);  // let the server finish closing (and logging)
  std::string log = ::testing::internal::GetCapturedStderr();
  ExpectClosedByServer(first);
  ExpectClosedByServer(second);
  EXPECT_TRUE(b->accepted.empty());
  EXPECT_EQ(Count(log, "refused connection from 127.0.0.1:"), 1u) << log;
}

TEST_F(RaftTlsTransportTest, RefusesACertificateFromAnotherCa) {
  Node* b = NewNode(2, certs->node2);
  // It trusts the right CA (so it would accept the server) but its own certificate is not
  // from it.
  tls::TlsIdentity foreign{certs->node1.ca_pem, certs->impostor.cert_pem, certs->impostor.key_pem};
  Outcome o;
  ::testing::internal::CaptureStderr();
  RunClient([&] {
    o = TlsClient(b->address, ClientCtx(foreign), EncodeRaftTlsPreamble(1, "127.0.0.1:1"));
  });
  RunUntil([] { return false; }, 200ms);
  std::string log = ::testing::internal::GetCapturedStderr();
  ExpectClosedByServer(o);
  EXPECT_TRUE(b->accepted.empty());
  EXPECT_EQ(Count(log, "refused connection from 127.0.0.1:"), 1u) << log;
}

TEST_F(RaftTlsTransportTest, DoesNotDialIntoAServerFromAnotherCa) {
  Node* a = NewNode(1, certs->node1);
  // A TLS server with the impostor's certificate, served from a thread.
  auto listener = ListenTcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(listener.ok());
  std::string address = "127.0.0.1:" + std::to_string(*LocalPort(listener->get()));
  auto rogue_ctx = tls::TlsContext::Server(certs->impostor, tls::ClientCerts::kNone);
  ASSERT_TRUE(rogue_ctx.ok());
  std::atomic<bool> stop{false};
  std::thread rogue([&] {
    pollfd p{listener->get(), POLLIN, 0};
    while (!stop && ::poll(&p, 1, 20) == 0) {
    }
    if (stop) return;
    UniqueFd fd(::accept(listener->get(), nullptr, nullptr));
    auto e = tls::TlsEngine::Accept(*rogue_ctx);
    if (!fd.valid() || !e.ok()) return;
    char buf[4096];
    while (!stop) {
      pollfd q{fd.get(), POLLIN, 0};
      if (::poll(&q, 1, 20) <= 0) continue;
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n <= 0) return;
      std::string plain;
      Status st = (*e)->Receive(std::string_view(buf, static_cast<size_t>(n)), &plain);
      std::string out = (*e)->TakeOutput();
      if (!out.empty() && ::write(fd.get(), out.data(), out.size()) < 0) return;
      if (!st.ok()) return;
    }
  });
  Connect* c = Dial(a, 2, address);
  bool done = RunUntil([&] { return c->done; });
  stop = true;
  rogue.join();
  ASSERT_TRUE(done);
  EXPECT_EQ(c->status, RAFT_NOCONNECTION);
  EXPECT_EQ(c->peer, nullptr);
}

TEST_F(RaftTlsTransportTest, DialsOnlyThePeerItMeant) {
  Node* a = NewNode(1, certs->node1);
  Node* b = NewNode(2, certs->node2);
  // b's certificate is meta-2's: dialling it as raft node 3 fails, and a's identity is never
  // sent to it.
  Connect* wrong = Dial(a, 3, b->address);
  ASSERT_TRUE(RunUntil([&] { return wrong->done; }));
  EXPECT_EQ(wrong->status, RAFT_NOCONNECTION);
  EXPECT_EQ(wrong->peer, nullptr);
  Connect* right = Dial(a, 2, b->address);
  ASSERT_TRUE(RunUntil([&] { return right->done && !b->accepted.empty(); }));
  EXPECT_EQ(right->status, 0);
  EXPECT_EQ(b->accepted.size(), 1u);
}

TEST_F(RaftTlsTransportTest, RefusesBadPreambles) {
  Node* b = NewNode(2, certs->node2);
  std::string wrong_magic = EncodeRaftTlsPreamble(1, "127.0.0.1:1");
  wrong_magic[0] ^= 0x40;
  std::string huge_address = EncodeRaftTlsPreamble(1, "x");
  PutBigEndian64(uint64_t(1) << 40, huge_address.data() + 16);
  std::string zero_id = EncodeRaftTlsPreamble(0, "127.0.0.1:1");
  std::string nul = EncodeRaftTlsPreamble(1, std::string("127.0.0.1\0:1", 12));
  // A valid certificate vouches only for the raft id it is named after (meta-1 here).
  std::string other_id = EncodeRaftTlsPreamble(2, "127.0.0.1:1");
  for (const std::string& bytes : {wrong_magic, huge_address, zero_id, nul, other_id}) {
    Outcome o;
    RunClient([&] { o = TlsClient(b->address, ClientCtx(certs->node1), bytes); });
    EXPECT_TRUE(o.connected);
    ExpectClosedByServer(o);
  }
  EXPECT_TRUE(b->accepted.empty());
}

TEST_F(RaftTlsTransportTest, DropsPlainTcpGarbage) {
  Node* b = NewNode(2, certs->node2);
  Outcome o;
  RunClient(
      [&] { o = PlainClient(b->address, "GET / HTTP/1.0\r\n\r\n" + std::string(10000, '\xff')); });
  EXPECT_TRUE(o.connected);
  ExpectClosedByServer(o);
  // libraft's own plain preamble is garbage to a TLS server too.
  std::string raft_plain(24, '\0');
  raft_plain[0] = 1;
  RunClient([&] { o = PlainClient(b->address, raft_plain); });
  ExpectClosedByServer(o);
  EXPECT_TRUE(b->accepted.empty());
}

TEST_F(RaftTlsTransportTest, DropsSilentPeersAtTheDeadline) {
  RaftTlsOptions quick;
  quick.handshake_timeout = 300ms;
  Node* b = NewNode(2, certs->node2, quick);
  Outcome tcp, tls_only;
  RunClient([&] {
    tcp = PlainClient(b->address, "");  // never says anything
    // Completes TLS with a valid certificate but never sends the preamble.
    tls_only = TlsClient(b->address, ClientCtx(certs->node1), "");
  });
  ExpectClosedByServer(tcp);
  EXPECT_TRUE(tls_only.connected);
  ExpectClosedByServer(tls_only);
  EXPECT_TRUE(b->accepted.empty());
}

TEST_F(RaftTlsTransportTest, LimitsHandshakesPerAddress) {
  RaftTlsOptions two;
  two.max_per_address = 2;
  Node* b = NewNode(2, certs->node2, two);
  Outcome third, honest;
  bool silent_still_open = false;
  int attempts = 0;
  RunClient([&] {
    auto hp = ParseHostPort(b->address);
    auto s1 = ConnectTcp(*hp, DeadlineIn(10s));
    auto s2 = ConnectTcp(*hp, DeadlineIn(10s));
    ASSERT_TRUE(s1.ok() && s2.ok());
    third = PlainClient(b->address, "");
    char c;
    silent_still_open = ReadFull(s1->get(), &c, 1, DeadlineIn(100ms)).code() == ETIMEDOUT;
    s1->Reset();
    s2->Reset();
    // Once the server has seen them go, an honest peer gets in (it is kept open: accepted).
    for (attempts = 1; attempts <= 50; ++attempts) {
      honest = TlsClient(b->address, ClientCtx(certs->node1),
                         EncodeRaftTlsPreamble(1, "127.0.0.1:1"), 1s);
      if (honest.connected && honest.end.code() == ETIMEDOUT) break;
    }
  });
  ExpectClosedByServer(third);
  EXPECT_TRUE(silent_still_open);
  EXPECT_TRUE(honest.connected);
  EXPECT_EQ(honest.end.code(), ETIMEDOUT) << "after " << attempts << " attempts";
  EXPECT_TRUE(RunUntil([&] { return !b->accepted.empty(); }));
}

TEST_F(RaftTlsTransportTest, TotalCapRefusesStrangersButNotConfiguredPeers) {
  RaftTlsOptions caps;
  caps.max_connections = 2;
  caps.peer_hosts = {"127.0.0.1"};  // where Node a dials from
  Node* a = NewNode(1, certs->node1);
  Node* b = NewNode(2, certs->node2, caps);
  std::vector<UniqueFd> strangers;
  bool third_refused = false;
  RunClient([&] {
    strangers.push_back(ConnectFrom("127.0.0.2", b->address));
    strangers.push_back(ConnectFrom("127.0.0.3", b->address));
    UniqueFd third = ConnectFrom("127.0.0.4", b->address);
    char c;
    Status st = ReadFull(third.get(), &c, 1, DeadlineIn(10s));
    third_refused = !st.ok() && st.code() != ETIMEDOUT;
  });
  EXPECT_TRUE(third_refused) << "a third stranger was kept past max_connections";
  // Both strangers still hold their slots, yet the configured peer gets in.
  Connect* c = Dial(a, 2, b->address);
  ASSERT_TRUE(RunUntil([&] { return c->done && !b->accepted.empty(); }));
  EXPECT_EQ(c->status, 0);
  EXPECT_EQ(b->accepted[0].id, 1u);
}

TEST_F(RaftTlsTransportTest, CloseCancelsConnectsInFlightBeforeItsCallback) {
  Node* a = NewNode(1, certs->node1);
  Node* b = NewNode(2, certs->node2);
  // One connection that libraft already holds...
  Connect* open = Dial(a, 2, b->address);
  ASSERT_TRUE(RunUntil([&] { return open->done; }));
  ASSERT_EQ(open->status, 0);
  // ...one stuck in the TLS handshake (a listener that never answers)...
  auto mute = ListenTcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(mute.ok());
  Connect* stuck = Dial(a, 3, "127.0.0.1:" + std::to_string(*LocalPort(mute->get())));
  ASSERT_TRUE(RunUntil([&] {
    pollfd p{mute->get(), POLLIN, 0};
    return ::poll(&p, 1, 0) == 1;  // TCP is established (queued for accept)
  }));
  // ...and one whose TCP connect has not even been attempted yet.
  Connect* fresh = Dial(a, 2, b->address);
  CloseNode(a);
  EXPECT_TRUE(stuck->done);
  EXPECT_TRUE(fresh->done);
  EXPECT_EQ(stuck->status, RAFT_CANCELED);
  EXPECT_EQ(fresh->status, RAFT_CANCELED);
  EXPECT_EQ(stuck->peer, nullptr);
  EXPECT_EQ(fresh->peer, nullptr);
  EXPECT_LT(stuck->seq, a->close_seq);
  EXPECT_LT(fresh->seq, a->close_seq);
  // The stream libraft held is now dead: writing to it fails, and the other side sees EOF.
  ASSERT_TRUE(RunUntil([&] { return b->accepted.size() == 1; }));
  EXPECT_TRUE(RunUntil([&] { return b->accepted[0].peer->eof; }));
  bool done = false;
  int status = 0;
  Write(open->peer.get(), std::string(1 << 20, 'x'), &done, &status);
  EXPECT_TRUE(RunUntil([&] { return done; }));
  EXPECT_LT(status, 0);
}

TEST_F(RaftTlsTransportTest, RefusesMismatchedContexts) {
  raft_uv_transport t{};
  RaftTlsOptions none;
  EXPECT_EQ(RaftTlsTransportInit(&t, &loop_, none).code(), EINVAL);
  RaftTlsOptions swapped;
  swapped.server = ClientCtx(certs->node1);
  swapped.client = ServerCtx(certs->node1);
  EXPECT_EQ(RaftTlsTransportInit(&t, &loop_, swapped).code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::meta
