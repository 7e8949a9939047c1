// Test support for the 'fuse' suite: a real `vaultfs mount` of a TestCluster user's vault on a
// temp dir with its own cache dir (or one the test keeps), pid file and log. Start() returns
// once the mount shows in /proc/self/mountinfo (with a deadline); the destructor ALWAYS takes it
// down again — `vaultfs umount`, then `fusermount3 -u -z`, then SIGKILL of the daemon by pid —
// and removes the temp dirs, even when the test failed half-way.
//
// Also the small tools the FUSE tests share: polling a condition with a deadline, process
// liveness and peak RSS from /proc, and running commands or system calls as another uid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/common/status.h"
#include "tests/cluster/cluster_fixture.h"

namespace vaultfs::testing {

// True if /dev/fuse exists (a machine without it cannot run this suite).
bool FuseAvailable();

// A fresh cluster (TestCluster::Start) with `user` registered.
Result<std::unique_ptr<TestCluster>> StartClusterWithUser(const std::string& user,
                                                          const std::string& password);

// True if a FUSE filesystem is mounted exactly at `path` (per /proc/self/mountinfo).
bool IsFuseMountPoint(const std::string& path);

// True if `pid` exists and is not a zombie (a daemon re-parented to a PID 1 that never reaps
// still has a /proc entry after it exited).
bool ProcessAlive(pid_t pid);

// VmHWM (peak resident set size) of `pid` in KiB, from /proc/PID/status.
std::optional<uint64_t> PeakRssKiB(pid_t pid);

// Polls `done` every `step` until it returns true (-> true) or `timeout` passes (-> false).
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step = std::chrono::milliseconds(50));

// Runs argv as uid/gid with no supplementary groups, through setpriv(1).
CommandResult RunAs(uid_t uid, gid_t gid, const std::vector<std::string>& argv,
                    std::chrono::seconds timeout = std::chrono::seconds(120));

// Runs `fn` in a forked child whose real, effective and saved ids are uid/gid, with no
// supplementary groups. `fn` returns 0 or an errno value; that value is returned here (255 if
// the child could not switch ids or died). Only system calls belong in `fn`.
int ErrnoAs(uid_t uid, gid_t gid, const std::function<int()>& fn);

struct MountOptions {
  std::vector<std::string> fuse_options;  // each passed as `-o X`
  bool debug = false;  // --debug (also forced by VAULTFS_FUSE_TEST_DEBUG=1 in the environment)
  std::chrono::seconds mount_timeout{120};
  // An existing cache dir (mode 0700) to use instead of a fresh one in the mount's temp dir;
  // it is kept when the mount goes, so a later mount of it recovers what this daemon left
  // there, as `vaultfs mount` of the same --cache-dir does after a crash.
  std::string cache_dir;
};

class TestMount {
 public:
  // Registers nothing: `user` must exist. On failure the error carries the daemon's output, and
  // whatever was started is cleaned up.
  static Result<std::unique_ptr<TestMount>> Start(const TestCluster& cluster,
                                                  const std::string& user,
                                                  const std::string& password,
                                                  MountOptions options = {});
  ~TestMount();

  TestMount(const TestMount&) = delete;
  TestMount& operator=(const TestMount&) = delete;

  const std::string& path() const { return mountpoint_; }
  std::string Path(const std::string& relative) const { return mountpoint_ + "/" + relative; }
  pid_t pid() const { return pid_; }
  const std::string& cache_dir() const { return cache_dir_; }
  // The mount's own temp dir (holds mnt/, cache/, the pid file and the log); a test may keep
  // scratch files here, outside the mount. Removed with the mount.
  const std::string& scratch_dir() const { return tmp_dir_; }

  // `vaultfs umount`: OK only if it exits 0, the mount is gone and the daemon has exited.
  Status Unmount(std::chrono::seconds timeout = std::chrono::seconds(300));

  // Takes the mount down by force (lazy unmount, SIGKILL): unblocks anything stuck in it.
  void Abort();

  // The mount command's and daemon's output (and any log file in the cache dir), the last
  // `max_bytes` of each.
  std::string Logs(size_t max_bytes = 16000) const;

 private:
  TestMount() = default;
  void Cleanup();
  void KillDaemon();

  std::string tmp_dir_;
  std::string mountpoint_;
  std::string cache_dir_;
  std::string pid_file_;
  std::string log_file_;
  std::string cluster_config_;
  pid_t pid_ = -1;
};

}  // namespace vaultfs::testing
