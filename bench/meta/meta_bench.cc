// meta_bench: acknowledged metadata creates per second against a 3-node vaultfs-meta group on
// loopback (started here, in a temp dir), with 1 and with 16 client threads, plus p50/p99
// latency. Baseline in the same run: the same load against one --single node, so the cost of
// replication shows as a ratio.
//
//   meta_bench [--seconds N]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "src/common/hex.h"
#include "tests/meta/meta_cluster.h"

using namespace vaultfs;
using namespace vaultfs::testing;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct Figures {
  double ops_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  size_t errors = 0;
};

Result<Figures> Run(MetaCluster& cl, const std::string& user, int threads, double seconds) {
  auto admin = cl.Client();
  const std::string auth(64, 'b');
  VFS_RETURN_IF_ERROR(admin
                          ->Call("register", {{"user", user},
                                              {"salt", "00"},
                                              {"kdf", Json::object()},
                                              {"auth_key", auth},
                                              {"wrapped_master_key", "w"}})
                          .status());
  VFS_ASSIGN_OR_RETURN(Json login, admin->Login(user, auth));
  int64_t root = login["root"];
  std::string session = login["session"];

  std::mutex mu;
  std::vector<double> lat_ms;
  std::atomic<size_t> errors{0};
  auto end = SteadyClock::now() + std::chrono::duration<double>(seconds);
  std::vector<std::thread> ts;
  auto start = SteadyClock::now();
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      auto c = cl.Client();
      c->SetSession(session);
      std::vector<double> mine;
      for (int i = 0; SteadyClock::now() < end; ++i) {
        auto t0 = SteadyClock::now();
        auto r = c->Call("create",
                         {{"parent", root},
                          {"key", HexEncode("t" + std::to_string(t) + "-" + std::to_string(i))},
                          {"name", "sealed-name"}});
        if (!r.ok()) {
          errors++;
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
      }
      std::lock_guard<std::mutex> l(mu);
      lat_ms.insert(lat_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& th : ts) th.join();
  double elapsed = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (lat_ms.empty()) return IoError("no create was acknowledged");
  std::sort(lat_ms.begin(), lat_ms.end());
  Figures f;
  f.ops_per_s = lat_ms.size() / elapsed;
  f.p50_ms = lat_ms[lat_ms.size() / 2];
  f.p99_ms = lat_ms[std::min(lat_ms.size() - 1, lat_ms.size() * 99 / 100)];
  f.errors = errors;
  return f;
}

void Print(const char* name, const Figures& f, double baseline) {
  std::printf(
      "%-28s %9.0f creates/s  (x%.2f vs baseline)  p50 %7.2f ms  p99 %7.2f ms  errors %zu\n", name,
      f.ops_per_s, f.ops_per_s / baseline, f.p50_ms, f.p99_ms, f.errors);
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
  }
  if (std::getenv("META_BIN") == nullptr) setenv("META_BIN", META_BIN_DEFAULT, 1);

  Figures single1;
  {
    MetaCluster one(1, /*single=*/true);
    Status st = one.StartAll();
    if (!st.ok()) return std::fprintf(stderr, "start: %s\n", st.ToString().c_str()), 1;
    auto f = Run(one, "bench-single", 1, seconds);
    if (!f.ok()) return std::fprintf(stderr, "single: %s\n", f.status().ToString().c_str()), 1;
    single1 = *f;
  }
  MetaCluster three(3, /*single=*/false);
  Status st = three.StartAll();
  if (!st.ok() || three.WaitLeader(std::chrono::seconds(60)) < 0) {
    return std::fprintf(stderr, "3-node group did not start\n"), 1;
  }
  auto g1 = Run(three, "bench-group-1", 1, seconds);
  auto g16 = Run(three, "bench-group-16", 16, seconds);
  if (!g1.ok() || !g16.ok()) return std::fprintf(stderr, "group run failed\n"), 1;
  std::printf("acknowledged creates, %.0f s per case (baseline: 1 client, --single node)\n",
              seconds);
  Print("single node, 1 client", single1, single1.ops_per_s);
  Print("3-node group, 1 client", *g1, single1.ops_per_s);
  Print("3-node group, 16 clients", *g16, single1.ops_per_s);
  return 0;
}
