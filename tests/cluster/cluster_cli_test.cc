// Suite 'cluster': the client object layer and the vaultfs CLI against a real local cluster
// (3 metadata + 14 data servers started by tools/mkcluster). Tests that kill servers run
// last and revive what they killed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "src/client/vault.h"
#include "src/cluster/data_client.h"
#include "src/cluster/shard_transport.h"
#include "src/common/tls.h"
#include "src/crypto/token.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/cluster/fault_injecting_transport.h"
#include "tests/common/private_modes.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr char kAlice[] = "alice";
constexpr char kAlicePw[] = "correct horse battery staple";

class ClusterCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = TestCluster::Start();
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    cluster_ = std::move(c).value().release();
    auto r = cluster_->Vaultfs({"register", kAlice}, kAlice, kAlicePw);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    char tmpl[] = "/tmp/vaultfs-local-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    local_ = tmpl;
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    std::error_code ec;
    fs::remove_all(local_, ec);
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr) << "the cluster did not start"; }

  CommandResult Cli(const std::vector<std::string>& args,
                    std::chrono::seconds timeout = std::chrono::seconds(600)) {
    return cluster_->Vaultfs(args, kAlice, kAlicePw, timeout);
  }
  std::string Local(const std::string& name) { return local_ + "/" + name; }

  // A logged-in in-process vault for alice.
  // `transport`: where its shard traffic goes (null: the data servers directly).
  std::unique_ptr<client::Vault> AliceVault(cluster::ShardTransport* transport = nullptr) {
    client::VaultOptions opts;
    opts.transport = transport;
    auto v = std::make_unique<client::Vault>(cluster_->config(), opts);
    Status st = v->accounts().Login(kAlice, kAlicePw);
    EXPECT_TRUE(st.ok()) << st.ToString();
    return v;
  }

  // Where each shard of the current version of `path` lives on disk.
  std::vector<std::string> ShardFiles(client::Vault& v, const std::string& path) {
    auto a = v.tree().Resolve(path);
    EXPECT_TRUE(a.ok());
    auto gv = v.meta().Call("get_version", {{"ino", a->ino}});
    EXPECT_TRUE(gv.ok()) << gv.status().ToString();
    std::vector<std::string> files((*gv)["shards"].size());
    for (const auto& s : (*gv)["shards"]) {
      files[s["index"].get<int>()] = cluster_->DataStorage(s["server"].get<int>()) + "/" +
                                     v.user_id() + "/" + s["chunk"].get<std::string>() + ".chunk";
    }
    return files;
  }

  // Whether `version` is in the metadata service's repair queue.
  ::testing::AssertionResult QueuedForRepair(client::Vault& v, const std::string& version) {
    auto rq = v.meta().Call("repair_list", {{"limit", 100}});
    if (!rq.ok()) return ::testing::AssertionFailure() << rq.status().ToString();
    for (const auto& item : (*rq)["items"]) {
      if (item["version"] == version) return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << version << " is not queued: " << rq->dump();
  }

  void PutGetRoundTrip(const std::string& name, size_t size, uint64_t seed) {
    WriteFile(Local(name), TestBytes(size, seed));
    auto put = Cli({"put", Local(name), "/" + name});
    ASSERT_EQ(put.exit_code, 0) << put.err;
    auto get = Cli({"get", "/" + name, Local(name + ".back")});
    ASSERT_EQ(get.exit_code, 0) << get.err;
    EXPECT_EQ(FileSha256(Local(name + ".back")), FileSha256(Local(name))) << name;
    fs::remove(Local(name + ".back"));
  }

  static TestCluster* cluster_;
  static std::string local_;
};

TestCluster* ClusterCliTest::cluster_ = nullptr;
std::string ClusterCliTest::local_;

TEST_F(ClusterCliTest, RoundTripsSmallOddAndSegmentSizedFiles) {
  PutGetRoundTrip("empty", 0, 1);
  PutGetRoundTrip("one", 1, 2);
  PutGetRoundTrip("inline-max", 16384 - 16, 3);         // largest inline file
  PutGetRoundTrip("just-above-inline", 16384 - 15, 4);  // smallest sharded file
  PutGetRoundTrip("odd", 1234567, 5);
  PutGetRoundTrip("one-segment", 1 << 20, 6);
  PutGetRoundTrip("segment-plus-one", (1 << 20) + 1, 7);
}

TEST_F(ClusterCliTest, RoundTrips300MiB) { PutGetRoundTrip("big", 300u << 20, 8); }

TEST_F(ClusterCliTest, OverwriteKeepsOneVersionAndReadsNewBytes) {
  PutGetRoundTrip("over", 100000, 9);
  PutGetRoundTrip("over", 70000, 10);  // same remote name, new content
  auto cat = Cli({"cat", "/over"});
  ASSERT_EQ(cat.exit_code, 0);
  EXPECT_EQ(cat.out, TestBytes(70000, 10));
}

