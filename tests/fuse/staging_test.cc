// Units of the FUSE daemon's write path: IntervalSet (which bytes are held locally) and
// StagedFile (the sealed staging file, its authenticated journal, recovery by a later daemon,
// and the staging area's cap).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "src/crypto/hash.h"
#include "src/fuse/interval_set.h"
#include "src/fuse/staged_file.h"
#include "src/fuse/staging_area.h"
#include "tests/fuse/test_staging_area.h"

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

constexpr uint64_t kBlock = StagedFile::kBlockSize;
constexpr uint64_t kSlot = StagedFile::kSlotSize;

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void PutFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// `n` bytes of a seeded pattern no two windows of which look alike.
std::string Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

class StagedFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-staging-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    area_ = NewArea(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  size_t FileCount() const {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) n += e.is_regular_file();
    return n;
  }
  std::unique_ptr<StagedFile> Make(uint64_t ino) {
    auto f = StagedFile::Create(area_.get(), ino);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }
  static std::string JournalOf(const StagedFile& f) {
    const std::string& p = f.path();
    return p.substr(0, p.size() - 5) + ".json";
  }
  // Saves a journal of `f`, drops the object (the files stay) and returns the journal's path.
  static std::string JournalAndDrop(std::unique_ptr<StagedFile> f, uint64_t ino) {
    StagedJournal j;
    j.ino = ino;
    j.size = 1 << 20;
    const std::string path = JournalOf(*f);
    EXPECT_TRUE(f->SaveJournal(j).ok());
    f.reset();
    return path;
  }
  std::string ReadStatus(StagedFile& f, uint64_t offset, size_t n, std::string* out = nullptr) {
    std::string buf(n, '\0');
    Status st = f.Read(offset, buf.data(), n);
    if (out != nullptr) *out = buf;
    return st.ok() ? "ok" : std::to_string(st.code()) + " " + st.message();
  }
  std::string dir_;
  std::unique_ptr<StagingArea> area_;
};

TEST_F(StagedFileTest, WritesReadBackAndHolesAreZeros) {
  auto f = Make(7);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(5, "hello").ok());
  ASSERT_TRUE(f->Write(1 << 20, "far").ok());
  EXPECT_TRUE(f->present().Covers(5, 10));
  EXPECT_FALSE(f->present().Covers(0, 10));
  std::string buf(10, 'x');
  ASSERT_TRUE(f->Read(0, buf.data(), buf.size()).ok());
  EXPECT_EQ(buf, std::string(5, '\0') + "hello");
  ASSERT_TRUE(f->Truncate(7).ok());
  EXPECT_TRUE(f->present().Covers(5, 7));
  EXPECT_FALSE(f->present().Covers(5, 8));
  EXPECT_FALSE(f->present().Covers(1 << 20, (1 << 20) + 3));
  struct stat st;
  ASSERT_EQ(stat(f->path().c_str(), &st), 0);
  EXPECT_LE(static_cast<uint64_t>(st.st_size), kSlot) << "truncate gives the far block back";
}

TEST_F(StagedFileTest, UnjournaledDataIsRemovedWithTheObject) {
  {
    auto f = Make(1);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->Write(0, "x").ok());
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
    auto f = Make(j.ino);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->Write(2 << 20, "tail").ok());
    ASSERT_TRUE(f->Write(10, "head").ok());
    ASSERT_TRUE(f->SaveJournal(j).ok());
  }
  EXPECT_EQ(area_->used(), 0u) << "a stopped daemon's files count against no one's cap";
  auto journals = StagedFile::FindJournals(dir_);
  ASSERT_EQ(journals.size(), 1u);
  StagedJournal got;
  auto f = StagedFile::Recover(area_.get(), journals[0], &got);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(area_->used(), 2 * kSlot) << "recovered blocks count";
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
  // A partial write into a recovered block keeps the rest of it.
  ASSERT_TRUE((*f)->Write(12, "AD").ok());
  ASSERT_TRUE((*f)->Read(10, buf.data(), 4).ok());
  EXPECT_EQ(buf, "heAD");
  // Still journaled: dropping the object keeps the files; DropJournal then lets them go.
  f->reset();
  EXPECT_EQ(FileCount(), 2u);
  auto again = StagedFile::Recover(area_.get(), journals[0], &got);
  ASSERT_TRUE(again.ok());
  (*again)->DropJournal();
  again->reset();
  EXPECT_EQ(FileCount(), 0u);
  EXPECT_EQ(area_->used(), 0u);
}

