// In-process tests of the replicated state machine's building blocks: the libraft entry
// framing (8-byte padding with the real length inside) and MetaStore's replay skipping,
// request-id dedup, snapshot image round trip and digest, extended-attribute rows and the
// schema migration that dropped inodes.xattrs.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "servers/meta/meta_store.h"
#include "servers/meta/raft_replicator.h"
#include "servers/meta/sqlite_db.h"
#include "src/common/format_marker.h"

namespace vaultfs::meta {
namespace {

TEST(RaftEntryTest, PaddedToEightWithRealLengthInside) {
  for (size_t n = 0; n < 40; ++n) {
    std::string body(n, 'x');
    for (size_t i = 0; i < n; ++i) body[i] = static_cast<char>('a' + i % 26);
    std::string e = RaftReplicator::EncodeEntry(0x1234, body);
    EXPECT_EQ(e.size() % 8, 0u) << n;
    uint64_t tag = 0;
    std::string_view out;
    ASSERT_TRUE(RaftReplicator::DecodeEntry(e, &tag, &out)) << n;
    EXPECT_EQ(tag, 0x1234u);
    EXPECT_EQ(out, body);
  }
}

TEST(RaftEntryTest, RejectsDamagedEntries) {
  std::string e = RaftReplicator::EncodeEntry(7, "hello");
  uint64_t tag;
  std::string_view out;
  std::string bad_magic = e;
  bad_magic[0] ^= 1;
  EXPECT_FALSE(RaftReplicator::DecodeEntry(bad_magic, &tag, &out));
  std::string bad_len = e;
  bad_len[4] = 0x7f;  // length far beyond the buffer
  EXPECT_FALSE(RaftReplicator::DecodeEntry(bad_len, &tag, &out));
  EXPECT_FALSE(RaftReplicator::DecodeEntry(e.substr(0, e.size() - 1), &tag, &out));
  EXPECT_FALSE(RaftReplicator::DecodeEntry("", &tag, &out));
}

class MetaStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-meta-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Json Register(const std::string& rid, const std::string& name) {
    return Json{
        {"op", "register"},
        {"user", ""},
        {"rid", rid},
        {"now", 1},
        {"args",
         {{"user", name}, {"salt", "00"}, {"kdf", Json::object()}, {"wrapped_master_key", "w"}}},
        {"gen", {{"user_id", "id-" + name}, {"auth_hash", std::string(64, 'a')}}}};
  }

