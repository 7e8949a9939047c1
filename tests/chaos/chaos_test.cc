// Suite 'chaos' (issue 7): a workload of creates, overwrites, appends, renames, reads and
// deletes through a real FUSE mount and the CLI, checked against a model of what every file
// must contain, while a chaos loop SIGKILLs and revives data servers (at most two down),
// SIGSTOPs one (a slow server), kills the metadata leader, flips bits in and truncates shard
// files, and wipes a server's disk (at most two of these before the cluster has repaired
// them: more than m lost shards per version between repairs is loss by design).
// vaultfs-repair runs fast passes throughout. At the end everything is revived, the cluster must
// settle (repair queue empty after a full scrub), every acknowledged write must read back exactly
// (through a fresh mount and the CLI) and every version must be back at 14 healthy shards.
//
// Environment: CHAOS_SECONDS (length of the chaos phase, default 75; `tools/chaos` runs a long
// soak), CHAOS_SEED (default: random). The seed is printed first; with it the same sequence
// of operations and faults is drawn again (the timing between them is the machine's).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "src/client/vault.h"
#include "src/crypto/hash.h"
#include "src/crypto/token.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/fuse/mount_fixture.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kUser[] = "chaos";
constexpr char kPassword[] = "entropy wins sometimes";
constexpr int kData = 14;
// Faults at once: at most two servers killed and one stopped, so a write still finds its
// quorum of 12 while reads have room for a corrupt shard on top.
constexpr int kMaxKilled = 2;

uint64_t EnvInt(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

// A file's content as a recipe of deterministic pieces, so the model stays small.
using Recipe = std::vector<std::pair<uint64_t, size_t>>;  // (seed, size)

std::string Bytes(const Recipe& r) {
  std::string out;
  for (const auto& [seed, size] : r) out += TestBytes(size, seed);
  return out;
}

std::string Hash(std::string_view bytes) { return crypto::DigestToHex(crypto::Sha256(bytes)); }

struct FileModel {
  Recipe recipe;         // the last acknowledged content
  bool tainted = false;  // a write failed: the content is any of `possible`, or the file is
                         // absent (a create whose outcome is unknown)
  std::set<std::string> possible;  // hashes of every content ever written (when tainted)
};

int WriteWhole(const std::string& path, const std::string& data, bool append) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
  if (fd < 0) return errno;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    off += static_cast<size_t>(n);
  }
  return close(fd) == 0 ? 0 : errno;  // close() carries the commit's result
}

int ReadWhole(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  out->clear();
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return 0;
}

struct Counters {
  std::atomic<uint64_t> ops{0}, writes{0}, reads{0}, renames{0}, deletes{0}, cli_ops{0};
  std::atomic<uint64_t> write_errors{0}, read_errors{0}, wrong_reads{0};
  std::atomic<uint64_t> kills{0}, revives{0}, stops{0}, leader_kills{0}, flips{0}, truncations{0},
      wipes{0};
};

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FuseAvailable()) {
      GTEST_SKIP() << "SKIPPED LOUDLY: /dev/fuse is missing; the chaos suite needs a real mount";
    }
    seed_ = EnvInt("CHAOS_SEED", std::random_device{}());
    seconds_ = EnvInt("CHAOS_SECONDS", 75);
    std::printf("chaos: seed %llu, %llu s of faults (rerun: CHAOS_SEED=%llu)\n",
                static_cast<unsigned long long>(seed_), static_cast<unsigned long long>(seconds_),
                static_cast<unsigned long long>(seed_));
    std::fflush(stdout);
    auto c = TestCluster::Start(
        kData, 3, "--interval 1 --scrub-interval 20 --gc-grace 5 --pending-grace 120");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    auto r = cluster_->Vaultfs({"register", kUser}, kUser, kPassword);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = TestMount::Start(*cluster_, kUser, kPassword);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    mount_ = std::move(m).value();
  }
  void TearDown() override {
    mount_.reset();
    cluster_.reset();
  }

  void Workload(SteadyClock::time_point until);
  void NoteError(const std::string& what, int err) {
    ++n_.write_errors;
    std::printf("chaos: %s failed: %s\n", what.c_str(), std::strerror(err));
  }
  void Chaos(SteadyClock::time_point until);
  void ReviveEverything();
  Status Settle();
  void VerifyAll(const std::string& root);

  // Mount-side file names and their models; CLI-side ones live under /cli in the vault.
  std::string MountPath(const std::string& name) { return mount_->Path(name); }

  uint64_t seed_ = 0, seconds_ = 0;
  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<TestMount> mount_;
  std::map<std::string, FileModel> files_;      // mount files, by name
  std::map<std::string, FileModel> cli_files_;  // CLI files, by vault path
  std::set<int> killed_;                        // data servers down (chaos thread only)
  Counters n_;
};

