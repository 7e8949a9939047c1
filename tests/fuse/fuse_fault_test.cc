// Suite 'fuse', part 3: data servers dying under a mount (real processes, SIGKILL through
// tools/mkcluster). Any 4 of 14 dead while a file is being read: the read completes
// byte-exact. 5 dead: the read fails with EIO in bounded time, the daemon stays up and the
// mount keeps serving what is still readable. Too many dead at close(): close() reports the
// failure, and the kept data is committed once the servers are back.
//
// And the mount's own disk (issue 22 item 5): a marker written through the mount shows up in
// no file of the cache dir while staged, after close, after a failed commit (journaled) or
// after a SIGKILL of the daemon mid-write.
//
// Every read goes through a mount with a fresh cache dir, so bytes come from the servers, not
// from a cache. Servers are revived before the mounts go away (KilledServers is declared after
// the mounts), so an unmount never waits on an upload that cannot finish.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "src/client/vault.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/common/wait.h"
#include "tests/fuse/file_checks.h"
#include "tests/fuse/mount_fixture.h"

namespace vaultfs::testing {
namespace {

using std::chrono::seconds;

constexpr char kUser[] = "faults";
constexpr char kPassword[] = "fault tests password";
constexpr uint64_t kBigSize = 256ull << 20;
constexpr seconds kEioBound{120};

// Data servers killed by a test; all revived when this goes out of scope.
class KilledServers {
 public:
  explicit KilledServers(TestCluster* cluster) : cluster_(cluster) {}
  ~KilledServers() {
    Status st = ReviveAll();
    if (!st.ok()) std::fprintf(stderr, "[fault test] revive: %s\n", st.ToString().c_str());
  }
  Status Kill(int id) {
    VFS_RETURN_IF_ERROR(cluster_->KillData(id));
    dead_.push_back(id);
    return Status::Ok();
  }
  // Retries each revival for up to two minutes: the port of a server killed with connections
  // open may be refused for a while (TIME_WAIT), depending on how mkcluster checks it.
  Status ReviveAll() {
    Status first;
    for (int id : dead_) {
      Status st;
      WaitUntil(
          [&] {
            st = cluster_->ReviveData(id);
            return st.ok();
          },
          std::chrono::seconds(120), std::chrono::seconds(1));
      if (!st.ok() && first.ok()) first = st;
    }
    dead_.clear();
    return first;
  }

 private:
  TestCluster* cluster_;
  std::vector<int> dead_;
};

// A whole-file read on its own thread. With `pause_at` set it stops after that many bytes
// (the file still open, read-ahead under way) until Resume().
class BackgroundRead {
 public:
  void Start(const std::string& path, uint64_t pause_at = UINT64_MAX) {
    thread_ = std::thread([this, path, pause_at] {
      result_ = ReadSha256(path, [&](uint64_t bytes) {
        if (bytes < pause_at) return;
        std::unique_lock<std::mutex> l(mu_);
        paused_ = !resumed_;
        cv_.notify_all();
        cv_.wait(l, [&] { return resumed_; });
      });
      done_ = true;
    });
  }
  // True once the reader reached `pause_at` (or ended), within `timeout`.
  bool WaitPaused(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, timeout, [&] { return paused_ || done_; });
  }
  void Resume() {
    std::lock_guard<std::mutex> l(mu_);
    resumed_ = true;
    cv_.notify_all();
  }
  // Waits for the read to end; if it does not within `timeout`, takes the mount down so the
  // blocked read returns, and reports false.
  bool Finish(TestMount& mount, std::chrono::milliseconds timeout) {
    Resume();
    bool ended = WaitUntil([&] { return done_.load(); }, timeout, std::chrono::milliseconds(100));
    if (!ended) mount.Abort();
    thread_.join();
    return ended;
  }
  ~BackgroundRead() {
    if (thread_.joinable()) {
      Resume();
      thread_.join();
    }
  }
  const StreamResult& result() const { return result_; }

