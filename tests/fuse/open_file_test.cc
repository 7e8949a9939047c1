// Unit tests of OpenFile and OpenFiles (issue 21 item 4) over an in-memory FileStore: the
// overlay of staged writes on a base version, truncation, commits that succeed, fail (the data
// stays, journaled, and lands on retry) or find another client's version (a conflict copy),
// and attribute changes made while a commit is held in the store. No cluster, no /dev/fuse.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "src/fuse/file_store.h"
#include "src/fuse/open_files.h"
#include "src/fuse/staged_file.h"
#include "tests/fuse/test_staging_area.h"

namespace vaultfs::fuse {
namespace {

constexpr auto kDeadline = std::chrono::seconds(30);

std::string Pattern(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 + i / 251);
  return s;
}

class MemReader : public BaseReader {
 public:
  explicit MemReader(std::string content) : content_(std::move(content)) {}
  uint64_t size() const override { return content_.size(); }
  Status Read(uint64_t offset, size_t n, char* out) override {
    content_.copy(out, n, offset);
    return Status::Ok();
  }

 private:
  const std::string content_;
};

// Files and their versions in memory; WriteContent compares and swaps on the version like
// the metadata service, can be told to fail, and can be held until the test releases it.
class FakeStore : public FileStore {
 public:
  static constexpr uint64_t kRoot = 1;

  client::Attr Add(uint64_t parent, const std::string& name, const std::string& content) {
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t ino = next_ino_++;
    client::Attr a = NewFileAttr(ino, {parent, name, 0644, 0, 0}, NowNs());
    names_[{parent, name}] = ino;
    attrs_[ino] = a;
    CommitLocked(ino, content);
    return attrs_[ino];
  }
  // `ino` is deleted (its last name unlinked, here or by another client): its version can
  // no longer be opened.
  void Remove(uint64_t ino) {
    std::lock_guard<std::mutex> lock(mu_);
    versions_.erase(attrs_[ino].version);
    attrs_.erase(ino);
    std::erase_if(names_, [&](const auto& n) { return n.second == ino; });
  }
  // Another client commits `content` as a new version of `ino`.
  void CommitElsewhere(uint64_t ino, const std::string& content) {
    std::lock_guard<std::mutex> lock(mu_);
    CommitLocked(ino, content);
  }
  std::string Content(uint64_t ino) {
    std::lock_guard<std::mutex> lock(mu_);
    return versions_[attrs_[ino].version];
  }
  std::optional<uint64_t> InoOf(uint64_t parent, const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find({parent, name});
    if (it == names_.end()) return std::nullopt;
    return it->second;
  }
  client::Attr AttrOf(uint64_t ino) {
    std::lock_guard<std::mutex> lock(mu_);
    return attrs_[ino];
  }
  void FailWrites(Status st) {
    std::lock_guard<std::mutex> lock(mu_);
    fail_ = std::move(st);
  }
  void Hold() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = true;
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  bool WaitHeld() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, kDeadline, [&] { return held_; });
  }

  uint64_t root() const override { return kRoot; }
  uint64_t max_file_size() const override { return 1ull << 40; }
  Result<client::Attr> GetAttr(uint64_t ino) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attrs_.find(ino);
    if (it == attrs_.end()) return Status(ENOENT, "no such inode");
    return it->second;
  }
  Result<client::Attr> SetAttr(uint64_t ino, const client::AttrUpdate& u) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = attrs_.find(ino);
    if (it == attrs_.end()) return Status(ENOENT, "no such inode");
    u.ApplyTo(it->second);
    return it->second;
  }
  Result<uint64_t> ReserveInode() override {
    std::lock_guard<std::mutex> lock(mu_);
    return next_ino_++;
  }
  Result<client::Attr> CreateReserved(uint64_t ino, const client::NewEntry& e) override {
    std::lock_guard<std::mutex> lock(mu_);
    VFS_RETURN_IF_ERROR(CreateLocked(ino, e));
    return attrs_[ino];
  }
  Result<client::Attr> WriteContent(const client::Attr& base, uint64_t size,
                                    const cluster::PlaintextReader& source,
                                    const client::WriteOptions& o) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (hold_) {
        held_ = true;
        cv_.notify_all();
        cv_.wait(lock, [&] { return !hold_; });
        held_ = false;
      }
      if (!fail_.ok()) return fail_;
    }
    std::string data(size, '\0');
    for (uint64_t pos = 0; pos < size;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(size - pos, 65536));
      VFS_RETURN_IF_ERROR(source(reinterpret_cast<uint8_t*>(data.data() + pos), n));
      pos += n;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (o.create && !attrs_.count(base.ino)) {
      VFS_RETURN_IF_ERROR(CreateLocked(base.ino, *o.create));
    } else if (!attrs_.count(base.ino)) {
      return Status(ENOENT, "no such inode");
    } else if (attrs_[base.ino].version != base.version) {
      return Status(ESTALE, "committed elsewhere since");
    }
    CommitLocked(base.ino, data);
    o.attrs.ApplyTo(attrs_[base.ino]);
    return attrs_[base.ino];
  }
  Result<std::shared_ptr<BaseReader>> OpenVersion(const client::Attr& a) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = versions_.find(a.version);
    if (it == versions_.end()) return Status(ENOENT, "no such version");
    return std::shared_ptr<BaseReader>(std::make_shared<MemReader>(it->second));
  }
  void ProbeDownServers() override {}
  Result<size_t> CollectGarbage() override { return size_t{0}; }

 private:
  Status CreateLocked(uint64_t ino, const client::NewEntry& e) {
    auto it = names_.find({e.parent, e.name});
    if (it != names_.end()) {
      return it->second == ino ? Status::Ok() : Status(EEXIST, "name taken");
    }
    names_[{e.parent, e.name}] = ino;
    attrs_[ino] = NewFileAttr(ino, e, NowNs());
    return Status::Ok();
  }
  void CommitLocked(uint64_t ino, const std::string& content) {
    const std::string v = "v" + std::to_string(next_version_++);
    versions_[v] = content;
    attrs_[ino].version = v;
    attrs_[ino].size = content.size();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ino_ = 100;
  int next_version_ = 1;
  std::map<std::pair<uint64_t, std::string>, uint64_t> names_;
  std::map<uint64_t, client::Attr> attrs_;
  std::map<std::string, std::string> versions_;
  Status fail_;
  bool hold_ = false;
  bool held_ = false;
};

class OpenFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-openfile-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    staging_ = tmpl;
    area_ = NewArea(staging_);
    files_ = std::make_unique<OpenFiles>(&store_, area_.get());
  }
  void TearDown() override {
    files_.reset();
    std::error_code ec;
    std::filesystem::remove_all(staging_, ec);
  }
  std::string ReadAll(OpenFile& f) {
    const uint64_t size = f.Attr().size;
    std::string out(size, '\0');
    auto n = f.Read(0, size, out.data());
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    out.resize(n.ok() ? *n : 0);
    return out;
  }

  FakeStore store_;
  std::string staging_;
  std::unique_ptr<StagingArea> area_;  // outlives files_
  std::unique_ptr<OpenFiles> files_;
};

TEST_F(OpenFileTest, WritesOverlayTheBaseAndReadsStopAtTheEnd) {
  const std::string base = Pattern(200000, 'a');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "f", base));
  ASSERT_TRUE(f->PinVersion().ok());
  ASSERT_TRUE(f->Write(100000, "XYZ").ok());
  std::string want = base;
  want.replace(100000, 3, "XYZ");
  EXPECT_EQ(ReadAll(*f), want);
  char buf[100];
  EXPECT_EQ(*f->Read(base.size(), sizeof(buf), buf), 0u);
  EXPECT_EQ(*f->Read(base.size() - 5, sizeof(buf), buf), 5u);
  EXPECT_EQ(store_.Content(f->ino()), base) << "nothing is committed before Commit()";
  files_->Release(f);
}

TEST_F(OpenFileTest, TruncateCutsTheBaseAndAWriteBeyondLeavesAHole) {
  const std::string base = Pattern(1000, 'k');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "t", base));
  ASSERT_TRUE(f->Truncate(100).ok());
  ASSERT_TRUE(f->Write(200, "ab").ok());
  const std::string want = base.substr(0, 100) + std::string(100, '\0') + "ab";
  EXPECT_EQ(f->Attr().size, 202u);
  EXPECT_EQ(ReadAll(*f), want);
  ASSERT_TRUE(f->Commit().ok());
  EXPECT_EQ(store_.Content(f->ino()), want);
  files_->Release(f);
}

