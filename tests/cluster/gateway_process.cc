// A `vaultfs web` child process: see gateway_process.h.
#include "tests/cluster/gateway_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

namespace vaultfs::testing {
namespace {

// Polls `done` every 50 ms until it holds or `timeout` passes.
bool PollUntil(const std::function<bool()>& done, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // poll interval
  }
  return true;
}

}  // namespace

Result<std::unique_ptr<GatewayProcess>> GatewayProcess::Start(const TestCluster& cluster,
                                                              const std::string& dir) {
  std::unique_ptr<GatewayProcess> g(new GatewayProcess());
  g->port_file_ = dir + "/port";
  g->log_ = dir + "/gateway.log";
  std::filesystem::remove(g->port_file_);
  const char* bin_env = std::getenv("VAULTFS_BIN");
  const std::string bin = bin_env ? bin_env : "vaultfs";
  g->pid_ = fork();
  if (g->pid_ == 0) {
    int log_fd = open(g->log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    setpgid(0, 0);
    setenv("VAULTFS_CLUSTER", cluster.config_path().c_str(), 1);
    execl(bin.c_str(), bin.c_str(), "web", "--listen", "127.0.0.1:0", "--port-file",
          g->port_file_.c_str(), "--log-level", "info", static_cast<char*>(nullptr));
    std::fprintf(stderr, "exec %s: %s\n", bin.c_str(), std::strerror(errno));
    _exit(127);
  }
  if (g->pid_ < 0) return IoError("fork failed");
  bool up = PollUntil(
      [&] { return !ReadFile(g->port_file_).empty() || waitpid(g->pid_, nullptr, WNOHANG) != 0; },
      std::chrono::seconds(60));
  g->port_ = std::atoi(ReadFile(g->port_file_).c_str());
  if (!up || g->port_ <= 0) return IoError("vaultfs web did not start:\n" + g->Log());
  return g;
}

int GatewayProcess::Stop() {
  if (pid_ <= 0) return exit_status_;
  kill(pid_, SIGTERM);
  int status = 0;
  bool exited =
      PollUntil([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(20));
  if (!exited) {
    kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  exit_status_ = exited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return exit_status_;
}

std::string GatewayProcess::Log() const { return ReadFile(log_); }

}  // namespace vaultfs::testing
