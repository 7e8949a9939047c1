// Suite 'fuse': issue 22's random-operation test. One seeded sequence of system calls on a few
// files of a real mount — writes at random offsets and sizes (many across the 1 MiB segment
// boundaries, some far out to leave holes), truncates, fallocate in every supported mode,
// user. xattrs, reads, open/close, fsync, rename, unlink, directory listings, clean remounts
// and SIGKILLs of the daemon — each checked against an in-memory model of the files.
//
// What the model holds the mount to (man/vaultfs.1, MOUNT, and VaultFs/OpenFile):
//  - Reads, stat and listings always show every change made so far (one mount, one process).
//  - Content is durable once a close() of a descriptor that changed the file (VaultFs::Flush
//    commits only for such a handle), an fsync() of any descriptor of it, or a truncate(2) by
//    name returned 0: each commits the file's whole current content, whichever descriptor
//    made the changes.
//  - After a clean unmount and mount, every file reads back exactly (umount commits all).
//  - After a SIGKILL of the daemon and a mount of the same cache dir, a file reads back as
//    one of the contents the service may hold: the last acknowledged one, or one a commit
//    nobody waited for may have stored since (the commit at the release of a file's last
//    descriptor) — never anything else, so never a torn mixture.
//    A new file never committed may be absent, or empty if something created it in the
//    service first (a listing, rename, unlink or xattr change creates the files still open
//    here). Whichever state came back is adopted and the run goes on.
//  - Names (rename, unlink, mkdir) and xattrs are synchronous with the metadata service: they
//    are exact after a SIGKILL too.
//
// VAULTFS_MODEL_OPS sets the number of operations (default 5000: 2-3 minutes with the
// cluster's start on a 2-core machine; tools/soak-model runs 100,000) and VAULTFS_MODEL_SEED
// the seed (default 22). The run stops at the first mismatch and prints the op index, the
// last operations and the environment that replays the run up to that op.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "tests/cluster/cluster_fixture.h"
#include "tests/fuse/file_checks.h"
#include "tests/fuse/mount_fixture.h"

namespace vaultfs::testing {
namespace {

constexpr char kUser[] = "model";
constexpr char kPassword[] = "model tests password";
constexpr uint64_t kDefaultOps = 5000;
constexpr uint64_t kDefaultSeed = 22;

constexpr uint64_t kSegment = uint64_t{1} << 20;  // the default layout's segment size
constexpr uint64_t kMaxFileSize = (uint64_t{8} << 20) + (512 << 10);  // the model's cap
constexpr size_t kMaxWrite = 300 << 10;
constexpr size_t kMaxOpenFds = 6;
// Five names in two directories (below the run's own directory); "sub" is also an xattr
// target.
const std::vector<std::string> kNames = {"f0", "f1", "f2", "sub/f3", "sub/f4"};
constexpr char kSubdir[] = "sub";
const std::vector<std::string> kXattrNames = {
    "user.m0", "user.m1", "user.m2", "user.m3",
    "user.long-name-of-an-attribute-" + std::string(100, 'x')};

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// A system call's result and its errno, taken at once (before building a message can change
// errno): Call c = Do(close(fd)).
struct Call {
  long rc;
  int err;
};
Call Do(long rc) { return {rc, rc < 0 ? errno : 0}; }

std::string Errno(int e) { return std::string(strerrorname_np(e) ? strerrorname_np(e) : "?"); }

// Choices from one seed. Not std::*_distribution: their output differs between standard
// libraries, and a seed must replay the same run anywhere.
class Rng {
 public:
  explicit Rng(uint64_t seed) : g_(seed) {}
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : g_() % n; }
  uint64_t Between(uint64_t lo, uint64_t hi) { return lo + Below(hi - lo + 1); }  // inclusive
  bool Percent(unsigned p) { return Below(100) < p; }
  std::string Bytes(size_t n) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; i += 8) {
      const uint64_t v = g_();
      std::memcpy(s.data() + i, &v, std::min<size_t>(8, n - i));
    }
    return s;
  }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(v.size())];
  }

 private:
  std::mt19937_64 g_;
};

// What the service may hold for a file; nullopt: not created there (yet).
using Stored = std::optional<std::string>;

struct Inode {
  std::string data;                           // what reads must return now
  std::map<std::string, std::string> xattrs;  // user. attributes, exact at all times
  // Every content the service may hold for this file if the daemon died now: the last
  // acknowledged one, and any a commit nobody waited for may have stored since.
  std::vector<Stored> durable;
  int fds = 0;  // open descriptors

  void Ack() { durable = {data}; }
  void MayStore(const Stored& s) {
    if (std::find(durable.begin(), durable.end(), s) == durable.end()) durable.push_back(s);
  }
  bool MaybeUncreated() const {
    return std::find(durable.begin(), durable.end(), Stored()) != durable.end();
  }
  // The file is certainly in the service now: created empty, unless a commit stored more.
  void Created() {
    if (!MaybeUncreated()) return;
    durable.erase(std::find(durable.begin(), durable.end(), Stored()));
    MayStore(std::string());
  }
};

struct OpenFd {
  int fd = -1;
  std::shared_ptr<Inode> inode;
  std::string name;  // at open (for the log)
  bool append = false;
  bool wrote = false;  // this descriptor changed the file: its close() commits
};

