// Suite 'repair': issue 7's self-healing acceptance tests. Each test starts its own real
// cluster (tools/mkcluster, with vaultfs-repair running passes every second), damages it the
// way disks and servers fail, and waits (with deadlines, never fixed sleeps) until the repair
// daemon has brought every version back to full redundancy, then checks every byte.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "src/client/vault.h"
#include "src/cluster/data_client.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/common/wait.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using ::testing::HasSubstr;

constexpr char kUser[] = "rita";
constexpr char kPassword[] = "repair me gently";
constexpr char kFastRepair[] = "--interval 1 --scrub-interval 0 --gc-grace 0";

class RepairTest : public ::testing::Test {
 protected:
  void StartCluster(const std::string& repair_opts, int data = 14) {
    auto c = TestCluster::Start(data, 3, repair_opts);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    auto r = cluster_->Vaultfs({"register", kUser}, kUser, kPassword);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    char tmpl[] = "/tmp/vaultfs-repair-local-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    local_ = tmpl;
    vault_ = std::make_unique<client::Vault>(cluster_->config());
    Status st = vault_->accounts().Login(kUser, kPassword);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    vault_.reset();
    cluster_.reset();
    std::error_code ec;
    if (!local_.empty()) fs::remove_all(local_, ec);
  }

  CommandResult Cli(const std::vector<std::string>& args) {
    return cluster_->Vaultfs(args, kUser, kPassword);
  }
  std::string Local(const std::string& name) { return local_ + "/" + name; }

