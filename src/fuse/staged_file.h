// StagedFile: one file's local changes since its last committed version (DESIGN.md §7): a
// sparse staging file under the cache dir holding the bytes written (and those fetched for
// a read-modify-write), and the set of ranges it holds. Never the whole file in RAM.
//
// When a commit fails the owner saves a journal beside it (base version, size, ranges), so
// that a later daemon finds the data and commits it: staged writes are never dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/client/vault.h"
#include "src/common/socket.h"
#include "src/common/status.h"
#include "src/fuse/interval_set.h"

namespace vaultfs::fuse {

// What a later daemon needs to commit staged content.
struct StagedJournal {
  uint64_t ino = 0;
  std::string base_version;  // the version the content builds on ("" = none)
  uint64_t size = 0;
  uint64_t base_limit = 0;  // bytes of the base version that still show through
  int64_t mtime_ns = 0;
  client::AttrUpdate attrs;
  std::optional<client::NewEntry> create;  // set: the file is not created yet
};

class StagedFile {
 public:
  static Result<std::unique_ptr<StagedFile>> Create(const std::string& dir, uint64_t ino);
  // Reopens the staging file a journal (`<name>.json`) describes.
  static Result<std::unique_ptr<StagedFile>> Recover(const std::string& journal_path,
                                                     StagedJournal* journal);
  // Journals left in `dir` by earlier daemons.
  static std::vector<std::string> FindJournals(const std::string& dir);
  // Removes the staging file, unless it is journaled: journaled data stays on disk until
  // DropJournal(), whatever happens to this object (a daemon that stops keeps it).
  ~StagedFile();

  Status Write(uint64_t offset, std::string_view data);
  // Reads held bytes; the caller checks present() first.
  Status Read(uint64_t offset, char* buf, size_t n) const;
  Status Truncate(uint64_t size);
  const IntervalSet& present() const { return present_; }
  // Makes the data durable and writes the journal atomically.
  Status SaveJournal(const StagedJournal& j);
  // After a successful commit (the staged bytes stay as a local copy of the new version), or
  // when the file is gone: the data is no longer needed once this object goes.
  void DropJournal();
  const std::string& path() const { return data_path_; }

 private:
  StagedFile(std::string data_path, UniqueFd fd);
  std::string data_path_;
  std::string journal_path_;
  UniqueFd fd_;
  IntervalSet present_;
  bool journaled_ = false;
};

}  // namespace vaultfs::fuse