// "at 123456 of 200000 bytes: got 0x00, want 0x5a" for the first difference.
std::string Difference(const std::string& got, const std::string& want) {
  const size_t n = std::min(got.size(), want.size());
  size_t i = 0;
  while (i < n && got[i] == want[i]) ++i;
  if (i == n && got.size() == want.size()) return "equal";
  char buf[200];
  if (i == n) {
    std::snprintf(buf, sizeof(buf), "%zu bytes, want %zu (equal up to there)", got.size(),
                  want.size());
  } else {
    size_t run = i;  // how far the difference goes
    while (run < n && got[run] != want[run]) ++run;
    std::snprintf(buf, sizeof(buf),
                  "%zu bytes (want %zu); first difference at %zu (segment %zu + %zu), %zu "
                  "bytes long: got 0x%02x, want 0x%02x",
                  got.size(), want.size(), i, static_cast<size_t>(i / kSegment),
                  static_cast<size_t>(i % kSegment), run - i,
                  static_cast<unsigned>(static_cast<uint8_t>(got[i])),
                  static_cast<unsigned>(static_cast<uint8_t>(want[i])));
  }
  return buf;
}

class Model {
 public:
  Model(TestCluster* cluster, std::string cache_dir, uint64_t seed, uint64_t ops)
      : cluster_(cluster), cache_dir_(std::move(cache_dir)), seed_(seed), ops_(ops), rng_(seed) {}
  ~Model() {
    for (auto& f : fds_) close(f.fd);
  }

  // Runs the ops and a final remount with a full check; false on the first mismatch (the
  // failure is reported through gtest).
  bool Run();

 private:
  enum Op {
    kOpen,
    kWrite,
    kRead,
    kTruncate,
    kTruncateName,
    kFallocate,
    kFsync,
    kClose,
    kSetXattr,
    kGetXattr,
    kRemoveXattr,
    kListXattr,
    kUnlink,
    kRename,
    kStat,
    kCompareClosed,
    kList,
    kRemount,
    kKill,
    kOpCount
  };
  static const char* OpName(Op op);
  Op Choose();

  std::string Path(const std::string& name) const { return mount_->Path(top_ + "/" + name); }
  bool Mount();
  bool Fail(const std::string& what);
  bool Expect(bool ok, const std::string& what) { return ok || Fail(what); }
  void Log(const std::string& line);

  // Ops; false on a mismatch.
  bool Open();
  bool Write();
  bool Read();
  bool Truncate();
  bool TruncateName();
  bool Fallocate();
  bool Fsync();
  bool Close(size_t index);
  bool SetXattr();
  bool GetXattr();
  bool RemoveXattr();
  bool ListXattr();
  bool Unlink();
  bool Rename();
  bool Stat();
  bool CompareClosed();
  bool List();
  bool Remount();
  bool Kill();

  // Helpers.
  OpenFd& PickFd() { return fds_[rng_.Below(fds_.size())]; }
  std::optional<std::string> PickExisting();
  uint64_t WriteSize();
  uint64_t Offset(uint64_t size, uint64_t len);
  void DropFd(size_t index);
  // A listing, rename, unlink or xattr change first creates every file still open here
  // (OpenFiles::CreatePending); `sure` certainly exists afterwards (the op needed it).
  void PendingCreated(const std::shared_ptr<Inode>& sure);
  std::map<std::string, std::string>* XattrsOf(const std::string& target);
  bool CheckXattrs(const std::string& target, const std::map<std::string, std::string>& want);
  bool CheckListing();
  bool CheckContent(const std::string& name, const std::string& want);
  bool CloseAll(bool expect_ok);

  TestCluster* cluster_;
  const std::string cache_dir_;
  const uint64_t seed_;
  const uint64_t ops_;
  Rng rng_;
  std::unique_ptr<TestMount> mount_;
  std::string top_;  // the run's directory in the vault
  std::map<std::string, std::shared_ptr<Inode>> names_;
  std::map<std::string, std::string> subdir_xattrs_;
  std::vector<OpenFd> fds_;
  uint64_t index_ = 0;  // of the op under way
  std::deque<std::string> recent_;
  bool failed_ = false;
  uint64_t counts_[kOpCount] = {};
  // After kills: files that had unacknowledged changes, and how they came back: absent (never
  // created), or in an allowed state other than the last acknowledged one (created empty, or
  // what a release's commit stored).
  uint64_t unacked_at_kill_ = 0, came_back_other_ = 0, came_back_absent_ = 0;
};

const char* Model::OpName(Op op) {
  static const char* const kNamesOfOps[kOpCount] = {
      "open",  "write",    "read",     "ftruncate",   "truncate",  "fallocate", "fsync",
      "close", "setxattr", "getxattr", "removexattr", "listxattr", "unlink",    "rename",
      "stat",  "compare",  "list",     "remount",     "kill"};
  return kNamesOfOps[op];
}

// Weights per thousand ops.
Model::Op Model::Choose() {
  static const std::vector<std::pair<Op, unsigned>> kWeights = {
      {kOpen, 120},         {kWrite, 250},    {kRead, 130},  {kTruncate, 45}, {kTruncateName, 10},
      {kFallocate, 60},     {kFsync, 40},     {kClose, 100}, {kSetXattr, 45}, {kGetXattr, 30},
      {kRemoveXattr, 20},   {kListXattr, 15}, {kUnlink, 15}, {kRename, 25},   {kStat, 40},
      {kCompareClosed, 30}, {kList, 15},      {kRemount, 5}, {kKill, 5}};
  unsigned total = 0;
  for (const auto& [op, w] : kWeights) total += w;
  uint64_t r = rng_.Below(total);
  for (const auto& [op, w] : kWeights) {
    if (r < w) return op;
    r -= w;
  }
  return kRead;
}

