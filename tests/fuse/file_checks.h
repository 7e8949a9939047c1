// Test support for the 'fuse' suite: file contents and trees checked with plain system calls,
// so that an error from the mount shows as the errno of the exact call that failed.
//
//  - Pattern files: deterministic content of any size (block i of seed s is TestBytes(1 MiB,
//    f(s, i))), streamed in 1 MiB blocks so a 2 GiB file never sits in memory, with SHA-256.
//  - Tree listings: one sorted line per entry (path, type, mode, owner, size, mtime, symlink
//    target) to compare a copied tree with its source beyond what `diff -r` looks at.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "src/common/status.h"

namespace vaultfs::testing {

// Outcome of streaming a whole file: `err` is the errno of the first failing call (0: none)
// and `op` names that call ("open", "write", "fsync", "close", "read").
struct StreamResult {
  int err = 0;
  std::string op;
  uint64_t bytes = 0;
  std::string sha256;  // of the bytes written or read
  double seconds = 0;
  bool ok() const { return err == 0; }
  std::string Describe() const;  // "read failed after N bytes: EIO (...)"
};

// Writes `size` bytes of pattern `seed` to `path` (created 0644 or truncated), optionally
// fsyncs, and closes; close()'s result counts (FUSE reports upload failures there).
StreamResult WritePattern(const std::string& path, uint64_t size, uint64_t seed,
                          bool fsync_before_close = false);
// Bytes [offset, offset+len) of pattern `seed`.
std::string PatternBytes(uint64_t seed, uint64_t offset, size_t len);
// SHA-256 (hex) of the first `size` bytes of pattern `seed`.
std::string PatternSha256(uint64_t size, uint64_t seed);

// Reads `path` to its end with read(2) in 1 MiB calls. `on_progress` (if set) is called with
// the byte count after every call, for a test that acts in the middle of a read (it may
// block, holding the read open at that point).
StreamResult ReadSha256(const std::string& path,
                        const std::function<void(uint64_t)>& on_progress = {});

// Writes `data` to `path` (O_CREAT|O_TRUNC, `mode` under the umask); errors name the call.
Status PutFile(const std::string& path, const std::string& data, mode_t mode = 0644);
// The whole content of `path` read with read(2).
Result<std::string> GetFile(const std::string& path);

// Status(err, "what: strerror(err)").
Status ErrnoStatus(int err, const std::string& what);

enum class MtimePrecision { kNanoseconds, kSeconds };
// Sorted "relative-path|type|mode|uid:gid|size|mtime|link-target" lines for everything below
// `dir` (not `dir` itself; symlinks not followed; size left out for directories, whose sizes
// differ between filesystems).
Result<std::string> TreeListing(const std::string& dir,
                                MtimePrecision precision = MtimePrecision::kNanoseconds);
// "" if the two listings are equal, else the first `max_lines` differing lines of each.
std::string ListingDiff(const std::string& want, const std::string& got, size_t max_lines = 20);

}  // namespace vaultfs::testing