TEST_F(OpenFileTest, CommitStoresTheMergedContentAndLeavesNoJournal) {
  const std::string base = Pattern(300000, 'c');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "c", base));
  ASSERT_TRUE(f->Write(5, "hello").ok());
  std::string want = base;
  want.replace(5, 5, "hello");
  ASSERT_TRUE(f->Commit().ok());
  EXPECT_TRUE(f->Clean());
  EXPECT_EQ(store_.Content(f->ino()), want);
  EXPECT_EQ(f->Attr().version, store_.AttrOf(f->ino()).version);
  EXPECT_TRUE(StagedFile::FindJournals(staging_).empty());
  EXPECT_EQ(ReadAll(*f), want);
  files_->Release(f);
}

TEST_F(OpenFileTest, AFailedCommitKeepsTheDataJournalsItAndLandsOnRetry) {
  const std::string base = Pattern(4096, 'f');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "fail", base));
  ASSERT_TRUE(f->Write(0, "new").ok());
  std::string want = base;
  want.replace(0, 3, "new");
  store_.FailWrites(Status(EIO, "servers down"));
  EXPECT_EQ(f->Commit().code(), EIO);
  EXPECT_FALSE(f->Clean());
  EXPECT_EQ(ReadAll(*f), want) << "the data is still there";
  EXPECT_EQ(StagedFile::FindJournals(staging_).size(), 1u) << "and journaled for a later daemon";
  EXPECT_EQ(store_.Content(f->ino()), base);
  store_.FailWrites(Status::Ok());
  // The retrier's turn (or the retrier thread itself, after its back-off).
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (!f->RetryIfDue(std::chrono::steady_clock::now() + std::chrono::hours(1)) &&
         std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_TRUE(f->Clean());
  EXPECT_EQ(store_.Content(f->ino()), want);
  EXPECT_TRUE(StagedFile::FindJournals(staging_).empty());
  files_->Release(f);
}

// The staging area's cap (issue 22 item 5): a write past it fails with ENOSPC and changes
// nothing, a commit still goes through (copying the base may pass the cap), and the space
// comes back with truncates and once a committed file is closed.
TEST_F(OpenFileTest, TheStagingCapRefusesWritesButNotCommitsAndSpaceComesBack) {
  constexpr uint64_t kBlock = StagedFile::kBlockSize;
  auto area = NewArea(staging_, 2 * StagedFile::kSlotSize);
  OpenFiles files(&store_, area.get());  // destroyed before `area`
  const std::string base = Pattern(3 * kBlock, 'q');
  auto f = files.Open(store_.Add(FakeStore::kRoot, "capped", base));
  ASSERT_TRUE(f->Write(0, "x").ok());
  EXPECT_EQ(f->Write(kBlock, Pattern(2 * kBlock, 'r')).code(), ENOSPC);
  ASSERT_TRUE(f->Write(kBlock + 5, "y").ok());
  EXPECT_EQ(f->Write(4 * kBlock, "z").code(), ENOSPC);
  std::string want = base;
  want[0] = 'x';
  want[kBlock + 5] = 'y';
  EXPECT_EQ(ReadAll(*f), want) << "what was staged before the cap stays readable";
  ASSERT_TRUE(f->Truncate(kBlock).ok());
  EXPECT_EQ(area->used(), StagedFile::kSlotSize) << "the truncate gave a block back";
  ASSERT_TRUE(f->Write(kBlock, "w").ok());
  want = want.substr(0, kBlock) + "w";
  ASSERT_TRUE(f->Commit().ok());
  EXPECT_EQ(store_.Content(f->ino()), want);
  files.Release(f);
  f.reset();
  EXPECT_EQ(area->used(), 0u) << "a committed, closed file gives its staging space back";
}

