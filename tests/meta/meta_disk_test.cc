// A metadata node on a full disk (issue 20, item 16): one `vaultfs-meta --single` whose data
// dir is a small tmpfs. Below its --reserve, writes that add data answer ENOSPC while reads and
// deletes go on; with no reserve, a database that cannot apply a committed entry makes the node
// refuse writes, not exit, and the entry is applied once space is freed. Tests run as root;
// without a tmpfs they are skipped loudly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

// One --single node with its data dir on a tmpfs of `size`. The node is killed and the tmpfs
// unmounted on destruction, whatever happened.
class TmpfsNode {
 public:
  explicit TmpfsNode(const char* size) : cluster_(1, /*single=*/true) {
    node_dir_ = cluster_.dir() + "/node1";
    std::filesystem::create_directories(node_dir_);
    mounted_ =
        mount("tmpfs", node_dir_.c_str(), "tmpfs", 0, (std::string("size=") + size).c_str()) == 0;
    if (!mounted_) mount_error_ = std::strerror(errno);
  }
  ~TmpfsNode() {
    cluster_.Kill(0);
    if (mounted_) umount2(node_dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  const std::string& mount_error() const { return mount_error_; }
  MetaCluster& cluster() { return cluster_; }
  const std::string& dir() const { return node_dir_; }

  uint64_t Avail() const {
    struct statvfs sv {};
    if (statvfs(node_dir_.c_str(), &sv) != 0) return 0;
    return static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  }
  // Writes a filler file until only `leave` bytes (rounded to pages) remain free; 0 fills the
  // filesystem completely.
  void Fill(uint64_t leave) {
    const std::string path = node_dir_ + "/filler";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    std::vector<char> buf(1u << 20, 'f');
    for (size_t chunk : {size_t(1) << 20, size_t(4096), size_t(1)}) {
      while (Avail() > leave + chunk || (leave == 0 && Avail() > 0)) {
        if (::write(fd, buf.data(), chunk) != static_cast<ssize_t>(chunk)) break;
      }
    }
    ::close(fd);
  }
  void Unfill() { std::filesystem::remove(node_dir_ + "/filler"); }

 private:
  MetaCluster cluster_;
  std::string node_dir_;
  bool mounted_ = false;
  std::string mount_error_;
};

struct Session {
  std::unique_ptr<MetaClient> c;
  int64_t root = 0;
};

Session Register(MetaCluster& cluster, const std::string& name) {
  Session s;
  MetaClientOptions o;
  o.deadline = std::chrono::seconds(10);
  s.c = cluster.Client(o);
  auto r = s.c->Call("register", {{"user", name},
                                  {"salt", "00112233"},
                                  {"kdf", {{"alg", "scrypt"}, {"n", 16384}}},
                                  {"auth_key", kAuth},
                                  {"wrapped_master_key", "wrapped-" + name}});
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  auto l = s.c->Login(name, kAuth);
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  if (l.ok()) s.root = (*l)["root"].get<int64_t>();
  return s;
}

// `name` is short (its lookup key); `pad` bytes are added to the sealed name stored.
Result<Json> Create(MetaClient& c, int64_t parent, const std::string& name, size_t pad = 0) {
  return c.Call(
      "create",
      {{"parent", parent}, {"key", K(name)}, {"name", "sealed-" + name + std::string(pad, 'x')}});
}

TEST(MetaDiskTest, BelowTheReserveWritesAnswerEnospcWhileReadsAndDeletesGoOn) {
  TmpfsNode node("64m");
  if (!node.mounted()) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot mount a tmpfs (" << node.mount_error() << ")";
  }
  node.cluster().SetExtraArgs({"--reserve", "24M"});
  ASSERT_TRUE(node.cluster().StartAll().ok()) << node.cluster().Log(0);
  Session s = Register(node.cluster(), "alice");
  ASSERT_GT(s.root, 0);
  auto& c = *s.c;
  auto d = c.Call("mkdir", {{"parent", s.root}, {"key", K("keep")}, {"name", "sealed-keep"}});
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_TRUE(Create(c, s.root, "f1").ok());

  node.Fill(16u << 20);
  ASSERT_LT(node.Avail(), 24u << 20);
  auto refused = Create(c, s.root, "f2");
  EXPECT_ERRNO(refused, ENOSPC);
  if (!refused.ok()) {
    EXPECT_NE(refused.status().message().find("reserve"), std::string::npos)
        << refused.status().message();
  }
  EXPECT_ERRNO(c.Call("mkdir", {{"parent", s.root}, {"key", K("d2")}, {"name", "x"}}), ENOSPC);
  EXPECT_ERRNO(c.Call("register", {{"user", "bob"},
                                   {"salt", "00112233"},
                                   {"kdf", {{"alg", "scrypt"}, {"n", 16384}}},
                                   {"auth_key", kAuth},
                                   {"wrapped_master_key", "w"}}),
               ENOSPC);
  // Reads go on.
  EXPECT_TRUE(c.Call("getattr", {{"ino", s.root}}).ok());
  EXPECT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K("f1")}}).ok());
  auto rd = c.Call("readdir", {{"ino", s.root}});
  ASSERT_TRUE(rd.ok()) << rd.status().ToString();
  EXPECT_EQ((*rd)["entries"].size(), 2u) << rd->dump();
  // Deleting is how space is freed: allowed.
  EXPECT_TRUE(c.Call("unlink", {{"parent", s.root}, {"key", K("f1")}}).ok());
  EXPECT_ERRNO(c.Call("lookup", {{"parent", s.root}, {"key", K("f1")}}), ENOENT);

  node.Unfill();
  auto f2 = Create(c, s.root, "f2");
  ASSERT_TRUE(f2.ok()) << f2.status().ToString();
  EXPECT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K("keep")}}).ok());
  EXPECT_EQ(node.cluster().State(0), "running");
}

