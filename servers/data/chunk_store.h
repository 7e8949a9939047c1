// ChunkStore: the data server's on-disk object store. Every method is a plain blocking call
// meant to run on libuv's thread pool (never on the event loop), and may be called from
// several pool threads at once.
//
// Layout under the storage root:
//   <root>/<user>/<chunk>.chunk   committed objects; <user> comes from a verified token
//   <root>/.tmp/<random>.tmp      uploads in progress; all removed by Open() at start-up
//   <root>/.storage-id            random id of this storage folder, made on first use
//
// Durability (DESIGN.md §3): an upload is written to a temp file, fsync'ed, renamed over the
// final name and the user directory is fsync'ed before the upload is acknowledged. rename()
// is atomic, so after a crash a reader finds the old object or the new one, never a mix.
// A new user directory is fsync'ed into the root before its first object is renamed in.
// Directory fsyncs are group-committed (DirSyncer): concurrent commits into one directory
// share a single fsync, always one that started after their own rename.
//
// Free-space reserve: a new upload is refused with ENOSPC unless the storage filesystem keeps
// at least `reserve` bytes free after it (statvfs, space available to unprivileged users), so
// a full disk stops uploads before it stops whatever else shares the disk (a metadata node's
// database, logs). An upload whose write still hits ENOSPC leaves no temp file behind.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "src/common/data_protocol.h"
#include "src/common/status.h"

namespace vaultfs::data {

// Group commit of directory fsyncs. Sync(dir) returns once an fsync of `dir` that started
// after the call began has completed, and returns that fsync's result. Callers arriving
// while an fsync of the same directory runs wait for it, then one of them runs the next
// fsync for all of them: N concurrent renames cost ~2 fsyncs instead of N.
class DirSyncer {
 public:
  Status Sync(const std::string& dir);

 private:
  struct Ticket {
    bool done = false;
    Status status;
  };
  struct DirState {
    bool running = false;       // an fsync of this directory is in progress
    std::vector<Ticket*> next;  // callers the next fsync covers
    int users = 0;              // threads inside Sync for this directory
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, DirState> dirs_;
};

// Upload temp files are opened with O_DIRECT where the filesystem allows it: the payload then
// goes from the server's buffer to the disk without being copied into the page cache, which
// is most of the CPU an upload costs (fsync still makes it durable, as for any file).
// WriteAt falls back to ordinary writes for unaligned pieces and where O_DIRECT is refused.
inline constexpr size_t kDirectIoAlign = 4096;  // buffer address, offset and length

struct TempFile {
  int fd = -1;
  std::string path;
  bool direct = false;  // fd has O_DIRECT set
};

struct CommitResult {
  bool replaced = false;  // an older object of that name existed
  uint64_t old_size = 0;
};

struct OpenObject {
  int fd = -1;
  uint64_t size = 0;
};

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to unprivileged users
};

// The default reserve for a filesystem of `total_bytes`: 5% of it, at least 256 MiB and at most
// 4 GiB. Each bound is above the metadata service's default (meta_store.h), so on a shared
// disk uploads stop first and the metadata can still record the deletes that free space.
uint64_t DefaultReserve(uint64_t total_bytes);

class ChunkStore {
 public:
  // Creates root and root/.tmp if needed, removes leftover temp files and counts the stored
  // objects and their bytes.
  static Result<std::unique_ptr<ChunkStore>> Open(const std::string& root);

  uint64_t initial_objects() const { return initial_objects_; }
  uint64_t initial_bytes() const { return initial_bytes_; }
  const std::string& root() const { return root_; }
  // Bytes CreateTemp keeps free on the storage filesystem; 0 disables the check.
  void set_reserve(uint64_t bytes) { reserve_.store(bytes, std::memory_order_relaxed); }
  uint64_t reserve() const { return reserve_.load(std::memory_order_relaxed); }
  // 32 hex chars; a wiped folder gets a new one (reported by the health op).
  const std::string& storage_id() const { return storage_id_; }

  // A new, empty, exclusively created temp file (mode 0600) in root/.tmp, with O_DIRECT if
  // the filesystem supports it, for an object of `size` bytes. ENOSPC if fewer than
  // size + reserve() bytes are free.
  Result<TempFile> CreateTemp(uint64_t size);
  // fsync(fd), close(fd), rename over <root>/<user>/<chunk>.chunk, fsync the user directory.
  // Closes fd and removes the temp file on failure too.
  Result<CommitResult> Commit(int fd, const std::string& temp_path, std::string_view user,
                              std::string_view chunk);
  // Writes all of data[0, n) at `offset` (pwrite, retried on short writes and EINTR). With
  // file->direct, the kDirectIoAlign-aligned part goes straight to the disk; an unaligned
  // rest (the end of an object) or an EINVAL from the filesystem clears O_DIRECT on the fd
  // (file->direct becomes false) and is written through the page cache.
  static Status WriteAt(TempFile* file, const char* data, size_t n, uint64_t offset);
  // Closes fd (if >= 0) and removes the temp file; errors are logged, not returned.
  static void Abandon(int fd, const std::string& temp_path);

  // Removes an object; returns its size. ENOENT if absent.
  Result<uint64_t> Remove(std::string_view user, std::string_view chunk);
  // Opens an object for reading. The fd keeps a consistent version even if it is replaced.
  Result<OpenObject> OpenForRead(std::string_view user, std::string_view chunk);
  // Asks the kernel to start reading [offset, offset+len) of an open object into the page
  // cache (posix_fadvise WILLNEED); only a hint, errors are ignored.
  static void Prefetch(int fd, uint64_t offset, uint64_t len);
  // Objects of `user` with chunk id > cursor, sorted, at most `limit` and about
  // kListMaxReplyBytes of reply, each with its size and mtime; page.now is this server's
  // clock. Reads the whole folder per page but holds only `limit` + 1 names.
  Result<ListPage> List(std::string_view user, std::string_view cursor, uint32_t limit);
  // Checks the object's blocks against its own index (shard_format.h). EBADMSG if the index
  // itself is unreadable.
  Result<VerifyReport> Verify(std::string_view user, std::string_view chunk);
  Result<DiskSpace> Space();

 private:
  explicit ChunkStore(std::string root) : root_(std::move(root)) {}
  std::string UserDir(std::string_view user) const;
  std::string ObjectPath(std::string_view user, std::string_view chunk) const;

  std::string root_;
  uint64_t initial_objects_ = 0;
  uint64_t initial_bytes_ = 0;
  std::string storage_id_;
  // Serializes the stat+rename / stat+unlink step on final names so the returned old sizes
  // (the server's usage counters) stay exact when two clients write the same chunk. fsyncs
  // happen outside it.
  std::mutex name_mu_;
  DirSyncer dir_syncer_;
  std::atomic<bool> try_direct_{true};  // false once the filesystem refused O_DIRECT
  std::atomic<uint64_t> reserve_{0};
};

}  // namespace vaultfs::data
