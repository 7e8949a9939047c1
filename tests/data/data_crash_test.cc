// Crash safety of vaultfs-data: SIGKILL the server at random points of a stream of pipelined
// uploads (>= 50 kills). After every restart each acknowledged object must be byte-exact, an
// object whose upload was in flight must be either its old or its new content (never a mix),
// and no temp file may remain.
#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <random>
#include <set>

#include "src/cluster/data_client.h"
#include "tests/data/test_server.h"

namespace vaultfs {
namespace {

using testing::PatternBytes;

constexpr int kKills = 55;
constexpr int kChunks = 24;
constexpr int kInFlight = 6;

std::string ChunkName(int i) { return "c0de-" + std::to_string(i); }
// Content of version v (v > 0) of chunk i; 0 means "absent".
std::string Content(int i, uint64_t v) {
  return PatternBytes(i * 1000003ull + v, 1 + (v * 7919 + i * 131) % 48000);
}

TEST(DataCrash, SigkillDuringUploadsKeepsAcknowledgedObjects) {
  testing::TempDir dir;
  testing::TestServer server(dir.path());
  std::mt19937_64 rng(20261122);
  // Versions each chunk may legitimately hold: exactly the acknowledged one, plus any whose
  // upload was cut by the kill.
  std::map<int, std::set<uint64_t>> allowed;
  for (int i = 0; i < kChunks; ++i) allowed[i] = {0};
  uint64_t next_version = 1;
  int total_acked = 0;
  int rounds_with_leftovers = 0;

  for (int round = 0; round <= kKills; ++round) {
    if (!server.TempFiles().empty()) ++rounds_with_leftovers;  // cut uploads left temp files
    ASSERT_TRUE(server.Start().ok()) << "round " << round;
    EXPECT_TRUE(server.TempFiles().empty()) << "round " << round;
    const std::string tok = server.Token("alice");
    cluster::DataClient client;
    // Check every object against what may be there, then pin what is.
    for (int i = 0; i < kChunks; ++i) {
      auto got = client.Download(server.addr(), tok, ChunkName(i)).get();
      uint64_t seen = ~0ull;
      if (!got.ok()) {
        ASSERT_EQ(got.status().code(), ENOENT) << got.status().ToString();
        seen = 0;
      } else {
        for (uint64_t v : allowed[i]) {
          if (v != 0 && *got == Content(i, v)) seen = v;
        }
      }
      ASSERT_NE(seen, ~0ull) << "round " << round << ": chunk " << i
                             << " holds neither its acknowledged nor an in-flight version";
      ASSERT_TRUE(allowed[i].count(seen)) << "round " << round << " chunk " << i;
      allowed[i] = {seen};
    }
    if (round == kKills) break;

    // A stream of uploads with several in flight; SIGKILL after a random number of acks.
    const int kill_after = static_cast<int>(rng() % 12);
    int acked = 0;
    struct Flight {
      int chunk;
      uint64_t version;
      std::future<Result<uint64_t>> reply;
    };
    std::vector<Flight> flights;
    std::set<int> busy;
    auto launch = [&] {
      int i;
      do {
        i = static_cast<int>(rng() % kChunks);
      } while (busy.count(i));
      busy.insert(i);
      uint64_t v = next_version++;
      allowed[i].insert(v);  // may land from now on
      flights.push_back({i, v, client.Upload(server.addr(), tok, ChunkName(i), Content(i, v))});
    };
    for (int k = 0; k < kInFlight; ++k) launch();
    while (acked < kill_after) {
      Flight f = std::move(flights.front());
      flights.erase(flights.begin());
      auto r = f.reply.get();
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      allowed[f.chunk] = {f.version};  // acknowledged: only this version is acceptable now
      busy.erase(f.chunk);
      ++acked;
      launch();
    }
    server.Signal(SIGKILL);
    ASSERT_NE(server.WaitExit(), -1);
    for (auto& f : flights) {
      auto r = f.reply.get();  // fails (connection reset) or, if acked before the kill, ok
      if (r.ok()) allowed[f.chunk] = {f.version};
    }
    total_acked += acked;
  }
  EXPECT_GE(total_acked, kKills);  // the kills did hit a live upload stream
  std::cout << kKills << " kills, " << total_acked << " acknowledged uploads, "
            << rounds_with_leftovers << " restarts found (and removed) temp files\n";
  RecordProperty("rounds_with_leftover_temp_files", rounds_with_leftovers);
}

}  // namespace
}  // namespace vaultfs