void Taint(FileModel& f, const std::string& new_hash) {
  if (!f.tainted) f.possible.insert(Hash(Bytes(f.recipe)));
  f.tainted = true;
  f.possible.insert(new_hash);
}

void ChaosTest::Workload(SteadyClock::time_point until) {
  std::mt19937_64 rng(seed_ * 2 + 1);
  auto pick = [&](const std::map<std::string, FileModel>& m) -> std::string {
    if (m.empty()) return "";
    auto it = m.begin();
    std::advance(it, static_cast<long>(rng() % m.size()));
    return it->first;
  };
  auto size_of = [&]() -> size_t {
    switch (rng() % 4) {
      case 0:
        return rng() % 200;  // tiny (inline)
      case 1:
        return 1000 + rng() % 15000;  // small (inline)
      case 2:
        return 20000 + rng() % 400000;  // one short segment
      default:
        return (1u << 20) + rng() % (2u << 20);  // several segments
    }
  };
  uint64_t next_name = 0;
  const std::string local = mount_->scratch_dir() + "/cli-local";
  while (SteadyClock::now() < until) {
    ++n_.ops;
    const int op = static_cast<int>(rng() % 100);
    if (op < 25 || files_.size() < 3) {  // create or overwrite
      std::string name =
          (op % 2 == 0 || files_.empty()) ? "f" + std::to_string(next_name++) : pick(files_);
      Recipe r{{rng(), size_of()}};
      const std::string bytes = Bytes(r);
      ++n_.writes;
      int err = WriteWhole(MountPath(name), bytes, false);
      FileModel& f = files_[name];
      if (err == 0) {
        f = FileModel{r, false, {}};
      } else {
        NoteError("write " + name, err);
        Taint(f, Hash(bytes));
      }
    } else if (op < 35) {  // append
      std::string name = pick(files_);
      FileModel& f = files_[name];
      if (f.tainted) continue;
      Recipe add{{rng(), 1 + rng() % 300000}};
      Recipe whole = f.recipe;
      whole.insert(whole.end(), add.begin(), add.end());
      ++n_.writes;
      int err = WriteWhole(MountPath(name), Bytes(add), true);
      if (err == 0) {
        f.recipe = whole;
      } else {
        NoteError("append " + name, err);
        Taint(f, Hash(Bytes(whole)));
      }
    } else if (op < 45) {  // rename to a new name
      std::string from = pick(files_);
      std::string to = "f" + std::to_string(next_name++);
      ++n_.renames;
      if (rename(MountPath(from).c_str(), MountPath(to).c_str()) == 0) {
        files_[to] = files_[from];
        files_.erase(from);
      } else if (access(MountPath(to).c_str(), F_OK) == 0) {  // applied after all
        files_[to] = files_[from];
        files_.erase(from);
      }
    } else if (op < 75) {  // read and check
      std::string name = pick(files_);
      const FileModel& f = files_[name];
      std::string got;
      ++n_.reads;
      int err = ReadWhole(MountPath(name), &got);
      if (err != 0) {
        ++n_.read_errors;
        continue;
      }
      const std::string h = Hash(got);
      const bool ok = f.tainted ? f.possible.count(h) > 0 : h == Hash(Bytes(f.recipe));
      if (!ok) {
        ++n_.wrong_reads;
        ADD_FAILURE() << "wrong content read from " << name << " (" << got.size() << " bytes)";
      }
    } else if (op < 82) {  // delete
      std::string name = pick(files_);
      ++n_.deletes;
      // An unlink whose reply was lost may still have happened.
      if (unlink(MountPath(name).c_str()) == 0 || access(MountPath(name).c_str(), F_OK) != 0) {
        files_.erase(name);
      }
    } else if (op < 91) {  // CLI put
      std::string path = "/cli-" + std::to_string(next_name++);
      Recipe r{{rng(), size_of()}};
      WriteFile(local, Bytes(r));
      ++n_.cli_ops;
      auto put = cluster_->Vaultfs({"-q", "put", local, path}, kUser, kPassword);
      FileModel& f = cli_files_[path];
      if (put.exit_code == 0) {
        f = FileModel{r, false, {}};
      } else {
        ++n_.write_errors;
        std::printf("chaos: vaultfs put %s failed: %s", path.c_str(), put.err.c_str());
        Taint(f, Hash(Bytes(r)));
      }
    } else {  // CLI cat and check
      std::string path = pick(cli_files_);
      if (path.empty()) continue;
      ++n_.cli_ops;
      ++n_.reads;
      auto cat = cluster_->Vaultfs({"cat", path}, kUser, kPassword);
      if (cat.exit_code != 0) {
        ++n_.read_errors;
        continue;
      }
      const FileModel& f = cli_files_[path];
      const std::string h = Hash(cat.out);
      if (f.tainted ? f.possible.count(h) == 0 : h != Hash(Bytes(f.recipe))) {
        ++n_.wrong_reads;
        ADD_FAILURE() << "wrong content from vaultfs cat " << path;
      }
    }
  }
}

