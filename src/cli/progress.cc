// Progress display: see progress.h.
#include "src/cli/progress.h"

#include <unistd.h>

#include <cstdio>

namespace vaultfs::cli {

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[u]);
  }
  return buf;
}

Progress::Progress(std::string label, uint64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled && isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      last_draw_(start_) {}

Progress::~Progress() {
  if (drawn_) std::fputs("\r\033[K", stderr);
}

std::string Progress::Format(const std::string& label, uint64_t done, uint64_t total,
                             double seconds) {
  std::string line = label;
  if (total > 0) {
    line += "  " + std::to_string(done * 100 / total) + "% " + HumanBytes(done) + "/" +
            HumanBytes(total);
  } else {
    line += "  " + HumanBytes(done);
  }
  if (seconds > 0) {
    line += "  " + HumanBytes(static_cast<uint64_t>(static_cast<double>(done) / seconds)) + "/s";
  }
  return line;
}

void Progress::Update(uint64_t done) {
  if (!enabled_) return;
  auto now = Clock::now();
  if (now - start_ < std::chrono::seconds(1) || now - last_draw_ < std::chrono::milliseconds(100)) {
    return;
  }
  last_draw_ = now;
  double secs = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s", Format(label_, done, total_, secs).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace vaultfs::cli
