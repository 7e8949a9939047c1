// Private files: folders and small files that only the user running vaultfs may read. Servers
// keep password verifiers and key material in their data folders, and the mount daemon keeps
// its state in a runtime folder that may sit in a shared /tmp; both must neither be readable by
// other accounts nor be redirectable by a link someone else planted.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs {

// The umask every vaultfs server and the mount daemon set at start: whatever they create
// (databases and their -wal/-shm files, logs, objects, port and status files) is 0600 / 0700.
inline constexpr mode_t kPrivateUmask = 077;

enum class DirLinks {
  kFollow,  // a symlink to a private folder is fine (a data folder on another disk)
  kRefuse,  // the path itself must be a folder (a runtime folder in a shared /tmp)
};

// Makes sure `path` is a folder only this user can use: creates it (and missing parents) mode
// 0700 if absent; otherwise it must be a folder owned by this user with no group or other
// permission bits. `what` names it in messages (e.g. "--data-dir"). EACCES with the command
// that fixes it when the folder is open to others, ENOTDIR/ELOOP when it is not a folder.
Status EnsurePrivateDir(const std::string& path, std::string_view what,
                        DirLinks links = DirLinks::kFollow);

// Replaces dir/name with `content` without ever following a link at dir/name: the bytes go
// to a fresh temporary file in `dir` (O_EXCL | O_NOFOLLOW, mode 0600) that is then renamed
// over dir/name. A symlink planted at dir/name is replaced, its target left untouched.
Status WritePrivateFile(const std::string& dir, const std::string& name, std::string_view content);

}  // namespace vaultfs
