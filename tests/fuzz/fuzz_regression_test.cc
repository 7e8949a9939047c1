// Suite 'fuzz': every problem a fuzz target (tests/fuzz/*_fuzz.cc) ever found, as a plain
// GoogleTest that runs in the normal build. Each finding gets a test that states the expected
// behaviour; the saved fuzzer inputs under tests/fuzz/regressions/<target>/ are also replayed
// through the same checks the fuzzer applies.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fuzz/meta_fuzz_node.h"

namespace vaultfs::fuzz {
namespace {

using meta::Json;

std::vector<std::filesystem::path> Inputs(const std::string& target) {
  std::vector<std::filesystem::path> out;
  const std::filesystem::path dir = std::filesystem::path(VAULTFS_FUZZ_REGRESSIONS) / target;
  if (std::filesystem::is_directory(dir)) {
    for (const auto& e : std::filesystem::directory_iterator(dir)) out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class MetaFuzzRegressionTest : public ::testing::Test {
 protected:
  // Handles `req` and checks the reply like meta_request_fuzz does; exceptions fail the test.
  Json Call(const Json& req) {
    std::string problem, reply;
    EXPECT_NO_THROW(problem = RunMetaFuzzInput(node_, std::string(1, '\0') + req.dump(), &reply))
        << req.dump();
    EXPECT_EQ(problem, "") << req.dump();
    return Json::parse(reply, nullptr, false);
  }

  MetaFuzzNode node_;
};

// Found by meta_request_fuzz: node_info read its optional "digest" flag with
// req.value("digest", false), which throws nlohmann::type_error for any non-boolean value, so one
// unauthenticated request ({"op":"node_info","digest":"yes"}) terminated any metadata node,
// leader or follower. A non-boolean digest must be answered, not crash the server.
TEST_F(MetaFuzzRegressionTest, NodeInfoWithNonBooleanDigestIsAnswered) {
  for (const Json& digest : {Json("yes"), Json(1), Json(nullptr), Json::array(), Json::object()}) {
    Json r = Call({{"op", "node_info"}, {"id", 9}, {"digest", digest}});
    ASSERT_TRUE(r.is_object()) << digest.dump();
    EXPECT_EQ(r["id"], 9) << digest.dump();
    ASSERT_TRUE(r["ok"].is_boolean()) << digest.dump();
    // Either refused as invalid or answered without a digest; never a digest for a non-true.
    if (r["ok"] == true) {
      EXPECT_FALSE(r.contains("digest")) << r.dump();
    } else {
      EXPECT_EQ(r["error"]["code"], "EINVAL") << r.dump();
    }
  }
  // The boolean forms keep working (the digest is for sessions).
  Json with = Call(
      {{"op", "node_info"}, {"id", 1}, {"digest", true}, {"session", node_.cluster_session()}});
  EXPECT_EQ(with["ok"], true);
  EXPECT_TRUE(with["digest"].is_string());
  Json anonymous = Call({{"op", "node_info"}, {"id", 3}, {"digest", true}});
  EXPECT_EQ(anonymous["error"]["code"], "EACCES") << anonymous.dump();
  Json without = Call({{"op", "node_info"}, {"id", 2}, {"digest", false}});
  EXPECT_EQ(without["ok"], true);
  EXPECT_FALSE(without.contains("digest"));
}

// Every saved meta_request_fuzz finding, replayed through the fuzzer's own checks.
TEST_F(MetaFuzzRegressionTest, SavedInputsPass) {
  const auto inputs = Inputs("meta_request_fuzz");
  EXPECT_FALSE(inputs.empty()) << "no inputs under " << VAULTFS_FUZZ_REGRESSIONS;
  for (const auto& p : inputs) {
    std::string problem;
    EXPECT_NO_THROW(problem = RunMetaFuzzInput(node_, ReadFile(p))) << p;
    EXPECT_EQ(problem, "") << p;
  }
}

}  // namespace
}  // namespace vaultfs::fuzz
