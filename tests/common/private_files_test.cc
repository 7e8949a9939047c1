// EnsurePrivateDir and WritePrivateFile (src/common/private_files.h): folders open to others,
// links, foreign owners and planted symlinks are refused or defused; targets stay untouched.
#include "src/common/private_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vaultfs {
namespace {

namespace fs = std::filesystem;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

class PrivateFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vaultfs-private-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(PrivateFilesTest, CreatesMissingFoldersPrivateWhateverTheUmask) {
  mode_t saved = umask(022);
  Status st = EnsurePrivateDir(dir_ + "/a/b/c", "--data-dir");
  umask(saved);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(ModeOf(dir_ + "/a"), 0700u);
  EXPECT_EQ(ModeOf(dir_ + "/a/b"), 0700u);
  EXPECT_EQ(ModeOf(dir_ + "/a/b/c"), 0700u);
  EXPECT_TRUE(EnsurePrivateDir(dir_ + "/a/b/c", "--data-dir").ok());  // again: fine
}

TEST_F(PrivateFilesTest, FolderOpenToOthersIsRefusedWithTheFix) {
  for (mode_t mode : {0755, 0750, 0701, 0711, 0777, 0705}) {
    std::string d = dir_ + "/open" + std::to_string(mode);
    ASSERT_EQ(mkdir(d.c_str(), 0700), 0);
    ASSERT_EQ(chmod(d.c_str(), mode), 0);
    Status st = EnsurePrivateDir(d, "--storage");
    EXPECT_EQ(st.code(), EACCES) << std::oct << mode;
    EXPECT_NE(st.message().find("chmod 700 " + d), std::string::npos) << st.ToString();
    EXPECT_NE(st.message().find("--storage"), std::string::npos) << st.ToString();
    EXPECT_EQ(ModeOf(d), mode) << "the check must not change the folder";
  }
}

TEST_F(PrivateFilesTest, FileIsNotAFolder) {
  std::string f = dir_ + "/file";
  std::ofstream(f) << "x";
  EXPECT_EQ(EnsurePrivateDir(f, "--data-dir").code(), ENOTDIR);
  EXPECT_EQ(Slurp(f), "x");
}

TEST_F(PrivateFilesTest, SymlinksFollowedOrRefusedAsAsked) {
  std::string real = dir_ + "/real", link = dir_ + "/link";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  EXPECT_TRUE(EnsurePrivateDir(link, "--data-dir", DirLinks::kFollow).ok());
  Status st = EnsurePrivateDir(link, "runtime folder", DirLinks::kRefuse);
  EXPECT_EQ(st.code(), ELOOP) << st.ToString();
  // Following a link still checks the folder it reaches.
  ASSERT_EQ(chmod(real.c_str(), 0755), 0);
  EXPECT_EQ(EnsurePrivateDir(link, "--data-dir", DirLinks::kFollow).code(), EACCES);
  // A dangling link is not created through.
  std::string dangling = dir_ + "/dangling";
  ASSERT_EQ(symlink((dir_ + "/elsewhere").c_str(), dangling.c_str()), 0);
  EXPECT_FALSE(EnsurePrivateDir(dangling, "runtime folder", DirLinks::kRefuse).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/elsewhere"));
}

TEST_F(PrivateFilesTest, ForeignOwnerIsRefused) {
  // /  belongs to root; as root, a folder we chown to nobody serves instead.
  std::string foreign = "/";
  if (geteuid() == 0) {
    foreign = dir_ + "/foreign";
    ASSERT_EQ(mkdir(foreign.c_str(), 0700), 0);
    ASSERT_EQ(chown(foreign.c_str(), 65534, 65534), 0);
  }
  Status st = EnsurePrivateDir(foreign, "runtime folder", DirLinks::kRefuse);
  EXPECT_EQ(st.code(), EACCES) << st.ToString();
  EXPECT_NE(st.message().find("belongs to uid"), std::string::npos) << st.ToString();
}

TEST_F(PrivateFilesTest, WriteReplacesAPlantedSymlinkNotItsTarget) {
  std::string victim = dir_ + "/victim";
  std::ofstream(victim) << "precious";
  ASSERT_EQ(symlink(victim.c_str(), (dir_ + "/state").c_str()), 0);
  mode_t saved = umask(0);
  Status st = WritePrivateFile(dir_, "state", "12345\n");
  umask(saved);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(Slurp(dir_ + "/state"), "12345\n");
  EXPECT_EQ(ModeOf(dir_ + "/state"), 0600u);  // a regular file now, private
  // Replacing again leaves no temporary files behind.
  ASSERT_TRUE(WritePrivateFile(dir_, "state", "6\n").ok());
  EXPECT_EQ(Slurp(dir_ + "/state"), "6\n");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir_)) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 2);  // victim, state
}

TEST_F(PrivateFilesTest, WriteIntoAMissingFolderFails) {
  EXPECT_EQ(WritePrivateFile(dir_ + "/missing", "state", "x").code(), ENOENT);
}

}  // namespace
}  // namespace vaultfs
