// A `vaultfs web` child process for tests that need the browser gateway (suites 'web' and
// 'security'): started on a free 127.0.0.1 port (--listen 127.0.0.1:0 --port-file), its output
// in a log file, stopped by pid (SIGTERM, then SIGKILL of its process group) when it goes away.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "src/common/status.h"
#include "tests/cluster/cluster_fixture.h"

namespace vaultfs::testing {

class GatewayProcess {
 public:
  // Starts `$VAULTFS_BIN web` against `cluster`, keeping its port file and log in `dir`.
  static Result<std::unique_ptr<GatewayProcess>> Start(const TestCluster& cluster,
                                                       const std::string& dir);
  ~GatewayProcess() { Stop(); }

  // SIGTERM, then SIGKILL if it has not exited within 20 s. Returns the exit status (or -1).
  int Stop();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const;

 private:
  GatewayProcess() = default;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_status_ = -1;
  std::string port_file_;
  std::string log_;
};

}  // namespace vaultfs::testing
