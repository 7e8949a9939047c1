// Mount and unmount of a vault (DESIGN.md §7): `vaultfs mount` logs in, mounts, and returns
// once the mount is live, leaving a daemon that serves it; `vaultfs umount` unmounts and
// waits for that daemon to finish its uploads and exit.
//
// The daemon keeps its staging files, journal and log (vaultfs.log) in the cache dir, which
// one daemon holds at a time (a lock file). It records its pid in a registry keyed by the
// mount point so umount can find it.
#pragma once

#include <string>
#include <vector>

#include "src/common/cluster_config.h"
#include "src/common/status.h"

namespace vaultfs::fuse {

struct MountOptions {
  std::string mountpoint;
  std::string cache_dir;  // default: $XDG_CACHE_HOME/vaultfs/USER or ~/.cache/vaultfs/USER
  std::string pid_file;   // optional: the daemon's pid is written here
  bool foreground = false;
  bool debug = false;                  // libfuse request tracing (with --foreground)
  std::vector<std::string> fuse_opts;  // -o options passed to the kernel mount
  double attr_timeout = 1.0;
  // Bytes staged files may take in the cache dir; 0: StagingArea::DefaultCap.
  uint64_t staging_cap = 0;
};

// Returns once the mount is live (or failed); with `foreground`, only after it ends.
Status Mount(const ClusterConfig& config, const std::string& user, const std::string& password,
             MountOptions options);

// Unmounts and waits (up to `wait_s`) for the daemon to commit what it holds and exit.
Status Unmount(const std::string& mountpoint, int wait_s = 120);

std::string DefaultCacheDir(const std::string& user);

}  // namespace vaultfs::fuse
