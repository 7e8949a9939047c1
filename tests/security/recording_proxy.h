// RecordingProxy: a TCP forwarder that sits where a network attacker would, in front of one
// server, and keeps every byte each client sent (per connection, in order). The replay test
// later feeds those bytes into a fresh connection to the real server.
//
// One thread runs a poll loop over the listening socket and every connection pair; it has no
// notion of TLS or of the data protocol, it only copies bytes both ways.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/common/cluster_config.h"
#include "src/common/socket.h"
#include "src/common/status.h"

namespace vaultfs::testing {

class RecordingProxy {
 public:
  RecordingProxy() = default;
  ~RecordingProxy();
  RecordingProxy(const RecordingProxy&) = delete;
  RecordingProxy& operator=(const RecordingProxy&) = delete;

  // Listens on `listen` (port 0: any free port; the address may be one a killed server just
  // left, hence SO_REUSEADDR) and forwards every accepted connection to `target`.
  Status Start(const HostPort& listen, const HostPort& target);
  // Closes every connection and the listener, and joins the thread.
  void Stop();
  uint16_t port() const { return port_; }

  // What the clients sent, one string per connection in accept order (connections still open
  // included, with what they sent so far).
  std::vector<std::string> ClientBytes() const;

 private:
  void Run();

  HostPort target_;
  UniqueFd listen_fd_;
  uint16_t port_ = 0;
  int wake_[2] = {-1, -1};  // a pipe that interrupts poll() for Stop()
  std::thread thread_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<std::string> recorded_;  // guarded by mu_
};

}  // namespace vaultfs::testing