 private:
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool paused_ = false, resumed_ = false;
  std::atomic<bool> done_{false};
  StreamResult result_;
};

class FuseFaultTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!FuseAvailable()) return;
    auto c = StartClusterWithUser(kUser, kPassword);
    if (!c.ok()) {
      setup_error_ = c.status().ToString();
      return;
    }
    cluster_ = std::move(c).value().release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!FuseAvailable()) {
      GTEST_SKIP() << "!!!!!!!! /dev/fuse is missing: the FUSE suite CANNOT RUN on this "
                      "machine and is SKIPPED. The mount is NOT tested here. !!!!!!!!";
    }
    ASSERT_NE(cluster_, nullptr) << setup_error_;
    ASSERT_EQ(setup_error_, "");
  }

  std::unique_ptr<TestMount> Mount() {
    auto m = TestMount::Start(*cluster_, kUser, kPassword);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? std::move(m).value() : nullptr;
  }

  // Data server id holding each shard index of `path`'s current version.
  std::vector<uint64_t> Servers(const std::string& path) {
    client::Vault v(cluster_->config());
    Status st = v.accounts().Login(kUser, kPassword);
    EXPECT_TRUE(st.ok()) << st.ToString();
    auto servers = ShardServers(v, path);
    EXPECT_TRUE(servers.ok()) << servers.status().ToString();
    return servers.ok() ? std::move(servers).value() : std::vector<uint64_t>{};
  }

  static TestCluster* cluster_;
  static std::string setup_error_;
};

TestCluster* FuseFaultTest::cluster_ = nullptr;
std::string FuseFaultTest::setup_error_;