void Model::Log(const std::string& line) {
  recent_.push_back("#" + std::to_string(index_) + " " + line);
  if (recent_.size() > 200) recent_.pop_front();
}

bool Model::Fail(const std::string& what) {
  if (failed_) return false;
  failed_ = true;
  std::string log;
  for (const auto& l : recent_) log += "  " + l + "\n";
  ADD_FAILURE() << "MISMATCH at op #" << index_ << " (seed " << seed_ << "): " << what
                << "\nlast operations:\n"
                << log << "replay: VAULTFS_MODEL_SEED=" << seed_
                << " VAULTFS_MODEL_OPS=" << index_ + 1 << " meson test -C build fuse_model\n"
                << (mount_ ? mount_->Logs(6000) : std::string());
  return false;
}

bool Model::Mount() {
  MountOptions o;
  o.cache_dir = cache_dir_;
  auto m = TestMount::Start(*cluster_, kUser, kPassword, o);
  if (!m.ok()) return Fail("mount: " + m.status().ToString());
  mount_ = std::move(*m);
  return true;
}

std::optional<std::string> Model::PickExisting() {
  if (names_.empty()) return std::nullopt;
  auto it = names_.begin();
  std::advance(it, rng_.Below(names_.size()));
  return it->first;
}

// 1 byte to 300 KiB, weighted to small and medium writes.
uint64_t Model::WriteSize() {
  const uint64_t r = rng_.Below(100);
  if (r < 25) return rng_.Between(1, 512);
  if (r < 55) return rng_.Between(513, 16 << 10);
  if (r < 85) return rng_.Between((16 << 10) + 1, 128 << 10);
  return rng_.Between((128 << 10) + 1, kMaxWrite);
}

// Where a write or fallocate of `len` bytes goes in a file of `size`: inside it, across a
// segment boundary, at its end, further out (a hole) or far out (3-8 MiB).
uint64_t Model::Offset(uint64_t size, uint64_t len) {
  uint64_t off = 0;
  const uint64_t r = rng_.Below(100);
  if (r < 35) {
    off = rng_.Below(size + 1);
  } else if (r < 60) {  // across (or right at) a boundary
    const uint64_t boundary = rng_.Between(1, 3) * kSegment;
    const uint64_t before = rng_.Below(std::min<uint64_t>(len, 8192) + 1);
    off = rng_.Percent(20) ? boundary : boundary - std::min(boundary, before);
  } else if (r < 75) {
    off = size;
  } else if (r < 92) {
    off = rng_.Below(5 * kSegment / 2);
  } else {
    off = rng_.Between(3 * kSegment, 8 * kSegment);
  }
  return std::min(off, kMaxFileSize - len);
}

void Model::DropFd(size_t index) {
  auto inode = fds_[index].inode;
  fds_.erase(fds_.begin() + static_cast<long>(index));
  --inode->fds;
}

void Model::PendingCreated(const std::shared_ptr<Inode>& sure) {
  for (auto& [name, inode] : names_) {
    if (!inode->MaybeUncreated()) continue;
    if (inode == sure) {
      inode->Created();
    } else {
      inode->MayStore(std::string());  // best effort (OpenFiles::CreatePending)
    }
  }
}

// ---- ops ----

bool Model::Open() {
  const std::string name = rng_.Pick(kNames);
  auto it = names_.find(name);
  const bool exists = it != names_.end();
  const bool create = exists ? rng_.Percent(20) : rng_.Percent(85);
  const bool trunc = rng_.Percent(10);
  const bool append = rng_.Percent(12);
  int flags = O_RDWR | O_CLOEXEC;
  if (create) flags |= O_CREAT;
  if (trunc) flags |= O_TRUNC;
  if (append) flags |= O_APPEND;
  Log("open " + name + std::string(create ? " O_CREAT" : "") + (trunc ? " O_TRUNC" : "") +
      (append ? " O_APPEND" : ""));
  const int fd = open(Path(name).c_str(), flags, 0644);
  const int err = errno;
  if (!exists && !create) {
    if (fd >= 0) close(fd);
    return Expect(
        fd < 0 && err == ENOENT,
        "open of absent " + name + ": " + (fd >= 0 ? "succeeded" : Errno(err)) + ", want ENOENT");
  }
  if (!Expect(fd >= 0, "open " + name + ": " + Errno(err))) return false;
  std::shared_ptr<Inode> inode;
  if (exists) {
    inode = it->second;
  } else {
    inode = std::make_shared<Inode>();
    inode->durable = {Stored()};  // the service learns of it with its first commit
    names_[name] = inode;
  }
  if (trunc) inode->data.clear();
  ++inode->fds;
  fds_.push_back({fd, inode, name, append, trunc});
  return true;
}