// Random writes, reads and truncates against a model of the file's bytes, with a journal and
// a recovery at the end: the sealed blocks give back exactly what was written, byte-exact
// presence included (partial blocks, block edges, holes).
TEST_F(StagedFileTest, RandomWritesReadsAndTruncatesMatchAModel) {
  const uint64_t seed = 20261222;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto f = Make(31);
  ASSERT_NE(f, nullptr);
  std::string model;       // the bytes; only those in `held` are meaningful
  std::vector<bool> held;  // which bytes were written since their last truncation
  const uint64_t span = 6 * kBlock + 1234;
  auto check = [&](StagedFile& s, uint64_t from, uint64_t to) {
    bool inside = false;
    for (uint64_t pos = from; pos < to;) {
      uint64_t run = s.present().RunAt(pos, to - pos, &inside);
      for (uint64_t i = pos; i < pos + run; ++i) {
        ASSERT_EQ(inside, i < held.size() && held[i]) << "presence of byte " << i;
      }
      if (inside) {
        std::string got;
        ASSERT_EQ(ReadStatus(s, pos, run, &got), "ok");
        ASSERT_EQ(got, model.substr(pos, run)) << "bytes at " << pos << " (+" << run << ")";
      }
      pos += run;
    }
  };
  for (int op = 0; op < 400; ++op) {
    const int kind = static_cast<int>(rng() % 10);
    if (kind < 6) {  // write: small, unaligned, block-sized or spanning blocks
      uint64_t off = rng() % span;
      uint64_t len = 0;
      switch (rng() % 4) {
        case 0:
          len = 1 + rng() % 100;
          break;
        case 1:
          len = 1 + rng() % (3 * kBlock);
          break;
        case 2:
          off = off / kBlock * kBlock;
          len = kBlock;
          break;
        default:
          len = 1 + rng() % 5000;
          break;
      }
      const std::string data = Random(len, rng());
      ASSERT_TRUE(f->Write(off, data).ok()) << "op " << op;
      if (model.size() < off + len) {
        model.resize(off + len);
        held.resize(off + len);
      }
      model.replace(off, len, data);
      for (uint64_t i = off; i < off + len; ++i) held[i] = true;
    } else if (kind < 7) {  // truncate
      const uint64_t size = rng() % span;
      ASSERT_TRUE(f->Truncate(size).ok());
      if (held.size() > size) {
        held.resize(size);
        model.resize(size);
      }
    } else {  // read a random range
      const uint64_t from = rng() % span;
      check(*f, from, std::min<uint64_t>(span, from + rng() % (2 * kBlock)));
    }
    EXPECT_EQ(area_->used(), f->disk_bytes());
  }
  check(*f, 0, span);
  // And a later daemon gets the same back.
  StagedJournal j;
  j.ino = 31;
  ASSERT_TRUE(f->SaveJournal(j).ok());
  const std::string journal = JournalOf(*f);
  f.reset();
  EXPECT_EQ(area_->used(), 0u);
  StagedJournal got;
  auto again = StagedFile::Recover(area_.get(), journal, &got);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  check(**again, 0, span);
  EXPECT_EQ(area_->used(), (*again)->disk_bytes());
  (*again)->DropJournal();
}

TEST_F(StagedFileTest, NoWindowOfWrittenDataIsOnDisk) {
  auto f = Make(3);
  ASSERT_NE(f, nullptr);
  const std::string secret = Random(3 * kBlock + 77, 5);
  ASSERT_TRUE(f->Write(100, secret).ok());
  ASSERT_TRUE(f->Write(2 * kBlock + 9, secret.substr(0, 40)).ok());  // a read-modify-write
  StagedJournal j;
  j.ino = 3;
  ASSERT_TRUE(f->SaveJournal(j).ok());
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    const std::string disk = FileBytes(e.path());
    for (size_t i = 0; i + 32 <= secret.size(); i += 32) {
      ASSERT_EQ(disk.find(secret.substr(i, 32)), std::string::npos)
          << "plaintext at " << i << " found in " << e.path();
    }
  }
}

