// Extended attributes in the metadata service (setxattr, getxattr, listxattr, removexattr;
// servers/meta/store_xattrs.cc) against one real `vaultfs-meta --single` process: the flags,
// the limits (per value, per name, per inode), ENODATA, ctime, ownership, hard links, removal
// with the inode, and bad frames answered with an error instead of a crash.
#include <gtest/gtest.h>

#include <string>

#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

constexpr int kCreate = 1, kReplace = 2;  // XATTR_CREATE, XATTR_REPLACE
// What the client sends for the largest value and name: hex of 64 KiB + 29 and 256 + 29 bytes.
constexpr size_t kMaxValueHex = 2 * (65536 + 29);
constexpr size_t kMaxNameHex = 2 * (256 + 29);

class MetaXattrTest : public MetaSingleTest {
 protected:
  // Stand-ins for sealed blobs: any lowercase hex of whole bytes.
  static std::string Hex(const std::string& s) { return HexEncode(s); }

  static Result<Json> Set(MetaClient& c, int64_t ino, const std::string& name,
                          const std::string& value, int flags = 0) {
    Json args = {{"ino", ino}, {"key", K(name)}, {"name", Hex("sealed " + name)}, {"value", value}};
    if (flags != 0) args["flags"] = flags;
    return c.Call("setxattr", args);
  }
  static Result<Json> Get(MetaClient& c, int64_t ino, const std::string& name) {
    return c.Call("getxattr", {{"ino", ino}, {"key", K(name)}});
  }
  static Result<Json> Remove(MetaClient& c, int64_t ino, const std::string& name) {
    return c.Call("removexattr", {{"ino", ino}, {"key", K(name)}});
  }
  static std::vector<std::string> Keys(MetaClient& c, int64_t ino) {
    auto r = c.Call("listxattr", {{"ino", ino}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<std::string> keys;
    if (r.ok()) {
      for (const Json& e : (*r)["xattrs"]) keys.push_back(e["key"].get<std::string>());
    }
    return keys;
  }
  static int64_t Ctime(MetaClient& c, int64_t ino) {
    auto r = c.Call("getattr", {{"ino", ino}});
    return r.ok() ? (*r)["attr"]["ctime"].get<int64_t>() : -1;
  }
  static int64_t NewFile(User& u, const std::string& name) {
    return Ino(u.c->Call("create", {{"parent", u.root}, {"key", K(name)}, {"name", "n"}}));
  }
};

TEST_F(MetaXattrTest, SetGetListRemoveWithFlags) {
  User u = NewUser("xa-basic");
  auto& c = *u.c;
  const int64_t f = NewFile(u, "f");
  ASSERT_GT(f, 0);
  EXPECT_TRUE(Keys(c, f).empty());
  EXPECT_ERRNO(Get(c, f, "a"), ENODATA);

  int64_t ctime = Ctime(c, f);
  auto set = Set(c, f, "a", Hex("value a"));
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_GT(Ctime(c, f), ctime) << "setxattr changes ctime";
  auto got = Get(c, f, "a");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)["name"], Hex("sealed a"));
  EXPECT_EQ((*got)["value"], Hex("value a"));

  // XATTR_CREATE refuses an existing one, XATTR_REPLACE an absent one; neither changes a thing.
  EXPECT_ERRNO(Set(c, f, "a", Hex("other"), kCreate), EEXIST);
  EXPECT_ERRNO(Set(c, f, "b", Hex("other"), kReplace), ENODATA);
  EXPECT_EQ((*Get(c, f, "a"))["value"], Hex("value a"));
  EXPECT_ERRNO(Get(c, f, "b"), ENODATA);
  ASSERT_TRUE(Set(c, f, "a", Hex("replaced"), kReplace).ok());
  EXPECT_EQ((*Get(c, f, "a"))["value"], Hex("replaced"));
  ASSERT_TRUE(Set(c, f, "b", Hex("created"), kCreate).ok());
  ASSERT_TRUE(Set(c, f, "a", Hex("plain overwrite")).ok());  // flags 0: create or replace
  EXPECT_EQ((*Get(c, f, "a"))["value"], Hex("plain overwrite"));

  auto list = c.Call("listxattr", {{"ino", f}});
  ASSERT_TRUE(list.ok());
  ASSERT_EQ((*list)["xattrs"].size(), 2u);
  EXPECT_EQ((*list)["xattrs"][0], Json({{"key", K("a")}, {"name", Hex("sealed a")}}));
  EXPECT_EQ((*list)["xattrs"][1], Json({{"key", K("b")}, {"name", Hex("sealed b")}}));
  EXPECT_FALSE((*list)["xattrs"][0].contains("value")) << "listing sends names only";

