// ParseJson: the bounded parser every outside document goes through (json_parse.h).
#include "src/common/json_parse.h"

#include <gtest/gtest.h>

#include <string>

#include "src/common/cluster_config.h"

namespace vaultfs {
namespace {

std::string Nested(int levels, const std::string& inner = "1") {
  return std::string(levels, '[') + inner + std::string(levels, ']');
}

TEST(ParseJson, AcceptsDocumentsUpToTheBound) {
  auto r = ParseJson(Nested(kMaxJsonDepth));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Copying and dumping the result is safe: that is what the bound is for.
  nlohmann::json copy = *r;
  EXPECT_EQ(copy.dump(), Nested(kMaxJsonDepth));
  EXPECT_TRUE(ParseJson("42").ok());
  EXPECT_TRUE(ParseJson(R"({"a":{"b":[{"c":[]}]}})").ok());
}

TEST(ParseJson, RefusesOneLevelTooDeep) {
  auto r = ParseJson(Nested(kMaxJsonDepth + 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EINVAL);
  EXPECT_NE(r.status().message().find("deeper than 64"), std::string::npos) << r.status().message();
  std::string objects;
  for (int i = 0; i <= kMaxJsonDepth; ++i) objects += R"({"k":)";
  objects += "1" + std::string(kMaxJsonDepth + 1, '}');
  EXPECT_EQ(ParseJson(objects).status().code(), EINVAL);
  // The bound is the caller's to choose.
  EXPECT_TRUE(ParseJson(Nested(3), 3).ok());
  EXPECT_FALSE(ParseJson(Nested(4), 3).ok());
}

TEST(ParseJson, HugeNestingIsRefusedWithoutRecursion) {
  // The frame that killed a metadata node: a request id nested 100,000 levels deep.
  std::string frame = R"({"op":"node_info","id":)" + Nested(100000) + "}";
  auto r = ParseJson(frame);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EINVAL);
  // Unbalanced and truncated deep input fails too (as invalid, or as too deep).
  EXPECT_FALSE(ParseJson(std::string(1000000, '[')).ok());
  EXPECT_FALSE(ParseJson(std::string(1000000, '{')).ok());
}

TEST(ParseJson, BracketsInsideStringsAreNotNesting) {
  std::string s = R"({"name":")" + std::string(5000, '[') + R"("})";
  auto r = ParseJson(s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["name"].get<std::string>().size(), 5000u);
}

TEST(ParseJson, InvalidJsonIsAnError) {
  for (const char* bad : {"", "{", "{not json", "[1,2", "nul", "\"unterminated", "{\"a\":1,}"}) {
    SCOPED_TRACE(bad);
    auto r = ParseJson(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), EINVAL);
  }
}

TEST(ParseJson, ClusterConfigRefusesDeepNesting) {
  std::string text = R"({"version":1,"cluster_id":)" + Nested(100000) + "}";
  auto c = ParseClusterConfig(text, "cluster.json");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), EINVAL);
  EXPECT_NE(c.status().message().find("cluster.json"), std::string::npos);
}

}  // namespace
}  // namespace vaultfs