  std::string dir_;
  ClusterConfig config_;
};

TEST_F(MetaStoreTest, SkipsAppliedEntriesAndDeduplicatesRetries) {
  Json first;
  {
    MetaStore s(&config_);
    ASSERT_TRUE(s.Open(dir_ + "/a.db").ok());
    first = s.Apply(1, Register("r1", "ann"));
    EXPECT_EQ(first["ok"], true);
    // A retried request (same rid) in a later entry returns the original result.
    Json retry = s.Apply(2, Register("r1", "ann"));
    EXPECT_EQ(retry, first);
    // A new request for the same name fails, and the failure is recorded too.
    Json dup = s.Apply(3, Register("r2", "ann"));
    EXPECT_EQ(dup["error"]["code"], "EEXIST");
    EXPECT_EQ(s.last_applied(), 3u);
  }
  MetaStore reopened(&config_);
  ASSERT_TRUE(reopened.Open(dir_ + "/a.db").ok());
  EXPECT_EQ(reopened.last_applied(), 3u);
  EXPECT_TRUE(reopened.Apply(2, Register("r9", "zed")).is_null());  // replayed: skipped
  EXPECT_FALSE(reopened.UserByName("zed").has_value());
  // Garbage commands still advance the index with an error result, never throw.
  Json junk = reopened.Apply(4, Json::array({1, 2}));
  EXPECT_EQ(junk["ok"], false);
  EXPECT_EQ(reopened.last_applied(), 4u);
}

TEST_F(MetaStoreTest, SnapshotImageRoundTripsAndOlderImagesAreIgnored) {
  MetaStore a(&config_);
  ASSERT_TRUE(a.Open(dir_ + "/a.db").ok());
  ASSERT_EQ(a.Apply(1, Register("r1", "ann"))["ok"], true);
  auto image1 = a.Serialize();
  ASSERT_TRUE(image1.ok());
  ASSERT_EQ(a.Apply(2, Register("r2", "bob"))["ok"], true);
  auto image2 = a.Serialize();
  ASSERT_TRUE(image2.ok());

  MetaStore b(&config_);
  ASSERT_TRUE(b.Open(dir_ + "/b.db").ok());
  ASSERT_TRUE(b.Restore(image2->view()).ok());
  EXPECT_EQ(b.last_applied(), 2u);
  EXPECT_EQ(b.Digest(), a.Digest());
  ASSERT_TRUE(b.Restore(image1->view()).ok());  // older than what b holds: kept
  EXPECT_EQ(b.last_applied(), 2u);
  EXPECT_TRUE(b.UserByName("bob").has_value());
  EXPECT_FALSE(b.Restore("not a database at all, not at all").ok());
}

// The database names its format (format_marker.h); a database or a snapshot of another
// format, or one from before format numbers, is refused with a message, never opened.
TEST_F(MetaStoreTest, DatabaseOrSnapshotOfAnotherFormatIsRefused) {
  const std::string path = dir_ + "/a.db";
  {
    MetaStore a(&config_);
    ASSERT_TRUE(a.Open(path).ok());
    ASSERT_EQ(a.Apply(1, Register("r1", "ann"))["ok"], true);
  }
  int round = 0;
  for (const char* edit :
       {"UPDATE meta SET value=1 WHERE key='format'", "DELETE FROM meta WHERE key='format'"}) {
    const std::string copy = dir_ + "/old.db";
    std::filesystem::copy_file(path, copy, std::filesystem::copy_options::overwrite_existing);
    {
      SqliteDb db;
      db.Open(copy);
      db.Exec(edit);
    }
    MetaStore old(&config_);
    Status st = old.Open(copy);
    ASSERT_FALSE(st.ok()) << edit;
    EXPECT_EQ(st.code(), EPROTO);
    EXPECT_NE(st.message().find("reads only format " + std::to_string(kMetaStoreFormat)),
              std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find("tools/mkcluster"), std::string::npos) << st.message();

    // The same database offered as a snapshot: refused, the node keeps its own state.
    std::string image;
    {
      std::ifstream in(copy, std::ios::binary);
      image.assign(std::istreambuf_iterator<char>(in), {});
    }
    MetaStore b(&config_);
    ASSERT_TRUE(b.Open(dir_ + "/b" + std::to_string(++round) + ".db").ok());
    Status restored = b.Restore(image);
    EXPECT_EQ(restored.code(), EPROTO) << restored.message();
    EXPECT_EQ(b.last_applied(), 0u);
  }
  MetaStore again(&config_);
  EXPECT_TRUE(again.Open(path).ok());  // the original still opens
}

// An entry of user `user` (register's "id-<name>") applying `op` with `args`.
Json UserOp(const std::string& user, const std::string& rid, const std::string& op, Json args) {
  return Json{{"op", op}, {"user", user}, {"rid", rid}, {"now", 5}, {"args", std::move(args)}};
}

int64_t CountRows(const std::string& db_path, const std::string& sql) {
  SqliteDb db;
  db.Open(db_path);
  Stmt st = db.Prepare(sql);
  return st.Step() ? st.Int(0) : -1;
}

// Extended attributes are state like any other (the digest covers them, so nodes that
// disagree are caught) and leave no row behind once their inode is gone.
TEST_F(MetaStoreTest, XattrsCountInTheDigestAndGoWithTheirInode) {
  const std::string path = dir_ + "/x.db";
  MetaStore s(&config_);
  ASSERT_TRUE(s.Open(path).ok());
  Json reg = s.Apply(1, Register("r1", "ann"));
  ASSERT_EQ(reg["ok"], true) << reg.dump();
  const int64_t root = reg["root"];
  Json created = s.Apply(
      2, UserOp("id-ann", "r2", "create", {{"parent", root}, {"key", "aa"}, {"name", "n"}}));
  ASSERT_EQ(created["ok"], true) << created.dump();
  const int64_t f = created["attr"]["ino"];
  const std::string before = s.Digest();
  Json set = s.Apply(3, UserOp("id-ann", "r3", "setxattr",
                               {{"ino", f}, {"key", "bb"}, {"name", "cc"}, {"value", "dd"}}));
  ASSERT_EQ(set["ok"], true) << set.dump();
  EXPECT_NE(s.Digest(), before);
  EXPECT_EQ(CountRows(path, "SELECT count(*) FROM xattrs"), 1);
  Json unlinked = s.Apply(4, UserOp("id-ann", "r4", "unlink", {{"parent", root}, {"key", "aa"}}));
  ASSERT_EQ(unlinked["ok"], true) << unlinked.dump();
  EXPECT_EQ(CountRows(path, "SELECT count(*) FROM xattrs"), 0);
}

// Snapshots copy the whole database: a big one spaces the next out (bounded), a small one
// keeps the configured interval.
TEST(SnapshotInterval, GrowsWithTheImageWithinBounds) {
  EXPECT_EQ(SnapshotInterval(2048, 1 << 20), 2048u);
  EXPECT_EQ(SnapshotInterval(2048, 64ull << 20), 4096u);
  EXPECT_EQ(SnapshotInterval(2048, 10ull << 30), kMaxSnapshotInterval);
  EXPECT_EQ(SnapshotInterval(20000, 10ull << 30), 20000u);  // a larger configured one wins
  EXPECT_EQ(SnapshotInterval(64, 0), 64u);
}

}  // namespace
}  // namespace vaultfs::meta
