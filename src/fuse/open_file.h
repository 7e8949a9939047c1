// OpenFile: one file being read or written by the FUSE daemon (DESIGN.md §7), shared by all
// open handles of its inode, so two descriptors of one file see each other's writes. It owns
// its state and its locks; everyone else goes through the methods below.
//
// Content is the committed base version (read through a SegmentCache) overlaid with the
// StagedFile's local bytes; beyond the last truncation of the base it is zeros. Commit()
// uploads that merged view as a new version with the attributes changed meanwhile.
//
// Commits are compare-and-swap on the version the file had when it was opened here: if
// another client committed since, the content is saved as "<name>.conflict-<ino>" beside the
// file, which keeps the other client's content, and Commit() reports EEXIST. A file created
// here and not yet known to the metadata service (see PendingCreates) is created by its first
// commit, or by CreateReserved().
//
// A failed commit keeps the state and journals it to the staging dir; the CommitRetrier
// retries it (RetryIfDue), so written data is never dropped.
//
// Locks. No lock is held across an upload or a download:
//   commit_mu_  serializes commits, CreateReserved and content mutations (Write, Truncate,
//               Refresh): a write waits for an in-flight commit of the same file, which is what
//               freezes the staged state an upload reads. Held across network I/O.
//   mu_         guards every field; held only briefly, never across network I/O (local
//               reads and writes of the staging file happen under it).
// Content fields (size_, base_limit_, staged_, dirty_, base_.version, creating_, gone_) change only
// with both held, so a commit reads them with commit_mu_ alone. Attribute fields (pending_,
// base_ attributes) change under mu_ alone, also during a commit.
// Lock order: commit_mu_, then mu_, then the leaf locks of PendingCreates, NameHints,
// ReplacedVersions and CommitRetrier.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/fuse/file_store.h"
#include "src/fuse/name_hints.h"
#include "src/fuse/pending_creates.h"
#include "src/fuse/replaced_versions.h"
#include "src/fuse/staged_file.h"
#include "src/fuse/staging_area.h"

namespace vaultfs::fuse {

class CommitRetrier;

// What every OpenFile of one mount shares; outlives them all.
struct OpenFileContext {
  FileStore* store = nullptr;
  StagingArea* staging = nullptr;  // where staged files live, their keys and cap
  PendingCreates* creates = nullptr;
  NameHints* names = nullptr;
  CommitRetrier* retrier = nullptr;      // told of failed commits and replaced versions
  ReplacedVersions* replaced = nullptr;  // told of every version a commit replaced
};

class OpenFile {
 public:
  // An existing file, as `fresh` attributes from the metadata service describe it.
  OpenFile(OpenFileContext* ctx, const client::Attr& fresh);
  // A new empty file named `e` as reserved inode `ino`, not created in the service yet.
  OpenFile(OpenFileContext* ctx, uint64_t ino, const client::NewEntry& e);
  // Staged changes a daemon journaled before it stopped; `now` is the file's attributes in
  // the service (or as if created, for a file never created). Retried at once.
  OpenFile(OpenFileContext* ctx, const client::Attr& now, const StagedJournal& j,
           std::unique_ptr<StagedFile> staged);
  OpenFile(const OpenFile&) = delete;
  OpenFile& operator=(const OpenFile&) = delete;

  uint64_t ino() const { return ino_; }

  // Another open of the file with `fresh` attributes (close-to-open): unflushed local changes
  // win over a newer version elsewhere; otherwise the state moves to the current version
  // (`fresh` may predate a commit of this mount that ended since: then it is read again).
  void Refresh(const client::Attr& fresh);
  // Fetches the base version's placement and key now, so the open file stays readable after
  // it is unlinked or replaced elsewhere (POSIX), until it is closed.
  Status PinVersion();

  // Up to `n` bytes at `offset` into `out`; returns how many (fewer at the end of the file).
  // Never waits for a commit: staged bytes are read under mu_, the base without it.
  Result<size_t> Read(uint64_t offset, size_t n, char* out);
  Status Write(uint64_t offset, std::string_view data);
  Status Truncate(uint64_t size);
  // fallocate(2) `mode` over [offset, offset+length): 0 grows the file to cover the range;
  // FALLOC_FL_KEEP_SIZE alone has nothing to reserve (space is the cluster's, taken at
  // commit); FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE) and FALLOC_FL_ZERO_RANGE make the range
  // read as zeros. Other modes: EOPNOTSUPP.
  Status Allocate(int mode, uint64_t offset, uint64_t length);
  // chmod/chown/utimens (and truncate if `size`): merged into pending attributes if the file
  // has uncommitted content (they go with its commit), else sent to the service now.
  // Returns the attributes as this daemon sees them.
  Result<client::Attr> SetAttr(const client::AttrUpdate& u, std::optional<uint64_t> size);
  // Attributes as this daemon sees them: the base with the local size, write time and pending
  // attributes (also those of a commit in flight).
  client::Attr Attr();
  // The attributes while the file is not created in the service yet.
  std::optional<client::Attr> UncreatedAttr();
  // Another name of the file appeared (link) or went away (unlink, replaced by a rename).
  void NoteLinked(const client::Attr& a);
  void NoteUnlinked();
  // relatime at release: the access time moves when it is older than the last change, or a
  // day old.
  void NoteRead();

