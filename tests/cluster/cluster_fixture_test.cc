// The cluster fixture cleans up after a test that dies without running its destructors (a
// meson timeout's SIGTERM, a crash): no server of its cluster may outlive it.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/cluster/cluster_fixture.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;

bool Alive(pid_t pid) { return kill(pid, 0) == 0; }

TEST(ClusterFixture, ServersDieWithATestKilledMidway) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(p[0]);
    auto c = TestCluster::Start(14, 1);
    std::string dir = c.ok() ? (*c)->dir() : "";
    dir += "\n";
    (void)!write(p[1], dir.data(), dir.size());
    for (;;) pause();  // until killed: the destructor never runs
  }
  close(p[1]);
  std::string dir;
  char ch;
  while (read(p[0], &ch, 1) == 1 && ch != '\n') dir += ch;
  close(p[0]);
  ASSERT_FALSE(dir.empty()) << "the cluster did not start";

  std::vector<pid_t> servers;
  for (const auto& e : fs::directory_iterator(dir + "/run")) {
    pid_t pid = static_cast<pid_t>(std::atol(ReadFile(e.path().string()).c_str()));
    if (pid > 1) servers.push_back(pid);
  }
  ASSERT_GE(servers.size(), 15u) << "expected 14 data servers and a metadata node in " << dir;
  for (pid_t pid : servers) EXPECT_TRUE(Alive(pid));

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto any_alive = [&] {
    for (pid_t pid : servers) {
      if (Alive(pid)) return true;
    }
    return false;
  };
  while ((any_alive() || fs::exists(dir)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_FALSE(any_alive()) << "a server outlived the killed test";
  EXPECT_FALSE(fs::exists(dir)) << dir << " was left behind";
}

}  // namespace
}  // namespace vaultfs::testing
