// Tests for TlsContext/TlsEngine (tls.h) and Stream (tls_stream.h): handshakes and data in
// memory and over loopback sockets, every refusal (wrong CA, wrong name, missing client
// certificate), hostile bytes, replay of a recorded first flight, key file hygiene.
// Certificates come from tools/mkcerts, run into a temp dir: two independent CAs.
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gtest/gtest.h"
#include "src/common/frame.h"
#include "src/common/socket.h"
#include "src/common/tls.h"
#include "src/common/tls_stream.h"

namespace vaultfs::tls {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// A byte pattern that differs at every offset, so a misplaced chunk is noticed.
std::string Pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    s[i] = static_cast<char>(x);
  }
  return s;
}

class TlsTest : public ::testing::Test {
 protected:
  // Two clusters: "a" (the one everybody trusts) and "b" (an independent CA with the same
  // node names), plus an RSA certificate issued by CA a.
  static void SetUpTestSuite() {
    const char* root = std::getenv("VAULTFS_SOURCE_ROOT");
    ASSERT_NE(root, nullptr) << "VAULTFS_SOURCE_ROOT is not set (meson sets it)";
    char tmpl[] = "/tmp/vaultfs_tls_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new fs::path(tmpl);
    std::string mkcerts = std::string(root) + "/tools/mkcerts";
    for (const char* ca : {"a", "b"}) {
      std::string cmd =
          mkcerts + " " + (*dir_ / ca).string() + " server client other --dns localhost >/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
    fs::path a = *dir_ / "a";
    std::string rsa = "cd " + a.string() +
                      " && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
                      " -out rsa.key 2>/dev/null"
                      " && openssl req -new -key rsa.key -subj /CN=rsa-server -out rsa.csr"
                      " && printf 'subjectAltName=IP:127.0.0.1\\n' > rsa.ext"
                      " && openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -set_serial 7"
                      " -days 30 -extfile rsa.ext -out rsa.pem 2>/dev/null";
    ASSERT_EQ(std::system(rsa.c_str()), 0) << rsa;
  }
  static void TearDownTestSuite() {
    if (dir_ != nullptr) fs::remove_all(*dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static TlsIdentity Id(const std::string& ca, const std::string& name) {
    fs::path d = *dir_ / ca;
    auto id = LoadIdentity((d / "ca.pem").string(), name.empty() ? "" : (d / (name + ".pem")),
                           name.empty() ? "" : (d / (name + ".key")));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : TlsIdentity{};
  }
  static std::shared_ptr<TlsContext> ServerCtx(const std::string& ca, const std::string& name,
                                               ClientCerts mode) {
    auto c = TlsContext::Server(Id(ca, name), mode);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }
  // A client trusting CA "a"; presenting a certificate of `cert_ca`/`name` when name is set.
  static std::shared_ptr<TlsContext> ClientCtx(const std::string& cert_ca = "",
                                               const std::string& name = "") {
    TlsIdentity id = Id("a", "");
    if (!name.empty()) {
      TlsIdentity own = Id(cert_ca, name);
      id.cert_pem = own.cert_pem;
      id.key_pem = own.key_pem;
    }
    auto c = TlsContext::Client(id);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }

  static fs::path* dir_;
};
fs::path* TlsTest::dir_ = nullptr;

// Two engines joined in memory.
struct Pair {
  std::unique_ptr<TlsEngine> c, s;
  std::string c_plain, s_plain;  // what each side decrypted
  Status c_st, s_st;             // each side's first error

  Pair(std::shared_ptr<TlsContext> client, std::shared_ptr<TlsContext> server,
       const std::string& host = "127.0.0.1") {
    auto ce = TlsEngine::Connect(client, host);
    auto se = TlsEngine::Accept(server);
    EXPECT_TRUE(ce.ok()) << ce.status().ToString();
    EXPECT_TRUE(se.ok()) << se.status().ToString();
    if (ce.ok()) c = std::move(*ce);
    if (se.ok()) s = std::move(*se);
  }

  // Moves bytes both ways until neither side has anything to say. Alerts from a failed side
  // are still delivered, as a socket would.
  void Pump() {
    for (int round = 0; round < 10000; ++round) {
      bool moved = false;
      if (c->HasOutput()) {
        moved = true;
        Status st = s->Receive(c->TakeOutput(), &s_plain);
        if (s_st.ok()) s_st = st;
      }
      if (s->HasOutput()) {
        moved = true;
        Status st = c->Receive(s->TakeOutput(), &c_plain);
        if (c_st.ok()) c_st = st;
      }
      if (!moved) return;
    }
    ADD_FAILURE() << "engines kept talking";
  }
};

TEST_F(TlsTest, HandshakeAndSmallMessagesBothWays) {
  Pair p(ClientCtx("a", "client"), ServerCtx("a", "server", ClientCerts::kOptional));
  ASSERT_TRUE(p.c && p.s);
  EXPECT_TRUE(p.c->HasOutput());  // the ClientHello is ready at once
  EXPECT_FALSE(p.c->handshake_done());
  p.Pump();
  ASSERT_TRUE(p.c_st.ok()) << p.c_st.ToString();
  ASSERT_TRUE(p.s_st.ok()) << p.s_st.ToString();
  EXPECT_TRUE(p.c->handshake_done());
  EXPECT_TRUE(p.s->handshake_done());
  EXPECT_EQ(p.c->PeerName(), "server");
  EXPECT_EQ(p.s->PeerName(), "client");

  ASSERT_TRUE(p.c->Send("hello").ok());
  ASSERT_TRUE(p.c->Send(" world").ok());
  ASSERT_TRUE(p.s->Send("pong").ok());
  p.Pump();
  EXPECT_EQ(p.s_plain, "hello world");
  EXPECT_EQ(p.c_plain, "pong");
  ASSERT_TRUE(p.c->Send("").ok());
  EXPECT_FALSE(p.c->HasOutput());
}

TEST_F(TlsTest, SendBeforeHandshakeIsBufferedNotEarlyData) {
  Pair p(ClientCtx(), ServerCtx("a", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  ASSERT_TRUE(p.c->Send("queued").ok());
  // Only the ClientHello may leave before the handshake: the first flight carries no data.
  std::string first = p.c->TakeOutput();
  EXPECT_EQ(first.find("queued"), std::string::npos);
  ASSERT_TRUE(p.s->Receive(first, &p.s_plain).ok());
  EXPECT_EQ(p.s_plain, "");
  p.Pump();
  ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
  EXPECT_EQ(p.s_plain, "queued");
  EXPECT_EQ(p.s->PeerName(), "");
}

TEST_F(TlsTest, EightMebibyteMessagesBothWays) {
  Pair p(ClientCtx(), ServerCtx("a", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  p.Pump();
  const std::string up = Pattern(8 << 20, 1), down = Pattern((8 << 20) + 3, 2);
  for (int i = 0; i < 2; ++i) {
    p.c_plain.clear();
    p.s_plain.clear();
    ASSERT_TRUE(p.c->Send(up).ok());
    ASSERT_TRUE(p.s->Send(down).ok());
    p.Pump();
    ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
    EXPECT_TRUE(p.s_plain == up) << p.s_plain.size();
    EXPECT_TRUE(p.c_plain == down) << p.c_plain.size();
  }
}

TEST_F(TlsTest, CiphertextInOddPieces) {
  Pair p(ClientCtx(), ServerCtx("a", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  // Handshake one byte at a time.
  for (int round = 0; round < 100 && !(p.c->handshake_done() && p.s->handshake_done()); ++round) {
    for (char ch : p.c->TakeOutput()) ASSERT_TRUE(p.s->Receive({&ch, 1}, &p.s_plain).ok());
    for (char ch : p.s->TakeOutput()) ASSERT_TRUE(p.c->Receive({&ch, 1}, &p.c_plain).ok());
  }
  ASSERT_TRUE(p.c->handshake_done() && p.s->handshake_done());
  const std::string msg = Pattern(100000, 3);
  ASSERT_TRUE(p.c->Send(msg).ok());
  std::string wire = p.c->TakeOutput();
  for (size_t off = 0; off < wire.size(); off += 7) {
    ASSERT_TRUE(p.s->Receive(std::string_view(wire).substr(off, 7), &p.s_plain).ok());
  }
  EXPECT_TRUE(p.s_plain == msg);
}

TEST_F(TlsTest, RsaServerKey) {
  auto ctx =
      TlsContext::Server(LoadIdentity((*dir_ / "a/ca.pem").string(), (*dir_ / "a/rsa.pem").string(),
                                      (*dir_ / "a/rsa.key").string())
                             .value(),
                         ClientCerts::kNone);
  ASSERT_TRUE(ctx.ok()) << ctx.status().ToString();
  Pair p(ClientCtx(), *ctx);
  ASSERT_TRUE(p.c && p.s);
  p.Pump();
  ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
  EXPECT_EQ(p.c->PeerName(), "rsa-server");
}

TEST_F(TlsTest, ClientRefusesServerFromAnotherCa) {
  Pair p(ClientCtx(), ServerCtx("b", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  ASSERT_TRUE(p.c->Send("secret").ok());
  p.Pump();
  EXPECT_EQ(p.c_st.code(), EACCES) << p.c_st.ToString();
  EXPECT_NE(p.c_st.message().find("server's certificate is not signed by the cluster CA"),
            std::string::npos)
      << p.c_st.ToString();
  EXPECT_FALSE(p.c->handshake_done());
  // The server hears why (unknown CA alert) and never sees the data.
  EXPECT_EQ(p.s_st.code(), EACCES) << p.s_st.ToString();
  EXPECT_NE(p.s_st.message().find("client refused our certificate"), std::string::npos)
      << p.s_st.ToString();
  EXPECT_EQ(p.s_plain, "");
}

TEST_F(TlsTest, ClientChecksTheNameItDialled) {
  auto server = ServerCtx("a", "server", ClientCerts::kNone);
  for (const char* good : {"127.0.0.1", "::1", "[::1]", "localhost", "LOCALHOST"}) {
    Pair p(ClientCtx(), server, good);
    ASSERT_TRUE(p.c && p.s);
    p.Pump();
    EXPECT_TRUE(p.c_st.ok()) << good << ": " << p.c_st.ToString();
  }
  for (const char* bad : {"127.0.0.2", "10.1.2.3", "::2", "wrong.example", "localhost.evil"}) {
    Pair p(ClientCtx(), server, bad);
    ASSERT_TRUE(p.c && p.s);
    p.Pump();
    EXPECT_EQ(p.c_st.code(), EACCES) << bad << ": " << p.c_st.ToString();
    EXPECT_NE(p.c_st.message().find(std::string("does not name ") + bad), std::string::npos)
        << p.c_st.ToString();
  }
  EXPECT_EQ(TlsEngine::Connect(ClientCtx(), "").status().code(), EINVAL);
}

TEST_F(TlsTest, RequiredClientCertificate) {
  auto server = ServerCtx("a", "server", ClientCerts::kRequired);
  {
    Pair p(ClientCtx(), server);  // no certificate
    ASSERT_TRUE(p.c && p.s);
    ASSERT_TRUE(p.c->Send("request").ok());
    p.Pump();
    EXPECT_EQ(p.s_st.code(), EACCES) << p.s_st.ToString();
    EXPECT_NE(p.s_st.message().find("client presented no certificate"), std::string::npos)
        << p.s_st.ToString();
    EXPECT_EQ(p.c_st.code(), EACCES) << p.c_st.ToString();
    EXPECT_NE(p.c_st.message().find("server requires a client certificate"), std::string::npos)
        << p.c_st.ToString();
    EXPECT_EQ(p.s_plain, "");
  }
  {
    Pair p(ClientCtx("b", "client"), server);  // a certificate from another CA
    ASSERT_TRUE(p.c && p.s);
    ASSERT_TRUE(p.c->Send("request").ok());
    p.Pump();
    EXPECT_EQ(p.s_st.code(), EACCES) << p.s_st.ToString();
    EXPECT_NE(p.s_st.message().find("client's certificate is not signed by the cluster CA"),
              std::string::npos)
        << p.s_st.ToString();
    EXPECT_EQ(p.c_st.code(), EACCES) << p.c_st.ToString();
    EXPECT_NE(p.c_st.message().find("server refused our certificate"), std::string::npos)
        << p.c_st.ToString();
    EXPECT_EQ(p.s_plain, "");
  }
  {
    Pair p(ClientCtx("a", "other"), server);
    ASSERT_TRUE(p.c && p.s);
    ASSERT_TRUE(p.c->Send("request").ok());
    p.Pump();
    ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
    EXPECT_EQ(p.s_plain, "request");
    EXPECT_EQ(p.s->PeerName(), "other");
  }
}

TEST_F(TlsTest, OptionalClientCertificate) {
  auto server = ServerCtx("a", "server", ClientCerts::kOptional);
  {
    Pair p(ClientCtx(), server);
    ASSERT_TRUE(p.c && p.s);
    ASSERT_TRUE(p.c->Send("anonymous").ok());
    p.Pump();
    ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
    EXPECT_EQ(p.s_plain, "anonymous");
    EXPECT_EQ(p.s->PeerName(), "");
  }
  {
    Pair p(ClientCtx("b", "client"), server);
    ASSERT_TRUE(p.c && p.s);
    ASSERT_TRUE(p.c->Send("forged").ok());
    p.Pump();
    EXPECT_EQ(p.s_st.code(), EACCES) << p.s_st.ToString();
    EXPECT_NE(p.s_st.message().find("not signed by the cluster CA"), std::string::npos);
    EXPECT_EQ(p.c_st.code(), EACCES) << p.c_st.ToString();
    EXPECT_EQ(p.s_plain, "");
  }
  {
    Pair p(ClientCtx("a", "client"), server);
    ASSERT_TRUE(p.c && p.s);
    p.Pump();
    ASSERT_TRUE(p.c_st.ok() && p.s_st.ok()) << p.c_st.ToString() << p.s_st.ToString();
    EXPECT_EQ(p.s->PeerName(), "client");
  }
}

TEST_F(TlsTest, HostileBytesAreProtocolErrors) {
  auto server = ServerCtx("a", "server", ClientCerts::kNone);
  const std::string inputs[] = {
      std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      std::string("\0\0\0\x05hello", 9),                                 // a plain vaultfs frame
      Pattern(4096, 9),                                                  // noise
      std::string("\x16\x03\x01\xff\xff", 5) + std::string(70000, 'x'),  // oversized record
      std::string("\x17\x03\x03\x00\x10", 5) + std::string(16, 'x'),     // data before handshake
  };
  for (const std::string& in : inputs) {
    auto s = TlsEngine::Accept(server);
    ASSERT_TRUE(s.ok());
    std::string plain;
    Status st = (*s)->Receive(in, &plain);
    EXPECT_EQ(st.code(), EPROTO) << st.ToString();
    EXPECT_EQ(plain, "");
  }
  // A client fed garbage instead of a ServerHello.
  auto c = TlsEngine::Connect(ClientCtx(), "127.0.0.1");
  ASSERT_TRUE(c.ok());
  std::string plain;
  EXPECT_EQ((*c)->Receive(Pattern(300, 4), &plain).code(), EPROTO);
}

TEST_F(TlsTest, TamperedAndTruncatedRecords) {
  Pair p(ClientCtx(), ServerCtx("a", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  p.Pump();
  ASSERT_TRUE(p.c->Send(Pattern(1000, 5)).ok());
  std::string wire = p.c->TakeOutput();
  // Half a record is simply not yet data.
  ASSERT_TRUE(p.s->Receive(std::string_view(wire).substr(0, wire.size() / 2), &p.s_plain).ok());
  EXPECT_EQ(p.s_plain, "");
  // The rest with one bit flipped fails authentication.
  std::string rest = wire.substr(wire.size() / 2);
  rest[rest.size() / 2] ^= 1;
  Status st = p.s->Receive(rest, &p.s_plain);
  EXPECT_EQ(st.code(), EPROTO) << st.ToString();
  EXPECT_EQ(p.s_plain, "");
}

TEST_F(TlsTest, FailureIsSticky) {
  Pair p(ClientCtx(), ServerCtx("a", "server", ClientCerts::kNone));
  ASSERT_TRUE(p.c && p.s);
  p.Pump();
  Status st = p.s->Receive(Pattern(100, 6), &p.s_plain);
  ASSERT_EQ(st.code(), EPROTO);
  // Valid records afterwards change nothing, and nothing more can be sent.
  ASSERT_TRUE(p.c->Send("late").ok());
  EXPECT_EQ(p.s->Receive(p.c->TakeOutput(), &p.s_plain), st);
  EXPECT_EQ(p.s->Send("reply"), st);
  EXPECT_EQ(p.s_plain, "");
}

TEST_F(TlsTest, ReplayedClientFlightsYieldNoData) {
  auto server = ServerCtx("a", "server", ClientCerts::kNone);
  // A real session; record every byte the client sends.
  Pair p(ClientCtx(), server);
  ASSERT_TRUE(p.c && p.s);
  ASSERT_TRUE(p.c->Send("delete everything").ok());
  std::vector<std::string> flights;
  for (int round = 0; round < 10 && (p.c->HasOutput() || p.s->HasOutput()); ++round) {
    if (p.c->HasOutput()) {
      flights.push_back(p.c->TakeOutput());
      ASSERT_TRUE(p.s->Receive(flights.back(), &p.s_plain).ok());
    }
    if (p.s->HasOutput()) {
      ASSERT_TRUE(p.c->Receive(p.s->TakeOutput(), &p.c_plain).ok());
    }
  }
  ASSERT_EQ(p.s_plain, "delete everything");
  ASSERT_GE(flights.size(), 2u);

  // Replayed flight by flight into a fresh server: new keys, so the recorded Finished and data
  // fail authentication.
  {
    auto fresh = TlsEngine::Accept(server);
    ASSERT_TRUE(fresh.ok());
    std::string plain;
    Status st;
    for (const std::string& f : flights) {
      st = (*fresh)->Receive(f, &plain);
      (void)(*fresh)->TakeOutput();
      if (!st.ok()) break;
    }
    EXPECT_EQ(st.code(), EPROTO) << st.ToString();
    EXPECT_EQ(plain, "");
    EXPECT_FALSE((*fresh)->handshake_done());
  }
  // ...and all at once.
  {
    auto fresh = TlsEngine::Accept(server);
    ASSERT_TRUE(fresh.ok());
    std::string all, plain;
    for (const std::string& f : flights) all += f;
    EXPECT_EQ((*fresh)->Receive(all, &plain).code(), EPROTO);
    EXPECT_EQ(plain, "");
  }
}

TEST_F(TlsTest, KeyFileHygieneAndBadIdentities) {
  fs::path a = *dir_ / "a";
  fs::path loose = *dir_ / "loose.key";
  fs::copy_file(a / "server.key", loose, fs::copy_options::overwrite_existing);
  ASSERT_EQ(chmod(loose.c_str(), 0644), 0);
  auto id = LoadIdentity((a / "ca.pem").string(), (a / "server.pem").string(), loose.string());
  EXPECT_EQ(id.status().code(), EPERM) << id.status().ToString();
  EXPECT_NE(id.status().message().find("0644"), std::string::npos) << id.status().ToString();
  ASSERT_EQ(chmod(loose.c_str(), 0640), 0);
  EXPECT_EQ(LoadIdentity((a / "ca.pem").string(), (a / "server.pem").string(), loose.string())
                .status()
                .code(),
            EPERM);
  ASSERT_EQ(chmod(loose.c_str(), 0600), 0);
  EXPECT_TRUE(
      LoadIdentity((a / "ca.pem").string(), (a / "server.pem").string(), loose.string()).ok());
  EXPECT_EQ(LoadIdentity((a / "missing.pem").string()).status().code(), ENOENT);
  EXPECT_EQ(LoadIdentity((a / "ca.pem").string(), (a / "server.pem").string()).status().code(),
            EINVAL);

  // Wrong key for the certificate.
  TlsIdentity wrong = Id("a", "server");
  wrong.key_pem = Id("a", "client").key_pem;
  auto ctx = TlsContext::Server(wrong, ClientCerts::kNone);
  EXPECT_EQ(ctx.status().code(), EINVAL);
  EXPECT_NE(ctx.status().message().find("does not belong"), std::string::npos)
      << ctx.status().ToString();
  // The message never carries key material.
  EXPECT_EQ(ctx.status().message().find("PRIVATE"), std::string::npos);
  EXPECT_EQ(TlsContext::Client(wrong).status().code(), EINVAL);

  TlsIdentity bad = Id("a", "server");
  bad.ca_pem = "not a certificate";
  EXPECT_EQ(TlsContext::Client(bad).status().code(), EINVAL);
  bad.ca_pem = "";
  EXPECT_EQ(TlsContext::Client(bad).status().code(), EINVAL);
  TlsIdentity junk_key = Id("a", "server");
  junk_key.key_pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
  EXPECT_EQ(TlsContext::Server(junk_key, ClientCerts::kNone).status().code(), EINVAL);
  EXPECT_EQ(TlsContext::Server(Id("a", ""), ClientCerts::kNone).status().code(), EINVAL);
  // Engines refuse a context of the wrong side.
  EXPECT_EQ(TlsEngine::Accept(ClientCtx()).status().code(), EINVAL);
  EXPECT_EQ(
      TlsEngine::Connect(ServerCtx("a", "server", ClientCerts::kNone), "127.0.0.1").status().code(),
      EINVAL);
}

// A client written directly against OpenSSL, for what TlsEngine itself never does: offer
// TLS 1.2, keep a session, send close_notify.
class RawClient {
 public:
  explicit RawClient(int max_version) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_max_proto_version(ctx_, max_version);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    ssl_ = SSL_new(ctx_);
    BIO* in = BIO_new(BIO_s_mem());
    in_ = in;
    BIO_set_mem_eof_return(in, -1);
    out_ = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl_, in, out_);
    SSL_set_connect_state(ssl_);
  }
  ~RawClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  SSL* ssl() { return ssl_; }
  std::string Take() {
    std::string out(BIO_ctrl_pending(out_), '\0');
    if (!out.empty()) {
      EXPECT_EQ(BIO_read(out_, out.data(), static_cast<int>(out.size())),
                static_cast<int>(out.size()));
    }
    return out;
  }
  // Handshakes with (or talks to) a server engine until neither side has more to say.
  Status Pump(TlsEngine& server, std::string* server_plain) {
    Status st;
    for (int round = 0; round < 100; ++round) {
      if (!SSL_is_init_finished(ssl_)) SSL_do_handshake(ssl_);
      char buf[4096];
      while (SSL_is_init_finished(ssl_) && SSL_read(ssl_, buf, sizeof(buf)) > 0) {
      }
      ERR_clear_error();
      std::string out = Take();
      if (out.empty() && !server.HasOutput()) break;
      if (!out.empty() && st.ok()) st = server.Receive(out, server_plain);
      std::string back = server.TakeOutput();
      BIO_write(in_, back.data(), static_cast<int>(back.size()));
    }
    return st;
  }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_;
  BIO* in_;
  BIO* out_;
};

TEST_F(TlsTest, OnlyTls13NoTicketsCloseNotify) {
  auto server = ServerCtx("a", "server", ClientCerts::kNone);
  {
    RawClient old(TLS1_2_VERSION);
    auto s = TlsEngine::Accept(server);
    ASSERT_TRUE(s.ok());
    std::string plain;
    Status st = old.Pump(**s, &plain);
    EXPECT_EQ(st.code(), EPROTO) << st.ToString();
    EXPECT_NE(st.message().find("unsupported protocol"), std::string::npos) << st.ToString();
  }
  RawClient raw(TLS1_3_VERSION);
  auto s = TlsEngine::Accept(server);
  ASSERT_TRUE(s.ok());
  std::string plain;
  ASSERT_TRUE(raw.Pump(**s, &plain).ok());
  ASSERT_TRUE((*s)->handshake_done());
  EXPECT_EQ(SSL_version(raw.ssl()), TLS1_3_VERSION);
  EXPECT_STREQ(SSL_get_cipher_name(raw.ssl()), "TLS_AES_128_GCM_SHA256");
  // Nothing to resume a session with: no ticket was issued.
  SSL_SESSION* session = SSL_get_session(raw.ssl());
  ASSERT_NE(session, nullptr);
  EXPECT_EQ(SSL_SESSION_has_ticket(session), 0);
  EXPECT_EQ(SSL_SESSION_is_resumable(session), 0);
  ASSERT_EQ(SSL_write(raw.ssl(), "bye", 3), 3);
  SSL_shutdown(raw.ssl());
  Status st = raw.Pump(**s, &plain);
  EXPECT_EQ(plain, "bye");
  EXPECT_EQ(st.code(), ECONNRESET) << st.ToString();
  EXPECT_EQ((*s)->Send("late").code(), ECONNRESET);
}

// A one-connection frame echo server on 127.0.0.1, TLS through a TlsEngine when given a
// context. result() is how the connection ended.
class EchoServer {
 public:
  explicit EchoServer(std::shared_ptr<TlsContext> ctx) {
    auto l = ListenTcp(HostPort{"127.0.0.1", 0});
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (!l.ok()) return;
    listen_ = std::move(*l);
    port_ = LocalPort(listen_.get()).value();
    thread_ = std::thread([this, ctx] { result_ = Serve(ctx); });
  }
  ~EchoServer() { (void)Stop(); }

  HostPort addr() const { return HostPort{"127.0.0.1", port_}; }
  Status Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  std::string peer() const { return peer_; }

 private:
  Status Serve(std::shared_ptr<TlsContext> ctx) {
    Deadline deadline = DeadlineIn(seconds(60));
    UniqueFd conn;
    while (!conn.valid()) {
      if (stop_ || Clock::now() > deadline) return Status(ETIMEDOUT, "nobody connected");
      pollfd p{listen_.get(), POLLIN, 0};
      if (poll(&p, 1, 50) == 1) conn.Reset(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    }
    std::unique_ptr<TlsEngine> engine;
    if (ctx) engine = std::move(TlsEngine::Accept(ctx).value());
    FrameDecoder frames;
    std::string buf(1 << 20, '\0'), plain;
    for (;;) {
      pollfd p{conn.get(), POLLIN, 0};
      if (poll(&p, 1, 60000) != 1) return Status(ETIMEDOUT, "client went quiet");
      ssize_t n = recv(conn.get(), buf.data(), buf.size(), 0);
      if (n == 0) return Status::Ok();
      if (n < 0) return Status(errno, "recv");
      std::string_view in(buf.data(), static_cast<size_t>(n));
      if (engine) {
        Status st = engine->Receive(in, &plain);
        if (engine->HasOutput()) (void)WriteAll(conn.get(), engine->TakeOutput(), deadline);
        if (!st.ok()) return st;
        if (engine->handshake_done() && peer_.empty()) peer_ = engine->PeerName();
      } else {
        plain.append(in);
      }
      VFS_RETURN_IF_ERROR(frames.Feed(plain));
      plain.clear();
      while (auto body = frames.Next()) {
        VFS_ASSIGN_OR_RETURN(std::string frame, EncodeFrame(*body));
        if (engine) {
          VFS_RETURN_IF_ERROR(engine->Send(frame));
          VFS_RETURN_IF_ERROR(WriteAll(conn.get(), engine->TakeOutput(), deadline));
        } else {
          VFS_RETURN_IF_ERROR(WriteAll(conn.get(), frame, deadline));
        }
      }
    }
  }

  UniqueFd listen_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  Status result_;
  std::string peer_;
};

void RoundTripFrames(Stream& s) {
  Deadline dl = DeadlineIn(seconds(60));
  // Several small frames in flight at once, then large ones one at a time.
  std::vector<std::string> small = {"", "a", Pattern(100, 1), Pattern(20000, 2), "last"};
  for (const auto& f : small) ASSERT_TRUE(s.WriteFrame(f, dl).ok());
  for (const auto& f : small) {
    auto got = s.ReadFrame(dl);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == f) << got->size() << " vs " << f.size();
  }
  for (size_t size : {size_t{1} << 20, size_t{3} << 20, kDefaultMaxFrame}) {
    std::string f = Pattern(size, static_cast<uint32_t>(size));
    ASSERT_TRUE(s.WriteFrame(f, dl).ok());
    auto got = s.ReadFrame(dl);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == f) << got->size();
  }
  EXPECT_EQ(s.WriteFrame(std::string(kDefaultMaxFrame + 1, 'x'), dl).code(), EMSGSIZE);
  // A reply larger than the caller allows is refused before its body is read.
  ASSERT_TRUE(s.WriteFrame(std::string(5000, 'y'), dl).ok());
  EXPECT_EQ(s.ReadFrame(dl, 4096).status().code(), EMSGSIZE);
  std::string body(5000, '\0');
  ASSERT_TRUE(s.ReadFull(body.data(), body.size(), dl).ok());
  EXPECT_EQ(body, std::string(5000, 'y'));
}

TEST_F(TlsTest, StreamOverLoopback) {
  EchoServer server(ServerCtx("a", "server", ClientCerts::kRequired));
  {
    auto s = Stream::Connect(server.addr(), ClientCtx("a", "client"), DeadlineIn(seconds(30)));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_TRUE(s->secure());
    RoundTripFrames(*s);
    // Raw reads and writes too.
    Deadline dl = DeadlineIn(seconds(30));
    ASSERT_TRUE(s->WriteAll(std::string("\0\0\0\x03"
                                        "abc",
                                        7),
                            dl)
                    .ok());
    char back[7];
    ASSERT_TRUE(s->ReadFull(back, sizeof(back), dl).ok());
    EXPECT_EQ(std::string(back + 4, 3), "abc");
  }
  EXPECT_TRUE(server.Stop().ok());
  EXPECT_EQ(server.peer(), "client");
}

TEST_F(TlsTest, PlainStreamMatchesSocketFrames) {
  EchoServer server(nullptr);
  {
    auto s = Stream::Connect(server.addr(), nullptr, DeadlineIn(seconds(30)));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_FALSE(s->secure());
    RoundTripFrames(*s);
    // The bytes are those of socket.h's helpers: read the echo with them directly.
    Deadline dl = DeadlineIn(seconds(30));
    ASSERT_TRUE(s->WriteFrame("plain", dl).ok());
    auto got = ReadFrame(s->fd(), dl);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(*got, "plain");
  }
  EXPECT_TRUE(server.Stop().ok());
}

TEST_F(TlsTest, StreamRefusals) {
  {
    EchoServer server(ServerCtx("b", "server", ClientCerts::kNone));
    auto s = Stream::Connect(server.addr(), ClientCtx(), DeadlineIn(seconds(30)));
    EXPECT_EQ(s.status().code(), EACCES) << s.status().ToString();
    EXPECT_NE(s.status().message().find("not signed by the cluster CA"), std::string::npos);
    EXPECT_EQ(server.Stop().code(), EACCES);
  }
  {
    // The handshake completes on the client's side before the server checks its (missing)
    // certificate; the refusal arrives with the first read.
    EchoServer server(ServerCtx("a", "server", ClientCerts::kRequired));
    auto s = Stream::Connect(server.addr(), ClientCtx(), DeadlineIn(seconds(30)));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    Deadline dl = DeadlineIn(seconds(30));
    (void)s->WriteFrame("hi", dl);
    auto got = s->ReadFrame(dl);
    EXPECT_EQ(got.status().code(), EACCES) << got.status().ToString();
    EXPECT_EQ(server.Stop().code(), EACCES);
  }
  {
    // A plain client against a TLS server: the server sees EPROTO, the client an error.
    EchoServer server(ServerCtx("a", "server", ClientCerts::kNone));
    auto s = Stream::Connect(server.addr(), nullptr, DeadlineIn(seconds(30)));
    ASSERT_TRUE(s.ok());
    Deadline dl = DeadlineIn(seconds(30));
    (void)s->WriteFrame("hello", dl);
    EXPECT_FALSE(s->ReadFrame(dl).ok());
    EXPECT_EQ(server.Stop().code(), EPROTO);
  }
  {
    // A TLS client against a plain server times out or fails; it never succeeds.
    EchoServer server(nullptr);
    auto s = Stream::Connect(server.addr(), ClientCtx(), DeadlineIn(seconds(2)));
    EXPECT_FALSE(s.ok());
  }
}

TEST_F(TlsTest, StreamTruncatedByPeer) {
  // A server that completes the handshake, sends half a record and closes.
  auto l = ListenTcp(HostPort{"127.0.0.1", 0});
  ASSERT_TRUE(l.ok());
  UniqueFd listener = std::move(*l);
  uint16_t port = LocalPort(listener.get()).value();
  auto server_ctx = ServerCtx("a", "server", ClientCerts::kNone);
  std::thread t([&] {
    UniqueFd conn(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    auto e = std::move(TlsEngine::Accept(server_ctx).value());
    std::string buf(65536, '\0'), plain;
    Deadline dl = DeadlineIn(seconds(30));
    while (!e->handshake_done()) {
      ssize_t n = recv(conn.get(), buf.data(), buf.size(), 0);
      if (n <= 0) return;
      if (!e->Receive(std::string_view(buf.data(), n), &plain).ok()) return;
      (void)WriteAll(conn.get(), e->TakeOutput(), dl);
    }
    (void)e->Send(std::string("\0\0\0\x10truncated", 13));
    std::string wire = e->TakeOutput();
    (void)WriteAll(conn.get(), std::string_view(wire).substr(0, wire.size() - 5), dl);
  });
  auto s = Stream::Connect(HostPort{"127.0.0.1", port}, ClientCtx(), DeadlineIn(seconds(30)));
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  if (s.ok()) {
    auto got = s->ReadFrame(DeadlineIn(seconds(30)));
    EXPECT_EQ(got.status().code(), ECONNRESET) << got.status().ToString();
  }
  t.join();
}

}  // namespace
}  // namespace vaultfs::tls