bool Model::Write() {
  OpenFd& f = PickFd();
  std::string& data = f.inode->data;
  const uint64_t len = WriteSize();
  const uint64_t off = Offset(data.size(), len);
  const uint64_t at = f.append ? data.size() : off;  // pwrite on O_APPEND appends (Linux)
  if (at + len > kMaxFileSize) return true;          // would pass the model's cap
  const std::string bytes = rng_.Bytes(len);
  Log("pwrite fd " + std::to_string(f.fd) + " (" + f.name + ") " + std::to_string(len) + " @ " +
      std::to_string(off) + (f.append ? " (append: @ " + std::to_string(at) + ")" : ""));
  size_t done = 0;
  while (done < len) {
    const Call c = Do(pwrite(f.fd, bytes.data() + done, len - done, off + done));
    if (c.rc <= 0) return Fail("pwrite: " + (c.rc < 0 ? Errno(c.err) : std::string("wrote 0")));
    const size_t n = static_cast<size_t>(c.rc);
    done += static_cast<size_t>(n);
  }
  if (data.size() < at + len) data.resize(at + len, '\0');
  data.replace(at, len, bytes);
  f.wrote = true;
  return true;
}

bool Model::Read() {
  OpenFd& f = PickFd();
  const std::string& data = f.inode->data;
  const uint64_t r = rng_.Below(100);
  uint64_t off = 0;
  if (r < 50) {
    off = rng_.Below(data.size() + (64 << 10));
  } else if (r < 80) {
    off = rng_.Between(1, 3) * kSegment - rng_.Below(64 << 10);
  } else if (r < 90) {
    off = data.size() > 1000 ? data.size() - rng_.Below(1000) : 0;
  }
  const uint64_t len = rng_.Percent(5) ? rng_.Between(kMaxWrite, 3 * kSegment) : WriteSize();
  Log("pread fd " + std::to_string(f.fd) + " (" + f.name + ") " + std::to_string(len) + " @ " +
      std::to_string(off));
  std::string got(len, '\0');
  size_t done = 0;
  while (done < len) {
    const Call c = Do(pread(f.fd, got.data() + done, len - done, off + done));
    if (c.rc < 0) return Fail("pread: " + Errno(c.err));
    const size_t n = static_cast<size_t>(c.rc);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  got.resize(done);
  const std::string want = off < data.size() ? data.substr(off, len) : std::string();
  return Expect(got == want, "pread " + std::to_string(len) + " @ " + std::to_string(off) + " of " +
                                 f.name + " (model size " + std::to_string(data.size()) +
                                 "): " + Difference(got, want));
}

bool Model::Truncate() {
  OpenFd& f = PickFd();
  const uint64_t size = f.inode->data.size();
  const uint64_t r = rng_.Below(100);
  uint64_t to = 0;
  if (r < 50) {
    to = rng_.Below(size + 1);
  } else if (r < 70) {
    to = rng_.Between(1, 3) * kSegment + rng_.Below(3) - 1;  // a boundary, or a byte either side
  } else {
    to = size + rng_.Between(1, 2 * kSegment);
  }
  to = std::min(to, kMaxFileSize);
  Log("ftruncate fd " + std::to_string(f.fd) + " (" + f.name + ") " + std::to_string(size) +
      " -> " + std::to_string(to));
  const Call c = Do(ftruncate(f.fd, static_cast<off_t>(to)));
  if (!Expect(c.rc == 0, "ftruncate: " + Errno(c.err))) {
    return false;
  }
  f.inode->data.resize(to, '\0');
  f.wrote = true;
  return true;
}

// truncate(2) by name: the daemon commits the file (with whatever else its descriptors
// changed) before it answers (VaultFs::SetAttr).
bool Model::TruncateName() {
  auto name = PickExisting();
  if (!name) return true;
  auto inode = names_[*name];
  const uint64_t to = std::min<uint64_t>(rng_.Below(inode->data.size() + kSegment), kMaxFileSize);
  Log("truncate " + *name + " " + std::to_string(inode->data.size()) + " -> " + std::to_string(to));
  const Call c = Do(truncate(Path(*name).c_str(), static_cast<off_t>(to)));
  if (!Expect(c.rc == 0, "truncate " + *name + ": " + Errno(c.err))) {
    return false;
  }
  inode->data.resize(to, '\0');
  inode->Ack();
  return true;
}

bool Model::Fallocate() {
  OpenFd& f = PickFd();
  std::string& data = f.inode->data;
  static const std::vector<std::pair<int, const char*>> kModes = {
      {0, "0"},
      {0, "0"},
      {FALLOC_FL_KEEP_SIZE, "KEEP_SIZE"},
      {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "PUNCH_HOLE|KEEP_SIZE"},
      {FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "PUNCH_HOLE|KEEP_SIZE"},
      {FALLOC_FL_ZERO_RANGE, "ZERO_RANGE"},
      {FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, "ZERO_RANGE|KEEP_SIZE"}};
  const auto& [mode, mode_name] = rng_.Pick(kModes);
  const uint64_t len = rng_.Percent(30) ? rng_.Between(1, 2 * kSegment) : WriteSize();
  const uint64_t off = Offset(data.size(), std::min(len, kMaxFileSize));
  if (off + len > kMaxFileSize) return true;
  Log("fallocate fd " + std::to_string(f.fd) + " (" + f.name + ") " + mode_name + " " +
      std::to_string(len) + " @ " + std::to_string(off) + " (size " + std::to_string(data.size()) +
      ")");
  const Call c = Do(fallocate(f.fd, mode, static_cast<off_t>(off), static_cast<off_t>(len)));
  if (!Expect(c.rc == 0, std::string("fallocate ") + mode_name + ": " + Errno(c.err))) {
    return false;
  }
  const uint64_t end = off + len;
  if ((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) && off < data.size()) {
    std::fill(data.begin() + static_cast<long>(off),
              data.begin() + static_cast<long>(std::min<uint64_t>(end, data.size())), '\0');
  }
  if (!(mode & FALLOC_FL_KEEP_SIZE) && end > data.size()) data.resize(end, '\0');
  f.wrote = true;
  return true;
}

bool Model::Fsync() {
  OpenFd& f = PickFd();
  const bool data_only = rng_.Percent(30);
  Log(std::string(data_only ? "fdatasync" : "fsync") + " fd " + std::to_string(f.fd) + " (" +
      f.name + ")");
  const Call c = Do(data_only ? fdatasync(f.fd) : fsync(f.fd));
  if (!Expect(c.rc == 0, "fsync: " + Errno(c.err))) return false;
  f.inode->Ack();
  return true;
}

bool Model::Close(size_t index) {
  OpenFd f = fds_[index];
  Log("close fd " + std::to_string(f.fd) + " (" + f.name + (f.wrote ? ", wrote" : "") + ")");
  DropFd(index);
  const Call c = Do(close(f.fd));
  if (!Expect(c.rc == 0, "close: " + Errno(c.err))) return false;
  if (f.wrote) f.inode->Ack();
  // The release of a file's last descriptor commits what is left (VaultFs::Release), without
  // anyone waiting for it.
  if (f.inode->fds == 0) f.inode->MayStore(f.inode->data);
  return true;
}

std::map<std::string, std::string>* Model::XattrsOf(const std::string& target) {
  if (target == kSubdir) return &subdir_xattrs_;
  return &names_[target]->xattrs;
}

bool Model::SetXattr() {
  auto name = PickExisting();
  const std::string target = !name || rng_.Percent(15) ? std::string(kSubdir) : *name;
  auto* xattrs = XattrsOf(target);
  const std::string& attr = rng_.Pick(kXattrNames);
  const uint64_t r = rng_.Below(100);
  const size_t len = r < 70 ? rng_.Below(257) : r < 95 ? rng_.Below(4097) : rng_.Below(16385);
  const std::string value = rng_.Bytes(len);
  const uint64_t f = rng_.Below(100);
  const int flags = f < 70 ? 0 : f < 85 ? XATTR_CREATE : XATTR_REPLACE;
  const bool present = xattrs->count(attr) > 0;
  Log("setxattr " + target + " " + attr.substr(0, 12) + " " + std::to_string(len) + " bytes" +
      (flags == XATTR_CREATE    ? " CREATE"
       : flags == XATTR_REPLACE ? " REPLACE"
                                : ""));
  const int rc = setxattr(Path(target).c_str(), attr.c_str(), value.data(), len, flags);
  const int err = rc == 0 ? 0 : errno;
  if (target != kSubdir) {
    auto inode = names_[target];
    if (inode->MaybeUncreated()) PendingCreated(inode);  // VaultFs::CheckXattrWritable
  }
  int want = 0;
  if (flags == XATTR_CREATE && present) want = EEXIST;
  if (flags == XATTR_REPLACE && !present) want = ENODATA;
  if (!Expect(err == want,
              "setxattr " + target + " " + attr + ": " + Errno(err) + ", want " + Errno(want))) {
    return false;
  }
  if (want == 0) (*xattrs)[attr] = value;
  return true;
}

bool Model::GetXattr() {
  auto name = PickExisting();
  const std::string target = !name || rng_.Percent(15) ? std::string(kSubdir) : *name;
  const auto* xattrs = XattrsOf(target);
  const std::string& attr = rng_.Pick(kXattrNames);
  Log("getxattr " + target + " " + attr.substr(0, 12));
  std::string buf(64 << 10, '\0');
  const Call c = Do(getxattr(Path(target).c_str(), attr.c_str(), buf.data(), buf.size()));
  auto it = xattrs->find(attr);
  if (it == xattrs->end()) {
    return Expect(c.err == ENODATA,
                  "getxattr " + target + " " + attr + ": " +
                      (c.rc < 0 ? Errno(c.err) : std::to_string(c.rc) + " bytes") +
                      ", want ENODATA");
  }
  if (!Expect(c.rc >= 0, "getxattr " + target + " " + attr + ": " + Errno(c.err))) return false;
  buf.resize(static_cast<size_t>(c.rc));
  return Expect(buf == it->second,
                "getxattr " + target + " " + attr + ": " + Difference(buf, it->second));
}

bool Model::RemoveXattr() {
  auto name = PickExisting();
  const std::string target = !name || rng_.Percent(15) ? std::string(kSubdir) : *name;
  auto* xattrs = XattrsOf(target);
  const std::string& attr = rng_.Pick(kXattrNames);
  Log("removexattr " + target + " " + attr.substr(0, 12));
  const int rc = removexattr(Path(target).c_str(), attr.c_str());
  const int err = rc == 0 ? 0 : errno;
  if (target != kSubdir) {
    auto inode = names_[target];
    if (inode->MaybeUncreated()) PendingCreated(inode);
  }
  const int want = xattrs->count(attr) ? 0 : ENODATA;
  if (!Expect(err == want,
              "removexattr " + target + " " + attr + ": " + Errno(err) + ", want " + Errno(want))) {
    return false;
  }
  xattrs->erase(attr);
  return true;
}

bool Model::CheckXattrs(const std::string& target, const std::map<std::string, std::string>& want) {
  std::string list(64 << 10, '\0');
  const Call c = Do(listxattr(Path(target).c_str(), list.data(), list.size()));
  if (!Expect(c.rc >= 0, "listxattr " + target + ": " + Errno(c.err))) return false;
  const size_t n = static_cast<size_t>(c.rc);
  std::set<std::string> got;
  for (size_t at = 0; at < n;) {
    const std::string one(list.c_str() + at);
    got.insert(one);
    at += one.size() + 1;
  }
  std::set<std::string> names;
  for (const auto& [k, v] : want) names.insert(k);
  auto join = [](const std::set<std::string>& s) {
    std::string out;
    for (const auto& x : s) out += (out.empty() ? "" : ",") + x.substr(0, 12);
    return "{" + out + "}";
  };
  if (!Expect(got == names, "listxattr " + target + ": " + join(got) + ", want " + join(names))) {
    return false;
  }
  for (const auto& [k, v] : want) {
    std::string buf(64 << 10, '\0');
    const Call g = Do(getxattr(Path(target).c_str(), k.c_str(), buf.data(), buf.size()));
    if (!Expect(g.rc >= 0, "getxattr " + target + " " + k + ": " + Errno(g.err))) return false;
    buf.resize(static_cast<size_t>(g.rc));
    if (!Expect(buf == v, "getxattr " + target + " " + k + ": " + Difference(buf, v))) {
      return false;
    }
  }
  return true;
}

bool Model::ListXattr() {
  auto name = PickExisting();
  const std::string target = !name || rng_.Percent(15) ? std::string(kSubdir) : *name;
  Log("listxattr " + target);
  return CheckXattrs(target, *XattrsOf(target));
}

bool Model::Unlink() {
  auto name = PickExisting();
  if (!name) return true;
  auto inode = names_[*name];
  Log("unlink " + *name + (inode->fds > 0 ? " (open)" : ""));
  const Call c = Do(unlink(Path(*name).c_str()));
  if (!Expect(c.rc == 0, "unlink " + *name + ": " + Errno(c.err))) return false;
  PendingCreated(inode);
  names_.erase(*name);
  return true;
}

bool Model::Rename() {
  auto from = PickExisting();
  if (!from) return true;
  std::string to = rng_.Pick(kNames);
  if (to == *from) return true;
  auto src = names_[*from];
  auto it = names_.find(to);
  const bool noreplace = rng_.Percent(20);
  Log(std::string(noreplace ? "renameat2 NOREPLACE " : "rename ") + *from + " -> " + to +
      (it != names_.end() ? " (replacing)" : ""));
  const int rc = noreplace ? renameat2(AT_FDCWD, Path(*from).c_str(), AT_FDCWD, Path(to).c_str(),
                                       RENAME_NOREPLACE)
                           : rename(Path(*from).c_str(), Path(to).c_str());
  const int err = rc == 0 ? 0 : errno;
  const int want = noreplace && it != names_.end() ? EEXIST : 0;
  PendingCreated(want == 0 ? src : nullptr);
  if (!Expect(err == want,
              "rename " + *from + " -> " + to + ": " + Errno(err) + ", want " + Errno(want))) {
    return false;
  }
  if (want != 0) return true;
  names_[to] = src;
  names_.erase(*from);
  return true;
}

bool Model::Stat() {
  struct stat st {};
  if (!fds_.empty() && rng_.Percent(50)) {
    OpenFd& f = PickFd();
    Log("fstat fd " + std::to_string(f.fd) + " (" + f.name + ")");
    const Call c = Do(fstat(f.fd, &st));
    if (!Expect(c.rc == 0, "fstat: " + Errno(c.err))) return false;
    return Expect(static_cast<uint64_t>(st.st_size) == f.inode->data.size(),
                  "fstat of " + f.name + ": size " + std::to_string(st.st_size) + ", want " +
                      std::to_string(f.inode->data.size()));
  }
  const std::string name = rng_.Pick(kNames);
  Log("stat " + name);
  const Call c = Do(stat(Path(name).c_str(), &st));
  auto it = names_.find(name);
  if (it == names_.end()) {
    return Expect(c.err == ENOENT,
                  "stat of absent " + name + ": " + (c.rc == 0 ? "exists" : Errno(c.err)));
  }
  if (!Expect(c.rc == 0, "stat " + name + ": " + Errno(c.err))) return false;
  return Expect(S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) == it->second->data.size(),
                "stat of " + name + ": size " + std::to_string(st.st_size) + ", want " +
                    std::to_string(it->second->data.size()));
}

