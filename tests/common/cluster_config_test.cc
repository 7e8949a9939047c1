#include "src/common/cluster_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

namespace vaultfs {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json ValidConfig(int data_nodes = 14) {
  json j;
  j["version"] = 1;
  j["cluster_id"] = "abc";
  j["k"] = 10;
  j["m"] = 4;
  j["meta"] = json::array();
  for (int i = 1; i <= 3; ++i) {
    j["meta"].push_back({{"id", i},
                         {"address", "127.0.0.1:" + std::to_string(7000 + i)},
                         {"raft_address", "127.0.0.1:" + std::to_string(7100 + i)}});
  }
  j["data"] = json::array();
  for (int i = 1; i <= data_nodes; ++i) {
    j["data"].push_back({{"id", i}, {"address", "127.0.0.1:" + std::to_string(7200 + i)}});
  }
  return j;
}

std::string ErrorOf(const json& j) {
  auto r = ParseClusterConfig(j.dump(), "test.json");
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.status().message();
}

TEST(ClusterConfigTest, ParsesAndRoundTrips) {
  auto c = ParseClusterConfig(ValidConfig().dump());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->k, 10);
  EXPECT_EQ(c->m, 4);
  EXPECT_EQ(c->write_quorum, 12);  // default k + 2
  EXPECT_EQ(c->segment_size, 1u << 20);
  EXPECT_EQ(c->meta.size(), 3u);
  EXPECT_EQ(c->data.size(), 14u);
  EXPECT_EQ(c->FindData(3)->address.port, 7203);
  EXPECT_EQ(c->FindMeta(2)->raft_address.ToString(), "127.0.0.1:7102");
  EXPECT_EQ(c->FindData(99), nullptr);
  auto again = ParseClusterConfig(c->ToJson());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ToJson(), c->ToJson());
}

TEST(ClusterConfigTest, ErrorsNameTheField) {
  json j = ValidConfig();
  j["data"][3]["address"] = "nohost";
  EXPECT_THAT(ErrorOf(j), HasSubstr("data[3].address"));

  j = ValidConfig();
  j["k"] = "ten";
  EXPECT_THAT(ErrorOf(j), HasSubstr("'k': expected an integer"));

  j = ValidConfig();
  j.erase("meta");
  EXPECT_THAT(ErrorOf(j), HasSubstr("'meta': missing"));

  j = ValidConfig();
  j["meta"][1]["id"] = 1;
  EXPECT_THAT(ErrorOf(j), HasSubstr("meta[1].id': duplicate"));

  j = ValidConfig();
  j["data"][5]["address"] = "127.0.0.1:7201";
  EXPECT_THAT(ErrorOf(j), HasSubstr("data[5].address': address used twice"));

  j = ValidConfig();
  j["data"][0]["address"] = "127.0.0.1:70000";
  EXPECT_THAT(ErrorOf(j), HasSubstr("data[0].address"));

  j = ValidConfig();
  j["write_quorum"] = 15;
  EXPECT_THAT(ErrorOf(j), HasSubstr("'write_quorum': must be between 10 and 14"));

  EXPECT_THAT(ErrorOf(ValidConfig(13)), HasSubstr("at least that many data servers"));

  auto bad = ParseClusterConfig("{not json", "x.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("x.json: not valid JSON"));
}

TEST(ClusterConfigTest, HostPortForms) {
  EXPECT_EQ(ParseHostPort("localhost:80")->host, "localhost");
  EXPECT_EQ(ParseHostPort("[::1]:9000")->host, "::1");
  EXPECT_EQ(ParseHostPort("[::1]:9000")->port, 9000);
  EXPECT_FALSE(ParseHostPort("host:").ok());
  EXPECT_FALSE(ParseHostPort(":80").ok());
  EXPECT_FALSE(ParseHostPort("host:0").ok());
  EXPECT_FALSE(ParseHostPort("host:8x").ok());
  EXPECT_FALSE(ParseHostPort("[::1]9000").ok());
}

class SecretFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-secret-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/secret";
  }
  void TearDown() override {
    unlink(path_.c_str());
    rmdir(dir_.c_str());
  }
  void Write(const std::string& text, mode_t mode) {
    std::ofstream(path_) << text;
    chmod(path_.c_str(), mode);
  }
  std::string dir_, path_;
};

TEST_F(SecretFileTest, LoadsPrivateFile) {
  Write(std::string(64, 'a') + "\n", 0600);
  auto s = LoadServerSecret(path_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(*s, std::string(64, 'a'));
}

TEST_F(SecretFileTest, RefusesReadableByOthers) {
  Write(std::string(64, 'a'), 0644);
  auto s = LoadServerSecret(path_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), EACCES);
  EXPECT_THAT(s.status().message(), HasSubstr("chmod 600"));
}

TEST_F(SecretFileTest, RefusesShortAndMissing) {
  Write("short", 0600);
  EXPECT_EQ(LoadServerSecret(path_).status().code(), EINVAL);
  EXPECT_EQ(LoadServerSecret(dir_ + "/nope").status().code(), ENOENT);
}

}  // namespace
}  // namespace vaultfs