// With no reserve the database itself runs out of space while applying a committed entry. The
// node must neither exit nor lose the entry: writes answer ENOSPC, reads go on, and once space
// is freed the waiting entry is applied and writes resume.
TEST(MetaDiskTest, DatabaseOutOfSpaceStallsWritesWithoutStoppingTheNode) {
  TmpfsNode node("48m");
  if (!node.mounted()) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot mount a tmpfs (" << node.mount_error() << ")";
  }
  node.cluster().SetExtraArgs({"--reserve", "0"});
  ASSERT_TRUE(node.cluster().StartAll().ok()) << node.cluster().Log(0);
  Session s = Register(node.cluster(), "alice");
  ASSERT_GT(s.root, 0);
  auto& c = *s.c;
  ASSERT_TRUE(Create(c, s.root, "before").ok());

  node.Fill(0);
  // Creates (with long names, so the database grows fast) until one fails.
  std::vector<std::string> created;
  std::string failed;
  Status failure;
  for (int i = 0; i < 20000 && failed.empty(); ++i) {
    const std::string name = "n" + std::to_string(i);
    auto r = Create(c, s.root, name, 400);
    if (r.ok()) {
      created.push_back(name);
    } else {
      failed = name;
      failure = r.status();
    }
  }
  ASSERT_FALSE(failed.empty()) << "the database never ran out of space";
  EXPECT_EQ(failure.code(), ENOSPC) << failure.ToString();
  EXPECT_EQ(node.cluster().State(0), "running") << node.cluster().Log(0);
  // Writes are refused, reads answered.
  EXPECT_ERRNO(Create(c, s.root, "refused"), ENOSPC);
  EXPECT_TRUE(c.Call("getattr", {{"ino", s.root}}).ok());
  EXPECT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K("before")}}).ok());
  if (!created.empty()) {
    EXPECT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K(created.back())}}).ok());
  }

  node.Unfill();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  Result<Json> after = Status(EIO, "not tried");
  while (std::chrono::steady_clock::now() < deadline) {
    after = Create(c, s.root, "after");
    if (after.ok() || after.status().code() != ENOSPC) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  ASSERT_TRUE(after.ok()) << after.status().ToString() << "\n" << node.cluster().Log(0);
  // Nothing committed is lost: every acknowledged create, and the one that was committed but
  // waited for space (its client saw ENOSPC for the retry, not for the entry).
  for (const std::string& name : created) {
    ASSERT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K(name)}}).ok()) << name;
  }
  EXPECT_TRUE(c.Call("lookup", {{"parent", s.root}, {"key", K(failed)}}).ok());
  EXPECT_EQ(node.cluster().State(0), "running");
  // The node went through the stall (its log lines from while the disk was full may be lost:
  // the log lives on the same tmpfs).
  const std::string log = node.cluster().Log(0);
  EXPECT_NE(log.find("disk space is back"), std::string::npos) << log;
  EXPECT_EQ(log.find("fatal metadata store error"), std::string::npos) << log;
}

}  // namespace
}  // namespace vaultfs::testing