bool Model::CheckContent(const std::string& name, const std::string& want) {
  auto got = GetFile(Path(name));
  if (!Expect(got.ok(), "read " + name + ": " + got.status().ToString())) return false;
  return Expect(*got == want, "content of " + name + ": " + Difference(*got, want));
}

// The whole content of a file no descriptor holds (if there is one), read through a new one.
bool Model::CompareClosed() {
  std::vector<std::string> closed, any;
  for (const auto& [name, inode] : names_) {
    any.push_back(name);
    if (inode->fds == 0) closed.push_back(name);
  }
  if (any.empty()) return true;
  const std::string name = rng_.Pick(closed.empty() ? any : closed);
  const auto& inode = names_[name];
  Log("compare " + name + " (" + std::to_string(inode->data.size()) + " bytes)");
  if (!CheckContent(name, inode->data)) return false;
  // Its read-only descriptor's release commits nothing but the access time.
  return true;
}

bool Model::CheckListing() {
  std::map<std::string, std::set<std::string>> want;  // directory -> names
  want[""].insert(kSubdir);
  want[kSubdir];
  for (const auto& [name, inode] : names_) {
    const size_t slash = name.find('/');
    if (slash == std::string::npos) {
      want[""].insert(name);
    } else {
      want[name.substr(0, slash)].insert(name.substr(slash + 1));
    }
  }
  for (const auto& [dir, names] : want) {
    std::set<std::string> got;
    const std::string path = dir.empty() ? mount_->Path(top_) : Path(dir);
    DIR* d = opendir(path.c_str());
    const int open_err = errno;
    if (!Expect(d != nullptr, "opendir " + path + ": " + Errno(open_err))) return false;
    errno = 0;
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        got.insert(e->d_name);
      }
    }
    const int err = errno;
    closedir(d);
    if (!Expect(err == 0, "readdir " + path + ": " + Errno(err))) return false;
    std::string g, w;
    for (const auto& n : got) g += " " + n;
    for (const auto& n : names) w += " " + n;
    if (!Expect(got == names, "listing of '" + dir + "':" + g + "; want" + w)) return false;
  }
  return true;
}

