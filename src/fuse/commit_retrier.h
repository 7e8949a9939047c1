// CommitRetrier: the FUSE daemon's background thread for commits that failed (DESIGN.md §7).
// It retries them with exponential back-off (2 s .. 60 s), probing servers marked down first
// so that ones that came back are used at once; forgets files that became clean while no
// handle has them open; and schedules garbage collection of replaced versions: at most once a
// minute, and only while no file is open (an open file keeps reading the version it opened,
// POSIX: even after unlink, so its shards must stay). At shutdown FlushAll commits what is
// left.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "src/fuse/file_store.h"

namespace vaultfs::fuse {

class OpenFiles;

class CommitRetrier {
 public:
  // `files` outlives this object. The thread starts with Start().
  CommitRetrier(FileStore* store, OpenFiles* files);
  ~CommitRetrier();  // stops the thread (call FlushAll first)
  void Start();

  // A commit failed: its retry is due after its back-off.
  void Wake();
  // A commit replaced a version, or something was deleted: a collection is due.
  void NoteReplaced() { gc_wanted_ = true; }
  void NoteGarbage();

  // Commits everything still dirty, trying until `deadline`; what still fails stays journaled
  // for the next mount. Returns how many files remain uncommitted.
  int FlushAll(std::chrono::steady_clock::time_point deadline);

 private:
  void Loop();
  void MaybeCollectGarbage();

  FileStore* const store_;
  OpenFiles* const files_;
  // A leaf lock: OpenFiles and OpenFile are never called with it held.
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                              // guarded by mu_
  bool gc_due_ = false;                            // guarded by mu_
  std::chrono::steady_clock::time_point last_gc_;  // guarded by mu_
  std::atomic<bool> gc_wanted_{false};             // set by commits, which hold no lock here
  std::thread thread_;
};

}  // namespace vaultfs::fuse
