// Suite 'web', units: the gateway's pieces that decide what a request may do — names and
// paths, the Range header, download headers, sessions and their expiry, CSRF and Origin,
// the cookie, Host checks, error mapping and JSON escaping, the upload byte pipe — and the
// embedded page (no inline script, no innerHTML). No cluster needed.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "src/crypto/hash.h"
#include "src/web/assets.h"
#include "src/web/byte_pipe.h"
#include "src/web/content_headers.h"
#include "src/web/cookie.h"
#include "src/web/csrf.h"
#include "src/web/gateway.h"
#include "src/web/http_error.h"
#include "src/web/http_range.h"
#include "src/web/listen_address.h"
#include "src/web/session_store.h"
#include "src/web/vault_path.h"

namespace vaultfs::web {
namespace {

using namespace std::chrono_literals;
using Kind = RangeRequest::Kind;

// ---- names and paths ----

TEST(VaultPath, AcceptsPlainNames) {
  for (const char* n : {"a", "report.pdf", "...", "a b", ".hidden", "ünïcødé ✓", "-", "a\\b"}) {
    EXPECT_TRUE(ValidateName(n).ok()) << n;
  }
  EXPECT_TRUE(ValidateName(std::string(255, 'x')).ok());
}

TEST(VaultPath, RejectsTraversalAndBadNames) {
  EXPECT_EQ(ValidateName("").code(), EINVAL);
  EXPECT_EQ(ValidateName(".").code(), EINVAL);
  EXPECT_EQ(ValidateName("..").code(), EINVAL);
  EXPECT_EQ(ValidateName("a/b").code(), EINVAL);
  EXPECT_EQ(ValidateName("/").code(), EINVAL);
  EXPECT_EQ(ValidateName("../etc").code(), EINVAL);
  EXPECT_EQ(ValidateName(std::string("a\0b", 3)).code(), EINVAL);
  EXPECT_EQ(ValidateName(std::string(256, 'x')).code(), ENAMETOOLONG);
}

TEST(VaultPath, SplitsCleanAbsolutePaths) {
  auto root = SplitVaultPath("/");
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(root->empty());
  auto ab = SplitVaultPath("/a/b c");
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(*ab, (std::vector<std::string>{"a", "b c"}));
  auto trailing = SplitVaultPath("/a/b/");
  ASSERT_TRUE(trailing.ok());
  EXPECT_EQ(*trailing, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(JoinVaultPath(*ab), "/a/b c");
  EXPECT_EQ(JoinVaultPath({}), "/");
}

TEST(VaultPath, SplitRejectsEverythingElse) {
  for (const char* p : {"", "a", "a/b", "//", "/a//b", "/a/b//", "/.", "/..", "/a/./b", "/a/../b",
                        "/../etc/passwd", "/a/.."}) {
    EXPECT_FALSE(SplitVaultPath(p).ok()) << "'" << p << "'";
  }
  EXPECT_FALSE(SplitVaultPath(std::string("/a\0/b", 5)).ok());
  EXPECT_FALSE(SplitVaultPath("/" + std::string(256, 'y')).ok());
}

TEST(VaultPath, KnowsUploadTemporaries) {
  EXPECT_TRUE(IsUploadTempName(".vaultfs-put-0a1b2c"));
  EXPECT_FALSE(IsUploadTempName("vaultfs-put-0a1b2c"));
  EXPECT_FALSE(IsUploadTempName(".vaultfs"));
}

// ---- Range ----

TEST(HttpRange, NoHeaderMeansWhole) { EXPECT_EQ(ResolveRange("", 100).kind, Kind::kWhole); }

TEST(HttpRange, ClosedOpenAndSuffixRanges) {
  auto r = ResolveRange("bytes=0-99", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.length, 100u);
  EXPECT_EQ(ContentRangeValue(r, 1000), "bytes 0-99/1000");

  r = ResolveRange("bytes=900-", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.offset, 900u);
  EXPECT_EQ(r.length, 100u);

  r = ResolveRange("bytes=-10", 1000);
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.offset, 990u);
  EXPECT_EQ(r.length, 10u);
  EXPECT_EQ(ContentRangeValue(r, 1000), "bytes 990-999/1000");

  r = ResolveRange("Bytes= 5-5 ", 1000);  // unit case-insensitive, spaces tolerated
  EXPECT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.length, 1u);
}

TEST(HttpRange, ClampsRangesRunningPastTheEnd) {
  auto r = ResolveRange("bytes=990-5000", 1000);
  ASSERT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.offset, 990u);
  EXPECT_EQ(r.length, 10u);
  r = ResolveRange("bytes=-5000", 1000);  // a suffix longer than the file: all of it
  ASSERT_EQ(r.kind, Kind::kPartial);
  EXPECT_EQ(r.offset, 0u);
  EXPECT_EQ(r.length, 1000u);
}