bool Model::List() {
  Log("list");
  // Opening a directory creates the files still open here first (VaultFs::OpenDir), and
  // the listing must show them: after it, each one is in the service.
  if (!CheckListing()) return false;
  for (auto& [name, inode] : names_) inode->Created();
  return true;
}

bool Model::CloseAll(bool expect_ok) {
  while (!fds_.empty()) {
    if (expect_ok) {
      if (!Close(fds_.size() - 1)) return false;
    } else {
      close(fds_.back().fd);  // the daemon is gone: ENOTCONN
      DropFd(fds_.size() - 1);
    }
  }
  return true;
}

// A clean unmount and a mount of the same cache dir: every file reads back exactly.
bool Model::Remount() {
  Log("remount");
  if (!CloseAll(true)) return false;
  Status st = mount_->Unmount();
  if (!Expect(st.ok(), "unmount: " + st.ToString())) return false;
  mount_.reset();
  if (!Mount()) return false;
  if (!CheckListing()) return false;
  if (!CheckXattrs(kSubdir, subdir_xattrs_)) return false;
  for (auto& [name, inode] : names_) {
    if (!CheckContent(name, inode->data)) return false;
    if (!CheckXattrs(name, inode->xattrs)) return false;
    inode->Ack();
  }
  return true;
}

