// The mount daemons' pid registry (src/fuse/daemon_registry.h) in a hostile /tmp: a planted
// link, a folder someone else owns or others may write, and a link at the pid file's name
// must never make the daemon write to a file of its user's (issue 20, item 7).
#include "src/fuse/daemon_registry.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vaultfs::fuse {
namespace {

namespace fs = std::filesystem;

constexpr char kMount[] = "/home/alice/vault";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DaemonRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-registry-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    tmp_ = tmpl;
    victim_ = tmp_ + "/victim";
    std::ofstream(victim_) << "precious\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(tmp_, ec);
  }
  // The file of the user's that a planted link pointed at still holds what it held.
  void ExpectVictimUntouched() { EXPECT_EQ(Slurp(victim_), "precious\n"); }

  std::string tmp_, victim_;
};

TEST(DaemonRegistryDir, XdgRuntimeDirOrPerUserTmpFolder) {
  EXPECT_EQ(DaemonRegistry::DefaultDir("/run/user/1000", 1000), "/run/user/1000/vaultfs");
  EXPECT_EQ(DaemonRegistry::DefaultDir("", 1000), "/tmp/vaultfs-1000");
  EXPECT_EQ(DaemonRegistry::DefaultDir(nullptr, 42), "/tmp/vaultfs-42");
}

TEST_F(DaemonRegistryTest, MissingFolderIsCreatedPrivateAndRecordsRoundTrip) {
  const std::string dir = tmp_ + "/vaultfs-1000";
  mode_t saved = umask(022);
  DaemonRegistry reg(dir);
  Status st = reg.Record(kMount, 4242);
  umask(saved);
  ASSERT_TRUE(st.ok()) << st.ToString();
  struct stat s {};
  ASSERT_EQ(lstat(dir.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0700u);
  const std::string file = dir + "/" + DaemonRegistry::FileName(kMount);
  ASSERT_EQ(lstat(file.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 07777, 0600u);
  EXPECT_EQ(reg.Lookup(kMount), 4242);
  EXPECT_EQ(reg.Lookup("/elsewhere"), 0);
  reg.Forget(kMount);
  EXPECT_FALSE(fs::exists(file));
  EXPECT_EQ(reg.Lookup(kMount), 0);
}

// The attack of the issue: /tmp/vaultfs-<uid> made in advance as a link to a folder of the
// victim's, so the pid file lands in (and overwrites) a file there.
TEST_F(DaemonRegistryTest, FolderThatIsASymlinkIsRefused) {
  const std::string target = tmp_ + "/victims-folder";
  ASSERT_EQ(mkdir(target.c_str(), 0700), 0);
  const std::string planted = target + "/" + DaemonRegistry::FileName(kMount);
  std::ofstream(planted) << "precious\n";
  const std::string dir = tmp_ + "/vaultfs-1000";
  ASSERT_EQ(symlink(target.c_str(), dir.c_str()), 0);
  DaemonRegistry reg(dir);
  Status st = reg.Check();
  EXPECT_EQ(st.code(), ELOOP) << st.ToString();
  EXPECT_NE(st.message().find(dir), std::string::npos) << st.ToString();
  EXPECT_EQ(reg.Record(kMount, 4242).code(), ELOOP);
  EXPECT_EQ(Slurp(planted), "precious\n");
  EXPECT_EQ(reg.Lookup(kMount), 0) << "a record reached through a link is not trusted";
  reg.Forget(kMount);
  EXPECT_TRUE(fs::exists(planted));
}

TEST_F(DaemonRegistryTest, LinkAtThePidFileNameIsReplacedNotWrittenThrough) {
  const std::string dir = tmp_ + "/vaultfs-1000";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const std::string file = dir + "/" + DaemonRegistry::FileName(kMount);
  ASSERT_EQ(symlink(victim_.c_str(), file.c_str()), 0);
  DaemonRegistry reg(dir);
  EXPECT_EQ(reg.Lookup(kMount), 0) << "a link is not read as a record";
  ASSERT_TRUE(reg.Record(kMount, 4242).ok());
  ExpectVictimUntouched();
  struct stat s {};
  ASSERT_EQ(lstat(file.c_str(), &s), 0);
  EXPECT_TRUE(S_ISREG(s.st_mode));
  EXPECT_EQ(reg.Lookup(kMount), 4242);
  // A dangling link is not followed to create its target either.
  const std::string other = dir + "/" + DaemonRegistry::FileName("/mnt/other");
  const std::string created = tmp_ + "/would-be-created";
  ASSERT_EQ(symlink(created.c_str(), other.c_str()), 0);
  ASSERT_TRUE(reg.Record("/mnt/other", 7).ok());
  EXPECT_FALSE(fs::exists(created));
  EXPECT_EQ(reg.Lookup("/mnt/other"), 7);
}

TEST_F(DaemonRegistryTest, FolderOthersMayWriteIsRefusedAndUntouched) {
  for (mode_t mode : {0777, 01777, 0755, 0770, 0703}) {
    SCOPED_TRACE(mode);
    const std::string dir = tmp_ + "/open-" + std::to_string(mode);
    ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
    ASSERT_EQ(chmod(dir.c_str(), mode), 0);
    // Someone else's record there names a process of their choosing.
    std::ofstream(dir + "/" + DaemonRegistry::FileName(kMount)) << "1\n";
    DaemonRegistry reg(dir);
    Status st = reg.Record(kMount, 4242);
    EXPECT_EQ(st.code(), EACCES) << st.ToString();
    EXPECT_NE(st.message().find("chmod 700 " + dir), std::string::npos) << st.ToString();
    EXPECT_EQ(Slurp(dir + "/" + DaemonRegistry::FileName(kMount)), "1\n");
    EXPECT_EQ(reg.Lookup(kMount), 0);
    struct stat s {};
    ASSERT_EQ(lstat(dir.c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 07777, mode) << "the check changes nothing";
  }
}

TEST_F(DaemonRegistryTest, FolderOfAnotherUserIsRefused) {
  const std::string dir = tmp_ + "/vaultfs-1000";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  const uid_t other = geteuid() == 65534 ? 65533 : 65534;
  if (chown(dir.c_str(), other, other) != 0) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot chown a folder to another uid (not root): "
                 << std::strerror(errno);
  }
  DaemonRegistry reg(dir);
  Status st = reg.Record(kMount, 4242);
  EXPECT_EQ(st.code(), EACCES) << st.ToString();
  EXPECT_NE(st.message().find("belongs to uid " + std::to_string(other)), std::string::npos)
      << st.ToString();
  EXPECT_FALSE(fs::exists(dir + "/" + DaemonRegistry::FileName(kMount)));
}

TEST_F(DaemonRegistryTest, GarbageRecordsAreNoPid) {
  const std::string dir = tmp_ + "/vaultfs-1000";
  ASSERT_EQ(mkdir(dir.c_str(), 0700), 0);
  DaemonRegistry reg(dir);
  const std::string file = dir + "/" + DaemonRegistry::FileName(kMount);
  for (const char* text : {"", "x\n", "-5\n", "0\n", "12abc\n", "99999999999999999999\n"}) {
    std::ofstream(file, std::ios::trunc) << text;
    EXPECT_EQ(reg.Lookup(kMount), 0) << text;
  }
  // A folder where a file is expected.
  fs::remove(file);
  ASSERT_EQ(mkdir(file.c_str(), 0700), 0);
  EXPECT_EQ(reg.Lookup(kMount), 0);
}

}  // namespace
}  // namespace vaultfs::fuse
