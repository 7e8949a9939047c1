#include "src/cluster/server_health.h"

#include <gtest/gtest.h>

namespace vaultfs::cluster {
namespace {

using namespace std::chrono_literals;

class ServerHealthTest : public ::testing::Test {
 protected:
  ServerHealth::Clock::time_point now_{};
  ServerHealth health_{{.initial_backoff = 500ms, .max_backoff = 2000ms}, [this] { return now_; }};
};

TEST_F(ServerHealthTest, UnknownServersAreUp) {
  EXPECT_TRUE(health_.IsUp(7));
  EXPECT_TRUE(health_.ShouldTry(7));
  EXPECT_TRUE(health_.DownServers().empty());
}

TEST_F(ServerHealthTest, FailureSkipsUntilBackoffThenOneProbe) {
  health_.ReportFailure(3, "connect timed out");
  EXPECT_FALSE(health_.IsUp(3));
  EXPECT_EQ(health_.LastError(3), "connect timed out");
  EXPECT_FALSE(health_.ShouldTry(3));
  now_ += 499ms;
  EXPECT_FALSE(health_.ShouldTry(3));
  now_ += 1ms;
  EXPECT_TRUE(health_.ShouldTry(3));   // the probe
  EXPECT_FALSE(health_.ShouldTry(3));  // others wait for its outcome
  health_.ReportSuccess(3);
  EXPECT_TRUE(health_.IsUp(3));
  EXPECT_TRUE(health_.ShouldTry(3));
}

TEST_F(ServerHealthTest, BackoffDoublesUpToCapAndResets) {
  health_.ReportFailure(1, "x");  // 500 ms
  now_ += 500ms;
  ASSERT_TRUE(health_.ShouldTry(1));
  health_.ReportFailure(1, "x");  // 1000 ms
  now_ += 999ms;
  EXPECT_FALSE(health_.ShouldTry(1));
  now_ += 1ms;
  ASSERT_TRUE(health_.ShouldTry(1));
  health_.ReportFailure(1, "x");  // 2000 ms
  now_ += 2000ms;
  ASSERT_TRUE(health_.ShouldTry(1));
  health_.ReportFailure(1, "x");  // capped at 2000 ms
  now_ += 2000ms;
  EXPECT_TRUE(health_.ShouldTry(1));
  health_.ReportSuccess(1);
  health_.ReportFailure(1, "again");  // back to the initial back-off
  now_ += 500ms;
  EXPECT_TRUE(health_.ShouldTry(1));
  EXPECT_EQ(health_.DownServers(), std::vector<uint64_t>{1});
}

}  // namespace
}  // namespace vaultfs::cluster