// SIGKILL of the daemon with whatever is open and unacknowledged, then a mount of the same
// cache dir: each file is one of the contents the service may hold; that one is adopted.
bool Model::Kill() {
  std::string unacked;
  for (const auto& [name, inode] : names_) {
    if (inode->durable != std::vector<Stored>{inode->data}) {
      unacked += " " + name;
      ++unacked_at_kill_;
    }
  }
  Log("SIGKILL of the daemon (" + std::to_string(fds_.size()) +
      " open, unacknowledged:" + (unacked.empty() ? " none" : unacked) + ")");
  const pid_t pid = mount_->pid();
  const Call k = Do(kill(pid, SIGKILL));
  if (!Expect(k.rc == 0, "kill " + std::to_string(pid) + ": " + Errno(k.err))) {
    return false;
  }
  if (!Expect(WaitUntil([&] { return !ProcessAlive(pid); }, std::chrono::seconds(30)),
              "the daemon outlived SIGKILL by 30 s")) {
    return false;
  }
  CloseAll(false);
  mount_->Abort();  // the lazy unmount of a dead mount
  mount_.reset();
  if (!Mount()) return false;

  for (auto it = names_.begin(); it != names_.end();) {
    const std::string& name = it->first;
    Inode& inode = *it->second;
    struct stat st {};
    if (stat(Path(name).c_str(), &st) != 0) {
      const int err = errno;
      if (!Expect(err == ENOENT, "stat " + name + " after the kill: " + Errno(err))) return false;
      if (!Expect(inode.MaybeUncreated(),
                  name + " is gone after the kill, but it was in the service")) {
        return false;
      }
      ++came_back_absent_;
      it = names_.erase(it);
      continue;
    }
    auto got = GetFile(Path(name));
    if (!Expect(got.ok(), "read " + name + " after the kill: " + got.status().ToString())) {
      return false;
    }
    if (std::find(inode.durable.begin(), inode.durable.end(), Stored(*got)) ==
        inode.durable.end()) {
      std::string allowed;
      for (const auto& s : inode.durable) {
        allowed += "\n    " + (s ? Difference(*got, *s) : std::string("absent"));
      }
      return Fail(name + " after the kill is none of the contents the service may hold (" +
                  std::to_string(got->size()) + " bytes); against each:" + allowed);
    }
    if (inode.durable.front() != Stored(*got)) ++came_back_other_;
    inode.data = *got;
    inode.Ack();
    if (!CheckXattrs(name, inode.xattrs)) return false;
    ++it;
  }
  return CheckListing() && CheckXattrs(kSubdir, subdir_xattrs_);
}

