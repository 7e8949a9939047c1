// Shared fixture of the tests against one real `vaultfs-meta --single` process
// (meta_single_test.cc, meta_fuse_ops_test.cc): the node is started once per test suite, each
// test registers its own users so tests do not see each other's trees.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "src/common/hex.h"
#include "src/common/tls.h"
#include "src/crypto/token.h"
#include "tests/meta/meta_cluster.h"

namespace vaultfs::testing {

using Json = nlohmann::json;

// A lookup key for `name` (the real client sends an HMAC; any lowercase hex will do here).
inline std::string K(const std::string& name) { return HexEncode(name); }
inline const std::string kAuth = std::string(64, 'a');

// commit_version's 14 shard results: the first `ok` stored, the rest missing.
inline Json Shards(int ok) {
  Json sh = Json::array();
  for (int i = 0; i < 14; ++i) {
    if (i < ok) {
      sh.push_back({{"index", i}, {"state", "ok"}, {"root", std::string(64, 'a')}});
    } else {
      sh.push_back({{"index", i}, {"state", "missing"}});
    }
  }
  return sh;
}

class MetaSingleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new MetaCluster(1, /*single=*/true);
    // Every test registers its own users, from one address: no limit on new accounts here
    // (meta_probes_test.cc tests the limits).
    cluster_->SetExtraArgs({"--register-burst-per-address", "0", "--register-burst", "0"});
    Status st = cluster_->StartAll();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  struct User {
    std::unique_ptr<MetaClient> c;
    int64_t root = 0;
    std::string id;
  };

  User NewUser(const std::string& name) {
    User u;
    u.c = cluster_->Client();
    auto r = u.c->Call("register", {{"user", name},
                                    {"salt", "00112233"},
                                    {"kdf", {{"alg", "scrypt"}, {"n", 16384}}},
                                    {"auth_key", kAuth},
                                    {"wrapped_master_key", "wrapped-" + name}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    auto l = u.c->Login(name, kAuth);
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    if (l.ok()) {
      u.root = (*l)["root"].get<int64_t>();
      u.id = (*l)["user_id"].get<std::string>();
    }
    return u;
  }

  // A cluster maintenance session, as the repairer mints it with the cluster token key.
  static std::string ClusterToken() {
    crypto::TokenClaims cl{"cluster", "_cluster", crypto::kRightAll, crypto::UnixNow() + 600, "00"};
    auto ct = crypto::SignToken(cl, cluster_->TokenKey("cluster"));
    EXPECT_TRUE(ct.ok()) << ct.status().ToString();
    return ct.ok() ? *ct : std::string();
  }
  // A client with a cluster session over a connection with a node certificate (the repairer).
  static std::unique_ptr<MetaClient> ClusterClient() {
    const std::vector<std::string> node_tls = cluster_->TlsArgs(0);  // --tls-ca C --tls-cert ..
    EXPECT_EQ(node_tls.size(), 6u);
    if (node_tls.size() != 6u) return cluster_->Client();
    auto node_id = tls::LoadIdentity(node_tls[1], node_tls[3], node_tls[5]);
    EXPECT_TRUE(node_id.ok()) << node_id.status().ToString();
    if (!node_id.ok()) return cluster_->Client();
    auto node_ctx = tls::TlsContext::Client(*node_id);
    EXPECT_TRUE(node_ctx.ok());
    if (!node_ctx.ok()) return cluster_->Client();
    auto c = cluster_->Client(MetaClientOptions{.tls = *node_ctx});
    c->SetSession(ClusterToken());
    return c;
  }

  static int64_t Ino(const Result<Json>& r) {
    return r.ok() ? (*r)["attr"]["ino"].get<int64_t>() : -1;
  }

  inline static MetaCluster* cluster_ = nullptr;
};

// Expects an error reply with errno `code`.
inline void CheckErrno(int line, const Result<Json>& r, int code) {
  SCOPED_TRACE("line " + std::to_string(line));
  ASSERT_FALSE(r.ok()) << "expected " << ErrnoName(code) << ", got success: " << r->dump();
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
}
// Variadic so braced JSON arguments pass through the macro.
#define EXPECT_ERRNO(...) CheckErrno(__LINE__, __VA_ARGS__)

}  // namespace vaultfs::testing
