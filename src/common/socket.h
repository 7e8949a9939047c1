// Blocking TCP helpers with deadlines, for synchronous clients (CLI, metadata client) and
// tests. Event-loop servers use libuv instead. Every call takes an absolute deadline so a
// dead or stalled peer costs a bounded time, never a hang.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "src/common/cluster_config.h"
#include "src/common/frame.h"
#include "src/common/status.h"

namespace vaultfs {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

inline Deadline DeadlineIn(std::chrono::milliseconds d) { return Clock::now() + d; }

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Connects with TCP_NODELAY set. ETIMEDOUT if the deadline passes, ECONNREFUSED etc. as is.
Result<UniqueFd> ConnectTcp(const HostPort& addr, Deadline deadline);

// Listens on addr (port 0 picks a free one); returns the fd. Used by tests and tools.
Result<UniqueFd> ListenTcp(const HostPort& addr, int backlog = 128);
Result<uint16_t> LocalPort(int fd);

Status WriteAll(int fd, std::string_view data, Deadline deadline);
// Reads exactly n bytes. A clean EOF before n bytes is ECONNRESET.
Status ReadFull(int fd, char* buf, size_t n, Deadline deadline);

// One frame (frame.h) each way.
Status WriteFrame(int fd, std::string_view body, Deadline deadline,
                  size_t max_frame = kDefaultMaxFrame);
Result<std::string> ReadFrame(int fd, Deadline deadline, size_t max_frame = kDefaultMaxFrame);

}  // namespace vaultfs