// Everything tools/mkcluster and the servers it started made (cluster.json, secrets,
// certificates, meta.db and its WAL, raft logs, shards, logs, pid and status files) is
// 0600 / 0700, even though this test runs with umask 022 (issue 20).
TEST_F(ClusterCliTest, ClusterFolderIsPrivateToItsOwner) {
  PutGetRoundTrip("private", 100000, 11);
  const std::string dir = cluster_->dir();
  for (const char* made : {"/cluster.json", "/logs/meta-1.log", "/logs/data-1.log", "/run",
                           "/meta-1/meta.db", "/meta-1/meta.db-wal", "/meta-1/raft", "/data-1"}) {
    EXPECT_TRUE(fs::exists(dir + made)) << made;
  }
  std::vector<std::string> open = NotPrivate(dir);
  EXPECT_TRUE(open.empty()) << ::testing::PrintToString(open);
}

TEST_F(ClusterCliTest, ReplacedAndRemovedVersionsLeaveTheDisks) {
  WriteFile(Local("gc"), TestBytes(3u << 20, 20));
  ASSERT_EQ(Cli({"put", Local("gc"), "/gc"}).exit_code, 0);
  auto v = AliceVault();
  auto first = ShardFiles(*v, "/gc");
  for (const auto& f : first) ASSERT_TRUE(fs::exists(f)) << f;
  auto old_attr = v->tree().Resolve("/gc");
  ASSERT_TRUE(old_attr.ok());
  auto old_reader = v->content().OpenVersion(*old_attr);  // a reader elsewhere that opened it
  ASSERT_TRUE(old_reader.ok()) << old_reader.status().ToString();
  WriteFile(Local("gc"), TestBytes(2u << 20, 21));
  ASSERT_EQ(Cli({"put", Local("gc"), "/gc"}).exit_code, 0);  // a new version
  // The CLI's collection leaves a replaced version alone for the grace period: the reader
  // that opened it still reads every byte.
  for (const auto& f : first) EXPECT_TRUE(fs::exists(f)) << "old shard gone at once: " << f;
  std::string old_bytes;
  ASSERT_TRUE((*old_reader)
                  ->Read(0, 3u << 20,
                         [&](std::string_view piece) {
                           old_bytes.append(piece);
                           return Status::Ok();
                         })
                  .ok());
  EXPECT_TRUE(old_bytes == TestBytes(3u << 20, 20));
  auto collected = v->content().CollectGarbage(std::chrono::seconds(0));  // the grace is over
  ASSERT_TRUE(collected.ok()) << collected.status().ToString();
  EXPECT_GE(*collected, first.size());
  for (const auto& f : first) EXPECT_FALSE(fs::exists(f)) << "old shard still on disk: " << f;
  auto second = ShardFiles(*v, "/gc");
  for (const auto& f : second) ASSERT_TRUE(fs::exists(f)) << f;
  ASSERT_EQ(Cli({"rm", "/gc"}).exit_code, 0);
  ASSERT_TRUE(v->content().CollectGarbage(std::chrono::seconds(0)).ok());
  for (const auto& f : second) EXPECT_FALSE(fs::exists(f)) << "removed file's shard: " << f;
  auto gc = v->meta().Call("gc_list", {{"limit", 1000}});
  ASSERT_TRUE(gc.ok());
  EXPECT_TRUE((*gc)["items"].empty()) << gc->dump();
}