TEST_F(StagedFileTest, AFlippedByteFailsTheReadInsteadOfGivingWrongData) {
  auto f = Make(4);
  ASSERT_NE(f, nullptr);
  const std::string data = Random(3 * kBlock, 6);
  ASSERT_TRUE(f->Write(0, data).ok());
  std::string disk = FileBytes(f->path());
  disk[kSlot + 5000] ^= 0x01;  // in block 1's ciphertext
  PutFileBytes(f->path(), disk);
  // Another block is loaded first, so block 1 is read from disk, not from memory.
  std::string got;
  EXPECT_EQ(ReadStatus(*f, 2 * kBlock, 10, &got), "ok");
  const std::string st = ReadStatus(*f, kBlock + 10, 10);
  EXPECT_EQ(st.rfind(std::to_string(EBADMSG) + " ", 0), 0u) << st;
  EXPECT_NE(st.find("does not authenticate"), std::string::npos) << st;
  EXPECT_EQ(ReadStatus(*f, 0, 10, &got), "ok");
  EXPECT_EQ(got, data.substr(0, 10));
  // A partial write into the damaged block is refused too (it would reseal garbage).
  EXPECT_EQ(f->Write(kBlock + 3, "x").code(), EBADMSG);
  // A flipped format byte or salt byte, likewise.
  disk = FileBytes(f->path());
  disk[0] = 7;
  PutFileBytes(f->path(), disk);
  EXPECT_EQ(ReadStatus(*f, 2 * kBlock, 1), "ok");
  EXPECT_NE(ReadStatus(*f, 0, 1).find("unknown format 7"), std::string::npos);
}

TEST_F(StagedFileTest, ABlockMovedToAnotherOffsetOrFileIsRefused) {
  auto a = Make(5);
  auto b = Make(5);  // the same inode staged twice (ids differ)
  auto c = Make(6);
  ASSERT_TRUE(a && b && c);
  for (auto* f : {a.get(), b.get(), c.get()}) {
    ASSERT_TRUE(f->Write(0, Random(3 * kBlock, 7)).ok());
  }
  const std::string path_a = a->path(), path_b = b->path(), path_c = c->path();
  // Journaled and reopened: a recovered file knows no salts, so only the AAD can tell.
  const std::string ja = JournalAndDrop(std::move(a), 5);
  const std::string jb = JournalAndDrop(std::move(b), 5);
  const std::string jc = JournalAndDrop(std::move(c), 6);
  std::string disk_a = FileBytes(path_a);
  const std::string disk_b = FileBytes(path_b);
  const std::string disk_c = FileBytes(path_c);
  // Block 0 of a, moved to slot 2 of a.
  disk_a.replace(2 * kSlot, StagedFile::kRecordSize, disk_a.substr(0, StagedFile::kRecordSize));
  // Block 1 of b, copied into a's slot 1 (same inode, other staging file).
  disk_a.replace(kSlot, StagedFile::kRecordSize, disk_b.substr(kSlot, StagedFile::kRecordSize));
  // Block 0 of c (other inode) into b's slot 0.
  std::string new_b = disk_b;
  new_b.replace(0, StagedFile::kRecordSize, disk_c.substr(0, StagedFile::kRecordSize));
  PutFileBytes(path_a, disk_a);
  PutFileBytes(path_b, new_b);
  StagedJournal got;
  auto ra = StagedFile::Recover(area_.get(), ja, &got);
  auto rb = StagedFile::Recover(area_.get(), jb, &got);
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_EQ(ReadStatus(**ra, 0, 10), "ok") << "the original block 0 is untouched";
  EXPECT_EQ(ReadStatus(**ra, 2 * kBlock, 10).rfind(std::to_string(EBADMSG), 0), 0u);
  EXPECT_EQ(ReadStatus(**ra, kBlock, 10).rfind(std::to_string(EBADMSG), 0), 0u);
  EXPECT_EQ(ReadStatus(**rb, 0, 10).rfind(std::to_string(EBADMSG), 0), 0u);
  EXPECT_EQ(ReadStatus(**rb, kBlock, 10), "ok");
  for (auto* r : {&ra, &rb}) (**r)->DropJournal();
  unlink(jc.c_str());
}

