// SegmentCache: reads of one committed version for the FUSE daemon, through a small cache of
// opened segments with read-ahead (DESIGN.md §7). A background worker fetches the segments
// a reader will want next, so sequential reads stream at the object reader's pipeline speed
// even though the kernel asks for one piece at a time. Memory is bounded by `capacity`
// segments.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/fuse/file_store.h"

namespace vaultfs::fuse {

class SegmentCache : public BaseReader {
 public:
  struct Options {
    int readahead = 12;  // segments fetched ahead of a sequential reader
    int run = 8;         // segments per pipelined fetch
    int capacity = 24;   // segments kept
  };
  SegmentCache(std::unique_ptr<client::VersionReader> reader, Options options);
  ~SegmentCache() override;
  SegmentCache(const SegmentCache&) = delete;
  SegmentCache& operator=(const SegmentCache&) = delete;

  uint64_t size() const override { return size_; }
  // Copies [offset, offset+n) (the caller keeps it inside size()) to `out`. Safe to call from
  // several threads at once (readers of one file share its cache); read-ahead follows the
  // last caller.
  Status Read(uint64_t offset, size_t n, char* out) override;

 private:
  void Worker();
  void EvictLocked(uint64_t first_wanted);

  std::unique_ptr<client::VersionReader> reader_;
  const Options options_;
  const uint64_t size_;
  const uint64_t seg_size_;  // 0: inline content, read directly

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<uint64_t, std::string> segs_;  // guarded by mu_
  std::map<uint64_t, Status> failed_;     // guarded by mu_
  uint64_t want_lo_ = 0, want_hi_ = 0;    // the worker fetches missing segments in here
  uint64_t next_seq_ = 0;                 // segment a sequential reader asks for next
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace vaultfs::fuse