  ctime = Ctime(c, f);
  ASSERT_TRUE(Remove(c, f, "a").ok());
  EXPECT_GT(Ctime(c, f), ctime) << "removexattr changes ctime";
  EXPECT_ERRNO(Remove(c, f, "a"), ENODATA);
  EXPECT_ERRNO(Get(c, f, "a"), ENODATA);
  EXPECT_EQ(Keys(c, f), std::vector<std::string>{K("b")});

  // Directories carry them too; attributes are per inode.
  const int64_t d =
      Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("d")}, {"name", "n"}, {"mode", 0755}}));
  ASSERT_GT(d, 0);
  ASSERT_TRUE(Set(c, d, "b", Hex("dir value")).ok());
  EXPECT_EQ((*Get(c, d, "b"))["value"], Hex("dir value"));
  EXPECT_EQ((*Get(c, f, "b"))["value"], Hex("created"));
  // A retried request (same rid) answers as the first time instead of EEXIST.
  Json args = {{"ino", d},          {"key", K("r")},    {"name", Hex("n")},
               {"value", Hex("v")}, {"flags", kCreate}, {"rid", "xattr-retry-1"}};
  ASSERT_TRUE(c.Call("setxattr", args).ok());
  EXPECT_TRUE(c.Call("setxattr", args).ok());
}

TEST_F(MetaXattrTest, LimitsPerValueNameAndInode) {
  User u = NewUser("xa-limits");
  auto& c = *u.c;
  const int64_t f = NewFile(u, "f");
  ASSERT_GT(f, 0);

  // A 64 KiB value (sealed, in hex) fits; one byte more is E2BIG, with a message saying so.
  ASSERT_TRUE(Set(c, f, "v1", std::string(kMaxValueHex, 'a')).ok());
  auto big = Set(c, f, "big", std::string(kMaxValueHex + 2, 'a'));
  EXPECT_ERRNO(big, E2BIG);
  EXPECT_NE(big.status().message().find("64 KiB"), std::string::npos) << big.status().message();
  // Names: a sealed 255-byte name fits, anything longer is no sealed name of ours.
  Json name_args = {{"ino", f}, {"key", K("n")}, {"value", Hex("v")}};
  name_args["name"] = std::string(kMaxNameHex, 'b');
  ASSERT_TRUE(c.Call("setxattr", name_args).ok());
  name_args["name"] = std::string(kMaxNameHex + 2, 'b');
  EXPECT_ERRNO(c.Call("setxattr", name_args), EINVAL);

  // Per inode at most 256 KiB sealed: three full values and change fit, a fourth does not.
  ASSERT_TRUE(Set(c, f, "v2", std::string(kMaxValueHex, 'a')).ok());
  ASSERT_TRUE(Set(c, f, "v3", std::string(kMaxValueHex, 'a')).ok());
  auto full = Set(c, f, "v4", std::string(kMaxValueHex, 'a'));
  EXPECT_ERRNO(full, ENOSPC);
  EXPECT_NE(full.status().message().find("262144"), std::string::npos) << full.status().message();
  EXPECT_ERRNO(Get(c, f, "v4"), ENODATA);
  // Replacing one with a value of the same size is fine (the old one does not count twice).
  ASSERT_TRUE(Set(c, f, "v3", std::string(kMaxValueHex, 'c')).ok());
  // Other inodes have their own budget.
  const int64_t g = NewFile(u, "g");
  ASSERT_TRUE(Set(c, g, "v4", std::string(kMaxValueHex, 'a')).ok());

  // At most 128 attributes on an inode.
  const int64_t h = NewFile(u, "h");
  for (int i = 0; i < 128; ++i) {
    ASSERT_TRUE(Set(c, h, "n" + std::to_string(i), Hex("x")).ok()) << i;
  }
  auto many = Set(c, h, "one-more", Hex("x"));
  EXPECT_ERRNO(many, ENOSPC);
  EXPECT_NE(many.status().message().find("remove one first"), std::string::npos)
      << many.status().message();
  ASSERT_TRUE(Set(c, h, "n7", Hex("replaced")).ok());  // replacing adds none
  ASSERT_TRUE(Remove(c, h, "n0").ok());
  ASSERT_TRUE(Set(c, h, "one-more", Hex("x")).ok());
  EXPECT_EQ(Keys(c, h).size(), 128u);
}

TEST_F(MetaXattrTest, OnlyTheOwnerReachesThem) {
  User u = NewUser("xa-owner");
  User other = NewUser("xa-other");
  const int64_t f = NewFile(u, "f");
  ASSERT_TRUE(Set(*u.c, f, "a", Hex("secret")).ok());
  // Another user's inode answers like a missing one, in every op.
  auto& o = *other.c;
  EXPECT_ERRNO(Get(o, f, "a"), ENOENT);
  EXPECT_ERRNO(o.Call("listxattr", {{"ino", f}}), ENOENT);
  EXPECT_ERRNO(Set(o, f, "a", Hex("mine")), ENOENT);
  EXPECT_ERRNO(Remove(o, f, "a"), ENOENT);
  EXPECT_ERRNO(Get(*u.c, 987654321, "a"), ENOENT);
  EXPECT_EQ((*Get(*u.c, f, "a"))["value"], Hex("secret"));
  // And without a session nothing at all.
  auto anon = cluster_->Client();
  EXPECT_ERRNO(anon->Call("getxattr", {{"ino", f}, {"key", K("a")}}), EACCES);
  EXPECT_ERRNO(
      anon->Call("setxattr", {{"ino", f}, {"key", K("a")}, {"name", "aa"}, {"value", "aa"}}),
      EACCES);
}