TEST_F(StagedFileTest, ABlockRolledBackToAnOlderSealingIsRefused) {
  auto f = Make(8);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, Random(2 * kBlock, 8)).ok());
  const std::string old_disk = FileBytes(f->path());
  ASSERT_TRUE(f->Write(0, Random(kBlock, 9)).ok());
  ASSERT_TRUE(f->Write(kBlock, "z").ok());  // block 1 is the one in memory now
  std::string disk = FileBytes(f->path());
  disk.replace(0, StagedFile::kRecordSize, old_disk.substr(0, StagedFile::kRecordSize));
  PutFileBytes(f->path(), disk);
  const std::string st = ReadStatus(*f, 0, 10);
  EXPECT_NE(st.find("not the one this daemon wrote last"), std::string::npos) << st;
}

class JournalTest : public StagedFileTest {
 protected:
  void SetUp() override {
    StagedFileTest::SetUp();
    auto f = Make(42);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->Write(0, "data").ok());
    data_ = f->path();
    journal_ = JournalAndDrop(std::move(f), 42);
    text_ = FileBytes(journal_);
  }
  void TearDown() override { StagedFileTest::TearDown(); }
  // Recover must refuse, with `why` in its message, and leave both files in place.
  void ExpectRefused(const std::string& why, StagingArea* area = nullptr) {
    StagedJournal got;
    auto f = StagedFile::Recover(area != nullptr ? area : area_.get(), journal_, &got);
    ASSERT_FALSE(f.ok()) << "applied a journal that should be refused (" << why << ")";
    EXPECT_EQ(f.status().code(), EBADMSG);
    EXPECT_NE(f.status().message().find(why), std::string::npos) << f.status().ToString();
    EXPECT_NE(f.status().message().find("refused"), std::string::npos);
    EXPECT_TRUE(std::filesystem::exists(journal_));
    EXPECT_TRUE(std::filesystem::exists(data_));
    EXPECT_EQ(area_->used(), 0u);
  }
  nlohmann::json Envelope() { return nlohmann::json::parse(text_); }
  void Put(const nlohmann::json& j) { PutFileBytes(journal_, j.dump()); }
  std::string data_, journal_, text_;
};

TEST_F(JournalTest, AnIntactJournalRecovers) {
  StagedJournal got;
  auto f = StagedFile::Recover(area_.get(), journal_, &got);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(got.ino, 42u);
  std::string buf(4, '\0');
  ASSERT_TRUE((*f)->Read(0, buf.data(), 4).ok());
  EXPECT_EQ(buf, "data");
  (*f)->DropJournal();
}

TEST_F(JournalTest, AJournalCutShortIsRefused) {
  PutFileBytes(journal_, text_.substr(0, text_.size() / 2));
  ExpectRefused("not valid JSON");
}

TEST_F(JournalTest, AnEditedJournalIsRefused) {
  // An edit that keeps the checksum right: only the MAC catches it.
  nlohmann::json env = Envelope();
  std::string body = env["body"];
  body[body.size() - 3] = body[body.size() - 3] == '0' ? '1' : '0';
  env["body"] = body;
  env["sha256"] = crypto::DigestToHex(crypto::Sha256(env["body"].get<std::string>()));
  Put(env);
  ExpectRefused("MAC does not verify");
}

TEST_F(JournalTest, ADamagedJournalFailsItsChecksum) {
  nlohmann::json env = Envelope();
  std::string body = env["body"];
  body[40] = body[40] == 'a' ? 'b' : 'a';
  env["body"] = body;
  Put(env);
  ExpectRefused("checksum mismatch");
}

TEST_F(JournalTest, AJournalOfAnotherUserIsRefused) {
  auto other = NewArea(dir_);  // other keys: another master key
  ExpectRefused("MAC does not verify", other.get());
}