// A file deleted while open here (unlinked by this mount or another) stays an ordinary file
// for its open handles until the last close, as POSIX has it: a commit that finds the inode
// gone drops nothing, later writes read back too, and the staging space comes back at the
// close.
TEST_F(OpenFileTest, AFileDeletedWhileOpenKeepsItsContentUntilTheLastClose) {
  const std::string base = Pattern(200000, 'u');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "unlinked", base));
  ASSERT_TRUE(f->PinVersion().ok());
  ASSERT_TRUE(f->Write(1000, "after").ok());
  std::string want = base;
  want.replace(1000, 5, "after");
  store_.Remove(f->ino());
  EXPECT_TRUE(f->Commit().ok()) << "nothing to commit: the file is gone";
  EXPECT_TRUE(f->Clean());
  EXPECT_TRUE(ReadAll(*f) == want) << "the commit that found the inode gone dropped the content";
  ASSERT_TRUE(f->Write(199990, "0123456789abc").ok());
  want = want.substr(0, 199990) + "0123456789abc";
  EXPECT_TRUE(f->Commit().ok());
  EXPECT_TRUE(f->Clean());
  EXPECT_TRUE(ReadAll(*f) == want) << "a write after that";
  EXPECT_TRUE(StagedFile::FindJournals(staging_).empty()) << "nothing for a later daemon";
  files_->Release(f);
  f.reset();
  EXPECT_EQ(area_->used(), 0u) << "the last close gives the staging space back";
}

// A commit keeps the whole new version here (staged bytes over holes), so nothing of it is
// downloaded again: a file deleted after such a commit still reads, holes included, and its
// next commit finds it gone instead of failing to read a version that no longer exists.
TEST_F(OpenFileTest, AFileDeletedAfterACommitStillReadsItsHoles) {
  const std::string base = Pattern(1000, 'h');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "holes", base));
  ASSERT_TRUE(f->PinVersion().ok());
  ASSERT_TRUE(f->Write(300000, "end").ok());  // a hole from 1000 to 300000
  std::string want = base + std::string(299000, '\0') + "end";
  ASSERT_TRUE(f->Commit().ok());
  ASSERT_TRUE(store_.Content(f->ino()) == want);
  store_.Remove(f->ino());
  EXPECT_TRUE(ReadAll(*f) == want) << "the hole of the committed version reads as zeros";
  ASSERT_TRUE(f->Write(0, "y").ok());
  want[0] = 'y';
  EXPECT_TRUE(f->Commit().ok()) << "nothing to commit: the file is gone";
  EXPECT_TRUE(f->Clean());
  EXPECT_TRUE(ReadAll(*f) == want);
  EXPECT_TRUE(StagedFile::FindJournals(staging_).empty());
  files_->Release(f);
}

// The same with only attributes left to send (the access time a reader's release noted): the
// close of a file deleted while open succeeds, as on any POSIX filesystem.
TEST_F(OpenFileTest, ACloseOfAFileDeletedWhileOpenWithOnlyAttributesPendingSucceeds) {
  const std::string base = Pattern(5000, 'p');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "atime", base));
  ASSERT_TRUE(f->Write(0, "w").ok());
  ASSERT_TRUE(f->Commit().ok());
  f->NoteRead();  // a reader's release: the access time goes with the next commit
  ASSERT_TRUE(f->NeedsCommitAtRelease()) << "the test needs attributes pending";
  store_.Remove(f->ino());
  EXPECT_TRUE(f->Commit().ok()) << "nothing to commit: the file is gone";
  EXPECT_FALSE(f->NeedsCommitAtRelease());
  EXPECT_TRUE(ReadAll(*f) == "w" + base.substr(1));
  files_->Release(f);
}

// An open reads the file's attributes before it joins the open file; a commit of this mount
// that ends in between (a release's, or a retry's) must not make the join take the version it
// replaced for one committed elsewhere (close-to-open within one mount).
TEST_F(OpenFileTest, AnOpenThatReadAttributesBeforeACommitHereEndedKeepsTheNewVersion) {
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "race", "old content"));
  ASSERT_TRUE(f->Write(0, "NEW").ok());
  store_.Hold();
  auto commit = std::async(std::launch::async, [&] { return f->Commit(); });
  ASSERT_TRUE(store_.WaitHeld());
  const client::Attr before = store_.AttrOf(f->ino());  // the open's getattr, mid-commit
  store_.Release();
  ASSERT_TRUE(commit.get().ok());
  auto g = files_->Open(before);
  ASSERT_EQ(g, f) << "the open joins the open file";
  EXPECT_EQ(ReadAll(*g), "NEW content");
  EXPECT_EQ(g->Attr().version, store_.AttrOf(f->ino()).version);
  ASSERT_TRUE(g->Write(0, "n").ok());
  EXPECT_TRUE(g->Commit().ok()) << "and builds on the version it committed";
  EXPECT_EQ(store_.Content(f->ino()), "nEW content");
  files_->Release(g);
  files_->Release(f);

  // The same when the commit's file has left the table before the open comes in.
  ASSERT_TRUE(f->Write(0, "N").ok());
  store_.Hold();
  commit = std::async(std::launch::async, [&] { return f->Commit(); });
  ASSERT_TRUE(store_.WaitHeld());
  const client::Attr stale = store_.AttrOf(f->ino());
  store_.Release();
  ASSERT_TRUE(commit.get().ok());
  files_->Release(f);  // its last handle: clean, so it leaves the table
  ASSERT_EQ(files_->Find(f->ino()), nullptr);
  auto h = files_->Open(stale);
  EXPECT_NE(h, f);
  EXPECT_EQ(ReadAll(*h), "NEW content");
  EXPECT_EQ(h->Attr().version, store_.AttrOf(f->ino()).version);
  files_->Release(h);
}

