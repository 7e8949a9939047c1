// A one-line progress display for long transfers: shown only when stderr is a terminal and
// the transfer has run for over a second, so scripts and short copies stay quiet.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace vaultfs::cli {

class Progress {
 public:
  // `total` 0 means unknown. `enabled` false (e.g. --quiet) never draws.
  Progress(std::string label, uint64_t total, bool enabled = true);
  ~Progress();  // clears the line if one was drawn

  void Update(uint64_t done);  // cheap; redraws at most ~10 times a second

  // The line that would be drawn, e.g. "put a.iso   45% 450.0 MiB/1.0 GiB 120.3 MiB/s".
  static std::string Format(const std::string& label, uint64_t done, uint64_t total,
                            double seconds);

 private:
  using Clock = std::chrono::steady_clock;
  std::string label_;
  uint64_t total_;
  bool enabled_;
  bool drawn_ = false;
  Clock::time_point start_;
  Clock::time_point last_draw_;
};

std::string HumanBytes(uint64_t bytes);  // "1.5 MiB"

}  // namespace vaultfs::cli