  void Put(const std::string& name, size_t size, uint64_t seed) {
    WriteFile(Local(name), TestBytes(size, seed));
    auto put = Cli({"put", Local(name), "/" + name});
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  void ExpectReadsBack(const std::string& name) {
    auto get = Cli({"get", "/" + name, Local(name + ".back")});
    ASSERT_EQ(get.exit_code, 0) << name << ": " << get.err;
    EXPECT_EQ(FileSha256(Local(name + ".back")), FileSha256(Local(name))) << name;
    fs::remove(Local(name + ".back"));
  }

  Json Version(const std::string& name) {
    auto a = vault_->tree().Resolve("/" + name);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    if (!a.ok()) return Json();
    auto gv = vault_->meta().Call("get_version", {{"ino", a->ino}});
    EXPECT_TRUE(gv.ok()) << gv.status().ToString();
    return gv.ok() ? *gv : Json();
  }
  std::string ShardPath(const Json& shard) {
    return cluster_->DataStorage(shard["server"].get<int>()) + "/" + vault_->user_id() + "/" +
           shard["chunk"].get<std::string>() + ".chunk";
  }
  std::vector<std::string> ShardFiles(const std::string& name) {
    Json v = Version(name);
    std::vector<std::string> files(v["shards"].size());
    for (const Json& s : v["shards"]) files[s["index"].get<int>()] = ShardPath(s);
    return files;
  }

  // Every shard of the file's version recorded ok, on 14 distinct servers none of which is in
  // `avoid`, and present on that server's disk.
  bool FullyRedundant(const std::string& name, const std::set<int>& avoid = {}) {
    Json v = Version(name);
    if (!v.is_object() || v["shards"].size() != 14) return false;
    std::set<int> servers;
    for (const Json& s : v["shards"]) {
      if (s["state"] != "ok") return false;
      const int server = s["server"].get<int>();
      if (avoid.count(server) || !servers.insert(server).second) return false;
      if (!fs::exists(ShardPath(s))) return false;
    }
    return true;
  }
  uint64_t RepairCounter(const std::string& section, const std::string& field) {
    Json s = cluster_->RepairStatus();
    if (!s.is_object() || !s.contains(section)) return 0;
    return s[section].value(field, uint64_t{0});
  }
  std::string RepairLog() {
    return cluster_->Mkcluster({"logs", "repair-1"}).out + cluster_->RepairStatus().dump(2);
  }

  // Sum of every data server's stored object bytes, from their health replies.
  uint64_t UsedBytes() {
    cluster::DataClient dc(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
    uint64_t used = 0;
    for (const DataNodeConfig& d : cluster_->config().data) {
      auto h = dc.Health(d.address).get();
      EXPECT_TRUE(h.ok()) << h.status().ToString();
      if (h.ok()) used += h->used_bytes;
    }
    return used;
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<client::Vault> vault_;
  std::string local_;
};

void FlipByte(const std::string& path, std::streamoff off) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.good()) << path;
  f.seekg(off);
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(off);
  f.write(&c, 1);
}

TEST_F(RepairTest, WipedServerIsNoticedAndRefilledWithoutAnyUserAction) {
  StartCluster(kFastRepair);
  Put("a", 3u << 20, 1);
  Put("b", (1u << 20) + 12345, 2);
  Put("small", 5000, 3);  // inline: lives in the metadata service, not affected
  const int victim = 5;
  ASSERT_TRUE(cluster_->KillData(victim).ok());
  fs::remove_all(cluster_->DataStorage(victim));
  ASSERT_TRUE(cluster_->ReviveData(victim).ok());
  // Reads stay correct while the cluster is degraded.
  ExpectReadsBack("a");
  ASSERT_TRUE(WaitUntil(60, [&] { return FullyRedundant("a") && FullyRedundant("b"); }))
      << RepairLog();
  // The repairer rewrites its status file after the placement it fixed is committed: wait.
  WaitUntil(10, [&] { return RepairCounter("repair", "versions_repaired") >= 2u; });
  EXPECT_GE(RepairCounter("repair", "versions_repaired"), 2u);
  for (const char* name : {"a", "b", "small"}) ExpectReadsBack(name);
  auto status = cluster_->Mkcluster({"status"});
  EXPECT_THAT(status.out, HasSubstr("repair: 0 version(s) queued")) << status.out;
  ASSERT_TRUE(WaitUntil(30, [&] {
    auto cli = Cli({"status"});
    return cli.out.find("repair: 0 version(s) queued; 2 repaired") != std::string::npos;
  })) << Cli({"status"}).out;
}

TEST_F(RepairTest, ScrubFindsFlippedBitsTruncationAndLossAndRepairFixesThem) {
  StartCluster(kFastRepair);
  for (int i = 0; i < 4; ++i) Put("f" + std::to_string(i), 2u << 20, 10 + i);
  // A data block, a parity block, a truncated shard and a deleted one, in different files.
  FlipByte(ShardFiles("f0")[2], 100);
  FlipByte(ShardFiles("f1")[12], 5000);
  {
    const std::string t = ShardFiles("f2")[0];
    fs::resize_file(t, fs::file_size(t) - 7);
  }
  fs::remove(ShardFiles("f3")[13]);
  ASSERT_EQ(cluster_->Mkcluster({"scrub"}).exit_code, 0);
  ASSERT_TRUE(WaitUntil(90, [&] {
    return RepairCounter("scrub", "passes") >= 1 && RepairCounter("scrub", "bad") >= 4 &&
           FullyRedundant("f0") && FullyRedundant("f1") && FullyRedundant("f2") &&
           FullyRedundant("f3");
  })) << RepairLog();
  EXPECT_EQ(RepairCounter("scrub", "bad"), 4u);
  EXPECT_EQ(RepairCounter("scrub", "checked"), 4u * 14);
  for (int i = 0; i < 4; ++i) ExpectReadsBack("f" + std::to_string(i));
  // A second pass, asked for by a user (`vaultfs scrub` goes through the metadata service),
  // finds nothing new; its figures reach users through cluster_map.
  auto scrub = Cli({"scrub", "--wait", "--timeout", "120"});
  ASSERT_EQ(scrub.exit_code, 0) << scrub.out << scrub.err << RepairLog();
  EXPECT_THAT(scrub.out, HasSubstr("scrub finished: 112 shards checked so far, 4 bad found"));
  EXPECT_GE(RepairCounter("scrub", "passes"), 2u);
  EXPECT_EQ(RepairCounter("scrub", "bad"), 4u);
  ASSERT_TRUE(WaitUntil(30, [&] {
    auto map = vault_->meta().Call("cluster_map");
    return map.ok() && (*map)["repair"].is_object() &&
           (*map)["repair"]["scrub"].value("passes", 0) >= 2;
  }));
}

TEST_F(RepairTest, ServerDownPastLostAfterIsRebuiltElsewhere) {
  // 15 servers: a 14-shard version can move off a dead one.
  StartCluster("--interval 1 --scrub-interval 0 --lost-after 3", 15);
  Put("x", (2u << 20) + 77, 20);
  const int victim = Version("x")["shards"][4]["server"].get<int>();
  ASSERT_TRUE(cluster_->KillData(victim).ok());
  ASSERT_TRUE(WaitUntil(60, [&] { return FullyRedundant("x", {victim}); })) << RepairLog();
  ExpectReadsBack("x");
  Json s = cluster_->RepairStatus();
  EXPECT_EQ(s["servers"][std::to_string(victim)], "lost") << s.dump();
}

TEST_F(RepairTest, AddDrainAndRemoveDataServersWhileServing) {
  StartCluster(kFastRepair);
  Put("m1", 3u << 20, 60);
  Put("m2", 200000, 61);
  auto add = cluster_->Mkcluster({"add", "data"});
  ASSERT_EQ(add.exit_code, 0) << add.out << add.err;
  EXPECT_THAT(add.out, HasSubstr("added data-15"));
  // An undrained server cannot be removed.
  auto early = cluster_->Mkcluster({"remove", "data", "2"});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_THAT(early.err, HasSubstr("drain it first"));
  auto drain = cluster_->Mkcluster({"drain", "data", "2"});
  ASSERT_EQ(drain.exit_code, 0) << drain.out << drain.err;
  ASSERT_TRUE(WaitUntil(60, [&] {
    Json s = cluster_->RepairStatus();
    return FullyRedundant("m1", {2}) && FullyRedundant("m2", {2}) && s.is_object() &&
           s["servers"].value("2", "") == "drained";
  })) << RepairLog();
  ExpectReadsBack("m1");
  auto remove = cluster_->Mkcluster({"remove", "data", "2"});
  ASSERT_EQ(remove.exit_code, 0) << remove.out << remove.err;
  auto cfg = LoadClusterConfig(cluster_->config_path());
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->data.size(), 14u);
  EXPECT_EQ(cfg->FindData(2), nullptr);
  // The smaller cluster keeps working: new writes land on the 14 that remain.
  Put("m3", (1u << 20) + 3, 62);
  EXPECT_TRUE(FullyRedundant("m3", {2}));
  for (const char* name : {"m1", "m2", "m3"}) ExpectReadsBack(name);
}