TEST_F(OpenFileTest, AChmodDuringAHeldCommitAnswersAtOnceAndIsNotLost) {
  const std::string base = Pattern(100000, 'h');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "held", base));
  ASSERT_TRUE(f->Write(10, "data").ok());
  store_.Hold();
  auto commit = std::async(std::launch::async, [&] { return f->Commit(); });
  ASSERT_TRUE(store_.WaitHeld());

  client::AttrUpdate u;
  u.mode = 0600;
  auto chmod = std::async(std::launch::async, [&] { return f->SetAttr(u, std::nullopt); });
  ASSERT_EQ(chmod.wait_for(kDeadline), std::future_status::ready) << "chmod waited for the commit";
  ASSERT_TRUE(chmod.get().ok());
  EXPECT_EQ(f->Attr().mode, 0600u);
  char buf[16];
  auto read = std::async(std::launch::async, [&] { return f->Read(50000, sizeof(buf), buf); });
  ASSERT_EQ(read.wait_for(kDeadline), std::future_status::ready) << "a read waited for the commit";
  EXPECT_EQ(std::string(buf, sizeof(buf)), base.substr(50000, sizeof(buf)));

  store_.Release();
  ASSERT_TRUE(commit.get().ok());
  EXPECT_EQ(f->Attr().mode, 0600u) << "the chmod made during the commit still shows";
  ASSERT_TRUE(f->NeedsCommitAtRelease()) << "and is still to be sent";
  ASSERT_TRUE(f->Commit().ok());
  EXPECT_EQ(store_.AttrOf(f->ino()).mode, 0600u);
  files_->Release(f);
}

TEST_F(OpenFileTest, AttributesOfAFailedCommitComeBackUnderNewerOnes) {
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "merge", Pattern(1000, 'm')));
  ASSERT_TRUE(f->Write(0, "x").ok());
  client::AttrUpdate before;
  before.uid = 5;
  before.mode = 0640;
  ASSERT_TRUE(f->SetAttr(before, std::nullopt).ok());  // pending: goes with the commit
  store_.Hold();
  store_.FailWrites(Status(EIO, "servers down"));
  auto commit = std::async(std::launch::async, [&] { return f->Commit(); });
  ASSERT_TRUE(store_.WaitHeld());
  client::AttrUpdate during;
  during.mode = 0600;
  ASSERT_TRUE(f->SetAttr(during, std::nullopt).ok());
  store_.Release();
  EXPECT_FALSE(commit.get().ok());
  EXPECT_EQ(f->Attr().uid, 5u) << "the failed commit's change is kept";
  EXPECT_EQ(f->Attr().mode, 0600u) << "and the newer one wins";
  store_.FailWrites(Status::Ok());
  ASSERT_TRUE(f->Commit().ok());
  EXPECT_EQ(store_.AttrOf(f->ino()).uid, 5u);
  EXPECT_EQ(store_.AttrOf(f->ino()).mode, 0600u);
  files_->Release(f);
}