TEST_F(ClusterCliTest, TreeCommandsAndErrors) {
  ASSERT_EQ(Cli({"mkdir", "-p", "/t/a/b"}).exit_code, 0);
  ASSERT_EQ(Cli({"mkdir", "-p", "/t/a/b"}).exit_code, 0);  // idempotent with -p
  auto again = Cli({"mkdir", "/t/a"});
  EXPECT_NE(again.exit_code, 0);
  EXPECT_THAT(again.err, HasSubstr("exists"));
  WriteFile(Local("n.txt"), "note");
  ASSERT_EQ(Cli({"put", Local("n.txt"), "/t/a"}).exit_code, 0);  // into the directory
  ASSERT_EQ(Cli({"mv", "/t/a/n.txt", "/t/a/b"}).exit_code, 0);
  auto ls = Cli({"ls", "-l", "/t/a/b"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_THAT(ls.out, HasSubstr("n.txt"));
  EXPECT_THAT(ls.out, HasSubstr("-rw-r--r--"));
  auto missing = Cli({"get", "/t/nope", Local("x")});
  EXPECT_EQ(missing.exit_code, 4);
  EXPECT_THAT(missing.err, HasSubstr("no such file"));
  auto rmdir = Cli({"rm", "/t"});
  EXPECT_NE(rmdir.exit_code, 0);
  EXPECT_THAT(rmdir.err, HasSubstr("rm -r"));
  ASSERT_EQ(Cli({"rm", "-r", "/t"}).exit_code, 0);
  EXPECT_EQ(Cli({"ls", "/t"}).exit_code, 4);
  // Recursive put and get of a small tree.
  fs::create_directories(Local("tree/sub"));
  WriteFile(Local("tree/a"), TestBytes(20000, 11));
  WriteFile(Local("tree/sub/b"), "bee");
  ASSERT_EQ(Cli({"put", "-r", Local("tree"), "/tree"}).exit_code, 0);
  ASSERT_EQ(Cli({"get", "-r", "/tree", Local("tree.back")}).exit_code, 0);
  EXPECT_EQ(ReadFile(Local("tree.back/a")), TestBytes(20000, 11));
  EXPECT_EQ(ReadFile(Local("tree.back/sub/b")), "bee");
}

TEST_F(ClusterCliTest, WrongPasswordAndUnknownUserSayWhatToDo) {
  auto wrong = cluster_->Vaultfs({"ls"}, kAlice, "not the password");
  EXPECT_EQ(wrong.exit_code, 3);
  EXPECT_THAT(wrong.err, HasSubstr("wrong password"));
  auto unknown = cluster_->Vaultfs({"ls"}, "nobody", "x");
  EXPECT_EQ(unknown.exit_code, 3);
  EXPECT_THAT(unknown.err, HasSubstr("vaultfs register"));
  auto dup = cluster_->Vaultfs({"register", kAlice}, kAlice, "other");
  EXPECT_NE(dup.exit_code, 0);
  EXPECT_THAT(dup.err, HasSubstr("already exists"));
}

// The repairer's view of the cluster: a `_cluster` session (the cluster token key + a node
// certificate), to drive expire_pending as `vaultfs-repair --pending-grace` does.
std::unique_ptr<MetaClient> ClusterSession(const TestCluster& c) {
  auto secret = LoadServerSecret(c.dir() + "/cluster-secret");
  EXPECT_TRUE(secret.ok()) << secret.status().ToString();
  const std::string tls = c.dir() + "/tls";
  auto id = tls::LoadIdentity(tls + "/ca.pem", tls + "/repair-1.pem", tls + "/repair-1.key");
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  if (!secret.ok() || !id.ok()) return nullptr;
  auto ctx = tls::TlsContext::Client(*id);
  EXPECT_TRUE(ctx.ok());
  if (!ctx.ok()) return nullptr;
  auto meta = std::make_unique<MetaClient>(c.config(), MetaClientOptions{.tls = *ctx});
  crypto::TokenClaims cl{std::string(crypto::kAudienceCluster), "_cluster", crypto::kRightAll,
                         crypto::UnixNow() + 600, "02"};
  auto token = crypto::SignToken(cl, *secret);
  EXPECT_TRUE(token.ok());
  if (!token.ok()) return nullptr;
  meta->SetSession(*token);
  return meta;
}

// Runs `on_first` once, when the first shard upload of a write begins (after begin_version,
// before the commit), then passes everything through.
class FirstUploadHook : public cluster::ForwardingTransport {
 public:
  FirstUploadHook(cluster::ShardTransport* inner, std::function<void()> on_first)
      : ForwardingTransport(inner), on_first_(std::move(on_first)) {}
  Result<std::unique_ptr<cluster::ShardUpload>> BeginUpload(const cluster::ShardPlacement& where,
                                                            const std::string& token,
                                                            uint64_t size) override {
    std::call_once(once_, on_first_);
    ++uploads;
    return inner_->BeginUpload(where, token, size);
  }
  std::atomic<int> uploads{0};

 private:
  std::function<void()> on_first_;
  std::once_flag once_;
};

// Issue 20 item 13: a slow upload whose pending version the repairer expired is neither
// dropped nor taken for a deleted file: the writer uploads it again and the content lands. A
// writer renews its version while the upload runs, so a stalled upload is not expired at all.
TEST_F(ClusterCliTest, ExpiredPendingVersionIsUploadedAgainAndRenewalKeepsAStalledOneAlive) {
  auto admin = ClusterSession(*cluster_);
  ASSERT_NE(admin, nullptr);
  cluster::DataClient data(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  cluster::DataClientTransport real(&data);
  cluster::SwitchableTransport seam(&real);
  auto v = AliceVault(&seam);
  auto f = v->tree().Create(v->root(), "slow-upload", 0644);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const std::string want = TestBytes((1u << 20) + 777, 31);  // erasure-coded, not inline
  size_t pos = 0;
  auto source = [&](uint8_t* buf, size_t n) {
    memcpy(buf, want.data() + pos, n);
    pos += n;
    return Status::Ok();
  };
  const int shards = cluster_->config().k + cluster_->config().m;
  std::atomic<int64_t> expired{-1};
  auto expire_all = [&] {
    auto r = admin->Call("expire_pending", {{"older_than_s", 0}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (r.ok()) expired = (*r)["expired"].get<int64_t>();
  };

  // Without a way to restart its input the writer cannot upload again: the expiry is reported
  // as its own error (ETIME), never as ENOENT, and the file keeps its old (empty) content.
  {
    FirstUploadHook hook(&real, expire_all);
    seam.Set(&hook);
    auto a = v->content().WriteContent(*f, want.size(), source);
    seam.Set(nullptr);
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), ETIME) << a.status().ToString();
    EXPECT_THAT(a.status().message(), HasSubstr("expired"));
    EXPECT_GE(expired.load(), 1);
  }
  // With one, it uploads under a new version and commits.
  {
    pos = 0;
    expired = -1;
    FirstUploadHook hook(&real, expire_all);
    seam.Set(&hook);
    client::WriteOptions o;
    o.rewind = [&] {
      pos = 0;
      return Status::Ok();
    };
    auto a = v->content().WriteContent(*f, want.size(), source, o);
    seam.Set(nullptr);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_GE(expired.load(), 1);
    EXPECT_EQ(hook.uploads.load(), 2 * shards);  // the first upload, then the whole again
    std::string got;
    ASSERT_TRUE(v->content()
                    .ReadContent(*a, 0, a->size,
                                 [&](std::string_view p) {
                                   got.append(p);
                                   return Status::Ok();
                                 })
                    .ok());
    EXPECT_TRUE(got == want) << "read back " << got.size() << " bytes, wrote " << want.size();
    f = a;
  }
  // A stalled upload (3 s without progress) renewed every 100 ms survives an expiry of
  // versions older than 2 s, and commits on its first upload.
  {
    client::VaultOptions opts;
    opts.pending_renew_interval = std::chrono::milliseconds(100);
    opts.transport = &seam;
    client::Vault renewing(cluster_->config(), opts);
    ASSERT_TRUE(renewing.accounts().Login(kAlice, kAlicePw).ok());
    pos = 0;
    expired = -1;
    FirstUploadHook hook(&real, [&] {
      const auto stalled_until = std::chrono::system_clock::now() + std::chrono::seconds(3);
      while (std::chrono::system_clock::now() < stalled_until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
      auto r = admin->Call("expire_pending", {{"older_than_s", 2}});
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) expired = (*r)["expired"].get<int64_t>();
    });
    seam.Set(&hook);
    auto a =
        renewing.content().WriteContent(*f, want.size(), source);  // no rewind: must not be needed
    seam.Set(nullptr);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(expired.load(), 0);
    EXPECT_EQ(hook.uploads.load(), shards);
  }
}

TEST_F(ClusterCliTest, AnyFourOfFourteenLost_All1001Combinations) {
  const size_t size = 16384 + 1000;  // just above the inline threshold: 14 real shards
  WriteFile(Local("combo"), TestBytes(size, 12));
  ASSERT_EQ(Cli({"put", Local("combo"), "/combo"}).exit_code, 0);
  cluster::DataClient data(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  cluster::DataClientTransport real(&data);
  cluster::SwitchableTransport seam(&real);
  auto v = AliceVault(&seam);
  auto a = v->tree().Resolve("/combo");
  ASSERT_TRUE(a.ok());
  auto servers_or = ShardServers(*v, "/combo");
  ASSERT_TRUE(servers_or.ok()) << servers_or.status().ToString();
  const std::vector<uint64_t>& servers = *servers_or;
  ASSERT_EQ(servers.size(), 14u);

  cluster::FaultInjectingTransport faulty(&real);
  seam.Set(&faulty);
  const std::string want = TestBytes(size, 12);
  int combos = 0;
  std::vector<bool> pick(14, false);
  std::fill(pick.begin(), pick.begin() + 4, true);
  do {
    std::set<uint64_t> dead;
    for (int i = 0; i < 14; ++i) {
      if (pick[i]) dead.insert(servers[i]);
    }
    faulty.SetDead(dead);
    v->health().Reset();  // each combination starts from a clean health view
    std::string got;
    Status st = v->content().ReadContent(*a, 0, a->size, [&](std::string_view p) {
      got.append(p);
      return Status::Ok();
    });
    ASSERT_TRUE(st.ok()) << "combination " << combos << ": " << st.ToString();
    ASSERT_EQ(got, want) << "combination " << combos;
    ++combos;
  } while (std::prev_permutation(pick.begin(), pick.end()));
  EXPECT_EQ(combos, 1001);

  // Five lost: a clean EIO naming the problem, never wrong bytes.
  faulty.SetDead({servers[0], servers[3], servers[7], servers[10], servers[13]});
  v->health().Reset();
  std::string got;
  Status st = v->content().ReadContent(*a, 0, a->size, [&](std::string_view p) {
    got.append(p);
    return Status::Ok();
  });
  EXPECT_EQ(st.code(), EIO);
  EXPECT_THAT(st.message(), HasSubstr("need 10"));
  EXPECT_TRUE(got.empty());
  seam.Set(nullptr);
}

// Records every download a read makes, then passes it on.
class RecordingTransport : public cluster::ForwardingTransport {
 public:
  struct Asked {
    uint64_t server, offset, length;
  };
  explicit RecordingTransport(cluster::ShardTransport* inner) : ForwardingTransport(inner) {}
  std::future<Result<std::string>> Download(const cluster::ShardPlacement& where,
                                            const std::string& token, uint64_t offset,
                                            uint64_t length) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      downloads_.push_back({where.server, offset, length});
    }
    return inner_->Download(where, token, offset, length);
  }
  std::vector<Asked> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(downloads_, {});
  }

 private:
  std::mutex mu_;
  std::vector<Asked> downloads_;
};

TEST_F(ClusterCliTest, SequentialReadsFetchSeveralSegmentsPerRequestAndTrustGcmForDataBlocks) {
  const size_t size = (20u << 20) - 12345;  // 20 segments, the last one short
  const std::string want = TestBytes(size, 15);
  WriteFile(Local("runs"), want);
  ASSERT_EQ(Cli({"put", Local("runs"), "/runs"}).exit_code, 0);
  cluster::DataClient data(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  cluster::DataClientTransport real(&data);
  cluster::SwitchableTransport seam(&real);
  auto v = AliceVault(&seam);
  auto a = v->tree().Resolve("/runs");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto servers_or = ShardServers(*v, "/runs");
  ASSERT_TRUE(servers_or.ok()) << servers_or.status().ToString();
  const std::vector<uint64_t>& servers = *servers_or;
  ASSERT_EQ(servers.size(), 14u);

  cluster::FaultInjectingTransport faulty(&real);
  RecordingTransport recording(&faulty);
  seam.Set(&recording);
  auto read_all = [&] {
    std::string got;
    Status st = v->content().ReadContent(*a, 0, a->size, [&](std::string_view p) {
      got.append(p);
      return Status::Ok();
    });
    EXPECT_TRUE(st.ok()) << st.ToString();
    return got;
  };

  // Healthy: each data shard is asked three times (segments 0-7, 8-15, 16-19) and no shard
  // trailer is fetched, because GCM checks the segments. (Parity may be asked too if a
  // server is slow on a busy machine, so only data shards are counted.)
  ASSERT_EQ(read_all(), want);
  std::map<uint64_t, std::vector<RecordingTransport::Asked>> by_server;
  for (const auto& d : recording.Take()) by_server[d.server].push_back(d);
  for (int i = 0; i < 10; ++i) {
    const auto& got = by_server[servers[i]];
    ASSERT_EQ(got.size(), 3u) << "data shard " << i;
    EXPECT_EQ(got[0].offset, 0u);
    EXPECT_EQ(got[1].offset, got[0].length);
    EXPECT_EQ(got[1].length, got[0].length);
    EXPECT_LT(got[2].length, got[0].length);
  }

  // A server that corrupts what it sends: GCM refuses the segments, the blocks are checked
  // against their hashes, the bad shard is named and read around.
  faulty.SetCorrupt({servers[2]});
  v->health().Reset();
  EXPECT_EQ(read_all(), want);
  seam.Set(nullptr);
  EXPECT_TRUE(QueuedForRepair(*v, a->version)) << "the corrupt shard was not reported";
}

TEST_F(ClusterCliTest, CorruptShardsOnDiskAreDetectedReadAroundAndQueued) {
  const size_t size = 3u << 20;
  WriteFile(Local("corrupt"), TestBytes(size, 13));
  ASSERT_EQ(Cli({"put", Local("corrupt"), "/corrupt"}).exit_code, 0);
  auto v = AliceVault();
  auto files = ShardFiles(*v, "/corrupt");
  ASSERT_EQ(files.size(), 14u);
  // Flip bytes inside blocks of two data shards and one parity shard, and truncate another
  // data shard.
  for (int idx : {1, 6, 12}) {
    std::fstream f(files[idx], std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good()) << files[idx];
    for (std::streamoff off : {100, 200000}) {
      f.seekg(off);
      char c = 0;
      f.read(&c, 1);
      c = static_cast<char>(c ^ 0xff);
      f.seekp(off);
      f.write(&c, 1);
    }
  }
  fs::resize_file(files[3], fs::file_size(files[3]) / 2);
  auto get = Cli({"get", "/corrupt", Local("corrupt.back")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(FileSha256(Local("corrupt.back")), FileSha256(Local("corrupt")));
  EXPECT_THAT(get.err, HasSubstr("queued for repair"));
  auto a = v->tree().Resolve("/corrupt");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_TRUE(QueuedForRepair(*v, a->version));
}

TEST_F(ClusterCliTest, MarkerNeverReachesAnyServer) {
  const std::string marker = "VAULTFS-PRIVACY-MARKER-7f3a9c";
  WriteFile(Local("small-secret"), "top " + marker + " secret");
  std::string big = TestBytes(2 << 20, 14);
  for (size_t off = 0; off + marker.size() < big.size(); off += 100000) {
    big.replace(off, marker.size(), marker);
  }
  WriteFile(Local("big-secret"), big);
  ASSERT_EQ(Cli({"mkdir", "/dir-" + marker}).exit_code, 0);
  ASSERT_EQ(Cli({"put", Local("small-secret"), "/dir-" + marker + "/name-" + marker}).exit_code, 0);
  ASSERT_EQ(Cli({"put", Local("big-secret"), "/big-" + marker}).exit_code, 0);
  auto ls = Cli({"ls", "/dir-" + marker});
  ASSERT_EQ(ls.exit_code, 0);
  EXPECT_THAT(ls.out, HasSubstr("name-" + marker));  // the client still sees it
  // Every byte the servers keep: storage, databases, raft logs, logs.
  int scanned = 0;
  for (const auto& e : fs::recursive_directory_iterator(cluster_->dir())) {
    if (!e.is_regular_file()) continue;
    ++scanned;
    std::string content = ReadFile(e.path().string());
    EXPECT_EQ(content.find(marker), std::string::npos) << "marker found in " << e.path();
    EXPECT_EQ(content.find(kAlicePw), std::string::npos) << "password found in " << e.path();
  }
  EXPECT_GT(scanned, 30);
}

TEST_F(ClusterCliTest, UsersAreIsolatedEvenWithTheSameClusterJson) {
  ASSERT_EQ(cluster_->Vaultfs({"register", "bob"}, "bob", "bobs password").exit_code, 0);
  WriteFile(Local("alice-only"), TestBytes(50000, 15));
  ASSERT_EQ(Cli({"put", Local("alice-only"), "/alice-only"}).exit_code, 0);
  // Bob's vault is his own tree: alice's file is not there.
  auto ls = cluster_->Vaultfs({"ls"}, "bob", "bobs password");
  ASSERT_EQ(ls.exit_code, 0);
  EXPECT_THAT(ls.out, ::testing::Not(HasSubstr("alice-only")));
  EXPECT_EQ(
      cluster_->Vaultfs({"get", "/alice-only", Local("stolen")}, "bob", "bobs password").exit_code,
      4);

  // Bob, holding alice's inode number, gets ENOENT from the metadata service, as for
  // an inode nobody has...
  auto alice = AliceVault();
  auto a = alice->tree().Resolve("/alice-only");
  ASSERT_TRUE(a.ok());
  client::Vault bob(cluster_->config());
  ASSERT_TRUE(bob.accounts().Login("bob", "bobs password").ok());
  for (const char* op : {"getattr", "get_version", "begin_version"}) {
    auto r = bob.meta().Call(op, {{"ino", a->ino}});
    EXPECT_EQ(r.status().code(), ENOENT) << op;
  }
  EXPECT_EQ(bob.meta()
                .Call("unlink", {{"parent", alice->root()}, {"key", std::string(64, 'a')}})
                .status()
                .code(),
            ENOENT);
  EXPECT_EQ(bob.meta().Call("readdir", {{"ino", alice->root()}}).status().code(), ENOENT);
  // ...and his data-server token cannot fetch, overwrite or delete alice's shards.
  auto gv = alice->meta().Call("get_version", {{"ino", a->ino}});
  ASSERT_TRUE(gv.ok());
  const auto& shard = (*gv)["shards"][0];
  auto addr = ParseHostPort(shard["address"].get<std::string>());
  ASSERT_TRUE(addr.ok());
  std::string chunk = shard["chunk"].get<std::string>();
  WriteFile(Local("b"), "x");
  ASSERT_EQ(cluster_->Vaultfs({"put", Local("b"), "/b"}, "bob", "bobs password").exit_code, 0);
  auto bf = bob.tree().Resolve("/b");
  ASSERT_TRUE(bf.ok());
  auto bob_begin = bob.meta().Call("begin_version", {{"ino", bf->ino}, {"inline", false}});
  ASSERT_TRUE(bob_begin.ok()) << bob_begin.status().ToString();
  std::string bob_token = (*bob_begin)["token"];
  cluster::DataClient data(cluster::DataClientOptions{.tls = cluster_->ClientTls()});
  auto dl = data.Download(*addr, bob_token, chunk).get();
  EXPECT_FALSE(dl.ok());
  EXPECT_EQ(data.Delete(*addr, bob_token, chunk).get().code() == 0, false);
  // Bob's write token names only the chunk ids of his own upload (issue 20 item 5).
  auto up = data.Upload(*addr, bob_token, chunk, "overwrite").get();
  EXPECT_EQ(up.status().code(), EACCES);
  auto back = Cli({"get", "/alice-only", Local("alice-only.back")});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(FileSha256(Local("alice-only.back")), FileSha256(Local("alice-only")));
}

// Every create-like op seals the new entry's name for the inode it points at (the client
// reserves the number first), rename and link reseal for the moved or linked inode, and
// lookup and readdir open names for the inode they find: the whole tree still works.
TEST_F(ClusterCliTest, TreeOperationsSealNamesForTheirInodes) {
  auto v = AliceVault();
  auto dir = v->tree().Mkdir(v->root(), "sealed-tree", 0755);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto sub = v->tree().Mkdir(dir->ino, "sub", 0700);
  ASSERT_TRUE(sub.ok()) << sub.status().ToString();
  auto f = v->tree().Create(dir->ino, "f", 0644);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  auto node = v->tree().Mknod(dir->ino, "pipe", "fifo", 0600, 0, 0, 0);
  ASSERT_TRUE(node.ok()) << node.status().ToString();
  const std::string target = "../some/where/over-32-bytes-so-it-pads-to-64";
  auto sl = v->tree().Symlink(dir->ino, "sl", target);
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  EXPECT_EQ(sl->size, target.size());
  auto hard = v->tree().Link(f->ino, sub->ino, "hard");
  ASSERT_TRUE(hard.ok()) << hard.status().ToString();
  EXPECT_EQ(hard->nlink, 2u);

  auto check = [&](uint64_t parent, const std::string& name, uint64_t ino) {
    auto a = v->tree().Lookup(parent, name);
    ASSERT_TRUE(a.ok()) << name << ": " << a.status().ToString();
    EXPECT_EQ(a->ino, ino) << name;
  };
  check(v->root(), "sealed-tree", dir->ino);
  check(dir->ino, "sub", sub->ino);
  check(dir->ino, "f", f->ino);
  check(dir->ino, "pipe", node->ino);
  check(dir->ino, "sl", sl->ino);
  check(sub->ino, "hard", f->ino);
  // A fresh vault (no remembered sizes) sees the symlink's exact size and target.
  auto fresh = AliceVault();
  auto sa = fresh->tree().Lookup(dir->ino, "sl");
  ASSERT_TRUE(sa.ok()) << sa.status().ToString();
  EXPECT_EQ(sa->size, target.size());
  EXPECT_EQ(*fresh->tree().ReadLink(sl->ino), target);

  // Plain rename across directories, rename over an existing entry, and EXCHANGE.
  ASSERT_TRUE(v->tree().Rename(dir->ino, "f", sub->ino, "moved").ok());
  check(sub->ino, "moved", f->ino);
  EXPECT_EQ(v->tree().Lookup(dir->ino, "f").status().code(), ENOENT);
  ASSERT_TRUE(v->tree().Rename(dir->ino, "pipe", sub->ino, "hard").ok());  // replaces a link of f
  check(sub->ino, "hard", node->ino);
  Status ex = v->tree().Rename(dir->ino, "sl", sub->ino, "moved", 2);
  ASSERT_TRUE(ex.ok()) << ex.ToString();
  check(dir->ino, "sl", f->ino);
  check(sub->ino, "moved", sl->ino);
  ASSERT_TRUE(v->tree().Rename(dir->ino, "sub", v->root(), "sub-top").ok());  // a directory moves
  check(v->root(), "sub-top", sub->ino);

  auto names = [&](uint64_t d) {
    std::set<std::string> out;
    auto page = v->tree().ReadDirPage(d, "", 100, true);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    if (!page.ok()) return out;
    for (const auto& [e, a] : page->entries) {
      out.insert(e.name);
      EXPECT_EQ(a.ino, e.ino);
    }
    return out;
  };
  EXPECT_EQ(names(dir->ino), (std::set<std::string>{"sl"}));
  EXPECT_EQ(names(sub->ino), (std::set<std::string>{"hard", "moved"}));
  auto ls = Cli({"ls", "-l", "/sub-top"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_THAT(ls.out, HasSubstr("moved"));
  ASSERT_TRUE(
      v->tree().RemoveTree(v->root(), "sub-top", *v->tree().Lookup(v->root(), "sub-top")).ok());
  ASSERT_TRUE(v->tree()
                  .RemoveTree(v->root(), "sealed-tree", *v->tree().Lookup(v->root(), "sealed-tree"))
                  .ok());
}

// A metadata service that points a name at another of the user's inodes is caught. The
// hostile edit is made through the protocol, leaving what a service editing its database
// would: the entry keeps "a"'s lookup key and sealed name but points at b's inode.
TEST_F(ClusterCliTest, NameRepointedAtAnotherInodeIsRefused) {
  auto v = AliceVault();
  auto dir = v->tree().Mkdir(v->root(), "repoint", 0755);
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  auto a = v->tree().Create(dir->ino, "a", 0644);
  auto b = v->tree().Create(dir->ino, "b", 0644);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(v->tree().Lookup(dir->ino, "a").ok());
  auto page = v->meta().Call("readdir", {{"ino", dir->ino}});
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  std::string key, sealed;
  for (const auto& e : (*page)["entries"]) {
    if (e["ino"] == a->ino) {
      key = e["key"].get<std::string>();
      sealed = e["name"].get<std::string>();
    }
  }
  ASSERT_FALSE(key.empty());
  ASSERT_TRUE(v->meta().Call("unlink", {{"parent", dir->ino}, {"key", key}}).ok());
  auto relink = v->meta().Call(
      "link", {{"ino", b->ino}, {"parent", dir->ino}, {"key", key}, {"name", sealed}});
  ASSERT_TRUE(relink.ok()) << relink.status().ToString();

  auto looked = v->tree().Lookup(dir->ino, "a");
  EXPECT_EQ(looked.status().code(), EIO)
      << (looked.ok() ? "accepted inode " + std::to_string(looked->ino)
                      : looked.status().ToString());
  auto entries = v->tree().ReadDir(dir->ino);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 1u);  // "a" is left out; "b" is still listed
  EXPECT_EQ((*entries)[0].name, "b");
  EXPECT_EQ((*entries)[0].ino, b->ino);
  EXPECT_EQ(v->tree().Rename(dir->ino, "a", dir->ino, "c").code(), EIO);  // not resealed for b
  auto get = Cli({"get", "/repoint/a", Local("repointed")});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_THAT(get.err, HasSubstr("does not match the inode"));
  // The entry can still be removed by name, and the directory works again.
  ASSERT_TRUE(v->tree().Unlink(dir->ino, "a").ok());
  ASSERT_TRUE(v->tree().RemoveTree(v->root(), "repoint", *dir).ok());
}

// ---- tests that stop or kill servers: keep them last ----

TEST_F(ClusterCliTest, StoppedServerCostsOneHedgeNotOnePerSegment) {
  const size_t size = 24u << 20;  // 24 segments
  WriteFile(Local("slow"), TestBytes(size, 18));
  ASSERT_EQ(Cli({"put", Local("slow"), "/slow"}).exit_code, 0);
  auto v = AliceVault();
  auto servers = ShardServers(*v, "/slow");
  ASSERT_TRUE(servers.ok() && !servers->empty()) << servers.status().ToString();
  const uint64_t server = (*servers)[0];  // holds data shard 0
  auto stop = cluster_->Mkcluster({"stop", "data", std::to_string(server)});
  ASSERT_EQ(stop.exit_code, 0) << stop.err;
  auto get = Cli({"get", "/slow", Local("slow.back")}, std::chrono::seconds(120));
  auto cont = cluster_->Mkcluster({"cont", "data", std::to_string(server)});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(FileSha256(Local("slow.back")), FileSha256(Local("slow")));
  // Hedging once per segment would take 24 x 1.5 s; remembering the laggard takes one.
  EXPECT_LT(get.seconds, 20.0);
  ASSERT_EQ(cont.exit_code, 0) << cont.err;
}

TEST_F(ClusterCliTest, PutWithTwoServersDownSucceedsAndShowsDegraded) {
  ASSERT_TRUE(cluster_->KillData(2).ok());
  ASSERT_TRUE(cluster_->KillData(9).ok());
  WriteFile(Local("degraded"), TestBytes(2 << 20, 16));
  auto put = Cli({"put", Local("degraded"), "/degraded"});
  EXPECT_EQ(put.exit_code, 0) << put.err;
  EXPECT_THAT(put.err, HasSubstr("queued for repair"));
  auto status = Cli({"status"});
  EXPECT_THAT(status.out, HasSubstr("12 of 14 up"));
  EXPECT_THAT(status.out, HasSubstr("degraded file versions (queued for repair): "));
  EXPECT_THAT(status.out,
              ::testing::Not(HasSubstr("degraded file versions (queued for repair): 0")));
  auto get = Cli({"get", "/degraded", Local("degraded.back")});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(FileSha256(Local("degraded.back")), FileSha256(Local("degraded")));
  ASSERT_TRUE(cluster_->ReviveData(2).ok());
  ASSERT_TRUE(cluster_->ReviveData(9).ok());
}

TEST_F(ClusterCliTest, KillAnyFourRealServersWhileReadingStillExact_FiveFailsFast) {
  const size_t size = 24u << 20;
  WriteFile(Local("resilient"), TestBytes(size, 17));
  ASSERT_EQ(Cli({"put", Local("resilient"), "/resilient"}).exit_code, 0);
  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 3; ++round) {
    std::vector<int> ids(14);
    std::iota(ids.begin(), ids.end(), 1);
    std::shuffle(ids.begin(), ids.end(), rng);
    ids.resize(4);
    for (int id : ids) {
      Status st = cluster_->KillData(id);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
    auto get = Cli({"get", "/resilient", Local("resilient.back")});
    EXPECT_EQ(get.exit_code, 0) << "killed " << ::testing::PrintToString(ids) << ": " << get.err;
    EXPECT_EQ(FileSha256(Local("resilient.back")), FileSha256(Local("resilient")));
    for (int id : ids) {
      Status st = cluster_->ReviveData(id);
      ASSERT_TRUE(st.ok()) << st.ToString();
    }
  }
  for (int id : {1, 4, 6, 11, 14}) ASSERT_TRUE(cluster_->KillData(id).ok());
  auto get = Cli({"get", "/resilient", Local("resilient.fail")}, std::chrono::seconds(60));
  EXPECT_EQ(get.exit_code, 5) << get.err;
  EXPECT_THAT(get.err, HasSubstr("need 10"));
  EXPECT_LT(get.seconds, 10.0) << "a read with 5 servers down must fail promptly";
  EXPECT_THAT(get.err, HasSubstr("vaultfs status"));
  std::printf("get with 5 of 14 data servers down failed cleanly in %.2f s\n", get.seconds);
  EXPECT_FALSE(fs::exists(Local("resilient.fail")));  // no partial file left behind
  for (int id : {1, 4, 6, 11, 14}) ASSERT_TRUE(cluster_->ReviveData(id).ok());
}

}  // namespace
}  // namespace vaultfs::testing
