// Test helper: a process's memory from /proc/PID/status, for the tests that bound a server's
// resident memory (tests/data, tests/meta). Header-only so every suite can use it without a
// library of its own.
#pragma once

#include <sys/types.h>

#include <fstream>
#include <optional>
#include <string>

namespace vaultfs::testing {

// The value in KiB of a /proc/PID/status field such as "VmRSS" (resident now) or "VmHWM"
// (peak resident); nullopt if the process or the field is gone.
inline std::optional<long> ProcStatusKiB(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string key = field + ":";
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
  }
  return std::nullopt;
}

// Resident memory in KiB, or -1 if unreadable.
inline long RssKiB(pid_t pid) { return ProcStatusKiB(pid, "VmRSS").value_or(-1); }

}  // namespace vaultfs::testing