TEST_F(OpenFileTest, AVersionCommittedElsewhereMakesAConflictCopy) {
  auto a = store_.Add(FakeStore::kRoot, "doc", "old content");
  auto f = files_->Open(a);
  files_->NoteName(a.ino, FakeStore::kRoot, "doc");
  ASSERT_TRUE(f->Write(0, "mine").ok());
  store_.CommitElsewhere(a.ino, "theirs");
  Status st = f->Commit();
  EXPECT_EQ(st.code(), EEXIST) << st.ToString();
  EXPECT_EQ(ReadAll(*f), "theirs") << "the file keeps the other client's content";
  EXPECT_EQ(store_.Content(a.ino), "theirs");
  // The copy is "doc.conflict-<its inode>" beside it.
  std::optional<uint64_t> copy;
  for (uint64_t ino = 100; ino < 110 && !copy; ++ino) {
    copy = store_.InoOf(FakeStore::kRoot, "doc.conflict-" + std::to_string(ino));
  }
  ASSERT_TRUE(copy.has_value());
  EXPECT_EQ(store_.Content(*copy), "minecontent");  // "mine" over "old "
  files_->Release(f);
}

TEST_F(OpenFileTest, ANewFileIsCreatedByItsFirstCommitOrUnderAConflictName) {
  auto ino = store_.ReserveInode();
  ASSERT_TRUE(ino.ok());
  auto f = files_->OpenNew(*ino, {FakeStore::kRoot, "new", 0644, 0, 0});
  EXPECT_TRUE(files_->Uncreated(FakeStore::kRoot, "new").has_value());
  EXPECT_FALSE(store_.InoOf(FakeStore::kRoot, "new").has_value()) << "not created yet";
  ASSERT_TRUE(f->Write(0, "first").ok());
  store_.Add(FakeStore::kRoot, "new", "another client's");  // takes the name meanwhile
  EXPECT_EQ(f->Commit().code(), EEXIST);
  const std::string kept = "new.conflict-" + std::to_string(*ino);
  ASSERT_EQ(store_.InoOf(FakeStore::kRoot, kept), *ino);
  EXPECT_EQ(store_.Content(*ino), "first");
  EXPECT_FALSE(files_->Uncreated(FakeStore::kRoot, "new").has_value());
  files_->Release(f);
}

// fallocate: mode 0 grows, KEEP_SIZE alone changes nothing, PUNCH_HOLE and ZERO_RANGE read
// as zeros (ZERO_RANGE may grow), modes the kernel would refuse stay refused; the result
// commits like written bytes.
TEST_F(OpenFileTest, FallocateGrowsPunchesAndZeroes) {
  const std::string base = Pattern(100000, 'f');
  auto f = files_->Open(store_.Add(FakeStore::kRoot, "fa", base));
  std::string want = base;
  ASSERT_TRUE(f->Allocate(FALLOC_FL_KEEP_SIZE, 0, 1 << 20).ok());
  EXPECT_EQ(f->Attr().size, base.size());
  ASSERT_TRUE(f->Allocate(0, 10, 20).ok());  // inside the file: nothing to grow
  EXPECT_EQ(f->Attr().size, base.size());
  ASSERT_TRUE(f->Allocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 5000).ok());
  want.replace(1000, 5000, std::string(5000, '\0'));
  // Past the end with KEEP_SIZE: the part inside is zeroed, the size stays.
  ASSERT_TRUE(f->Allocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 99990, 100).ok());
  want.replace(99990, 10, std::string(10, '\0'));
  EXPECT_EQ(ReadAll(*f), want);
  ASSERT_TRUE(f->Allocate(FALLOC_FL_ZERO_RANGE, 99000, 3000).ok());  // zeroes and grows
  want.replace(99000, 1000, std::string(1000, '\0'));
  want.append(2000, '\0');
  ASSERT_TRUE(f->Allocate(0, 150000, 50000).ok());  // grows with zeros
  want.resize(200000, '\0');
  EXPECT_EQ(f->Attr().size, want.size());
  EXPECT_EQ(ReadAll(*f), want);

  for (int bad : {FALLOC_FL_PUNCH_HOLE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE,
                  FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE}) {
    EXPECT_EQ(f->Allocate(bad, 0, 10).code(), EOPNOTSUPP) << bad;
  }
  EXPECT_EQ(f->Allocate(0, 0, 0).code(), EINVAL);
  EXPECT_EQ(f->Allocate(0, store_.max_file_size(), 1).code(), EFBIG);
  EXPECT_EQ(f->Attr().size, want.size());

  ASSERT_TRUE(f->Commit().ok());
  EXPECT_EQ(store_.Content(f->ino()), want);
  files_->Release(f);
}

}  // namespace
}  // namespace vaultfs::fuse
