// Suite 'repair': the stray sweep (issue 20, item 5, part 3). The sweep logic first, against a
// scripted backend that fails on cue (the same seam the repairer's real backend plugs into),
// then the whole path on a real cluster: objects nothing references are deleted once older
// than the grace, everything referenced (committed, pending, queued for GC) or young stays,
// a server that errors mid-sweep keeps everything, and a user cannot ask the metadata service
// which chunks it references. Ages are set with file mtimes, never waited for.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <set>
#include <thread>

#include "servers/repair/stray_sweeper.h"
#include "src/client/vault.h"
#include "src/cluster/data_client.h"
#include "src/crypto/random.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/common/wait.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using repair::SweepBackend;
using ::testing::HasSubstr;

// ---- the sweep against a scripted backend ----

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kOld = kNow - 7200;  // two hours before kNow
constexpr int64_t kYoung = kNow - 10;

// Per server, the objects of one owner "o1", listed two per page. `refs` are referenced.
// fail_list / fail_refs name the (server, call number) that fails.
class ScriptedBackend : public SweepBackend {
 public:
  std::map<uint64_t, std::vector<ListEntry>> objects;
  std::set<std::string> refs;
  std::optional<std::pair<uint64_t, int>> fail_list, fail_refs;
  bool incomplete_page_time = false;
  // Data tokens expire: at this list call (counted over all servers), and before the first
  // delete. A token from before is then refused with EACCES, as a data server does.
  int expire_at_list = -1;
  bool expire_before_delete = false;
  int gen = 0, all_list_calls = 0;
  std::vector<std::pair<uint64_t, std::string>> deleted;
  std::map<uint64_t, int> list_calls, ref_calls;

  std::string Token() const { return "tok" + std::to_string(gen); }
  Result<OwnerPage> Owners(const std::string& cursor) override {
    if (!cursor.empty()) return OwnerPage{};
    return OwnerPage{{{"o1", Token()}}, ""};
  }
  Result<ListPage> List(const DataNodeConfig& server, const std::string& token,
                        const std::string& cursor) override {
    if (++all_list_calls == expire_at_list) ++gen;
    if (token != Token()) return Status(EACCES, "token expired");
    const int call = ++list_calls[server.id];
    if (fail_list && fail_list->first == server.id && fail_list->second == call) {
      return Status(ECONNRESET, "server went away");
    }
    ListPage page;
    page.now = incomplete_page_time ? 0 : kNow;
    for (const ListEntry& e : objects[server.id]) {
      if (e.chunk <= cursor) continue;
      if (page.entries.size() == 2) {
        page.next_cursor = page.entries.back().chunk;
        break;
      }
      page.entries.push_back(e);
    }
    return page;
  }
  Result<std::map<std::string, std::string>> Referenced(
      uint64_t server, const std::string& owner, const std::vector<std::string>& chunks) override {
    EXPECT_EQ(owner, "o1");
    const int call = ++ref_calls[server];
    if (fail_refs && fail_refs->first == server && fail_refs->second == call) {
      return Status(ETIMEDOUT, "metadata service unreachable");
    }
    std::map<std::string, std::string> out;
    for (const std::string& c : chunks) {
      if (refs.count(c)) out[c] = "committed";
    }
    return out;
  }
  Status Delete(const DataNodeConfig& server, const std::string& token,
                const std::string& chunk) override {
    if (expire_before_delete) {
      expire_before_delete = false;
      ++gen;
    }
    if (token != Token()) return Status(EACCES, "token expired");
    deleted.emplace_back(server.id, chunk);
    return Status::Ok();
  }
};

std::vector<DataNodeConfig> TwoServers() {
  DataNodeConfig a, b;
  a.id = 1;
  b.id = 2;
  return {a, b};
}

repair::SweepOptions Grace(int64_t seconds) {
  repair::SweepOptions o;
  o.grace = std::chrono::seconds(seconds);
  return o;
}

// Server 1: stray s1 (old), referenced r1 (old), young y1, and (page 2) stray s2; server 2:
// stray t1 and referenced r2.
ScriptedBackend Populated() {
  ScriptedBackend b;
  b.objects[1] = {{"a1", 10, kOld}, {"b1", 10, kOld}, {"c1", 10, kYoung}, {"d1", 10, kOld}};
  b.objects[2] = {{"a2", 10, kOld}, {"b2", 10, kOld}};
  b.refs = {"b1", "b2"};
  return b;
}

using Deleted = std::vector<std::pair<uint64_t, std::string>>;