TEST_F(JournalTest, AJournalMovedBesideAnotherStagingFileIsRefused) {
  auto f = Make(42);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->Write(0, "other").ok());
  const std::string other_journal = JournalAndDrop(std::move(f), 42);
  const std::string other_data = other_journal.substr(0, other_journal.size() - 5) + ".data";
  // The first journal, renamed to name the second staging file.
  PutFileBytes(other_journal, text_);
  StagedJournal got;
  auto r = StagedFile::Recover(area_.get(), other_journal, &got);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), EBADMSG);
  EXPECT_NE(r.status().message().find("moved or copied"), std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(std::filesystem::exists(other_data));
  unlink(other_journal.c_str());
  unlink(other_data.c_str());
}

TEST_F(JournalTest, AJournalOfAnUnknownFormatIsRefused) {
  nlohmann::json env = Envelope();
  env["format"] = 3;
  Put(env);
  ExpectRefused("format 3 is unknown");
  // The unauthenticated journal of earlier versions (no format, plain fields).
  Put({{"ino", 42},
       {"base_version", ""},
       {"size", 4},
       {"base_limit", 0},
       {"mtime", 0},
       {"attrs", nlohmann::json::object()},
       {"present", {{0, 4}}}});
  ExpectRefused("no format version");
}

TEST_F(StagedFileTest, TheCapRefusesWritesWithEnospcAndKeepsWhatIsStaged) {
  area_ = NewArea(dir_, 3 * kSlot);
  auto f = Make(9);
  ASSERT_NE(f, nullptr);
  const std::string data = Random(2 * kBlock, 10);
  ASSERT_TRUE(f->Write(0, data).ok());
  EXPECT_EQ(area_->used(), 2 * kSlot);
  // Two more blocks do not fit: nothing of the write is taken.
  Status st = f->Write(2 * kBlock - 5, Random(kBlock + 10, 11));
  EXPECT_EQ(st.code(), ENOSPC) << st.ToString();
  EXPECT_NE(st.message().find("--staging-cap"), std::string::npos) << st.ToString();
  EXPECT_EQ(area_->used(), 2 * kSlot);
  EXPECT_FALSE(f->present().Covers(2 * kBlock, 2 * kBlock + 1));
  std::string got;
  EXPECT_EQ(ReadStatus(*f, 0, 2 * kBlock, &got), "ok");
  EXPECT_EQ(got, data) << "earlier data intact";
  // Rewrites of staged blocks need no more room; one new block still fits.
  ASSERT_TRUE(f->Write(10, "again").ok());
  ASSERT_TRUE(f->Write(2 * kBlock, "third").ok());
  EXPECT_EQ(f->Write(3 * kBlock, "fourth").code(), ENOSPC);
  // Another file shares the cap.
  auto g = Make(10);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->Write(0, "x").code(), ENOSPC);
  // What a commit must stage may pass it.
  ASSERT_TRUE(g->Write(0, "x", StagedFile::Cap::kExempt).ok());
  EXPECT_EQ(area_->used(), 4 * kSlot);
  g.reset();
  EXPECT_EQ(area_->used(), 3 * kSlot);
  // A truncate gives blocks back.
  ASSERT_TRUE(f->Truncate(kBlock + 1).ok());
  EXPECT_EQ(area_->used(), 2 * kSlot);
  ASSERT_TRUE(f->Write(5 * kBlock, "fits").ok());
  f.reset();
  EXPECT_EQ(area_->used(), 0u);
}

// At mount, what no journal claims goes (staging files of changes never acknowledged, an
// unfinished journal write); a journaled file and its data stay for recovery.
TEST_F(StagedFileTest, UnjournaledLeftoversAreRemovedJournaledOnesKept) {
  auto kept = Make(7);
  ASSERT_TRUE(kept->Write(0, "journaled").ok());
  const std::string data = kept->path();
  const std::string journal = JournalAndDrop(std::move(kept), 7);
  std::ofstream(dir_ + "/8-00000000000000aa.data") << "sealed bytes of a daemon that died";
  std::ofstream(dir_ + "/9-00000000000000bb.json.tmp") << "{";
  EXPECT_EQ(StagedFile::RemoveUnjournaled(dir_), 2);
  EXPECT_TRUE(std::filesystem::exists(data));
  EXPECT_TRUE(std::filesystem::exists(journal));
  EXPECT_EQ(FileCount(), 2u);
  EXPECT_EQ(StagedFile::RemoveUnjournaled(dir_), 0);
}

}  // namespace
}  // namespace vaultfs::fuse