TEST(HttpRange, UnsatisfiableRanges) {
  EXPECT_EQ(ResolveRange("bytes=1000-", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ResolveRange("bytes=5000-6000", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ResolveRange("bytes=-0", 1000).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ResolveRange("bytes=0-", 0).kind, Kind::kUnsatisfiable);
  EXPECT_EQ(ContentRangeValue(ResolveRange("bytes=1000-", 1000), 1000), "bytes */1000");
}

TEST(HttpRange, IgnoresWhatItDoesNotServe) {
  for (const char* h : {"bytes=0-1,5-6", "items=0-5", "bytes=5-2", "bytes=abc", "bytes=1-x",
                        "bytes=-", "bytes=", "bytes", "bytes=+1-2", "bytes=99999999999999999999-",
                        "bytes=0-99999999999999999999"}) {
    EXPECT_EQ(ResolveRange(h, 1000).kind, Kind::kWhole) << h;
  }
}

// ---- download headers ----

TEST(ContentHeaders, MediaTypes) {
  EXPECT_EQ(MediaTypeForName("a.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(MediaTypeForName("PHOTO.JPG"), "image/jpeg");
  EXPECT_EQ(MediaTypeForName("x.tar.gz"), "application/gzip");
  EXPECT_EQ(MediaTypeForName("x.pdf"), "application/pdf");
  EXPECT_EQ(MediaTypeForName("noext"), "application/octet-stream");
  EXPECT_EQ(MediaTypeForName("trailing."), "application/octet-stream");
  EXPECT_EQ(MediaTypeForName("x.unknownext"), "application/octet-stream");
}

TEST(ContentHeaders, DispositionIsAlwaysAnAttachmentAndCannotBreakTheHeader) {
  EXPECT_EQ(AttachmentDisposition("a.txt"),
            "attachment; filename=\"a.txt\"; filename*=UTF-8''a.txt");
  std::string evil = "x\"; filename=evil.html\r\nSet-Cookie: a=b\\ é.txt";
  std::string d = AttachmentDisposition(evil);
  EXPECT_EQ(d.rfind("attachment; ", 0), 0u);
  EXPECT_EQ(d.find('\r'), std::string::npos);
  EXPECT_EQ(d.find('\n'), std::string::npos);
  // The quoted fallback has no quote or backslash of its own: exactly two quotes in `d`.
  EXPECT_EQ(std::count(d.begin(), d.end(), '"'), 2);
  EXPECT_EQ(d.find('\\'), std::string::npos);
  EXPECT_NE(d.find("filename*=UTF-8''x%22%3B%20filename%3Devil.html%0D%0ASet-Cookie"),
            std::string::npos);
  EXPECT_NE(d.find("%C3%A9.txt"), std::string::npos);  // é, in UTF-8
  EXPECT_EQ(PercentEncode("a-Z_0.~ /%"), "a-Z_0.~%20%2F%25");
}

// ---- sessions ----

class FakeClock {
 public:
  SessionStore::NowFn fn() {
    return [this] { return now_; };
  }
  void Advance(std::chrono::seconds d) { now_ += d; }

 private:
  SessionStore::Clock::time_point now_{};
};

TEST(SessionStore, CreatesRandomIdsAndTokens) {
  FakeClock clock;
  SessionStore store({}, clock.fn());
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    auto c = store.Create("alice", nullptr);
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->id.size(), 64u);
    EXPECT_EQ(c->session->csrf_token.size(), 64u);
    EXPECT_NE(c->id, c->session->csrf_token);
    EXPECT_TRUE(seen.insert(c->id).second);
    EXPECT_TRUE(seen.insert(c->session->csrf_token).second);
    EXPECT_EQ(store.Find(c->id), c->session);
  }
  EXPECT_EQ(store.Find(""), nullptr);
  EXPECT_EQ(store.Find(std::string(64, '0')), nullptr);
}

TEST(SessionStore, IdleSessionsExpireAndUseKeepsThemAlive) {
  FakeClock clock;
  SessionStore::Options o;
  o.idle_timeout = 30min;
  o.max_lifetime = 12h;
  SessionStore store(o, clock.fn());
  auto a = store.Create("alice", nullptr);
  auto b = store.Create("bob", nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 5; ++i) {  // alice keeps using hers: 2 h in 25-minute steps
    clock.Advance(25min);
    EXPECT_NE(store.Find(a->id), nullptr);
  }
  EXPECT_EQ(store.Find(b->id), nullptr);  // bob's was idle far longer than 30 min
  clock.Advance(30min);
  EXPECT_EQ(store.Find(a->id), nullptr);
  EXPECT_EQ(store.size(), 0u);
}

TEST(SessionStore, SessionsEndAtTheirMaximumLifetime) {
  FakeClock clock;
  SessionStore::Options o;
  o.idle_timeout = 30min;
  o.max_lifetime = 1h;
  SessionStore store(o, clock.fn());
  auto a = store.Create("alice", nullptr);
  ASSERT_TRUE(a.ok());
  clock.Advance(20min);
  EXPECT_NE(store.Find(a->id), nullptr);
  clock.Advance(20min);
  EXPECT_NE(store.Find(a->id), nullptr);
  clock.Advance(20min);
  EXPECT_EQ(store.Find(a->id), nullptr);
}

TEST(SessionStore, LogoutDestroysOnlyThatSession) {
  FakeClock clock;
  SessionStore store({}, clock.fn());
  auto a = store.Create("alice", nullptr);
  auto b = store.Create("alice", nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  store.Destroy(a->id);
  store.Destroy("not-a-session");
  EXPECT_EQ(store.Find(a->id), nullptr);
  EXPECT_NE(store.Find(b->id), nullptr);
}

TEST(SessionStore, FullStoreDropsTheLeastRecentlyUsed) {
  FakeClock clock;
  SessionStore::Options o;
  o.max_sessions = 2;
  SessionStore store(o, clock.fn());
  auto a = store.Create("a", nullptr);
  clock.Advance(1s);
  auto b = store.Create("b", nullptr);
  clock.Advance(1s);
  ASSERT_NE(store.Find(a->id), nullptr);  // a is now the more recently used
  clock.Advance(1s);
  auto c = store.Create("c", nullptr);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_NE(store.Find(a->id), nullptr);
  EXPECT_EQ(store.Find(b->id), nullptr);
  EXPECT_NE(store.Find(c->id), nullptr);
}

// ---- CSRF, Origin, cookie, Host ----

TEST(Csrf, TokenMustMatchExactly) {
  std::string token(64, 'a');
  EXPECT_TRUE(CsrfTokenValid(token, token));
  EXPECT_FALSE(CsrfTokenValid(token, ""));
  EXPECT_FALSE(CsrfTokenValid(token, token.substr(0, 63)));
  EXPECT_FALSE(CsrfTokenValid(token, token + "a"));
  EXPECT_FALSE(CsrfTokenValid(token, std::string(63, 'a') + "b"));
  EXPECT_FALSE(CsrfTokenValid("", ""));
}

TEST(Csrf, OriginMustBeOurOwnWhenPresent) {
  EXPECT_TRUE(OriginAllowed("", "127.0.0.1:8080"));
  EXPECT_TRUE(OriginAllowed("http://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(OriginAllowed("http://evil.example", "127.0.0.1:8080"));
  EXPECT_FALSE(OriginAllowed("http://127.0.0.1:8081", "127.0.0.1:8080"));
  EXPECT_FALSE(OriginAllowed("https://127.0.0.1:8080", "127.0.0.1:8080"));
  EXPECT_FALSE(OriginAllowed("null", "127.0.0.1:8080"));
  EXPECT_FALSE(OriginAllowed("http://127.0.0.1:8080", ""));
}

TEST(Cookie, SessionCookieIsHardened) {
  std::string c = SessionCookie(8080, "abc");
  EXPECT_EQ(c.rfind("vaultfs_session_8080=abc;", 0), 0u);
  EXPECT_NE(c.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(c.find("; SameSite=Strict"), std::string::npos);
  EXPECT_NE(c.find("; Path=/"), std::string::npos);
  std::string gone = ExpiredSessionCookie(8080);
  EXPECT_EQ(gone.rfind("vaultfs_session_8080=;", 0), 0u);
  EXPECT_NE(gone.find("Max-Age=0"), std::string::npos);
  EXPECT_NE(gone.find("HttpOnly"), std::string::npos);
}

// Browsers send 127.0.0.1's cookies to every port of it: each gateway names its own.
TEST(Cookie, NameCarriesThePort) {
  EXPECT_EQ(SessionCookieName(8080), "vaultfs_session_8080");
  EXPECT_EQ(SessionCookieName(1), "vaultfs_session_1");
  EXPECT_EQ(SessionCookieName(65535), "vaultfs_session_65535");
  EXPECT_NE(SessionCookieName(8080), SessionCookieName(8081));
  const std::string both = "vaultfs_session_8081=other; vaultfs_session_8080=mine";
  EXPECT_EQ(CookieValue(both, SessionCookieName(8080)), "mine");
  EXPECT_EQ(CookieValue(both, SessionCookieName(8081)), "other");
  EXPECT_EQ(CookieValue(both, SessionCookieName(80)), "");
  EXPECT_EQ(CookieValue("vaultfs_session_80801=x", SessionCookieName(8080)), "");
}

TEST(Cookie, ReadsTheNamedCookie) {
  EXPECT_EQ(CookieValue("vaultfs_session=abc", "vaultfs_session"), "abc");
  EXPECT_EQ(CookieValue("a=1; vaultfs_session=xyz; b=2", "vaultfs_session"), "xyz");
  EXPECT_EQ(CookieValue("a=1;vaultfs_session=q", "vaultfs_session"), "q");
  EXPECT_EQ(CookieValue("xvaultfs_session=no; other=1", "vaultfs_session"), "");
  EXPECT_EQ(CookieValue("", "vaultfs_session"), "");
  EXPECT_EQ(CookieValue("vaultfs_session", "vaultfs_session"), "");
}

// A gateway on a real loopback socket, with a session made directly in its store: what the
// cookie alone buys (issue 20, item 12).
class GatewaySessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gateway_ = std::make_unique<Gateway>(ClusterConfig{}, GatewayOptions{});
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    gateway_->Install(server_, static_cast<uint16_t>(port_));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // The socket already listens; wait for the accept loop, so that stop() reaches it.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!server_.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);  // poll interval
    }
    ASSERT_TRUE(server_.is_running());
    auto created = gateway_->sessions().Create("alice", nullptr);
    ASSERT_TRUE(created.ok());
    id_ = created->id;
    csrf_ = created->session->csrf_token;
  }
  void TearDown() override {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  httplib::Client Client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_connection_timeout(10, 0);
    c.set_read_timeout(10, 0);
    return c;
  }
  std::string Cookie() const { return SessionCookieName(static_cast<uint16_t>(port_)) + "=" + id_; }

  std::unique_ptr<Gateway> gateway_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::string id_, csrf_;
};

TEST_F(GatewaySessionTest, SessionQueryNeverHandsOutTheCsrfToken) {
  auto c = Client();
  auto r = c.Get("/api/session", {{"Cookie", Cookie()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  auto body = nlohmann::json::parse(r->body, nullptr, false);
  EXPECT_EQ(body.value("user", ""), "alice");
  EXPECT_FALSE(body.contains("csrf")) << r->body;
  EXPECT_EQ(r->body.find(csrf_), std::string::npos) << r->body;
}

TEST_F(GatewaySessionTest, OnlyTheCookieNamedForThisPortIsASession) {
  auto c = Client();
  const std::string other_port = std::to_string(port_ == 65535 ? 1 : port_ + 1);
  for (const std::string& cookie :
       {"vaultfs_session=" + id_, "vaultfs_session_" + other_port + "=" + id_,
        SessionCookieName(static_cast<uint16_t>(port_)) + "=" + std::string(64, '0')}) {
    auto r = c.Get("/api/session", {{"Cookie", cookie}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << cookie;
  }
  // Another gateway's cookie beside ours changes nothing.
  auto r =
      c.Get("/api/session", {{"Cookie", "vaultfs_session_" + other_port + "=zz; " + Cookie()}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(GatewaySessionTest, CookieWithoutTheLoginsTokenChangesNothing) {
  auto c = Client();
  const std::string body = R"({"dir":"/","name":"x"})";
  auto no_token = c.Post("/api/mkdir", {{"Cookie", Cookie()}}, body, "application/json");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 403);
  auto j = nlohmann::json::parse(no_token->body, nullptr, false);
  EXPECT_EQ(j.value("login_again", false), true) << no_token->body;
  auto logout =
      c.Post("/api/logout", {{"Cookie", Cookie()}, {"X-CSRF-Token", std::string(64, 'f')}}, "{}",
             "application/json");
  ASSERT_TRUE(logout);
  EXPECT_EQ(logout->status, 403);
  // With the token (which only the login response carried) the same cookie logs out, and
  // the expired cookie names this port.
  auto ok = c.Post("/api/logout", {{"Cookie", Cookie()}, {"X-CSRF-Token", csrf_}}, "{}",
                   "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(ok->get_header_value("Set-Cookie")
                .rfind(SessionCookieName(static_cast<uint16_t>(port_)) + "=;", 0),
            0u)
      << ok->get_header_value("Set-Cookie");
}

TEST(ListenAddress, ParsesHostAndPort) {
  auto a = ParseListenAddress("127.0.0.1:8080");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8080);
  auto v6 = ParseListenAddress("[::1]:0");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 0);
  for (const char* bad : {"", "8080", "127.0.0.1", "127.0.0.1:", ":8080", "::1:80", "[::1]80",
                          "h:65536", "h:-1", "h:8o"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST(ListenAddress, LoopbackOnly) {
  for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "localhost"}) {
    EXPECT_TRUE(IsLoopbackHost(h)) << h;
  }
  for (const char* h : {"0.0.0.0", "10.0.0.1", "::", "192.168.1.1", "example.com", "128.0.0.1"}) {
    EXPECT_FALSE(IsLoopbackHost(h)) << h;
  }
}

// The gateway has no TLS: off loopback only with an explicit --insecure-http.
TEST(ListenAddress, NonLoopbackNeedsInsecureHttp) {
  for (const char* ok : {"127.0.0.1:8080", "[::1]:0", "localhost:80", "127.9.9.9:1"}) {
    auto a = ParseListenAddress(ok);
    ASSERT_TRUE(a.ok()) << ok;
    EXPECT_TRUE(CheckListenAllowed(*a, false).ok()) << ok;
    EXPECT_TRUE(CheckListenAllowed(*a, true).ok()) << ok;
  }
  for (const char* open : {"0.0.0.0:8080", "[::]:8080", "192.168.1.5:80", "example.com:8080",
                           "128.0.0.1:80", "[::ffff:127.0.0.1]:80"}) {
    auto a = ParseListenAddress(open);
    ASSERT_TRUE(a.ok()) << open;
    Status st = CheckListenAllowed(*a, false);
    EXPECT_EQ(st.code(), EACCES) << open;
    EXPECT_NE(st.message().find("--insecure-http"), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("no TLS"), std::string::npos) << st.ToString();
    EXPECT_TRUE(CheckListenAllowed(*a, true).ok()) << open;
  }
}

TEST(ListenAddress, HostHeaderMustNameLoopbackAndOurPort) {
  EXPECT_TRUE(LoopbackHostHeaderAllowed("127.0.0.1:8080", 8080));
  EXPECT_TRUE(LoopbackHostHeaderAllowed("localhost:8080", 8080));
  EXPECT_TRUE(LoopbackHostHeaderAllowed("[::1]:8080", 8080));
  EXPECT_FALSE(LoopbackHostHeaderAllowed("127.0.0.1:8081", 8080));
  EXPECT_FALSE(LoopbackHostHeaderAllowed("evil.example:8080", 8080));  // DNS rebinding
  EXPECT_FALSE(LoopbackHostHeaderAllowed("127.0.0.1", 8080));
  EXPECT_FALSE(LoopbackHostHeaderAllowed("", 8080));
}

// ---- errors and JSON ----

TEST(HttpError, MapsErrnoCodesToStatuses) {
  EXPECT_EQ(HttpStatusFor(Status::Ok()), 200);
  EXPECT_EQ(HttpStatusFor(NotFound("x")), 404);
  EXPECT_EQ(HttpStatusFor(Status(EEXIST, "x")), 409);
  EXPECT_EQ(HttpStatusFor(Status(ENOTEMPTY, "x")), 409);
  EXPECT_EQ(HttpStatusFor(PermissionDenied("x")), 403);
  EXPECT_EQ(HttpStatusFor(InvalidArgument("x")), 400);
  EXPECT_EQ(HttpStatusFor(Status(ENAMETOOLONG, "x")), 400);
  EXPECT_EQ(HttpStatusFor(IoError("x")), 503);
  EXPECT_EQ(HttpStatusFor(Status(ETIMEDOUT, "x")), 503);
  EXPECT_EQ(HttpStatusFor(Status(EHOSTDOWN, "x")), 503);
  EXPECT_EQ(HttpStatusFor(Status(EAGAIN, "x")), 503);
  EXPECT_EQ(HttpStatusFor(Status(ENOSPC, "x")), 507);
  EXPECT_EQ(HttpStatusFor(Status(EBADMSG, "x")), 500);
}

TEST(HttpError, JsonBodiesEscapeAnythingAndNeverThrow) {
  std::string nasty = "<script>alert(\"x\")</script>\n\\ \x01 ";
  auto j = nlohmann::json::parse(ErrorJson(NotFound(nasty)));
  EXPECT_EQ(j["error"], nasty);
  EXPECT_EQ(j["code"], "ENOENT");
  // A name that is not UTF-8 (possible through the FUSE mount) is replaced, not thrown on.
  std::string text = DumpJson({{"name", std::string("bad\xff\xfe", 5)}});
  auto back = nlohmann::json::parse(text);
  EXPECT_EQ(back["name"], "bad\xEF\xBF\xBD\xEF\xBF\xBD");
}

// ---- the upload pipe ----

TEST(BytePipe, CarriesManyBytesThroughASmallBuffer) {
  BytePipe pipe(4096);
  std::string data(10 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) ^ (i >> 9));
  std::thread writer([&] {
    size_t off = 0, step = 1;
    while (off < data.size()) {  // odd piece sizes, to cross the ring's end in every way
      size_t n = std::min(step, data.size() - off);
      ASSERT_TRUE(pipe.Write(std::string_view(data).substr(off, n)));
      off += n;
      step = step * 7 % 10007 + 1;
    }
    pipe.CloseWrite();
  });
  std::string got(data.size(), '\0');
  size_t off = 0, step = 3;
  while (off < got.size()) {
    size_t n = std::min(step, got.size() - off);
    ASSERT_TRUE(pipe.Read(reinterpret_cast<uint8_t*>(got.data() + off), n).ok());
    off += n;
    step = step * 5 % 9001 + 1;
  }
  writer.join();
  EXPECT_TRUE(got == data);
  uint8_t extra;
  EXPECT_EQ(pipe.Read(&extra, 1).code(), EIO);  // clean end: nothing more
}

TEST(BytePipe, ReaderSeesTheWritersFailure) {
  BytePipe pipe(16);
  ASSERT_TRUE(pipe.Write("abc"));
  pipe.CloseWrite(InvalidArgument("client sent garbage"));
  uint8_t buf[3];
  Status st = pipe.Read(buf, 3);
  EXPECT_EQ(st.code(), EINVAL);
  EXPECT_EQ(st.message(), "client sent garbage");
}

TEST(BytePipe, ReaderThatEndsEarlyGetsEio) {
  BytePipe pipe(16);
  ASSERT_TRUE(pipe.Write("abc"));
  pipe.CloseWrite();
  uint8_t buf[8];
  EXPECT_EQ(pipe.Read(buf, 8).code(), EIO);
}

TEST(BytePipe, BlockedWriterIsReleasedWhenTheReaderGivesUp) {
  BytePipe pipe(8);
  std::atomic<bool> result{true};
  std::thread writer([&] { result = pipe.Write(std::string(1000, 'x')); });  // blocks: full
  uint8_t buf[4];
  ASSERT_TRUE(pipe.Read(buf, 4).ok());  // the writer is certainly inside Write by now
  pipe.CloseRead(IoError("cluster down"));
  writer.join();
  EXPECT_FALSE(result);
  EXPECT_FALSE(pipe.Write("more"));
  EXPECT_EQ(pipe.read_status().code(), EIO);
}

// ---- the embedded page ----

TEST(Assets, ServesThePageFromTheBinary) {
  const Asset* index = FindAsset("/");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<title>vaultfs</title>"), std::string_view::npos);
  ASSERT_NE(FindAsset("/app.js"), nullptr);
  EXPECT_EQ(FindAsset("/app.js")->content_type, "text/javascript; charset=utf-8");
  ASSERT_NE(FindAsset("/style.css"), nullptr);
  ASSERT_NE(FindAsset("/favicon.svg"), nullptr);
  EXPECT_EQ(FindAsset("/missing.js"), nullptr);
  EXPECT_EQ(FindAsset("/../etc/passwd"), nullptr);
}

TEST(Assets, PageHasNoInlineScriptNoRemoteResourcesAndNoHtmlInjection) {
  std::string_view html = FindAsset("/index.html")->body;
  std::string_view js = FindAsset("/app.js")->body;
  // Every <script> has a same-origin src (the CSP forbids inline script anyway).
  size_t pos = 0, scripts = 0;
  while ((pos = html.find("<script", pos)) != std::string_view::npos) {
    EXPECT_EQ(html.substr(pos, 17), "<script src=\"/app");
    ++pos;
    ++scripts;
  }
  EXPECT_EQ(scripts, 1u);
  EXPECT_EQ(html.find(" onclick="), std::string_view::npos);
  EXPECT_EQ(html.find("http://"), std::string_view::npos);  // no CDN: works offline
  EXPECT_EQ(html.find("https://"), std::string_view::npos);
  // The script builds the DOM with textContent, never by parsing strings as HTML.
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                           "eval(", "new Function"}) {
    EXPECT_EQ(js.find(sink), std::string_view::npos) << sink;
  }
  EXPECT_NE(js.find("textContent"), std::string_view::npos);
  EXPECT_NE(js.find("X-CSRF-Token"), std::string_view::npos);
}

// ---- JSON bodies ----

// A body fed to ReadJsonBody the way cpp-httplib streams it.
Result<nlohmann::json> ReadBody(const std::string& body) {
  httplib::Request req;
  req.set_header("Content-Type", "application/json");
  httplib::ContentReader reader(
      [&body](httplib::ContentReceiver receive) { return receive(body.data(), body.size()); },
      [](httplib::MultipartContentHeader, httplib::ContentReceiver) { return false; });
  return ReadJsonBody(req, reader);
}

TEST(JsonBody, DeepNestingIsRefusedWithinTheSizeLimit) {
  auto ok = ReadBody(R"({"user":"alice","password":"x"})");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ((*ok)["user"], "alice");
  // 30,000 levels fit in the 64 KiB body limit; the depth bound refuses them.
  auto deep = ReadBody(R"({"user":)" + std::string(30000, '[') + std::string(30000, ']') + "}");
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.status().code(), EINVAL);
  EXPECT_NE(deep.status().message().find("deeper than"), std::string::npos)
      << deep.status().message();
  EXPECT_EQ(ReadBody("[1]").status().code(), EINVAL);
}

}  // namespace
}  // namespace vaultfs::web