TEST(StraySweep, DeletesOnlyUnreferencedObjectsOlderThanTheGrace) {
  ScriptedBackend b = Populated();
  auto out = repair::SweepStrays(&b, TwoServers(), Grace(3600));
  EXPECT_TRUE(out.first_failure.ok()) << out.first_failure.ToString();
  EXPECT_EQ(b.deleted, (Deleted{{1, "a1"}, {1, "d1"}, {2, "a2"}}));
  EXPECT_EQ(out.counts.seen, 6u);
  EXPECT_EQ(out.counts.kept, 3u);  // b1, c1 (young), b2
  EXPECT_EQ(out.counts.deleted, 3u);
  EXPECT_EQ(out.counts.skipped, 0u);
  // With no grace the young one goes too; referenced ones never do.
  ScriptedBackend now = Populated();
  repair::SweepStrays(&now, TwoServers(), Grace(0));
  EXPECT_EQ(now.deleted, (Deleted{{1, "a1"}, {1, "c1"}, {1, "d1"}, {2, "a2"}}));
}

TEST(StraySweep, TokensThatExpireDuringALongSweepAreRenewed) {
  ScriptedBackend b = Populated();
  b.expire_at_list = 2;  // server 1's second page
  b.expire_before_delete = true;
  auto out = repair::SweepStrays(&b, TwoServers(), Grace(3600));
  EXPECT_TRUE(out.first_failure.ok()) << out.first_failure.ToString();
  EXPECT_EQ(b.deleted, (Deleted{{1, "a1"}, {1, "d1"}, {2, "a2"}}));
  EXPECT_EQ(b.gen, 2);
}

TEST(StraySweep, AServerThatFailsMidListingKeepsEverything) {
  ScriptedBackend b = Populated();
  b.fail_list = {1, 2};  // server 1's second page: a1 was already judged a stray
  auto out = repair::SweepStrays(&b, TwoServers(), Grace(3600));
  EXPECT_EQ(out.first_failure.code(), ECONNRESET);
  EXPECT_EQ(b.deleted, (Deleted{{2, "a2"}}));
  EXPECT_EQ(out.counts.servers_skipped, 1u);
  EXPECT_EQ(out.counts.skipped, 2u);  // what server 1 listed before failing
  EXPECT_EQ(out.counts.deleted, 1u);
}

TEST(StraySweep, AMetadataFailureMidSweepKeepsEverythingOnThatServer) {
  ScriptedBackend b = Populated();
  b.fail_refs = {1, 2};  // the reference check of server 1's second page
  auto out = repair::SweepStrays(&b, TwoServers(), Grace(3600));
  EXPECT_EQ(out.first_failure.code(), ETIMEDOUT);
  EXPECT_EQ(b.deleted, (Deleted{{2, "a2"}}));
  EXPECT_EQ(out.counts.servers_skipped, 1u);
}

TEST(StraySweep, AnAnswerWithoutTimesOrAServerMarkedDownDeletesNothing) {
  ScriptedBackend b = Populated();
  b.incomplete_page_time = true;  // an older data server: ages unknown
  auto out = repair::SweepStrays(&b, TwoServers(), Grace(0));
  EXPECT_FALSE(out.first_failure.ok());
  EXPECT_TRUE(b.deleted.empty());
  EXPECT_EQ(out.counts.servers_skipped, 2u);

  ScriptedBackend down = Populated();
  repair::SweepOptions o = Grace(0);
  o.may_try = [](uint64_t server) { return server != 2; };
  repair::SweepStrays(&down, TwoServers(), o);
  EXPECT_EQ(down.list_calls.count(2), 0u);
  for (const auto& [server, chunk] : down.deleted) EXPECT_EQ(server, 1u) << chunk;
}

// ---- the whole path on a real cluster ----

constexpr char kUser[] = "stella";
constexpr char kPassword[] = "strays go home";
// Passes every second; sweeps only when asked (mkcluster sweep), with a one-hour grace; GC
// holds deleted versions for an hour too.
constexpr char kSweepOpts[] =
    "--interval 1 --scrub-interval 0 --gc-grace 3600 --stray-interval 0 --stray-grace 3600";

// Sets a file's mtime to `seconds_ago` before now.
void Age(const std::string& path, int seconds_ago) {
  std::error_code ec;
  fs::last_write_time(path, fs::file_time_type::clock::now() - std::chrono::seconds(seconds_ago),
                      ec);
  ASSERT_FALSE(ec) << path << ": " << ec.message();
}