TEST_F(FuseFaultTest, FourServersDieMidReadStillExact_FiveFailWithEioAndMountStaysUsable) {
  const std::string small = TestBytes(1000, 5);  // far under the inline threshold
  ASSERT_LT(small.size() + 16, cluster_->config().inline_threshold);
  std::string big_sha;
  {
    auto writer = Mount();
    ASSERT_NE(writer, nullptr);
    auto w = WritePattern(writer->Path("big"), kBigSize, 77);
    ASSERT_TRUE(w.ok()) << w.Describe() << "\n" << writer->Logs();
    big_sha = w.sha256;
    Status st = PutFile(writer->Path("small"), small);
    ASSERT_TRUE(st.ok()) << st.ToString();
    st = writer->Unmount();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  std::vector<uint64_t> servers = Servers("/big");
  ASSERT_EQ(servers.size(), 14u);

  auto reader = Mount();
  ASSERT_NE(reader, nullptr);
  auto failing = Mount();
  ASSERT_NE(failing, nullptr);
  KilledServers killed(cluster_);  // after the mounts: revived before they are taken down

  // 4 dead, among them holders of data shards, so the rest must be decoded from parity.
  {
    BackgroundRead bg;
    bg.Start(reader->Path("big"), 32ull << 20);
    ASSERT_TRUE(bg.WaitPaused(std::chrono::seconds(120))) << "no 32 MiB read in 2 minutes";
    for (int index : {0, 3, 6, 9}) {
      Status st = killed.Kill(servers[index]);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    ASSERT_TRUE(bg.Finish(*reader, std::chrono::seconds(300))) << "read hung with 4 servers dead\n"
                                                               << reader->Logs();
    EXPECT_TRUE(bg.result().ok()) << bg.result().Describe() << "\n" << reader->Logs();
    EXPECT_EQ(bg.result().bytes, kBigSize);
    EXPECT_EQ(bg.result().sha256, big_sha) << "read with 4 of 14 servers dead is not exact";
    std::printf("256 MiB read with 4 data servers killed mid-read: %s\n",
                bg.result().Describe().c_str());
  }

  // A 5th: fewer than k=10 shards of every segment are left. A mount that has not read the
  // file yet (no cache) must fail the read with EIO, promptly, and stay up.
  {
    Status st = killed.Kill(servers[1]);
    ASSERT_TRUE(st.ok()) << st.ToString();
    BackgroundRead bg;
    bg.Start(failing->Path("big"));
    ASSERT_TRUE(bg.Finish(*failing, kEioBound + seconds(60))) << "read with 5 servers dead hung\n"
                                                              << failing->Logs();
    EXPECT_EQ(bg.result().err, EIO) << bg.result().Describe();
    EXPECT_EQ(bg.result().op, "read") << bg.result().Describe();
    EXPECT_LT(bg.result().seconds, static_cast<double>(kEioBound.count()))
        << bg.result().Describe();
    std::printf("read with 5 data servers dead: %s\n", bg.result().Describe().c_str());
  }
  EXPECT_TRUE(ProcessAlive(failing->pid())) << "the daemon died\n" << failing->Logs();
  ASSERT_TRUE(IsFuseMountPoint(failing->path())) << failing->Logs();
  auto got_small = GetFile(failing->Path("small"));
  ASSERT_TRUE(got_small.ok()) << got_small.status().ToString() << "\n" << failing->Logs();
  EXPECT_EQ(*got_small, small) << "an inline file must still read with 5 servers dead";
  struct stat st {};
  EXPECT_EQ(stat(failing->Path("big").c_str(), &st), 0) << std::strerror(errno);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kBigSize);
  Status put = PutFile(failing->Path("note"), "metadata still works");
  EXPECT_TRUE(put.ok()) << "an inline write with 5 servers dead: " << put.ToString();

  // Servers back: the same mount reads the file again (its view of server health may take a
  // while to recover; poll with a deadline).
  Status revived = killed.ReviveAll();
  ASSERT_TRUE(revived.ok()) << revived.ToString();
  StreamResult again;
  bool recovered = WaitUntil(
      [&] {
        again = ReadSha256(failing->Path("big"));
        return again.ok();
      },
      std::chrono::seconds(180), std::chrono::seconds(2));
  EXPECT_TRUE(recovered) << "after reviving: " << again.Describe() << "\n" << failing->Logs();
  EXPECT_EQ(again.sha256, big_sha);
}

TEST_F(FuseFaultTest, UploadFailureAtCloseIsReportedKeptAndCommittedOnceServersReturn) {
  const uint64_t size = (3ull << 20) + 5;  // sharded, not inline
  ASSERT_GT(size, cluster_->config().inline_threshold);
  auto m = Mount();
  ASSERT_NE(m, nullptr);
  KilledServers killed(cluster_);
  for (int id : {2, 5, 8, 11, 14}) {
    Status st = killed.Kill(id);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  auto w = WritePattern(m->Path("pending"), size, 91);
  EXPECT_FALSE(w.ok()) << "close() succeeded with 5 of 14 servers dead (write quorum "
                       << cluster_->config().write_quorum << ")";
  EXPECT_EQ(w.op, "close") << w.Describe();
  EXPECT_EQ(w.err, EIO) << w.Describe();
  std::printf("close() with 5 data servers dead: %s\n", w.Describe().c_str());
  ASSERT_TRUE(ProcessAlive(m->pid())) << "the daemon died at close()\n" << m->Logs();
  // cp reports it too.
  WriteFile(m->scratch_dir() + "/cp-source", PatternBytes(93, 0, size));
  auto cp = RunCommand({"cp", m->scratch_dir() + "/cp-source", m->Path("pending-cp")});
  EXPECT_NE(cp.exit_code, 0) << "cp succeeded with 5 of 14 servers dead";
  EXPECT_NE(cp.err.find("Input/output error"), std::string::npos) << cp.err;
  auto f = WritePattern(m->Path("pending-fsync"), size, 92, /*fsync_before_close=*/true);
  EXPECT_FALSE(f.ok());
  EXPECT_EQ(f.op, "fsync") << f.Describe();
  EXPECT_EQ(f.err, EIO) << f.Describe();
  std::printf("fsync() with 5 data servers dead: %s\n", f.Describe().c_str());
  ASSERT_TRUE(ProcessAlive(m->pid())) << "the daemon died at fsync()\n" << m->Logs();

  Status revived = killed.ReviveAll();
  ASSERT_TRUE(revived.ok()) << revived.ToString();
  // The daemon kept the staged data and retries: wait until another client sees it committed.
  for (const auto& [name, seed] : {std::pair<std::string, uint64_t>{"pending", 91},
                                   std::pair<std::string, uint64_t>{"pending-fsync", 92},
                                   std::pair<std::string, uint64_t>{"pending-cp", 93}}) {
    const std::string want = PatternBytes(seed, 0, size);
    CommandResult cat;
    auto start = std::chrono::steady_clock::now();
    bool committed = WaitUntil(
        [&] {
          cat = cluster_->Vaultfs({"cat", "/" + name}, kUser, kPassword, seconds(60));
          return (cat.exit_code == 0 && cat.out == want) || !ProcessAlive(m->pid());
        },
        std::chrono::seconds(180), std::chrono::seconds(2));
    committed = committed && cat.exit_code == 0 && cat.out == want;
    ASSERT_TRUE(ProcessAlive(m->pid())) << "the daemon died while retrying\n" << m->Logs();
    EXPECT_TRUE(committed) << name << " never committed after the servers came back; last cat: "
                           << cat.exit_code << " " << cat.out.size() << " bytes, " << cat.err
                           << "\n"
                           << m->Logs();
    if (committed) {
      std::printf("%s committed %.1f s after the servers came back\n", name.c_str(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  // And a fresh mount reads it byte-exact.
  auto fresh = Mount();
  ASSERT_NE(fresh, nullptr);
  auto r = ReadSha256(fresh->Path("pending"));
  EXPECT_TRUE(r.ok()) << r.Describe();
  EXPECT_EQ(r.sha256, PatternSha256(size, 91));
  Status st = m->Unmount();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(FuseFaultTest, SigtermUnmountsAndCommitsWhatWasWritten) {
  auto m = Mount();
  ASSERT_NE(m, nullptr);
  auto w = WritePattern(m->Path("before-sigterm"), (2ull << 20) + 3, 61);
  ASSERT_TRUE(w.ok()) << w.Describe();
  Status st = PutFile(m->Path("small-before-sigterm"), "small");
  ASSERT_TRUE(st.ok()) << st.ToString();
  ASSERT_EQ(kill(m->pid(), SIGTERM), 0);
  EXPECT_TRUE(WaitUntil([&] { return !IsFuseMountPoint(m->path()) && !ProcessAlive(m->pid()); },
                        std::chrono::seconds(120)))
      << "SIGTERM did not end the mount and the daemon\n"
      << m->Logs();
  auto cat = cluster_->Vaultfs({"cat", "/before-sigterm"}, kUser, kPassword);
  EXPECT_EQ(cat.exit_code, 0) << cat.err;
  EXPECT_TRUE(cat.out == PatternBytes(61, 0, (2ull << 20) + 3)) << cat.out.size() << " bytes";
  cat = cluster_->Vaultfs({"cat", "/small-before-sigterm"}, kUser, kPassword);
  EXPECT_EQ(cat.out, "small");
}

// Finds where bytes of `marker` appear in the files under a folder. Every 32-byte window of
// the marker at a 32-byte-aligned offset is indexed (by its first 8 bytes); each file is
// checked at every byte offset against that index. Any leaked run of 63 or more contiguous
// marker bytes contains an aligned window, so it is caught, in one pass over each file.
class MarkerScanner {
 public:
  static constexpr size_t kWindow = 32;

  explicit MarkerScanner(std::string marker) : marker_(std::move(marker)) {
    for (size_t i = 0; i + kWindow <= marker_.size(); i += kWindow) {
      index_.emplace(Prefix(marker_.data() + i), i);
    }
  }
  // "" if `bytes` holds no indexed window, else where the first one is.
  std::string LeakIn(std::string_view bytes) const {
    for (size_t pos = 0; pos + kWindow <= bytes.size(); ++pos) {
      auto [lo, hi] = index_.equal_range(Prefix(bytes.data() + pos));
      for (auto it = lo; it != hi; ++it) {
        if (memcmp(bytes.data() + pos, marker_.data() + it->second, kWindow) == 0) {
          return "offset " + std::to_string(pos) + " holds marker bytes " +
                 std::to_string(it->second) + ".." + std::to_string(it->second + kWindow);
        }
      }
    }
    return "";
  }
  // "" if no regular file under `dir` holds marker bytes, else which and where; `files` counts
  // the files scanned.
  std::string LeakUnder(const std::string& dir, size_t* files) const {
    *files = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
      if (!e.is_regular_file(ec)) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream text;
      text << in.rdbuf();
      ++*files;
      const std::string where = LeakIn(text.str());
      if (!where.empty()) return e.path().string() + ": " + where;
    }
    return "";
  }

 private:
  static uint64_t Prefix(const char* p) {
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
  }
  const std::string marker_;
  std::unordered_multimap<uint64_t, size_t> index_;
};

Status PwriteAll(int fd, std::string_view data, uint64_t offset) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status(errno, std::string("pwrite: ") + strerror(errno));
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Staging files (".data") in `staging` and their sizes.
std::map<std::string, uint64_t> StagingFiles(const std::string& staging) {
  std::map<std::string, uint64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(staging, ec)) {
    if (e.path().extension() == ".data") out[e.path().filename().string()] = e.file_size(ec);
  }
  return out;
}

TEST_F(FuseFaultTest, NoPlaintextOfAWrittenFileReachesTheCacheDir) {
  const uint64_t seed = std::random_device{}();
  std::printf("marker seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::string marker(1 << 20, '\0');
  for (auto& c : marker) c = static_cast<char>(rng());
  const MarkerScanner scan(marker);
  // The scanner itself: a run of 63 marker bytes at an odd offset is found.
  ASSERT_NE(scan.LeakIn("xyz" + marker.substr(100001, 63) + "abc"), "");
  ASSERT_EQ(scan.LeakIn(marker.substr(100001, 62)), "");

  auto m = Mount();
  ASSERT_NE(m, nullptr);
  const std::string staging = m->cache_dir() + "/staging";
  size_t files = 0;
  auto expect_clean = [&](const char* when) {
    const std::string leak = scan.LeakUnder(m->cache_dir(), &files);
    EXPECT_EQ(leak, "") << when << ": plaintext of the marker in the cache dir";
    std::printf("%s: %zu files in the cache dir scanned, no marker bytes\n", when, files);
  };

  // 1. Open and dirty: an unaligned head first (a read-modify-write of a block), the rest in
  // 128 KiB writes like cp's.
  const int fd = open(m->Path("marker").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(PwriteAll(fd, std::string_view(marker).substr(0, 1000), 0).ok());
  for (size_t off = 1000; off < marker.size(); off += 128 << 10) {
    Status st = PwriteAll(fd, std::string_view(marker).substr(off, 128 << 10), off);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  uint64_t staged = 0;
  for (const auto& [name, size] : StagingFiles(staging)) staged = std::max(staged, size);
  ASSERT_GE(staged, marker.size()) << "the marker is not staged on disk; the scan proves nothing";
  expect_clean("open and dirty");
  // 2. Closed: committed.
  ASSERT_EQ(close(fd), 0) << strerror(errno) << "\n" << m->Logs();
  expect_clean("after close");

  // 3. A commit that fails: the data stays, journaled, for a later commit.
  {
    KilledServers killed(cluster_);
    for (int id : {1, 4, 7, 10, 13}) {
      Status st = killed.Kill(id);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    const int jfd = open(m->Path("marker-journaled").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
    ASSERT_GE(jfd, 0) << strerror(errno);
    Status st = PwriteAll(jfd, marker, 0);
    ASSERT_TRUE(st.ok()) << st.ToString();
    EXPECT_NE(close(jfd), 0) << "close() succeeded with 5 of 14 data servers dead";
    bool journaled = false;
    for (const auto& e : std::filesystem::directory_iterator(staging)) {
      journaled = journaled || e.path().extension() == ".json";
    }
    EXPECT_TRUE(journaled) << "no journal after a failed commit\n" << m->Logs();
    expect_clean("after a failed commit (journaled)");
  }  // revived: the daemon commits it in the background

  // 4. SIGKILL of the daemon while a writer is busy.
  std::set<std::string> before;
  for (const auto& [name, size] : StagingFiles(staging)) before.insert(name);
  const int kfd = open(m->Path("marker-killed").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ASSERT_GE(kfd, 0) << strerror(errno);
  std::atomic<int> write_errno{0};
  std::thread writer([&] {
    for (uint64_t round = 0;; ++round) {  // until the mount is gone
      for (size_t off = 0; off < marker.size(); off += 64 << 10) {
        Status st = PwriteAll(kfd, std::string_view(marker).substr(off, 64 << 10),
                              off + (round % 3) * 333);  // unaligned after the first round
        if (!st.ok()) {
          write_errno = st.code();
          return;
        }
      }
    }
  });
  const bool staging_full = WaitFor(
      [&] {
        for (const auto& [name, size] : StagingFiles(staging)) {
          if (!before.count(name) && size >= marker.size()) return true;
        }
        return write_errno.load() != 0;
      },
      std::chrono::seconds(60));
  EXPECT_TRUE(staging_full) << "the writer's data never reached the staging dir";
  EXPECT_EQ(write_errno.load(), 0) << "the writer failed before the daemon was killed";
  ASSERT_EQ(kill(m->pid(), SIGKILL), 0);
  EXPECT_TRUE(WaitFor([&] { return !ProcessAlive(m->pid()); }, std::chrono::seconds(30)));
  writer.join();
  close(kfd);
  EXPECT_NE(write_errno.load(), 0) << "writes went on after the daemon died";
  expect_clean("after SIGKILL of the daemon mid-write");
  m->Abort();
}

}  // namespace
}  // namespace vaultfs::testing
