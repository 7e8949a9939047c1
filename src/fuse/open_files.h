// OpenFiles: the FUSE daemon's state for files being read or written (DESIGN.md §7).
//
// One FileState per inode, shared by all open handles of it, so two descriptors of one file
// see each other's writes. Content is the committed base version (read through a
// SegmentCache) overlaid with the StagedFile's local bytes; beyond the last truncation of the
// base it is zeros. Commit() uploads that merged view as a new version with the attributes
// changed while the file was open; close() and fsync() call it and return its error.
//
// Commits are compare-and-swap on the version the file had when it was opened here: if
// another client committed since, the content is saved as "<name>.conflict-<ino>" beside the
// file, which keeps the other client's content, and close()/fsync() report EEXIST.
//
// A file created here is not sent to the metadata service at once: it gets a reserved inode
// number and an entry this daemon answers lookups for, and is created by its first commit
// (one replicated entry for a small file instead of two). Anything else that could see the
// name from the service (readdir, rename, unlink, link, ...) first creates such files
// (CreatePending). If another client took the name meanwhile, the file is kept under a
// conflict name beside it and close() reports EEXIST.
//
// A failed commit keeps the state (and journals it to the cache dir), and a background
// thread retries it with back-off until it lands, so written data is never dropped; a later
// daemon recovers journals left behind by one that died.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/fuse/segment_cache.h"
#include "src/fuse/staged_file.h"

namespace vaultfs::fuse {

// Lock order: FileState::mu before OpenFiles::mu_, never the other way round.
struct FileState {
  std::timed_mutex mu;  // timed: CreatePending does not wait behind a long upload
  uint64_t ino = 0;
  // Everything below is guarded by mu.
  cluster::Attr base;       // the committed version the content builds on
  uint64_t size = 0;        // current size
  uint64_t base_limit = 0;  // bytes of the base version that still show through
  std::unique_ptr<StagedFile> staged;
  std::unique_ptr<SegmentCache> cache;  // of base.version, opened on first need
  std::chrono::steady_clock::time_point cache_opened;
  bool dirty = false;
  int64_t write_mtime_ns = 0;                 // of the last write or truncate
  cluster::AttrUpdate pending;                // attribute changes to send with the next commit
  std::optional<cluster::NewEntry> creating;  // not created in the metadata service yet
  int opens = 0;                              // guarded by OpenFiles::mu_
  bool failed = false;                        // last commit failed; the retry thread owns it
  std::chrono::steady_clock::time_point next_retry;
  std::chrono::seconds backoff{2};
};

class OpenFiles {
 public:
  OpenFiles(cluster::Vault* vault, std::string staging_dir);
  ~OpenFiles();  // stops the retry thread (call FlushAll first)

  // Commits what earlier daemons left in the staging dir (in the background).
  void RecoverJournals();

  // An open of `fresh` (attributes just read from the metadata service): joins the file's
  // state if another handle holds it, else starts one. Unflushed local changes win over a
  // newer version elsewhere; otherwise the state moves to `fresh` (close-to-open).
  Result<std::shared_ptr<FileState>> Open(const cluster::Attr& fresh);
  // A new empty file named `e`, not yet created (see above), as inode `ino` (reserved), open
  // once.
  std::shared_ptr<FileState> OpenNew(uint64_t ino, const cluster::NewEntry& e);
  // The attributes of a file created here and not yet in the metadata service, by name or by
  // inode.
  std::optional<cluster::Attr> Uncreated(uint64_t parent, const std::string& name);
  std::optional<cluster::Attr> Uncreated(uint64_t ino);
  // Creates every such file in the metadata service now (their content follows at close);
  // one that fails is logged and left to its close().
  void CreatePending();
  void Release(const std::shared_ptr<FileState>& f);
  std::shared_ptr<FileState> Find(uint64_t ino);
  bool AnyOpen();

  // `ino` was seen as `name` in directory `parent`: where a conflict copy of it goes.
  void NoteName(uint64_t ino, uint64_t parent, const std::string& name);
  // A name of `ino` went away (unlink, or replaced by a rename): an open file's link count.
  void NoteUnlinked(uint64_t ino);

  // The calls below need f.mu held.
  // Fetches the base version's placement and key now, so the open file stays readable after
  // it is unlinked or replaced elsewhere (POSIX), until it is closed.
  Status PinVersion(FileState& f);
  // Up to `n` bytes at `offset` into `out`; returns how many (fewer at the end of the file).
  Result<size_t> Read(FileState& f, uint64_t offset, size_t n, char* out);
  Status Write(FileState& f, uint64_t offset, std::string_view data);
  Status Truncate(FileState& f, uint64_t size);
  // Uploads and commits local changes (or just sends pending attributes). On failure the
  // changes are kept, journaled and retried in the background.
  Status Commit(FileState& f);
  // `a` as this daemon sees it: local size, write time and pending attributes.
  static void Overlay(const FileState& f, cluster::Attr* a);

  // At shutdown: commits everything still dirty, trying until `deadline`; what still fails
  // stays journaled for the next mount. Returns how many files remain uncommitted.
  int FlushAll(std::chrono::steady_clock::time_point deadline);
  // Something was deleted or replaced: a garbage-collection pass is due.
  void NoteGarbage();

 private:
  Status ReadLocked(FileState& f, uint64_t offset, size_t n, char* out);
  Status CheckSize(uint64_t offset, uint64_t length) const;
  Status EnsureStaged(FileState& f);
  Status CommitLocked(FileState& f);
  Status Materialize(FileState& f);
  void MoveToConflictName(FileState& f);
  void DoneCreating(FileState& f);  // the file exists in the service now (or never will)
  bool InodeGone(uint64_t ino);     // getattr answers ENOENT (not just any failure)
  Status SaveConflictCopy(FileState& f, const cluster::PlaintextReader& source,
                          cluster::WriteOptions o);
  void RetryLoop();
  void MaybeCollectGarbage(std::unique_lock<std::mutex>& lock);

  cluster::Vault* vault_;
  const std::string staging_dir_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::shared_ptr<FileState>> files_;  // guarded by mu_
  // Names of files not created yet: (parent, name) -> inode. Guarded by mu_.
  std::map<std::pair<uint64_t, std::string>, uint64_t> uncreated_;
  // The last name each file was seen under: inode -> (parent, name). Guarded by mu_.
  std::map<uint64_t, std::pair<uint64_t, std::string>> names_;
  bool stop_ = false;
  bool gc_due_ = false;                            // guarded by mu_
  std::atomic<bool> gc_wanted_{false};             // set by commits (which hold only f.mu)
  std::chrono::steady_clock::time_point last_gc_;  // guarded by mu_
  std::thread retry_;
};

// Nanoseconds since the epoch, for mtimes.
int64_t NowNs();

}  // namespace vaultfs::fuse
