// OpenFiles: the FUSE daemon's table of files being read or written (DESIGN.md §7): one
// OpenFile per inode, shared by all open handles of it, with a count of those handles. A
// file stays in the table after its last close while it has uncommitted changes (the
// CommitRetrier owns those), and a later open joins it.
//
// Also the way in to what the open files share: the names of files not created in the
// metadata service yet (PendingCreates), where conflict copies go (NameHints), and the
// retrier. Journals left behind by a daemon that died are recovered into the table.
//
// Lock order: OpenFile's locks before mu_; no OpenFile method is called with mu_ held.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/fuse/commit_retrier.h"
#include "src/fuse/name_hints.h"
#include "src/fuse/open_file.h"
#include "src/fuse/pending_creates.h"
#include "src/fuse/replaced_versions.h"

namespace vaultfs::fuse {

class OpenFiles {
 public:
  // `store` and `staging` outlive this object.
  OpenFiles(FileStore* store, StagingArea* staging);
  ~OpenFiles();  // stops the retry thread (call FlushAll first)

  // Commits what earlier daemons left in the staging dir (in the background).
  void RecoverJournals();

  // An open of `fresh` (attributes just read from the metadata service): joins the file if
  // another handle holds it (OpenFile::Refresh), else starts one — from attributes read
  // again if `fresh` names a version a commit here replaced meanwhile.
  std::shared_ptr<OpenFile> Open(const client::Attr& fresh);
  // A new empty file named `e`, not yet created (see PendingCreates), as inode `ino`
  // (reserved), open once.
  std::shared_ptr<OpenFile> OpenNew(uint64_t ino, const client::NewEntry& e);
  // The attributes of a file created here and not yet in the metadata service, by name or by
  // inode.
  std::optional<client::Attr> Uncreated(uint64_t parent, const std::string& name);
  std::optional<client::Attr> Uncreated(uint64_t ino);
  // Creates every such file in the metadata service now (their content follows at close);
  // one that fails is logged and left to its close().
  void CreatePending();
  // A reference to the open file of `ino` that counts as one more handle (give it back with
  // Release), so the file stays in the table meanwhile; nullptr if it is not in the table.
  std::shared_ptr<OpenFile> Hold(uint64_t ino);
  // One handle of `f` closed.
  void Release(const std::shared_ptr<OpenFile>& f);
  // `f` has one handle open (the one being released).
  bool LastOpen(const std::shared_ptr<OpenFile>& f);
  std::shared_ptr<OpenFile> Find(uint64_t ino);
  bool AnyOpen();
  std::vector<std::shared_ptr<OpenFile>> All();
  // Drops those of `inos` that are clean and have no handle open.
  void ForgetClosed(const std::vector<uint64_t>& inos);

  // `ino` was seen as `name` in directory `parent`: where a conflict copy of it goes.
  void NoteName(uint64_t ino, uint64_t parent, const std::string& name) {
    names_.Note(ino, parent, name);
  }
  // A name of `ino` went away (unlink, or replaced by a rename): an open file's link count.
  void NoteUnlinked(uint64_t ino);
  // Something was deleted or replaced: a garbage-collection pass is due.
  void NoteGarbage() { retrier_->NoteGarbage(); }
  // At shutdown: see CommitRetrier::FlushAll.
  int FlushAll(std::chrono::steady_clock::time_point deadline) {
    return retrier_->FlushAll(deadline);
  }

 private:
  struct Slot {
    std::shared_ptr<OpenFile> file;
    int opens = 0;
  };

  FileStore* store_;
  PendingCreates creates_;
  NameHints names_;
  ReplacedVersions replaced_;
  OpenFileContext ctx_;
  std::mutex mu_;
  std::map<uint64_t, Slot> files_;          // guarded by mu_
  std::unique_ptr<CommitRetrier> retrier_;  // last: its thread uses everything above
};

}  // namespace vaultfs::fuse
