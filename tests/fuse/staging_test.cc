// Units of the FUSE daemon's write path: IntervalSet (which bytes are held locally) and
// StagedFile (the staging file, its journal, and recovery by a later daemon).
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"
#include "src/fuse/interval_set.h"
#include "src/fuse/staged_file.h"

namespace vaultfs::fuse {
namespace {

TEST(IntervalSet, MergesOverlappingAndTouchingRanges) {
  IntervalSet s;
  s.Add(10, 20);
  s.Add(30, 40);
  s.Add(20, 30);  // touches both: one range
  ASSERT_EQ(s.ranges().size(), 1u);
  EXPECT_EQ(s.ranges().begin()->first, 10u);
  EXPECT_EQ(s.ranges().begin()->second, 40u);
  s.Add(5, 12);
  s.Add(39, 50);
  EXPECT_TRUE(s.Covers(5, 50));
  EXPECT_FALSE(s.Covers(4, 6));
  s.Add(7, 7);  // empty: nothing
  EXPECT_EQ(s.ranges().size(), 1u);
}

TEST(IntervalSet, RunAtReportsInsideAndOutsideRuns) {
  IntervalSet s;
  s.Add(100, 200);
  bool inside = true;
  EXPECT_EQ(s.RunAt(0, 1000, &inside), 100u);
  EXPECT_FALSE(inside);
  EXPECT_EQ(s.RunAt(150, 1000, &inside), 50u);
  EXPECT_TRUE(inside);
  EXPECT_EQ(s.RunAt(150, 10, &inside), 10u);
  EXPECT_EQ(s.RunAt(200, 1000, &inside), 1000u);
  EXPECT_FALSE(inside);
}

TEST(IntervalSet, TruncateCutsAndDropsRanges) {
  IntervalSet s;
  s.Add(0, 10);
  s.Add(20, 30);
  s.Add(40, 50);
  s.TruncateTo(25);
  ASSERT_EQ(s.ranges().size(), 2u);
  EXPECT_TRUE(s.Covers(20, 25));
  EXPECT_FALSE(s.Covers(20, 26));
  s.TruncateTo(20);
  EXPECT_EQ(s.ranges().size(), 1u);
  s.TruncateTo(0);
  EXPECT_TRUE(s.empty());
}

class StagedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-staging-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  size_t FileCount() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n += e.is_regular_file();
    return n;
  }
  std::string dir_;
};

TEST_F(StagedFileTest, WritesReadBackAndHolesAreZeros) {
  auto f = StagedFile::Create(dir_, 7);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  ASSERT_TRUE((*f)->Write(5, "hello").ok());
  ASSERT_TRUE((*f)->Write(1 << 20, "far").ok());
  EXPECT_TRUE((*f)->present().Covers(5, 10));
  EXPECT_FALSE((*f)->present().Covers(0, 10));
  std::string buf(10, 'x');
  ASSERT_TRUE((*f)->Read(0, buf.data(), buf.size()).ok());
  EXPECT_EQ(buf, std::string(5, '\0') + "hello");
  ASSERT_TRUE((*f)->Truncate(7).ok());
  EXPECT_TRUE((*f)->present().Covers(5, 7));
  EXPECT_FALSE((*f)->present().Covers(5, 8));
  EXPECT_FALSE((*f)->present().Covers(1 << 20, (1 << 20) + 3));
}

TEST_F(StagedFileTest, UnjournaledDataIsRemovedWithTheObject) {
  {
    auto f = StagedFile::Create(dir_, 1);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Write(0, "x").ok());
    EXPECT_EQ(FileCount(), 1u);
  }
  EXPECT_EQ(FileCount(), 0u);
}

// The property the daemon relies on to never drop a failed upload: a journaled staging file
// outlives its object, and a later daemon gets back exactly the bytes, ranges and metadata.
TEST_F(StagedFileTest, JournaledDataSurvivesAndRecovers) {
  StagedJournal j;
  j.ino = 42;
  j.base_version = "00112233445566778899aabbccddeeff";
  j.size = 3 << 20;
  j.base_limit = 1 << 20;
  j.mtime_ns = 1234567890123;
  j.attrs.mode = 0640;
  j.attrs.uid = 1000;
  j.create = client::NewEntry{7, std::string("na\xffme", 5), 0600, 1000, 100};  // not UTF-8
  {
    auto f = StagedFile::Create(dir_, j.ino);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Write(2 << 20, "tail").ok());
    ASSERT_TRUE((*f)->Write(10, "head").ok());
    ASSERT_TRUE((*f)->SaveJournal(j).ok());
  }
  auto journals = StagedFile::FindJournals(dir_);
  ASSERT_EQ(journals.size(), 1u);
  StagedJournal got;
  auto f = StagedFile::Recover(journals[0], &got);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(got.ino, j.ino);
  EXPECT_EQ(got.base_version, j.base_version);
  EXPECT_EQ(got.size, j.size);
  EXPECT_EQ(got.base_limit, j.base_limit);
  EXPECT_EQ(got.mtime_ns, j.mtime_ns);
  EXPECT_EQ(got.attrs.mode, j.attrs.mode);
  EXPECT_EQ(got.attrs.uid, j.attrs.uid);
  EXPECT_FALSE(got.attrs.gid.has_value());
  ASSERT_TRUE(got.create.has_value());
  EXPECT_EQ(got.create->parent, 7u);
  EXPECT_EQ(got.create->name, j.create->name);
  EXPECT_EQ(got.create->mode, 0600u);
  EXPECT_EQ(got.create->uid, 1000u);
  EXPECT_EQ(got.create->gid, 100u);
  EXPECT_TRUE((*f)->present().Covers(10, 14));
  EXPECT_TRUE((*f)->present().Covers(2 << 20, (2 << 20) + 4));
  EXPECT_FALSE((*f)->present().Covers(0, 10));
  std::string buf(4, '\0');
  ASSERT_TRUE((*f)->Read(2 << 20, buf.data(), 4).ok());
  EXPECT_EQ(buf, "tail");
  // Still journaled: dropping the object keeps the files; DropJournal then lets them go.
  f->reset();
  EXPECT_EQ(FileCount(), 2u);
  auto again = StagedFile::Recover(journals[0], &got);
  ASSERT_TRUE(again.ok());
  (*again)->DropJournal();
  again->reset();
  EXPECT_EQ(FileCount(), 0u);
}

TEST_F(StagedFileTest, CorruptJournalIsRefusedNotGuessed) {
  std::string path = dir_ + "/9-abc.json";
  FILE* out = fopen(path.c_str(), "w");
  ASSERT_NE(out, nullptr);
  fputs("{\"ino\": 9, \"size\": ", out);  // truncated by a crash
  fclose(out);
  FILE* data = fopen((dir_ + "/9-abc.data").c_str(), "w");
  ASSERT_NE(data, nullptr);
  fclose(data);
  StagedJournal got;
  auto f = StagedFile::Recover(path, &got);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), EBADMSG);
  EXPECT_EQ(FileCount(), 2u);  // left in place for a person to look at
}

}  // namespace
}  // namespace vaultfs::fuse
