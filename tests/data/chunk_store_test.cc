// ChunkStore pieces the upload path relies on, tested in-process on a real filesystem (a temp
// dir under TMPDIR): WriteAt's O_DIRECT and fallback paths must put every byte where it
// belongs whatever the alignment, and DirSyncer's group commit must answer every caller with
// the result of an fsync, including failures.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <thread>
#include <vector>

#include "servers/data/chunk_store.h"
#include "src/common/format_marker.h"
#include "tests/data/test_server.h"

namespace vaultfs::data {
namespace {

using testing::PatternBytes;
using testing::TempDir;

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// An aligned copy of `bytes` (O_DIRECT needs aligned buffers), plus `shift` leading bytes so
// the data can also start unaligned.
struct AlignedCopy {
  AlignedCopy(const std::string& bytes, size_t shift)
      : mem(static_cast<char*>(std::aligned_alloc(
            kDirectIoAlign,
            (bytes.size() + shift + kDirectIoAlign) / kDirectIoAlign * kDirectIoAlign))) {
    std::memcpy(mem.get() + shift, bytes.data(), bytes.size());
    data = mem.get() + shift;
  }
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> mem;
  const char* data = nullptr;
};

class ChunkStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = ChunkStore::Open(dir_.path() + "/storage");
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }
  TempDir dir_;
  std::unique_ptr<ChunkStore> store_;
};

// The storage folder names its format; a folder of another format, or a store from before
// format markers (a storage id but no FORMAT), is refused and left as it was.
TEST(ChunkStoreFormat, OtherOrMissingFormatIsRefused) {
  TempDir dir;
  const std::string root = dir.path() + "/storage";
  ASSERT_TRUE(ChunkStore::Open(root).ok());
  const std::string marker = ReadAll(root + "/FORMAT");
  EXPECT_EQ(marker, "vaultfs data-store " + std::to_string(kDataStoreFormat) + "\n");
  ASSERT_TRUE(ChunkStore::Open(root).ok());  // reopens

  std::ofstream(root + "/FORMAT", std::ios::trunc) << "vaultfs data-store 1\n";
  auto old = ChunkStore::Open(root);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().code(), EPROTO);
  EXPECT_NE(old.status().message().find("data folder " + root), std::string::npos)
      << old.status().message();

  ASSERT_EQ(unlink((root + "/FORMAT").c_str()), 0);
  auto unmarked = ChunkStore::Open(root);
  ASSERT_FALSE(unmarked.ok());
  EXPECT_NE(unmarked.status().message().find("before format markers"), std::string::npos)
      << unmarked.status().message();
  EXPECT_NE(access((root + "/FORMAT").c_str(), F_OK), 0);  // not adopted
}

// Whole 1 MiB pieces at aligned offsets (the server's buffers), then an odd tail: the object
// must read back exactly, and O_DIRECT is dropped only for the tail.
TEST_F(ChunkStoreTest, WriteAtAlignedPiecesThenOddTail) {
  const std::string want = PatternBytes(7, (2u << 20) + 4097);
  auto t = store_->CreateTemp(0);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  TempFile file = *t;
  const bool had_direct = file.direct;
  AlignedCopy a(want.substr(0, 1u << 20), 0), b(want.substr(1u << 20, 1u << 20), 0),
      c(want.substr(2u << 20), 0);
  ASSERT_TRUE(ChunkStore::WriteAt(&file, a.data, 1u << 20, 0).ok());
  ASSERT_TRUE(ChunkStore::WriteAt(&file, b.data, 1u << 20, 1u << 20).ok());
  EXPECT_EQ(file.direct, had_direct);  // aligned pieces keep O_DIRECT
  ASSERT_TRUE(ChunkStore::WriteAt(&file, c.data, 4097, 2u << 20).ok());
  EXPECT_FALSE(file.direct);  // the unaligned 1-byte rest went through the page cache
  auto r = store_->Commit(file.fd, file.path, "u1", "0a");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->replaced);
  EXPECT_EQ(ReadAll(store_->root() + "/u1/0a.chunk"), want);
}

// Unaligned buffers, offsets and lengths of every kind still land byte-exact.
TEST_F(ChunkStoreTest, WriteAtUnalignedEverything) {
  const std::string want = PatternBytes(9, 3 * kDirectIoAlign + 777);
  struct Piece {
    size_t off, len, shift;
  };
  // Out of order on purpose: WriteAt writes at explicit offsets.
  const std::vector<Piece> pieces = {{kDirectIoAlign, kDirectIoAlign, 0},             // aligned
                                     {0, 100, 0},                                     // short
                                     {100, kDirectIoAlign - 100, 3},                  // odd offset
                                     {2 * kDirectIoAlign, kDirectIoAlign + 777, 1}};  // odd buf
  auto t = store_->CreateTemp(0);
  ASSERT_TRUE(t.ok());
  TempFile file = *t;
  for (const Piece& p : pieces) {
    AlignedCopy copy(want.substr(p.off, p.len), p.shift);
    Status st = ChunkStore::WriteAt(&file, copy.data, p.len, p.off);
    ASSERT_TRUE(st.ok()) << st.ToString() << " at " << p.off;
  }
  ASSERT_TRUE(store_->Commit(file.fd, file.path, "u1", "0b").ok());
  EXPECT_EQ(ReadAll(store_->root() + "/u1/0b.chunk"), want);
}

