// meta_fuse_path_bench: what the FUSE daemon's small-file and `ls -l` paths cost in metadata
// round trips, against a 3-node vaultfs-meta group on loopback (started here, in a temp dir),
// one client thread (a FUSE request waits for its reply). Each new fast path runs next to its
// baseline, interleaved in rounds in the same run, and is reported as a ratio:
//   - small file written and committed: create + begin_version(inline) + commit_version
//     (baseline) vs create + write_inline;
//   - listing a directory of --entries entries with attributes: readdir + one getattr per entry
//     (baseline) vs readdir with attrs:true.
//
//   meta_fuse_path_bench [--seconds N] [--entries N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "src/common/hex.h"
#include "src/crypto/random.h"
#include "tests/meta/meta_cluster.h"

using namespace vaultfs;
using namespace vaultfs::testing;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr int kRounds = 4;  // each case runs this many times, alternating with its baseline

struct Tally {
  double seconds = 0;
  size_t ops = 0;
  double PerSecond() const { return seconds > 0 ? ops / seconds : 0; }
};

// Runs `one` (one unit of work) repeatedly for `seconds`, adding to `t`. False on an error.
bool RunFor(double seconds, Tally* t, const std::function<Status()>& one) {
  auto start = SteadyClock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  while (SteadyClock::now() < end) {
    Status st = one();
    if (!st.ok()) {
      std::fprintf(stderr, "error: %s\n", st.ToString().c_str());
      return false;
    }
    ++t->ops;
  }
  t->seconds += std::chrono::duration<double>(SteadyClock::now() - start).count();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 3;
  int entries = 500;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) seconds = std::atof(argv[++i]);
    if (std::strcmp(argv[i], "--entries") == 0 && i + 1 < argc) entries = std::atoi(argv[++i]);
  }
  if (std::getenv("META_BIN") == nullptr) setenv("META_BIN", META_BIN_DEFAULT, 1);

  MetaCluster group(3, /*single=*/false);
  Status st = group.StartAll();
  if (!st.ok() || group.WaitLeader(std::chrono::seconds(60)) < 0) {
    return std::fprintf(stderr, "3-node group did not start\n"), 1;
  }
  auto c = group.Client();
  const std::string auth(64, 'b');
  auto reg = c->Call("register", {{"user", "bench"},
                                  {"salt", "00"},
                                  {"kdf", Json::object()},
                                  {"auth_key", auth},
                                  {"wrapped_master_key", "w"}});
  auto login = c->Login("bench", auth);
  if (!reg.ok() || !login.ok()) return std::fprintf(stderr, "register/login failed\n"), 1;
  int64_t root = (*login)["root"];
  const std::string content = HexEncode(std::string(2048 + 28, 'c'));  // a sealed 2 KiB file

  uint64_t n = 0;
  auto create = [&]() -> Result<int64_t> {
    VFS_ASSIGN_OR_RETURN(Json r, c->Call("create", {{"parent", root},
                                                    {"key", HexEncode("f" + std::to_string(n++))},
                                                    {"name", "sealed-name"},
                                                    {"mode", 0644}}));
    return r["attr"]["ino"].get<int64_t>();
  };
  auto two_step = [&]() -> Status {
    VFS_ASSIGN_OR_RETURN(int64_t ino, create());
    VFS_ASSIGN_OR_RETURN(Json b, c->Call("begin_version", {{"ino", ino}, {"inline", true}}));
    return c
        ->Call("commit_version", {{"ino", ino},
                                  {"version", b["version"]},
                                  {"expected", nullptr},
                                  {"size", 2048},
                                  {"content", content},
                                  {"wrapped_key", "wk"}})
        .status();
  };
  auto one_step = [&]() -> Status {
    VFS_ASSIGN_OR_RETURN(int64_t ino, create());
    VFS_ASSIGN_OR_RETURN(std::string vid, crypto::RandomHexId(16));
    return c
        ->Call("write_inline", {{"ino", ino},
                                {"version", vid},
                                {"expected", nullptr},
                                {"size", 2048},
                                {"content", content},
                                {"wrapped_key", "wk"}})
        .status();
  };

  // A directory of `entries` files for the listing cases.
  auto dir = c->Call("mkdir", {{"parent", root}, {"key", HexEncode("listing")}, {"name", "d"}});
  if (!dir.ok()) return std::fprintf(stderr, "mkdir failed\n"), 1;
  int64_t dino = (*dir)["attr"]["ino"];
  for (int i = 0; i < entries; ++i) {
    auto r = c->Call("create", {{"parent", dino},
                                {"key", HexEncode("e" + std::to_string(i))},
                                {"name", std::string(64, 'n')}});
    if (!r.ok()) return std::fprintf(stderr, "populate: %s\n", r.status().ToString().c_str()), 1;
  }
  auto list = [&](bool with_attrs) -> Status {
    Json cursor = "";
    size_t seen = 0;
    while (true) {
      VFS_ASSIGN_OR_RETURN(
          Json page,
          c->Call("readdir",
                  {{"ino", dino}, {"cursor", cursor}, {"limit", 1000}, {"attrs", with_attrs}}));
      for (const Json& e : page["entries"]) {
        ++seen;
        if (!with_attrs) VFS_RETURN_IF_ERROR(c->Call("getattr", {{"ino", e["ino"]}}).status());
      }
      if (page["next"].is_null()) break;
      cursor = page["next"];
    }
    if (seen != static_cast<size_t>(entries)) return IoError("listing missed entries");
    return Status::Ok();
  };

  Tally t_two, t_one, t_get, t_plus;
  double slice = seconds / kRounds;
  for (int r = 0; r < kRounds; ++r) {
    bool ok = RunFor(slice, &t_two, two_step) && RunFor(slice, &t_one, one_step) &&
              RunFor(slice, &t_get, [&] { return list(false); }) &&
              RunFor(slice, &t_plus, [&] { return list(true); });
    if (!ok) return 1;
  }
  std::printf("3-node group, 1 client, %d rounds of %.2f s per case, interleaved\n", kRounds,
              slice);
  std::printf("%-44s %9.1f files/s   (baseline)\n", "create + begin_version + commit_version",
              t_two.PerSecond());
  std::printf("%-44s %9.1f files/s   x%.2f\n", "create + write_inline", t_one.PerSecond(),
              t_one.PerSecond() / t_two.PerSecond());
  std::printf("%-44s %9.1f listings/s (baseline; %d entries)\n", "readdir + getattr per entry",
              t_get.PerSecond(), entries);
  std::printf("%-44s %9.1f listings/s x%.2f\n", "readdir attrs:true", t_plus.PerSecond(),
              t_plus.PerSecond() / t_get.PerSecond());
  return 0;
}
