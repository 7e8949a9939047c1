// The content API (src/client/content.h) without data servers and without /dev/fuse: a real
// single metadata node (tests/meta/meta_cluster.h) and shards kept by a MemoryTransport. Covers
// Store (new name, replacement, failures), reads across segment boundaries and the
// compare-and-swap commit.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "src/client/vault.h"
#include "src/crypto/random.h"
#include "tests/cluster/memory_transport.h"
#include "tests/meta/meta_cluster.h"

namespace vaultfs::client {
namespace {

using testing::MetaCluster;

std::string RandomBytes(size_t n) {
  auto r = crypto::RandomBytes(n);
  EXPECT_TRUE(r.ok());
  return r.ok() ? *r : std::string(n, 'x');
}

// A PlaintextReader over `data`; fails with EIO once `fail_at` bytes have been handed out.
cluster::PlaintextReader ReaderOf(const std::string& data, uint64_t fail_at = UINT64_MAX) {
  auto pos = std::make_shared<uint64_t>(0);
  return [&data, pos, fail_at](uint8_t* buf, size_t n) -> Status {
    if (*pos + n > fail_at) return IoError("the sender went away mid-stream");
    if (*pos + n > data.size()) return IoError("read past the test data");
    std::memcpy(buf, data.data() + *pos, n);
    *pos += n;
    return Status::Ok();
  };
}

class ContentTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    meta_ = new MetaCluster(1, /*single=*/true);
    meta_->SetExtraArgs({"--register-burst-per-address", "0", "--register-burst", "0"});
    Status st = meta_->StartAll();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  static void TearDownTestSuite() {
    delete meta_;
    meta_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(meta_, nullptr);
    VaultOptions o;
    o.transport = &shards_;
    vault_ = std::make_unique<Vault>(meta_->config(), o);
    auto tag = crypto::RandomHexId(4);
    ASSERT_TRUE(tag.ok());
    const std::string user = "content-" + *tag;
    Status st = vault_->accounts().Register(user, "a password");
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = vault_->accounts().Login(user, "a password");
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  Content& content() { return vault_->content(); }
  Tree& tree() { return vault_->tree(); }
  uint64_t root() { return vault_->root(); }
  uint64_t segment() { return meta_->config().segment_size; }

  // The whole content of `name` in the root.
  std::string ReadBack(const std::string& name) {
    auto a = tree().Lookup(root(), name);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    if (!a.ok()) return "";
    std::string out;
    Status st = content().ReadContent(*a, 0, a->size, [&](std::string_view piece) {
      out.append(piece);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return out;
  }

  // No hidden temporary name of an unfinished store is left in the root.
  void ExpectNoTempNames() {
    auto entries = tree().ReadDir(root());
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    for (const auto& e : *entries) {
      EXPECT_NE(e.name.rfind(kStoreTempPrefix, 0), 0u) << "left behind: " << e.name;
    }
  }

  inline static MetaCluster* meta_ = nullptr;
  cluster::MemoryTransport shards_;
  std::unique_ptr<Vault> vault_;
};

TEST_F(ContentTest, StoresASmallInlineFileUnderANewName) {
  const std::string data = RandomBytes(1000);
  auto stored = content().Store(root(), "small", data.size(), ReaderOf(data));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_FALSE(stored->replaced);
  EXPECT_EQ(stored->attr.size, data.size());
  EXPECT_EQ(shards_.objects(), 0u) << "a small file is stored inline, not in shards";
  EXPECT_EQ(ReadBack("small"), data);
  ExpectNoTempNames();
}

TEST_F(ContentTest, StoresAMultiSegmentErasureCodedFileUnderANewName) {
  const std::string data = RandomBytes(2 * segment() + segment() / 2 + 123);
  auto stored = content().Store(root(), "large", data.size(), ReaderOf(data));
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  EXPECT_FALSE(stored->replaced);
  const auto& c = meta_->config();
  EXPECT_EQ(shards_.objects(), static_cast<size_t>(c.k + c.m));
  EXPECT_EQ(ReadBack("large"), data);
  ExpectNoTempNames();
}

TEST_F(ContentTest, ReplacesTheContentOfAnExistingName) {
  const std::string first = RandomBytes(segment() + 10), second = RandomBytes(3000);
  auto a = content().Store(root(), "doc", first.size(), ReaderOf(first));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto b = content().Store(root(), "doc", second.size(), ReaderOf(second));
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_TRUE(b->replaced);
  EXPECT_EQ(b->attr.ino, a->attr.ino) << "a replacement is a new version of the same inode";
  EXPECT_NE(b->attr.version, a->attr.version);
  EXPECT_EQ(ReadBack("doc"), second);
}

TEST_F(ContentTest, ReadsRangesAcrossSegmentBoundaries) {
  const uint64_t seg = segment();
  const std::string data = RandomBytes(3 * seg - 7);
  ASSERT_TRUE(content().Store(root(), "ranges", data.size(), ReaderOf(data)).ok());
  auto a = tree().Lookup(root(), "ranges");
  ASSERT_TRUE(a.ok());
  auto reader = content().OpenVersion(*a);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->segment_size(), seg);
  const std::pair<uint64_t, uint64_t> ranges[] = {
      {0, 1},
      {seg - 1, 2},
      {seg, seg},
      {seg - 100, seg + 200},
      {2 * seg, 1},
      {2 * seg - 1, seg},
      {data.size() - 1, 1},
      {0, data.size()},
      {seg + 5, 100 * seg},  // clipped to the size
  };
  for (const auto& [off, len] : ranges) {
    SCOPED_TRACE("offset " + std::to_string(off) + " length " + std::to_string(len));
    std::string got;
    Status st = (*reader)->Read(off, len, [&](std::string_view p) {
      got.append(p);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(got, data.substr(off, len));
    std::string again;  // the one-shot read gives the same bytes
    st = content().ReadContent(*a, off, len, [&](std::string_view p) {
      again.append(p);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_EQ(again, got);
  }
  std::string past;
  ASSERT_TRUE((*reader)
                  ->Read(data.size(), 10,
                         [&](std::string_view p) {
                           past.append(p);
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_EQ(past, "");
}

TEST_F(ContentTest, AFailureMidStreamLeavesNoTempNameAndTheOldContent) {
  const uint64_t seg = segment();
  const std::string old_data = RandomBytes(seg + 1);
  ASSERT_TRUE(content().Store(root(), "kept", old_data.size(), ReaderOf(old_data)).ok());
  auto before = tree().Lookup(root(), "kept");
  ASSERT_TRUE(before.ok());

  // The sender goes away in the second segment: of a replacement, and of a new file.
  const std::string fresh = RandomBytes(2 * seg + 5);
  auto r = content().Store(root(), "kept", fresh.size(), ReaderOf(fresh, seg + seg / 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EIO) << r.status().ToString();
  r = content().Store(root(), "never", fresh.size(), ReaderOf(fresh, seg + seg / 2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EIO) << r.status().ToString();
  // A small one fails before anything is committed.
  r = content().Store(root(), "never", 100, ReaderOf(fresh, 50));
  ASSERT_FALSE(r.ok());

  // The data servers go away: too few shards for the write quorum.
  shards_.SetFailing(true);
  r = content().Store(root(), "never", fresh.size(), ReaderOf(fresh));
  EXPECT_FALSE(r.ok());
  shards_.SetFailing(false);
  vault_->health().Reset();

  EXPECT_EQ(tree().Lookup(root(), "never").status().code(), ENOENT);
  ExpectNoTempNames();
  auto after = tree().Lookup(root(), "kept");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->version, before->version);
  EXPECT_EQ(ReadBack("kept"), old_data);
}

TEST_F(ContentTest, CompareAndSwapRefusesAStaleVersion) {
  for (uint64_t size : {uint64_t{500}, segment() + 1}) {  // inline, then erasure-coded
    SCOPED_TRACE("size " + std::to_string(size));
    const std::string name = "cas-" + std::to_string(size);
    const std::string one = RandomBytes(size), two = RandomBytes(size), three = RandomBytes(size);
    ASSERT_TRUE(content().Store(root(), name, one.size(), ReaderOf(one)).ok());
    auto seen = tree().Lookup(root(), name);
    ASSERT_TRUE(seen.ok());
    // Another writer commits first...
    auto other = content().WriteContent(*seen, two.size(), ReaderOf(two));
    ASSERT_TRUE(other.ok()) << other.status().ToString();
    // ...so a commit based on the version we saw is refused, not applied over it.
    auto stale = content().WriteContent(*seen, three.size(), ReaderOf(three));
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.status().code(), ESTALE) << stale.status().ToString();
    EXPECT_EQ(ReadBack(name), two);
  }
}

// The mount's protocol: a file named with a reserved inode number is created by its first
// commit (WriteOptions::create), inline or erasure-coded; a taken name is EEXIST.
TEST_F(ContentTest, AFirstCommitCreatesAReservedFile) {
  for (uint64_t size : {uint64_t{700}, segment() + 3}) {
    SCOPED_TRACE("size " + std::to_string(size));
    const std::string name = "deferred-" + std::to_string(size);
    const std::string data = RandomBytes(size);
    auto ino = tree().ReserveInode();
    ASSERT_TRUE(ino.ok()) << ino.status().ToString();
    Attr uncreated;
    uncreated.ino = *ino;
    uncreated.type = "file";
    uncreated.mode = 0600;
    WriteOptions w;
    w.create = NewEntry{root(), name, 0600};
    auto a = content().WriteContent(uncreated, data.size(), ReaderOf(data), w);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->ino, *ino);
    auto found = tree().Lookup(root(), name);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    EXPECT_EQ(found->ino, *ino);
    EXPECT_EQ(ReadBack(name), data);

    auto again = tree().ReserveInode();
    ASSERT_TRUE(again.ok());
    uncreated.ino = *again;
    auto taken = content().WriteContent(uncreated, data.size(), ReaderOf(data), w);
    ASSERT_FALSE(taken.ok());
    EXPECT_EQ(taken.status().code(), EEXIST) << taken.status().ToString();
    EXPECT_EQ(ReadBack(name), data);
  }
}

TEST_F(ContentTest, StoreRefusesADirectoryOrANonFile) {
  ASSERT_TRUE(tree().Mkdir(root(), "dir", 0755).ok());
  ASSERT_TRUE(tree().Symlink(root(), "link", "/somewhere").ok());
  const std::string data = "x";
  auto r = content().Store(root(), "dir", data.size(), ReaderOf(data));
  EXPECT_EQ(r.status().code(), EISDIR) << r.status().ToString();
  r = content().Store(root(), "link", data.size(), ReaderOf(data));
  EXPECT_EQ(r.status().code(), EEXIST) << r.status().ToString();
  ExpectNoTempNames();
}

}  // namespace
}  // namespace vaultfs::client
