// The client's view of which data servers are worth talking to (DESIGN.md §3, issue 5).
//
// A server that failed (connect timeout, reset, request timeout) is marked down and skipped
// until its back-off expires; then exactly one caller is let through as a probe. Success
// marks it up and resets the back-off; another failure doubles it (up to a cap). So a dead
// server costs one timeout per back-off period, not one per request.
//
// Thread-safe. Time comes from an injectable clock so tests need no sleeps.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace vaultfs::cluster {

class ServerHealth {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  struct Options {
    std::chrono::milliseconds initial_backoff{500};
    std::chrono::milliseconds max_backoff{15000};
  };

  explicit ServerHealth(
      Options options, NowFn now = [] { return Clock::now(); });
  ServerHealth() : ServerHealth(Options{}) {}

  // True if a request to `server` should be attempted now: it is up, or it is down and its
  // back-off has expired and no other probe is in flight (this caller becomes the probe).
  bool ShouldTry(uint64_t server);
  void ReportSuccess(uint64_t server);
  void ReportFailure(uint64_t server, const std::string& why);

  // Forgets every failure, e.g. after an operator says the servers are back.
  void Reset();

  bool IsUp(uint64_t server) const;
  std::vector<uint64_t> DownServers() const;
  std::string LastError(uint64_t server) const;

 private:
  struct State {
    bool up = true;
    bool probing = false;
    std::chrono::milliseconds backoff{0};
    Clock::time_point retry_at{};
    std::string last_error;
  };

  const Options options_;
  const NowFn now_;
  mutable std::mutex mu_;
  std::map<uint64_t, State> servers_;  // guarded by mu_
};

}  // namespace vaultfs::cluster