  // Uploads and commits local changes (or just sends pending attributes). On failure the
  // changes are kept, journaled and retried in the background.
  Status Commit();
  // What release() commits: changes not committed yet, unless their retries are under way.
  bool NeedsCommitAtRelease();
  // Creates a file not yet in the service now (content follows at its commit). Waits at most
  // `wait` for a commit in flight (which creates it anyway). OK if nothing was to do.
  Status CreateReserved(std::chrono::milliseconds wait);
  // The retrier's turn: commits if a failed commit's back-off has passed. Returns true if the
  // file is clean (nothing left to commit). Skips a file whose commit is in flight.
  bool RetryIfDue(std::chrono::steady_clock::time_point now);
  // A failed commit's back-off has passed (the retrier probes servers before retrying).
  bool RetryDue(std::chrono::steady_clock::time_point now);
  // Nothing uncommitted: the table may forget the file once no handle has it open.
  bool Clean();

 private:
  Status CommitHeld();  // commit_mu_ held
  Status UploadHeld(client::AttrUpdate attrs);
  Status SaveConflictCopy(const client::Attr& base, uint64_t size, int64_t mtime_ns,
                          const cluster::PlaintextReader& source, client::WriteOptions o);
  Status Materialize();         // commit_mu_ held
  Status EnsureStagedLocked();  // both held
  Status CheckSize(uint64_t offset, uint64_t length) const;
  // A reader of `base` (the base when the read was planned): `have` if set, else one opened
  // without mu_ and kept if the base is still the same.
  Result<std::shared_ptr<BaseReader>> ReaderFor(const client::Attr& base,
                                                std::shared_ptr<BaseReader> have);
  void MoveToConflictName();  // both held
  void DoneCreatingLocked();  // both held
  bool InodeGone();
  void OverlayLocked(client::Attr* a) const;
  void ApplyServiceAttrLocked(const client::Attr& a);
  Status TruncateHeld(uint64_t size);  // both held
  // Content at [offset, offset+n) (the caller keeps it inside the file): staged bytes and
  // holes under mu_, then the base without it.
  Status ReadRange(uint64_t offset, size_t n, char* out);

  OpenFileContext* const ctx_;
  const uint64_t ino_;
  std::timed_mutex commit_mu_;  // timed: CreatePending does not wait behind a long upload
  mutable std::mutex mu_;

  // Content fields: changed with commit_mu_ and mu_ held.
  client::Attr base_;        // the committed version the content builds on
  uint64_t size_ = 0;        // current size
  uint64_t base_limit_ = 0;  // bytes of the base version that still show through
  std::unique_ptr<StagedFile> staged_;
  bool dirty_ = false;
  std::optional<client::NewEntry> creating_;  // not created in the metadata service yet
  // The inode was deleted in the service while open here (a commit found it gone): there is
  // nothing to commit any more (commits succeed at once), and the content lives on here
  // (staged_, over the pinned base) until the last close.
  bool gone_ = false;
  // Guarded by mu_.
  std::shared_ptr<BaseReader> reader_;  // of base_.version, opened on first need
  std::chrono::steady_clock::time_point reader_opened_;
  int64_t write_mtime_ns_ = 0;   // of the last write or truncate
  client::AttrUpdate pending_;   // attribute changes to send with the next commit
  client::AttrUpdate inflight_;  // those a commit in flight is sending
  bool failed_ = false;          // last commit failed; the retrier owns it
  std::chrono::steady_clock::time_point next_retry_;
  std::chrono::seconds backoff_{2};
};

// Nanoseconds since the epoch, for mtimes.
int64_t NowNs();
// The attributes of a file created as `e` under reserved inode `ino` at `now`.
client::Attr NewFileAttr(uint64_t ino, const client::NewEntry& e, int64_t now);

}  // namespace vaultfs::fuse
