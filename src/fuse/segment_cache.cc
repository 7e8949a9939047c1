// SegmentCache: see segment_cache.h.
#include "src/fuse/segment_cache.h"

#include <algorithm>
#include <cstring>

namespace vaultfs::fuse {

SegmentCache::SegmentCache(std::unique_ptr<client::VersionReader> reader, Options options)
    : reader_(std::move(reader)),
      options_(options),
      size_(reader_->size()),
      seg_size_(reader_->segment_size()) {
  if (seg_size_ > 0) worker_ = std::thread([this] { Worker(); });
}

SegmentCache::~SegmentCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Status SegmentCache::Read(uint64_t offset, size_t n, char* out) {
  if (n == 0) return Status::Ok();
  if (seg_size_ == 0) {  // inline content is already in memory
    return reader_->Read(offset, n, [&](std::string_view piece) {
      memcpy(out, piece.data(), piece.size());
      out += piece.size();
      return Status::Ok();
    });
  }
  const uint64_t first = offset / seg_size_;
  const uint64_t last = (offset + n - 1) / seg_size_;
  std::unique_lock<std::mutex> lock(mu_);
  failed_.clear();  // failures seen before this read (e.g. during read-ahead) are retried
  // A reader that continues where it stopped gets read-ahead; a random one only what it asks.
  const bool sequential = first <= next_seq_ && next_seq_ <= last + 1;
  const uint64_t total = (size_ + seg_size_ - 1) / seg_size_;
  want_lo_ = first;
  want_hi_ = std::min<uint64_t>(total, last + 1 + (sequential ? options_.readahead : 0));
  next_seq_ = last + 1;
  EvictLocked(first);
  cv_.notify_all();
  for (uint64_t s = first; s <= last; ++s) {
    cv_.wait(lock, [&] {
      if (segs_.count(s) || failed_.count(s) || stop_) return true;
      // Another reader moved the window (or evicted this segment): ask for it again, or the
      // worker would never fetch it.
      if (s < want_lo_ || s >= want_hi_) {
        want_lo_ = s;
        want_hi_ = std::max<uint64_t>(want_hi_, last + 1);
        if (want_hi_ - want_lo_ > static_cast<uint64_t>(options_.capacity)) want_hi_ = last + 1;
        cv_.notify_all();
      }
      return false;
    });
    if (auto f = failed_.find(s); f != failed_.end()) {
      Status st = f->second;
      failed_.erase(f);  // a later read tries again
      return st;
    }
    if (stop_) return Status(EIO, "reader stopped");
    const std::string& seg = segs_[s];
    const uint64_t seg_start = s * seg_size_;
    const uint64_t from = std::max(offset, seg_start);
    const uint64_t to = std::min<uint64_t>(offset + n, seg_start + seg.size());
    if (to > from) memcpy(out + (from - offset), seg.data() + (from - seg_start), to - from);
  }
  return Status::Ok();
}

// Drops segments behind the reader first, then those furthest ahead, down to capacity.
void SegmentCache::EvictLocked(uint64_t first_wanted) {
  while (segs_.size() > static_cast<size_t>(options_.capacity)) {
    auto lowest = segs_.begin();
    if (lowest->first + 1 < first_wanted) {
      segs_.erase(lowest);
    } else {
      segs_.erase(std::prev(segs_.end()));
    }
  }
}

void SegmentCache::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    uint64_t start = 0, end = 0;
    cv_.wait(lock, [&] {
      if (stop_) return true;
      for (uint64_t s = want_lo_; s < want_hi_; ++s) {
        if (!segs_.count(s) && !failed_.count(s)) {
          start = s;
          end = s + 1;
          while (end < want_hi_ && !segs_.count(end) &&
                 end - start < static_cast<uint64_t>(options_.run)) {
            ++end;
          }
          return true;
        }
      }
      return false;
    });
    if (stop_) return;
    lock.unlock();
    // Fetch a run of segments in one pipelined read, handing each over as soon as it is whole.
    uint64_t next = start;
    Status st = reader_->ReadSegments(start, end - 1, [&](uint64_t seg, std::string plain) {
      std::lock_guard<std::mutex> g(mu_);
      segs_[seg] = std::move(plain);
      next = seg + 1;
      cv_.notify_all();
      return Status::Ok();
    });
    lock.lock();
    if (!st.ok()) failed_[next] = st;
    EvictLocked(want_lo_);
    cv_.notify_all();
  }
}

}  // namespace vaultfs::fuse
