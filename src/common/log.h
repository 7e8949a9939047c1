// Levelled logging to stderr (servers run with stderr redirected to their log file).
//
//   VFS_LOG(kInfo) << "listening on " << addr;
//
// One line per message, prefixed with UTC time, level and the program's name; lines from
// different threads never interleave. Messages below the current level cost one compare.
// Never log keys, passwords, tokens, plaintext names or content.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
void SetLogProgramName(std::string_view name);
// Accepts "debug", "info", "warn"/"warning", "error".
Result<LogLevel> ParseLogLevel(std::string_view text);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage();
  LogMessage(const LogMessage&) = delete;
  LogMessage& operator=(const LogMessage&) = delete;
  std::ostream& stream() { return out_; }

 private:
  LogLevel level_;
  std::ostringstream out_;
};

}  // namespace vaultfs

namespace vaultfs {
// Turns the stream expression into void so VFS_LOG is one expression (glog's idiom): safe
// inside an unbraced if/else, and the message is built only when the level is enabled.
struct LogVoidify {
  void operator&(std::ostream&) {}
};
}  // namespace vaultfs

#define VFS_LOG(level)                                    \
  (::vaultfs::LogLevel::level < ::vaultfs::GetLogLevel()) \
      ? (void)0                                           \
      : ::vaultfs::LogVoidify() & ::vaultfs::LogMessage(::vaultfs::LogLevel::level).stream()
