// The registry of running mount daemons: one pid file per mount point, so that `vaultfs umount`
// can wait for the daemon behind a mount point to commit its files and exit.
//
// Without XDG_RUNTIME_DIR the registry is /tmp/vaultfs-<uid>, a name anyone can predict and
// create first. The folder is therefore used only if it is this user's own (not a link, owned
// by this user, mode 0700; created so if absent), and pid files are replaced by rename, never
// written through whatever sits at their name: a planted link cannot redirect a write.
#pragma once

#include <sys/types.h>

#include <string>

#include "src/common/status.h"

namespace vaultfs::fuse {

class DaemonRegistry {
 public:
  // The registry in `dir` (see DefaultDir()).
  explicit DaemonRegistry(std::string dir) : dir_(std::move(dir)) {}

  // $XDG_RUNTIME_DIR/vaultfs when `xdg_runtime_dir` is set and not empty, else
  // /tmp/vaultfs-<uid>.
  static std::string DefaultDir(const char* xdg_runtime_dir, uid_t uid);
  // DefaultDir() of this process's environment and user.
  static DaemonRegistry ForThisUser();

  const std::string& dir() const { return dir_; }
  // The record's name in the folder: a digest of the mount point.
  static std::string FileName(const std::string& mountpoint);

  // Creates the folder (0700) or checks that it is this user's own; EACCES/ELOOP/ENOTDIR with
  // what is wrong and what to do otherwise.
  Status Check() const;
  // Check(), then records `pid` as the daemon of `mountpoint` (an absolute path).
  Status Record(const std::string& mountpoint, pid_t pid) const;
  // The recorded daemon of `mountpoint`, 0 if none, or if the folder or the file is not this
  // user's own (such a file is not trusted: it may name anyone's process).
  pid_t Lookup(const std::string& mountpoint) const;
  // Removes the record, if it is in a folder of this user's own.
  void Forget(const std::string& mountpoint) const;

 private:
  // The folder exists, is no link, is this user's and mode 0700 (nothing is created).
  bool IsOwnFolder() const;

  std::string dir_;
};

}  // namespace vaultfs::fuse
