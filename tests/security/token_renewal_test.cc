// Suite 'security': an upload that outlives its data tokens (issue 20, data safety). Data
// tokens are short-lived (20 minutes; here 2 s, vaultfs-meta --data-token-ttl-s).
// renew_pending returns a fresh write token scoped like begin_version's, for a writer that
// opens shard requests after its first token expired. Today's writer opens every shard's one
// streamed upload request at the start, and a data server checks a token once, at a request's
// header; the second test guards that an upload outliving several token lifetimes still
// succeeds.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "src/client/vault.h"
#include "src/crypto/token.h"
#include "tests/cluster/cluster_fixture.h"

namespace vaultfs::testing {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

constexpr int kTokenTtlS = 2;
constexpr char kUser[] = "renewer";
constexpr char kPassword[] = "a long upload";

class TokenRenewalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = TestCluster::Start(14, 1, TestCluster::kDormantRepair, false,
                                "--data-token-ttl-s " + std::to_string(kTokenTtlS));
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value().release();
    auto r = cluster_->Vaultfs({"register", kUser}, kUser, kPassword);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr) << "the cluster did not start"; }

  static std::unique_ptr<client::Vault> Login(std::chrono::milliseconds renew_every) {
    client::VaultOptions o;
    o.pending_renew_interval = renew_every;
    auto v = std::make_unique<client::Vault>(cluster_->config(), o);
    Status st = v->accounts().Login(kUser, kPassword);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return v;
  }

  static TestCluster* cluster_;
};

TestCluster* TokenRenewalTest::cluster_ = nullptr;

// renew_pending answers a write token for exactly the chunk ids begin_version placed.
TEST_F(TokenRenewalTest, RenewPendingReturnsAWriteTokenOfTheSameScope) {
  auto v = Login(std::chrono::minutes(5));
  auto f = v->tree().Create(v->root(), "scoped", 0644);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto begin = v->meta().Call("begin_version", {{"ino", f->ino}, {"size", 1 << 20}});
  ASSERT_TRUE(begin.ok()) << begin.status().ToString();
  auto renew = v->meta().Call("renew_pending", {{"ino", f->ino}, {"version", (*begin)["version"]}});
  ASSERT_TRUE(renew.ok()) << renew.status().ToString();
  ASSERT_TRUE(renew->contains("token")) << renew->dump();
  EXPECT_TRUE(renew->contains("expires_at"));
  EXPECT_FALSE(renew->contains("chunks")) << "the service's own field leaked";
  const std::string token = (*renew)["token"];
  EXPECT_NE(token, (*begin)["token"].get<std::string>());
  // Same audience, user and scope; write rights only.
  auto parts = [](const std::string& t) {
    std::vector<std::string> out;
    size_t from = 0;
    for (size_t dot; (dot = t.find('.', from)) != std::string::npos; from = dot + 1) {
      out.push_back(t.substr(from, dot - from));
    }
    out.push_back(t.substr(from));
    return out;
  };
  auto b = parts((*begin)["token"]), r = parts(token);
  ASSERT_EQ(b.size(), 8u) << "begin_version's token names a scope";
  ASSERT_EQ(r.size(), 8u) << "renew_pending's token names a scope";
  EXPECT_EQ(r[1], "data");
  EXPECT_EQ(r[2], b[2]);  // user
  EXPECT_EQ(r[3], b[3]);  // rights
  EXPECT_EQ(r[6], b[6]);  // scope
  for (const Json& sh : (*begin)["shards"]) {
    EXPECT_TRUE(crypto::ScopeCovers(r[6], sh["chunk"].get<std::string>())) << sh.dump();
  }
}

// An upload that lasts several token lifetimes succeeds and reads back bit-exact. Its reader
// hands out each segment only once the token in use when the previous one was read has
// expired, so every segment after the first is sent after begin_version's token expired.
TEST_F(TokenRenewalTest, UploadLongerThanTheTokenLifetimeSucceeds) {
  auto v = Login(200ms);
  auto f = v->tree().Create(v->root(), "long-upload", 0644);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const size_t seg = v->config().segment_size;
  const int kSegments = 4;
  const std::string data = TestBytes(seg * kSegments - 12345, 42);
  size_t pos = 0;
  int64_t next_after = 0;  // unix s the next segment waits for
  int waited = 0;
  auto read = [&](uint8_t* buf, size_t n) -> Status {
    if (pos > 0 && pos % seg == 0) {
      // A token begin_version issued has expired by now: wait on the clock, with a bound.
      const auto deadline = std::chrono::steady_clock::now() + 30s;
      while (crypto::UnixNow() <= next_after) {
        if (std::chrono::steady_clock::now() > deadline) return Status(ETIMEDOUT, "clock");
        std::this_thread::sleep_for(50ms);
      }
      ++waited;
    }
    if (pos == 0 || pos % seg == 0) next_after = crypto::UnixNow() + kTokenTtlS + 1;
    std::memcpy(buf, data.data() + pos, n);
    pos += n;
    return Status::Ok();
  };
  client::ContentReport report;
  auto written = v->content().WriteContent(*f, data.size(), read, {}, &report);
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(waited, kSegments - 1);
  EXPECT_EQ(report.shards_missing, 0) << "every shard stored, none left to repair";
  std::string back;
  Status st = v->content().ReadContent(*written, 0, data.size(), [&](std::string_view part) {
    back.append(part);
    return Status::Ok();
  });
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(back == data) << "read back " << back.size() << " bytes, differing";
}

}  // namespace
}  // namespace vaultfs::testing