// A WriteAt error (here: a read-only fd) is reported, not swallowed.
TEST_F(ChunkStoreTest, WriteAtReportsErrors) {
  auto t = store_->CreateTemp(0);
  ASSERT_TRUE(t.ok());
  TempFile ro{open(t->path.c_str(), O_RDONLY | O_CLOEXEC), t->path, false};
  ASSERT_GE(ro.fd, 0);
  const std::string bytes = PatternBytes(1, 10);
  EXPECT_EQ(ChunkStore::WriteAt(&ro, bytes.data(), bytes.size(), 0).code(), EBADF);
  close(ro.fd);
  ChunkStore::Abandon(t->fd, t->path);
  EXPECT_NE(access(t->path.c_str(), F_OK), 0);
}

// Overwrites report the replaced size, and the replaced bytes are gone.
TEST_F(ChunkStoreTest, CommitReplacesAndRemoveReportsSize) {
  for (size_t size : {5000u, 300u}) {
    auto t = store_->CreateTemp(0);
    ASSERT_TRUE(t.ok());
    TempFile file = *t;
    const std::string bytes = PatternBytes(size, size);
    ASSERT_TRUE(ChunkStore::WriteAt(&file, bytes.data(), bytes.size(), 0).ok());
    auto r = store_->Commit(file.fd, file.path, "u2", "0c");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->replaced, size == 300u);
    if (r->replaced) {
      EXPECT_EQ(r->old_size, 5000u);
    }
    EXPECT_EQ(ReadAll(store_->root() + "/u2/0c.chunk"), bytes);
  }
  auto removed = store_->Remove("u2", "0c");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 300u);
  EXPECT_EQ(store_->Remove("u2", "0c").status().code(), ENOENT);
}

// Many concurrent callers of one directory, sharing fsyncs: every one gets a successful answer.
TEST(DirSyncer, ConcurrentCallersAllSucceed) {
  TempDir dir;
  DirSyncer syncer;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        if (syncer.Sync(dir.path()).ok()) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 16 * 20);
}

// A failing fsync (here: the directory does not exist) fails every caller it covered, and
// a healthy directory synced at the same time is unaffected.
TEST(DirSyncer, FailuresReachEveryCaller) {
  TempDir dir;
  DirSyncer syncer;
  const std::string missing = dir.path() + "/missing";
  std::atomic<int> failed{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        if (t % 2 == 0) {
          if (syncer.Sync(missing).code() == ENOENT) ++failed;
        } else if (syncer.Sync(dir.path()).ok()) {
          ++ok;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 4 * 10);
  EXPECT_EQ(ok.load(), 4 * 10);
}

// The stray sweep ages objects by the list's mtime and "now", and pages through folders of any
// size: every object comes back exactly once, a page never outgrows kListMaxReplyBytes, and
// the mtimes are the files' own.
TEST_F(ChunkStoreTest, ListReportsMtimesAndStaysBoundedPerPage) {
  const std::string dir = dir_.path() + "/storage/alice";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  std::vector<std::string> want;
  for (int i = 0; i < 600; ++i) {
    char prefix[8];
    std::snprintf(prefix, sizeof(prefix), "%04x", i);
    // Long ids: 600 of them would be ~100 KiB of JSON in one page.
    want.push_back(prefix + std::string(kChunkIdMaxLength - 4, 'a'));
    std::ofstream(dir + "/" + want.back() + ".chunk") << "x";
  }
  const std::string old = dir + "/" + want[7] + ".chunk";
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, old.c_str(), times, 0), 0);

  std::vector<std::string> got;
  std::string cursor;
  int pages = 0;
  const int64_t before = static_cast<int64_t>(time(nullptr));
  do {
    auto page = store_->List("alice", cursor, kListMaxLimit);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_LT(++pages, 100);
    EXPECT_LE(ToJson(*page).dump().size(), kListMaxReplyBytes);
    EXPECT_GE(page->now, before);
    for (const ListEntry& e : page->entries) {
      got.push_back(e.chunk);
      EXPECT_EQ(e.size, 1u);
      if (e.chunk == want[7]) {
        EXPECT_EQ(e.mtime, 1000000000);
      } else {
        EXPECT_GE(e.mtime, before - 60) << e.chunk;
        EXPECT_LE(e.mtime, page->now) << e.chunk;
      }
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  EXPECT_GT(pages, 2);  // cut by bytes, not by the 1000-object limit
  EXPECT_EQ(got, want);
  // The limit still applies below the byte bound.
  auto small = store_->List("alice", "", 5);
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->entries.size(), 5u);
  EXPECT_EQ(small->next_cursor, want[4]);
}

}  // namespace
}  // namespace vaultfs::data
