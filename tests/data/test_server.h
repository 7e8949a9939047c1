// TestServer: starts a real vaultfs-data process for the 'data' suite on 127.0.0.1 with a
// fresh temp directory (storage, secret, port file, log), and always stops it by pid. The
// binary's path comes from VAULTFS_DATA_BIN (set by tests/data/meson.build).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "src/common/cluster_config.h"
#include "src/common/status.h"
#include "src/crypto/token.h"

namespace vaultfs::testing {

// A temp directory removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class TestServer {
 public:
  // `root` holds storage/ (unless storage is given), secret, port file and server.log.
  explicit TestServer(std::string root, std::string storage = "");
  ~TestServer();  // SIGKILLs a still-running server

  // Launches with the given extra options and waits (deadline) for the port file.
  Status Start(const std::vector<std::string>& extra_args = {});
  void Signal(int sig);
  // Waits for exit (deadline); returns the wait status, or -1 on timeout.
  int WaitExit(std::chrono::milliseconds deadline = std::chrono::seconds(60));
  bool Running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  HostPort addr() const { return {"127.0.0.1", port_}; }
  const std::string& storage() const { return storage_; }
  const std::string& secret() const { return secret_; }
  // Peak resident set size of the server, from /proc/<pid>/status VmHWM.
  uint64_t PeakRssBytes() const;
  // Files left in <storage>/.tmp.
  std::vector<std::string> TempFiles() const;

  // A data token for `user` signed with this server's secret.
  std::string Token(const std::string& user, uint32_t rights = crypto::kRightAll,
                    int64_t ttl_s = 3600, const std::string& scope = "") const;

 private:
  std::string root_, storage_, secret_, secret_file_, port_file_, log_file_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// Deterministic pseudo-random bytes (xorshift) for test payloads.
std::string PatternBytes(uint64_t seed, size_t n);
void FillPattern(uint64_t* state, char* out, size_t n);

}  // namespace vaultfs::testing