class StrayClusterTest : public ::testing::Test {
 protected:
  void StartCluster() {
    auto c = TestCluster::Start(14, 3, kSweepOpts);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value();
    vault_ = Register(kUser);
    ASSERT_NE(vault_, nullptr);
    char tmpl[] = "/tmp/vaultfs-stray-local-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    local_ = tmpl;
  }
  std::unique_ptr<client::Vault> Register(const std::string& user) {
    auto r = cluster_->Vaultfs({"register", user}, user, kPassword);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto v = std::make_unique<client::Vault>(cluster_->config());
    Status st = v->accounts().Login(user, kPassword);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return st.ok() ? std::move(v) : nullptr;
  }
  void TearDown() override {
    vault_.reset();
    cluster_.reset();
    std::error_code ec;
    if (!local_.empty()) fs::remove_all(local_, ec);
  }
  std::string Local(const std::string& name) { return local_ + "/" + name; }
  void Put(const std::string& name, size_t size, uint64_t seed) {
    WriteFile(Local(name), TestBytes(size, seed));
    auto put = cluster_->Vaultfs({"put", Local(name), "/" + name}, kUser, kPassword);
    ASSERT_EQ(put.exit_code, 0) << put.err;
  }
  void ExpectReadsBack(const std::string& name) {
    auto get = cluster_->Vaultfs({"get", "/" + name, Local(name + ".back")}, kUser, kPassword);
    ASSERT_EQ(get.exit_code, 0) << name << ": " << get.err;
    EXPECT_EQ(FileSha256(Local(name + ".back")), FileSha256(Local(name))) << name;
    fs::remove(Local(name + ".back"));
  }
  std::string ObjectPath(int server, const std::string& owner, const std::string& chunk) {
    return cluster_->DataStorage(server) + "/" + owner + "/" + chunk + ".chunk";
  }
  // The shard files of the file's current version.
  std::vector<std::string> ShardFiles(const std::string& name) {
    auto a = vault_->tree().Resolve("/" + name);
    EXPECT_TRUE(a.ok()) << a.status().ToString();
    if (!a.ok()) return {};
    auto gv = vault_->meta().Call("get_version", {{"ino", a->ino}});
    EXPECT_TRUE(gv.ok()) << gv.status().ToString();
    if (!gv.ok()) return {};
    std::vector<std::string> out;
    for (const Json& s : (*gv)["shards"]) {
      out.push_back(ObjectPath(s["server"].get<int>(), vault_->user_id(), s["chunk"]));
    }
    return out;
  }
  // An object nobody references, written straight into the owner's folder the way a
  // repairer killed mid-rebuild leaves one, aged `seconds_ago`.
  std::string Plant(int server, const std::string& owner, int seconds_ago) {
    auto id = crypto::RandomHexId(16);
    EXPECT_TRUE(id.ok());
    const std::string dir = cluster_->DataStorage(server) + "/" + owner;
    fs::create_directories(dir);
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
    const std::string path = ObjectPath(server, owner, *id);
    WriteFile(path, TestBytes(4096, server));
    Age(path, seconds_ago);
    return path;
  }
  Json Stray() {
    Json s = cluster_->RepairStatus();
    return s.is_object() && s.contains("stray") ? s["stray"] : Json::object();
  }
  // Asks repair-1 for a sweep and waits for the pass to be reported.
  void Sweep() {
    const uint64_t before = Stray().value("passes", uint64_t{0});
    auto r = cluster_->Mkcluster({"sweep"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    ASSERT_TRUE(WaitUntil(90, [&] { return Stray().value("passes", uint64_t{0}) > before; }))
        << RepairLog();
  }
  std::string RepairLog() {
    return cluster_->Mkcluster({"logs", "repair-1"}).out + cluster_->RepairStatus().dump(2);
  }

  std::unique_ptr<TestCluster> cluster_;
  std::unique_ptr<client::Vault> vault_;
  std::string local_;
};

TEST_F(StrayClusterTest, OldStraysGoAndEverythingReferencedOrYoungStays) {
  StartCluster();
  const std::string me = vault_->user_id();
  Put("kept", (3u << 20) + 17, 1);
  Put("removed", 300000, 2);
  const std::vector<std::string> kept = ShardFiles("kept");
  const std::vector<std::string> removed = ShardFiles("removed");
  ASSERT_EQ(kept.size(), 14u);
  ASSERT_EQ(removed.size(), 14u);
  // Deleted, but the GC queue holds it for --gc-grace (an hour): queued, so not a stray.
  ASSERT_EQ(cluster_->Vaultfs({"rm", "/removed"}, kUser, kPassword).exit_code, 0);

  // An upload in progress: begun, one shard stored, not committed.
  auto root = vault_->tree().Resolve("/");
  ASSERT_TRUE(root.ok());
  auto file = vault_->tree().Create(root->ino, "pending", 0644);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  auto begun = vault_->meta().Call("begin_version", {{"ino", file->ino}});
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  cluster::DataClient dc(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  const Json& s0 = (*begun)["shards"][0];
  auto addr = ParseHostPort(s0["address"].get<std::string>());
  ASSERT_TRUE(addr.ok());
  ASSERT_TRUE(dc.Upload(*addr, (*begun)["token"], s0["chunk"], TestBytes(4096, 9)).get().ok());
  const std::string pending = ObjectPath(s0["server"].get<int>(), me, s0["chunk"]);

  // Everything referenced is made old: only the reference can save it.
  for (const auto& f : kept) Age(f, 7200);
  for (const auto& f : removed) Age(f, 7200);
  Age(pending, 7200);
  const std::vector<std::string> strays = {Plant(3, me, 7200), Plant(3, me, 4000),
                                           Plant(9, me, 90000)};
  const std::string young = Plant(5, me, 60);

  Sweep();
  for (const auto& f : strays) EXPECT_FALSE(fs::exists(f)) << f << "\n" << RepairLog();
  EXPECT_TRUE(fs::exists(young)) << young;
  EXPECT_TRUE(fs::exists(pending)) << pending;
  for (const auto& f : kept) EXPECT_TRUE(fs::exists(f)) << f;
  for (const auto& f : removed) EXPECT_TRUE(fs::exists(f)) << f;
  Json st = Stray();
  const uint64_t total = kept.size() + removed.size() + 1 + strays.size() + 1;
  EXPECT_EQ(st["last"].value("deleted", 0u), strays.size()) << st.dump();
  EXPECT_EQ(st["last"].value("seen", 0u), total) << st.dump();
  EXPECT_EQ(st["last"].value("kept", 0u), total - strays.size()) << st.dump();
  EXPECT_EQ(st["last"].value("servers_skipped", 1u), 0u) << st.dump();
  ExpectReadsBack("kept");
  // The pending upload can still be committed... its shard is there; and a second sweep
  // finds nothing more to do.
  Sweep();
  EXPECT_EQ(Stray()["last"].value("deleted", 1u), 0u);
  EXPECT_TRUE(fs::exists(young));
  ExpectReadsBack("kept");
}

TEST_F(StrayClusterTest, AServerThatErrorsMidSweepLosesNothing) {
  StartCluster();
  auto other = Register("olaf");
  ASSERT_NE(other, nullptr);
  // The sweep walks owners in id order; the later one's folder on server 4 is broken (a file
  // where the folder should be: listing it fails), after the earlier one's stray there was
  // already judged.
  std::string first = vault_->user_id(), second = other->user_id();
  if (second < first) std::swap(first, second);
  Put("f", 200000, 3);
  const std::string protected_stray = Plant(4, first, 7200);
  const std::string doomed = Plant(6, first, 7200);
  const std::string broken = cluster_->DataStorage(4) + "/" + second;
  const std::string aside = cluster_->DataStorage(4) + "/.aside";  // not an owner name
  std::error_code ec;
  fs::rename(broken, aside, ec);  // absent if that owner has nothing there
  const bool had_folder = !ec;
  WriteFile(broken, "not a folder");

  Sweep();
  EXPECT_TRUE(fs::exists(protected_stray)) << RepairLog();
  EXPECT_FALSE(fs::exists(doomed)) << RepairLog();
  Json st = Stray();
  EXPECT_EQ(st["last"].value("servers_skipped", 0u), 1u) << st.dump();
  EXPECT_THAT(cluster_->RepairStatus().value("last_error", ""), HasSubstr("data server 4"));
  ExpectReadsBack("f");

  // Mended, the next sweep deletes it: the error was all that kept it.
  fs::remove(broken);
  if (had_folder) fs::rename(aside, broken);
  Sweep();
  EXPECT_FALSE(fs::exists(protected_stray)) << RepairLog();
  EXPECT_EQ(Stray()["last"].value("servers_skipped", 1u), 0u);
  ExpectReadsBack("f");
}

TEST_F(StrayClusterTest, UsersCannotAskWhichChunksAreReferencedOrListOwners) {
  StartCluster();
  Put("mine", 200000, 4);
  auto refs = vault_->meta().Call(
      "chunk_refs", {{"server", 1}, {"owner", vault_->user_id()}, {"chunks", {"00aa"}}});
  ASSERT_FALSE(refs.ok());
  EXPECT_EQ(refs.status().code(), EACCES) << refs.status().ToString();
  auto owners = vault_->meta().Call("sweep_owners", Json::object());
  ASSERT_FALSE(owners.ok());
  EXPECT_EQ(owners.status().code(), EACCES) << owners.status().ToString();
}

}  // namespace
}  // namespace vaultfs::testing