TEST_F(MetaXattrTest, HardLinksShareThemAndTheyGoWithTheInode) {
  User u = NewUser("xa-links");
  auto& c = *u.c;
  const int64_t f = NewFile(u, "f");
  ASSERT_TRUE(
      c.Call("link", {{"ino", f}, {"parent", u.root}, {"key", K("h")}, {"name", "n"}}).ok());
  ASSERT_TRUE(Set(c, f, "a", Hex("shared")).ok());
  ASSERT_TRUE(c.Call("unlink", {{"parent", u.root}, {"key", K("f")}}).ok());
  EXPECT_EQ((*Get(c, f, "a"))["value"], Hex("shared")) << "the inode lives on under 'h'";
  ASSERT_TRUE(c.Call("unlink", {{"parent", u.root}, {"key", K("h")}}).ok());
  EXPECT_ERRNO(Get(c, f, "a"), ENOENT);
  EXPECT_ERRNO(c.Call("listxattr", {{"ino", f}}), ENOENT);
  // A directory's go with it too (rmdir), and rename keeps them (they belong to the inode).
  const int64_t d = Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("d")}, {"name", "n"}}));
  ASSERT_TRUE(Set(c, d, "a", Hex("dir")).ok());
  ASSERT_TRUE(c.Call("rename", {{"parent", u.root},
                                {"key", K("d")},
                                {"new_parent", u.root},
                                {"new_key", K("e")},
                                {"new_name", "n2"}})
                  .ok());
  EXPECT_EQ((*Get(c, d, "a"))["value"], Hex("dir"));
  ASSERT_TRUE(c.Call("rmdir", {{"parent", u.root}, {"key", K("e")}}).ok());
  EXPECT_ERRNO(Get(c, d, "a"), ENOENT);
  // (That no row is left behind is checked on the database itself in meta_store_test.cc.)
}

TEST_F(MetaXattrTest, BadFramesGetClearErrors) {
  User u = NewUser("xa-bad");
  auto& c = *u.c;
  const int64_t f = NewFile(u, "f");
  const Json ok = {{"ino", f}, {"key", K("a")}, {"name", Hex("n")}, {"value", Hex("v")}};
  auto without = [&](const char* field) {
    Json j = ok;
    j.erase(field);
    return j;
  };
  auto with = [&](const char* field, Json v) {
    Json j = ok;
    j[field] = std::move(v);
    return j;
  };
  for (const char* field : {"ino", "key", "name", "value"}) {
    auto r = c.Call("setxattr", without(field));
    EXPECT_ERRNO(r, EINVAL);
    EXPECT_NE(r.status().message().find(field), std::string::npos) << r.status().message();
  }
  EXPECT_ERRNO(c.Call("setxattr", with("ino", "1")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("ino", -1)), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("key", "XYZ")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("key", std::string(130, 'a'))), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("name", "")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("name", "not hex")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("value", "")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("value", "abc")), EINVAL);  // odd length
  EXPECT_ERRNO(c.Call("setxattr", with("value", "ABCD")), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("value", 1234)), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("value", Json::array({"aa"}))), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("flags", kCreate | kReplace)), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("flags", 4)), EINVAL);
  EXPECT_ERRNO(c.Call("setxattr", with("flags", "create")), EINVAL);
  EXPECT_ERRNO(c.Call("getxattr", {{"ino", f}}), EINVAL);
  EXPECT_ERRNO(c.Call("getxattr", {{"key", K("a")}}), EINVAL);
  EXPECT_ERRNO(c.Call("getxattr", {{"ino", f}, {"key", 5}}), EINVAL);
  EXPECT_ERRNO(c.Call("listxattr", {{"ino", "f"}}), EINVAL);
  EXPECT_ERRNO(c.Call("listxattr", Json::object()), EINVAL);
  EXPECT_ERRNO(c.Call("removexattr", {{"ino", f}}), EINVAL);
  EXPECT_ERRNO(c.Call("removexattr", {{"ino", f}, {"key", Json::object()}}), EINVAL);
  // None of it stored anything, and the node still serves.
  EXPECT_TRUE(Keys(c, f).empty());
  ASSERT_TRUE(c.Call("setxattr", ok).ok());
  EXPECT_EQ(Keys(c, f).size(), 1u);
}

}  // namespace
}  // namespace vaultfs::testing
