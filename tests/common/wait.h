// Waiting on a condition with a deadline, for tests: the one poller the suites share, so no
// test sleeps as synchronisation.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace vaultfs::testing {

// Polls `cond` every `step` until it holds (true) or `limit` passes (false, after a last look).
template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds limit,
             std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(step);  // polling interval, not synchronisation
  }
  return cond();
}

// The same with a limit in seconds, polling every 200 ms: for conditions that run a command
// or ask a server.
inline bool WaitUntil(int seconds, const std::function<bool()>& done) {
  return WaitFor(done, std::chrono::seconds(seconds), std::chrono::milliseconds(200));
}

}  // namespace vaultfs::testing