TEST_F(RepairTest, TooFewGoodShardsStayQueuedAndReadsFailInsteadOfLying) {
  StartCluster(kFastRepair);
  Put("doomed", 2u << 20, 30);
  auto files = ShardFiles("doomed");
  for (int i = 0; i < 5; ++i) FlipByte(files[i], 64);  // five bad shards: one more than m
  ASSERT_EQ(cluster_->Mkcluster({"scrub"}).exit_code, 0);
  ASSERT_TRUE(WaitUntil(60, [&] {
    return RepairCounter("scrub", "bad") >= 5 && RepairCounter("repair", "failures") >= 1;
  })) << RepairLog();
  auto get = Cli({"get", "/doomed", Local("doomed.back")});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_THAT(get.err, HasSubstr("need 10"));
  auto rq = vault_->meta().Call("repair_list", {{"limit", 10}});
  ASSERT_TRUE(rq.ok()) << rq.status().ToString();
  EXPECT_EQ((*rq)["items"].size(), 1u) << rq->dump();
}

TEST_F(RepairTest, ShardsOfAnUploadNeverCommittedAreCollectedAfterTheGracePeriod) {
  StartCluster("--interval 1 --scrub-interval 0 --gc-grace 0 --pending-grace 3");
  // What a client killed mid-upload leaves: a begun version and some stored shards.
  auto root = vault_->tree().Resolve("/");
  ASSERT_TRUE(root.ok());
  auto file = vault_->tree().Create(root->ino, "abandoned", 0644);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto begun = vault_->meta().Call("begin_version", {{"ino", file->ino}});
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  cluster::DataClient dc(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  std::vector<std::string> orphans;
  for (int i = 0; i < 3; ++i) {
    const Json& s = (*begun)["shards"][i];
    auto addr = ParseHostPort(s["address"].get<std::string>());
    ASSERT_TRUE(addr.ok());
    auto up = dc.Upload(*addr, (*begun)["token"], s["chunk"], TestBytes(4096, 40 + i)).get();
    ASSERT_TRUE(up.ok()) << up.status().ToString();
    orphans.push_back(ShardPath(s));
    ASSERT_TRUE(fs::exists(orphans.back())) << orphans.back();
  }
  ASSERT_TRUE(WaitUntil(60, [&] {
    for (const auto& f : orphans) {
      if (fs::exists(f)) return false;
    }
    return true;
  })) << RepairLog();
  // The files go mid-pass; the status file is rewritten at the pass's end: wait for it.
  WaitUntil(10, [&] { return RepairCounter("gc", "pending_expired") >= 1u; });
  EXPECT_GE(RepairCounter("gc", "pending_expired"), 1u);
  auto gv = vault_->meta().Call("get_version", {{"ino", file->ino}});
  EXPECT_FALSE(gv.ok());  // the file never got content
}

// Files under every data server's storage whose name ends in `suffix` (".chunk", ".tmp").
std::vector<std::string> StoredFiles(const TestCluster& c, const std::string& suffix) {
  std::vector<std::string> out;
  for (const DataNodeConfig& d : c.config().data) {
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(c.DataStorage(static_cast<int>(d.id)), ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      const std::string name = it->path().filename().string();
      if (name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out.push_back(it->path().string());
      }
    }
  }
  return out;
}

TEST_F(RepairTest, ClientKilledMidUploadLeavesNothingBehindAfterTheGracePeriod) {
  StartCluster("--interval 1 --scrub-interval 0 --gc-grace 0 --pending-grace 3");
  WriteFile(Local("huge"), TestBytes(300u << 20, 70));
  pid_t pid = fork();
  if (pid == 0) {
    setenv("VAULTFS_CLUSTER", cluster_->config_path().c_str(), 1);
    setenv("VAULTFS_USER", kUser, 1);
    setenv("VAULTFS_PASSWORD", kPassword, 1);
    const std::string bin = std::getenv("VAULTFS_BIN");
    execl(bin.c_str(), bin.c_str(), "-q", "put", Local("huge").c_str(), "/huge", nullptr);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  // SIGKILL once shards are streaming to the servers (their temp files exist).
  const bool streaming = WaitUntil(120, [&] { return !StoredFiles(*cluster_, ".tmp").empty(); });
  kill(pid, SIGKILL);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  ASSERT_TRUE(streaming) << "the upload never started";
  ASSERT_TRUE(WIFSIGNALED(wstatus)) << "the put finished before it could be killed";
  // The servers drop the half-sent objects, the metadata expires the begun version and the
  // repairer deletes whatever it had placed: nothing of the upload is left on any disk.
  ASSERT_TRUE(WaitUntil(90, [&] {
    return StoredFiles(*cluster_, ".tmp").empty() && StoredFiles(*cluster_, ".chunk").empty() &&
           RepairCounter("gc", "pending_expired") >= 1;
  })) << RepairLog();
  EXPECT_NE(Cli({"cat", "/huge"}).exit_code, 0);  // never committed under its name
}

TEST_F(RepairTest, DeletedFilesFreeTheServersSpace) {
  StartCluster(kFastRepair);
  const uint64_t before = UsedBytes();
  Put("big", 48u << 20, 50);
  const uint64_t stored = UsedBytes() - before;
  EXPECT_GE(stored, 48u << 20);  // 1.4x with parity
  ASSERT_EQ(Cli({"rm", "/big"}).exit_code, 0);
  ASSERT_TRUE(WaitUntil(60, [&] { return UsedBytes() <= before; }))
      << "used " << UsedBytes() << " before " << before << "\n"
      << RepairLog();
}

}  // namespace
}  // namespace vaultfs::testing
