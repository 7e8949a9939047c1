// IntervalSet: which byte ranges of a file are held locally (written, or fetched for a
// read-modify-write). Half-open [start, end) ranges, kept merged and sorted.
#pragma once

#include <cstdint>
#include <iterator>
#include <map>

namespace vaultfs::fuse {

class IntervalSet {
 public:
  void Add(uint64_t start, uint64_t end) {
    if (start >= end) return;
    auto it = ranges_.upper_bound(start);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second >= start) {  // overlaps or touches the previous range
        start = prev->first;
        if (prev->second > end) end = prev->second;
        it = ranges_.erase(prev);
      }
    }
    while (it != ranges_.end() && it->first <= end) {
      if (it->second > end) end = it->second;
      it = ranges_.erase(it);
    }
    ranges_[start] = end;
  }

  // Forgets everything at or beyond `size` (a truncation).
  void TruncateTo(uint64_t size) {
    auto it = ranges_.lower_bound(size);
    ranges_.erase(it, ranges_.end());
    if (!ranges_.empty()) {
      auto last = std::prev(ranges_.end());
      if (last->second > size) last->second = size;
      if (last->first >= last->second) ranges_.erase(last);
    }
  }

  // The length of the run starting at `pos` that is either all inside the set (*inside =
  // true) or all outside it, capped at `limit` bytes.
  uint64_t RunAt(uint64_t pos, uint64_t limit, bool* inside) const {
    auto it = ranges_.upper_bound(pos);
    if (it != ranges_.begin()) {
      auto prev = std::prev(it);
      if (prev->second > pos) {
        *inside = true;
        return std::min(limit, prev->second - pos);
      }
    }
    *inside = false;
    if (it == ranges_.end()) return limit;
    return std::min(limit, it->first - pos);
  }

  bool Covers(uint64_t start, uint64_t end) const {
    if (start >= end) return true;
    bool inside = false;
    return RunAt(start, end - start, &inside) == end - start && inside;
  }

  bool empty() const { return ranges_.empty(); }
  const std::map<uint64_t, uint64_t>& ranges() const { return ranges_; }

 private:
  std::map<uint64_t, uint64_t> ranges_;  // start -> end
};

}  // namespace vaultfs::fuse