void ChaosTest::Chaos(SteadyClock::time_point until) {
  std::mt19937_64 rng(seed_ * 2);
  auto any_chunk = [&]() -> std::string {
    // A random shard file on a server that is up.
    std::vector<std::string> all;
    for (int id = 1; id <= kData; ++id) {
      if (killed_.count(id)) continue;
      std::error_code ec;
      for (auto it = fs::recursive_directory_iterator(cluster_->DataStorage(id), ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (it->path().extension() == ".chunk") all.push_back(it->path().string());
      }
    }
    std::sort(all.begin(), all.end());
    return all.empty() ? "" : all[rng() % all.size()];
  };
  // Destructive faults (bit flips, truncations, wipes) destroy shards for good; each takes at
  // most one shard of any version. Erasure coding survives m = 4 lost shards per version
  // between repairs, and up to 3 more may be unreachable (killed or stopped) at a time. So at
  // most two destructive faults are outstanding: more wait until the cluster has healed (a
  // scrub that started after the last one has run, and later passes found nothing queued).
  // Kills and stops destroy nothing and need no such wait.
  int64_t damage_at = 0;
  uint64_t damage_passes = 0;
  int outstanding = 0;
  auto may_destroy = [&]() {
    if (outstanding < 2) return true;
    Json st = cluster_->RepairStatus();
    if (!st.is_object() || !st["scrub"].is_object() || !st["repair"].is_object()) return false;
    const bool healed =
        st.value("passes", uint64_t{0}) >= damage_passes + 3 &&
        st["scrub"].value("last_start", int64_t{0}) > damage_at &&
        st["scrub"].value("last_end", int64_t{0}) >= st["scrub"].value("last_start", int64_t{0}) &&
        st["repair"].value("queue", uint64_t{1}) == 0;
    if (healed) outstanding = 0;
    return healed;
  };
  auto note_damage = [&]() {
    ++outstanding;
    damage_at = crypto::UnixNow();
    damage_passes = cluster_->RepairStatus().value("passes", uint64_t{0});
  };
  auto pause = [&](int ms) {  // the chaos schedule itself, not a synchronisation
    const auto t = std::min(SteadyClock::now() + std::chrono::milliseconds(ms), until);
    std::this_thread::sleep_until(t);
  };
  while (SteadyClock::now() < until) {
    pause(1000 + static_cast<int>(rng() % 2000));
    const int what = static_cast<int>(rng() % 100);
    if (what < 25) {  // kill a data server
      if (static_cast<int>(killed_.size()) >= kMaxKilled) continue;
      int id = 1 + static_cast<int>(rng() % kData);
      if (killed_.count(id) || !cluster_->KillData(id).ok()) continue;
      killed_.insert(id);
      ++n_.kills;
    } else if (what < 50) {  // revive one
      if (killed_.empty()) continue;
      auto it = killed_.begin();
      std::advance(it, static_cast<long>(rng() % killed_.size()));
      if (cluster_->ReviveData(*it).ok()) {
        killed_.erase(it);
        ++n_.revives;
      }
    } else if (what < 60) {  // a slow server for a few seconds
      int id = 1 + static_cast<int>(rng() % kData);
      if (killed_.count(id)) continue;
      if (cluster_->Mkcluster({"stop", "data", std::to_string(id)}).exit_code != 0) continue;
      ++n_.stops;
      pause(2000 + static_cast<int>(rng() % 3000));
      cluster_->Mkcluster({"cont", "data", std::to_string(id)});
    } else if (what < 70) {  // the metadata leader dies, and comes back
      auto leader = cluster_->Mkcluster({"kill", "meta", "leader"});
      if (leader.exit_code != 0) continue;
      ++n_.leader_kills;
      pause(2000);
      cluster_->Mkcluster({"revive", "all"});
      // `revive all` also brings back killed data servers.
      killed_.clear();
    } else if (!may_destroy()) {
      continue;              // no new destruction before the earlier ones are repaired
    } else if (what < 82) {  // flip a bit in a shard
      std::string f = any_chunk();
      std::error_code ec;
      const auto size = fs::file_size(f, ec);
      if (f.empty() || ec || size == 0) continue;
      std::fstream io(f, std::ios::in | std::ios::out | std::ios::binary);
      const std::streamoff off = static_cast<std::streamoff>(rng() % size);
      char c = 0;
      io.seekg(off);
      io.read(&c, 1);
      c = static_cast<char>(c ^ (1 << (rng() % 8)));
      io.seekp(off);
      io.write(&c, 1);
      ++n_.flips;
      note_damage();
    } else if (what < 92) {  // truncate a shard
      std::string f = any_chunk();
      std::error_code ec;
      const auto size = fs::file_size(f, ec);
      if (f.empty() || ec || size == 0) continue;
      fs::resize_file(f, rng() % size, ec);
      ++n_.truncations;
      note_damage();
    } else {  // wipe a server's disk
      int id = 1 + static_cast<int>(rng() % kData);
      if (killed_.count(id) || static_cast<int>(killed_.size()) >= kMaxKilled) continue;
      if (!cluster_->KillData(id).ok()) continue;
      std::error_code ec;
      fs::remove_all(cluster_->DataStorage(id), ec);
      note_damage();
      if (cluster_->ReviveData(id).ok()) {
        ++n_.wipes;
      } else {
        killed_.insert(id);
      }
    }
  }
}

void ChaosTest::ReviveEverything() {
  for (int id = 1; id <= kData; ++id) cluster_->Mkcluster({"cont", "data", std::to_string(id)});
  auto r = cluster_->Mkcluster({"revive", "all"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  killed_.clear();
}

// Waits until the repairer has run a whole scrub pass that started after the faults stopped,
// and the repair queue is empty.
Status ChaosTest::Settle() {
  auto vault = std::make_unique<client::Vault>(cluster_->config());
  VFS_RETURN_IF_ERROR(vault->accounts().Login(kUser, kPassword));
  const int64_t calm_since = crypto::UnixNow();  // a scrub we ask for starts after this
  VFS_RETURN_IF_ERROR(vault->meta().Call("request_scrub").status());
  bool settled = WaitUntil(
      [&] {
        Json s = cluster_->RepairStatus();
        if (!s.is_object() || !s["scrub"].is_object() ||
            s["scrub"].value("last_start", int64_t{0}) < calm_since ||
            s["scrub"].value("last_end", int64_t{0}) < s["scrub"].value("last_start", int64_t{0})) {
          return false;
        }
        auto map = vault->meta().Call("cluster_map");
        return map.ok() && (*map)["repair_queue"] == 0;
      },
      std::chrono::seconds(240), std::chrono::milliseconds(500));
  if (!settled) {
    return Status(ETIMEDOUT, "the cluster did not settle: " + cluster_->RepairStatus().dump(2));
  }
  return Status::Ok();
}

void ChaosTest::VerifyAll(const std::string& root) {
  auto vault = std::make_unique<client::Vault>(cluster_->config());
  ASSERT_TRUE(vault->accounts().Login(kUser, kPassword).ok());
  size_t strict = 0;
  for (const auto& [name, f] : files_) {
    std::string got;
    const int err = ReadWhole(root + "/" + name, &got);
    if (f.tainted && err == ENOENT) continue;
    ASSERT_EQ(err, 0) << name;
    const std::string h = Hash(got);
    if (f.tainted) {
      EXPECT_TRUE(f.possible.count(h)) << name << ": content never written";
    } else {
      ++strict;
      EXPECT_EQ(h, Hash(Bytes(f.recipe))) << name << ": acknowledged write lost";
    }
  }
  for (const auto& [path, f] : cli_files_) {
    auto cat = cluster_->Vaultfs({"cat", path}, kUser, kPassword);
    if (f.tainted && cat.exit_code == 4) continue;  // 4: no such file
    ASSERT_EQ(cat.exit_code, 0) << path << ": " << cat.err;
    const std::string h = Hash(cat.out);
    if (f.tainted) {
      EXPECT_TRUE(f.possible.count(h)) << path;
    } else {
      ++strict;
      EXPECT_EQ(h, Hash(Bytes(f.recipe))) << path << ": acknowledged put lost";
    }
  }
  // Full redundancy: every sharded version has 14 shards recorded ok, on distinct servers,
  // each present on disk.
  size_t sharded = 0;
  auto check = [&](const std::string& path, const FileModel& f) {
    auto a = vault->tree().Resolve(path);
    if (f.tainted && !a.ok() && a.status().code() == ENOENT) return;
    ASSERT_TRUE(a.ok()) << path << ": " << a.status().ToString();
    // A file created empty (a zero-byte write) never got a content version: nothing to shard.
    if (a->version.empty()) {
      EXPECT_EQ(a->size, 0u) << path << ": content without a version";
      return;
    }
    auto gv = vault->meta().Call("get_version", {{"ino", a->ino}});
    ASSERT_TRUE(gv.ok()) << path << ": " << gv.status().ToString();
    if ((*gv).value("inline", false)) return;
    ++sharded;
    std::set<int> servers;
    for (const Json& s : (*gv)["shards"]) {
      EXPECT_EQ(s["state"], "ok") << path << " shard " << s["index"];
      servers.insert(s["server"].get<int>());
      const std::string file = cluster_->DataStorage(s["server"].get<int>()) + "/" +
                               vault->user_id() + "/" + s["chunk"].get<std::string>() + ".chunk";
      EXPECT_TRUE(fs::exists(file)) << path << " shard " << s["index"] << ": " << file;
    }
    EXPECT_EQ(servers.size(), 14u) << path;
  };
  for (const auto& [name, f] : files_) check("/" + name, f);
  for (const auto& [path, f] : cli_files_) check(path, f);
  std::printf(
      "chaos: verified %zu files (%zu with acknowledged content), %zu sharded versions at "
      "full redundancy\n",
      files_.size() + cli_files_.size(), strict, sharded);
}

TEST_F(ChaosTest, WorkloadUnderFaultsLosesNothingAndHealsCompletely) {
  const auto until = SteadyClock::now() + std::chrono::seconds(seconds_);
  std::thread chaos([&] { Chaos(until); });
  Workload(until);
  chaos.join();
  ReviveEverything();
  // The mount commits whatever it still retries before it goes away.
  // A release the daemon is still answering (e.g. an access-time update waiting out a leader
  // election) keeps the mount busy for a while after the last close; that is not a failure.
  Status un = mount_->Unmount();
  const auto busy_until = SteadyClock::now() + std::chrono::seconds(30);
  while (!un.ok() && un.message().find(" is busy") != std::string::npos &&
         SteadyClock::now() < busy_until) {
    std::printf("chaos: unmount: %s; retrying\n", un.message().substr(0, 300).c_str());
    std::this_thread::sleep_for(std::chrono::seconds(2));
    un = mount_->Unmount();
  }
  ASSERT_TRUE(un.ok()) << un.ToString().substr(0, 4000);
  mount_.reset();
  Status settled = Settle();
  ASSERT_TRUE(settled.ok()) << settled.ToString();
  auto fresh = TestMount::Start(*cluster_, kUser, kPassword);
  ASSERT_TRUE(fresh.ok()) << fresh.status().ToString();
  mount_ = std::move(fresh).value();
  VerifyAll(mount_->path());
  Json s = cluster_->RepairStatus();
  std::printf(
      "chaos: seed %llu: %llu ops (%llu writes, %llu reads, %llu renames, %llu deletes, %llu via "
      "the CLI); faults: %llu kills, %llu revives, %llu stops, %llu leader kills, %llu bit flips, "
      "%llu truncations, %llu wipes; repair: %s versions repaired, %s shards rebuilt, scrub found "
      "%s bad; write errors %llu, read errors %llu, wrong reads %llu\n",
      static_cast<unsigned long long>(seed_), (unsigned long long)n_.ops.load(),
      (unsigned long long)n_.writes.load(), (unsigned long long)n_.reads.load(),
      (unsigned long long)n_.renames.load(), (unsigned long long)n_.deletes.load(),
      (unsigned long long)n_.cli_ops.load(), (unsigned long long)n_.kills.load(),
      (unsigned long long)n_.revives.load(), (unsigned long long)n_.stops.load(),
      (unsigned long long)n_.leader_kills.load(), (unsigned long long)n_.flips.load(),
      (unsigned long long)n_.truncations.load(), (unsigned long long)n_.wipes.load(),
      s["repair"]["versions_repaired"].dump().c_str(), s["repair"]["shards_rebuilt"].dump().c_str(),
      s["scrub"]["bad"].dump().c_str(), (unsigned long long)n_.write_errors.load(),
      (unsigned long long)n_.read_errors.load(), (unsigned long long)n_.wrong_reads.load());
  EXPECT_EQ(n_.wrong_reads.load(), 0u);
  EXPECT_GT(n_.ops.load(), 20u);
}

}  // namespace
}  // namespace vaultfs::testing