bool Model::Run() {
  if (!Mount()) return false;
  top_ = "model-" + std::to_string(seed_);
  for (const std::string& dir : {mount_->Path(top_), Path(kSubdir)}) {
    const Call c = Do(mkdir(dir.c_str(), 0755));
    if (!Expect(c.rc == 0, "mkdir " + dir + ": " + Errno(c.err))) return false;
  }
  const auto start = std::chrono::steady_clock::now();
  for (index_ = 0; index_ < ops_ && !failed_; ++index_) {
    Op op = Choose();
    const bool needs_fd = op == kWrite || op == kRead || op == kTruncate || op == kFallocate ||
                          op == kFsync || op == kClose;
    if (needs_fd && fds_.empty()) op = kOpen;
    if (op == kOpen && fds_.size() >= kMaxOpenFds) op = kClose;
    ++counts_[op];
    bool ok = true;
    switch (op) {
      case kOpen:
        ok = Open();
        break;
      case kWrite:
        ok = Write();
        break;
      case kRead:
        ok = Read();
        break;
      case kTruncate:
        ok = Truncate();
        break;
      case kTruncateName:
        ok = TruncateName();
        break;
      case kFallocate:
        ok = Fallocate();
        break;
      case kFsync:
        ok = Fsync();
        break;
      case kClose:
        ok = Close(rng_.Below(fds_.size()));
        break;
      case kSetXattr:
        ok = SetXattr();
        break;
      case kGetXattr:
        ok = GetXattr();
        break;
      case kRemoveXattr:
        ok = RemoveXattr();
        break;
      case kListXattr:
        ok = ListXattr();
        break;
      case kUnlink:
        ok = Unlink();
        break;
      case kRename:
        ok = Rename();
        break;
      case kStat:
        ok = Stat();
        break;
      case kCompareClosed:
        ok = CompareClosed();
        break;
      case kList:
        ok = List();
        break;
      case kRemount:
        ok = Remount();
        break;
      case kKill:
        ok = Kill();
        break;
      case kOpCount:
        break;
    }
    if (!ok) return false;
  }
  // The end: everything closed and remounted must be exact.
  if (!Remount()) return false;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string mix;
  for (int op = 0; op < kOpCount; ++op) {
    mix += std::string(mix.empty() ? "" : ", ") + OpName(static_cast<Op>(op)) + " " +
           std::to_string(counts_[op]);
  }
  std::printf(
      "fuse_model: seed %llu: %llu operations in %.1f s, 0 mismatches (%s); at the kills %llu "
      "files had unacknowledged changes: %llu came back absent, %llu in another allowed state "
      "than the last acknowledged one\n",
      static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(ops_), seconds,
      mix.c_str(), static_cast<unsigned long long>(unacked_at_kill_),
      static_cast<unsigned long long>(came_back_absent_),
      static_cast<unsigned long long>(came_back_other_));
  Status st = mount_->Unmount();
  return Expect(st.ok(), "final unmount: " + st.ToString());
}

class FuseModelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!FuseAvailable()) return;
    auto c = StartClusterWithUser(kUser, kPassword);
    if (c.ok())
      cluster_ = c->release();
    else
      setup_error_ = c.status().ToString();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!FuseAvailable()) {
      GTEST_SKIP() << "!!!!!!!! /dev/fuse is missing: the FUSE suite CANNOT RUN on this machine "
                      "and is SKIPPED. The mount is NOT tested here. !!!!!!!!";
    }
    ASSERT_NE(cluster_, nullptr) << setup_error_;
  }

  static TestCluster* cluster_;
  static std::string setup_error_;
};
TestCluster* FuseModelTest::cluster_ = nullptr;
std::string FuseModelTest::setup_error_;

// The cache dir every mount of the run shares, as a user's ~/.cache/vaultfs does.
class TempCacheDir {
 public:
  TempCacheDir() {
    char tmpl[] = "/tmp/vaultfs-model-XXXXXX";
    if (mkdtemp(tmpl) != nullptr) path_ = tmpl;  // mode 0700
  }
  ~TempCacheDir() {
    std::error_code ec;
    const char* keep = std::getenv("VAULTFS_KEEP_MOUNT_DIRS");  // as the mount fixture does
    if (keep != nullptr && *keep != '\0') {
      std::printf("fuse_model: cache dir (with the daemon's log) kept in %s\n", path_.c_str());
    } else if (!path_.empty()) {
      std::filesystem::remove_all(path_, ec);
    }
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

TEST_F(FuseModelTest, RandomOperationsMatchTheModel) {
  const uint64_t seed = EnvU64("VAULTFS_MODEL_SEED", kDefaultSeed);
  const uint64_t ops = EnvU64("VAULTFS_MODEL_OPS", kDefaultOps);
  std::printf("fuse_model: seed %llu, %llu operations (VAULTFS_MODEL_SEED, VAULTFS_MODEL_OPS)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(ops));
  std::fflush(stdout);
  TempCacheDir cache;
  ASSERT_FALSE(cache.path().empty()) << "mkdtemp: " << std::strerror(errno);
  Model model(cluster_, cache.path(), seed, ops);
  EXPECT_TRUE(model.Run());
}

}  // namespace
}  // namespace vaultfs::testing
