// StagingArea: the mount's staging folder (CACHE_DIR/staging) and what every StagedFile in it
// shares: the keys that seal staged blocks and authenticate journals (derived from the user's
// master key, client::Vault::DeriveStagingKeys), and the cap on the bytes staged files take on
// the cache dir's disk, so a large write cannot fill it.
//
// Owned by the mount (or a test); outlives every StagedFile made in it. Thread-safe: the
// byte count is guarded by mu_, everything else is fixed at construction.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/crypto/key.h"

namespace vaultfs::fuse {

class StagingArea {
 public:
  // `cap_bytes` bounds the bytes staged files take in `dir` (see Reserve).
  StagingArea(std::string dir, client::StagingKeys keys, uint64_t cap_bytes);
  StagingArea(const StagingArea&) = delete;
  StagingArea& operator=(const StagingArea&) = delete;

  // min(4 GiB, a quarter of the free space of the filesystem holding `dir`); 4 GiB if that
  // cannot be read. Enough for any ordinary working set, and never most of a small disk.
  static uint64_t DefaultCap(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const crypto::Key& seal_key() const { return keys_.seal; }
  const crypto::Key& journal_key() const { return keys_.journal_mac; }
  uint64_t cap() const { return cap_; }
  uint64_t used() const;

  // Takes `bytes` of the cap for data about to be staged; ENOSPC, taking nothing, if that
  // would pass it.
  Status Reserve(uint64_t bytes);
  // Takes `bytes` even past the cap: for data that is on disk already (a recovered journal)
  // or that a commit must stage to go through (the unchanged parts of the previous version),
  // so that reaching the cap never makes staged data uncommittable.
  void ForceReserve(uint64_t bytes);
  // Gives back what Reserve or ForceReserve took (a truncate, a dropped staging file).
  void Release(uint64_t bytes);

 private:
  const std::string dir_;
  const client::StagingKeys keys_;
  const uint64_t cap_;
  mutable std::mutex mu_;
  uint64_t used_ = 0;  // guarded by mu_
};

}  // namespace vaultfs::fuse
