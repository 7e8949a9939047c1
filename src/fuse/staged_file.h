// StagedFile: one file's local changes since its last committed version (DESIGN.md §3
// "Write", §7): the bytes written (and those fetched for a read-modify-write) in a sparse
// staging file under the mount's staging dir, and the set of byte ranges it holds. Never the
// whole file in RAM, and never plaintext on disk: the cache dir of a stolen laptop tells no
// more than a data server.
//
// It owns the staging file `<ino>-<id>.data` (id: 64 random bits, the file's identity) and its
// journal `<ino>-<id>.json`; the StagingArea it was made in (keys, cap) outlives it.
//
// Staging file: the plaintext is cut into blocks of kBlockSize; block i is one sealed record
// in slot i, at offset i * kSlotSize (a slot never written is a hole: sparse files stay
// sparse):
//   record = format (1 byte, kRecordFormat) || salt (16 random bytes)
//            || crypto::SealBlob(K, block plaintext (always kBlockSize bytes), AAD)
//   K      = HKDF-SHA256(staging key, salt, labels::kStagingBlock); staging key =
//            HKDF(master key, labels::kStagingSeal). Every sealing draws a new salt, so no
//            (key, nonce) pair is ever used twice, however often a block is rewritten.
//   AAD    = "vaultfs staged block" || format || ino (BE64) || id || block index (BE64)
// so a flipped byte, a record moved to another slot or copied from another staging file, or
// one of an unknown format fails to open (EBADMSG), never yields wrong bytes. While this
// object lives it also remembers each block's last salt, so a block rolled back on disk to an
// older sealing of itself is refused too. A write into part of a block decrypts it, patches it
// in memory and reseals it. Which bytes are held is tracked byte-exact in memory (present());
// bytes of a block outside it are never served.
//
// Journal: when a commit fails the owner saves one (base version, size, ranges, attributes,
// pending create) so that a later daemon finds the data and commits it: staged writes are
// never dropped. It is JSON:
//   {"format": kJournalFormat, "body": B, "sha256": hex SHA-256(B),
//    "mac": hex HMAC-SHA256(journal key, B)}
//   B = hex(salt || SealBlob(HKDF(staging key, salt), J, "vaultfs staging journal" || format
//       || id)), a new 128-bit salt per save, J the journal as JSON (holding the format again
//       and the staging file's name "file"); sealed because it holds the names of files not
//       created yet.
// Recover refuses (EBADMSG, with the reason) a journal that is cut short, damaged (checksum),
// edited or written under another user's key (MAC), moved beside another staging file (AAD,
// name), or of a format it does not know; the files are then left in place and nothing is
// applied.
//
// Not thread-safe: the owner (OpenFile) serialises calls; const calls may run concurrently
// with SaveJournal only.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/client/vault.h"
#include "src/common/socket.h"
#include "src/common/status.h"
#include "src/crypto/aead.h"
#include "src/fuse/interval_set.h"
#include "src/fuse/staging_area.h"

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
  // 64 KiB of plaintext per block: a partial write costs at most one 64 KiB decrypt and
  // reseal (a few tens of µs), while the per-record cost (an HKDF, 46 bytes of header and
  // tag, a 4 KiB page of slack) stays under 7% and the per-block state in RAM stays small
  // (a 4 GiB staged file is 65536 blocks). The mount's writes (up to 1 MiB, 128 KiB for cp)
  // are whole blocks.
  static constexpr size_t kBlockSize = size_t{64} << 10;
  static constexpr size_t kSaltSize = 16;
  static constexpr uint8_t kRecordFormat = 1;
  static constexpr size_t kRecordSize = 1 + kSaltSize + crypto::kBlobOverhead + kBlockSize;
  // Records start on page boundaries, so an unwritten slot is a hole.
  static constexpr uint64_t kSlotSize = (kRecordSize + 4095) / 4096 * 4096;
  // 1 was the unauthenticated JSON journal beside a plaintext staging file.
  static constexpr int kJournalFormat = 2;

  static Result<std::unique_ptr<StagedFile>> Create(StagingArea* area, uint64_t ino);
  // Reopens the staging file a journal (`<name>.json`) describes, after checking the journal
  // (see above).
  static Result<std::unique_ptr<StagedFile>> Recover(StagingArea* area,
                                                     const std::string& journal_path,
                                                     StagedJournal* journal);
  // Journals left in `dir` by earlier daemons.
  static std::vector<std::string> FindJournals(const std::string& dir);
  // Deletes what an earlier daemon left in `dir` that no journal claims: staging files of
  // changes never acknowledged (the daemon died before close or fsync returned; nothing
  // promised them to anyone) and unfinished journal writes. Only while this daemon holds the
  // cache dir's lock. Returns how many files went.
  static int RemoveUnjournaled(const std::string& dir);
  // Removes the staging file, unless it is journaled: journaled data stays on disk until
  // DropJournal(), whatever happens to this object (a daemon that stops keeps it). Gives its
  // bytes back to the area either way.
  ~StagedFile();

  // Whether a write may take the area past its cap: writes of the application may not
  // (ENOSPC); the copy of the base a commit stages may (see StagingArea::ForceReserve).
  enum class Cap { kEnforce, kExempt };
  Status Write(uint64_t offset, std::string_view data, Cap cap = Cap::kEnforce);
  // Reads held bytes (the caller checks present() first; bytes of blocks never written read
  // as zeros). EBADMSG if a block does not authenticate, EIO if it cannot be read.
  Status Read(uint64_t offset, char* buf, size_t n) const;
  Status Truncate(uint64_t size);
  const IntervalSet& present() const { return present_; }
  // Makes the data durable and writes the journal atomically.
  Status SaveJournal(const StagedJournal& j);
  // After a successful commit (the staged bytes stay as a local copy of the new version), or
  // when the file is gone: the data is no longer needed once this object goes.
  void DropJournal();
  const std::string& path() const { return data_path_; }
  // What this file counts against the area's cap: one slot per block written.
  uint64_t disk_bytes() const { return blocks_.size() * kSlotSize; }

 private:
  StagedFile(StagingArea* area, uint64_t ino, std::string id, std::string data_path, UniqueFd fd);
  std::string Aad(uint64_t index) const;
  // The plaintext of block `index` (zeros if it was never written).
  Result<std::string> LoadBlock(uint64_t index) const;
  Status StoreBlock(uint64_t index, std::string plaintext);

  StagingArea* const area_;
  const uint64_t ino_;
  const std::string id_;  // "<ino>-<random hex>": the staging file's name without extension
  const std::string data_path_;
  const std::string journal_path_;
  UniqueFd fd_;
  IntervalSet present_;
  // Blocks with a record on disk -> the salt of their last sealing ("" after Recover: any
  // authentic record of the block is accepted until it is rewritten).
  std::map<uint64_t, std::string> blocks_;
  // The last block loaded or stored, in plaintext (memory only), so that runs of small reads
  // or writes in one block do not decrypt it again each time.
  mutable std::optional<uint64_t> cached_index_;
  mutable std::string cached_;
  bool journaled_ = false;
};

}  // namespace vaultfs::fuse
