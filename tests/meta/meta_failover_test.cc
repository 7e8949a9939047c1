// Fail-over with three real vaultfs-meta processes: clients stream creates, inline version
// commits (begin+commit, or one write_inline) and renames while the leader is SIGKILLed (and
// restarted) at random moments, at least 20 times. Afterwards every acknowledged operation is
// present, no operation was applied twice (a re-executed retry would have surfaced as EEXIST /
// ESTALE / ENOENT to the client), and the three databases are identical. The time from each kill to
// the next acknowledged write is printed (target median < 2 s; not asserted on a shared machine).
// Also: a leader cut off from the majority (the other two SIGSTOPped) stops acknowledging writes.
// All three shut down cleanly on SIGTERM.
// And: raft traffic is mutual TLS: a node whose certificate comes from another CA never joins
// (both sides refuse it, and say so once), while the other two serve.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "src/common/frame.h"
#include "src/common/hex.h"
#include "src/crypto/random.h"
#include "tests/meta/meta_cluster.h"

namespace vaultfs::testing {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using SteadyClock = std::chrono::steady_clock;

std::string K(const std::string& name) { return HexEncode(name); }
const std::string kAuth = std::string(64, 'e');

struct FileRecord {
  std::string key;      // current name key if every rename was acknowledged
  std::string alt_key;  // the other possible key when a rename's outcome is unknown
  int64_t ino = 0;
  std::string version;  // last acknowledged version
  bool version_uncertain = false;
};

struct Shared {
  std::mutex mu;
  std::vector<SteadyClock::time_point> acks;
  std::vector<std::string> anomalies;  // replies that only a double application could cause
  std::atomic<bool> stop{false};
  std::atomic<int> uncertain{0};

  void Ack() {
    std::lock_guard<std::mutex> l(mu);
    acks.push_back(SteadyClock::now());
  }
  size_t AckCount() {
    std::lock_guard<std::mutex> l(mu);
    return acks.size();
  }
  std::optional<SteadyClock::time_point> FirstAckAfter(SteadyClock::time_point t) {
    std::lock_guard<std::mutex> l(mu);
    for (auto it = acks.rbegin(); it != acks.rend(); ++it) {
      if (*it <= t) break;
      if (std::next(it) == acks.rend() || *std::next(it) <= t) return *it;
    }
    return std::nullopt;
  }
};

void Worker(const MetaCluster& cl, const std::string& session, int64_t dir, int w, Shared* sh,
            std::vector<FileRecord>* files) {
  MetaClientOptions opts;
  opts.deadline = seconds(30);
  opts.attempt_timeout = seconds(3);
  auto c = cl.Client(opts);
  c->SetSession(session);
  int64_t next_ino = 0, end_ino = 0;  // reserved numbers, for the FUSE daemon's create path
  for (int i = 0; !sh->stop.load(); ++i) {
    FileRecord f;
    f.key = K("w" + std::to_string(w) + "-f" + std::to_string(i));
    if (i % 3 == 2) {
      // The FUSE daemon's path for a new small file: a reserved number, then one write_inline
      // that creates the file and its content (new_entry). A second application of a retry
      // would answer EEXIST (the version id exists).
      if (next_ino == end_ino) {
        auto r = c->Call("reserve_inodes", {{"count", 1024}});
        if (!r.ok()) continue;
        next_ino = (*r)["first"];
        end_ino = next_ino + 1024;
      }
      f.ino = next_ino++;
      std::string v = *crypto::RandomHexId(16);
      auto wi = c->Call("write_inline",
                        {{"ino", f.ino},
                         {"version", v},
                         {"expected", nullptr},
                         {"size", 3},
                         {"content", "abc"},
                         {"wrapped_key", "wk"},
                         {"new_entry", {{"parent", dir}, {"key", f.key}, {"name", "n"}}}});
      if (!wi.ok()) {
        sh->uncertain++;
        int code = wi.status().code();
        if (code == EEXIST || code == ESTALE || code == EINVAL) {
          std::lock_guard<std::mutex> l(sh->mu);
          sh->anomalies.push_back("write_inline with new_entry answered " + wi.status().ToString());
        }
        continue;  // outcome unknown: not recorded
      }
      sh->Ack();
      f.version = v;
      files->push_back(f);
      continue;
    }
    auto cr = c->Call("create", {{"parent", dir}, {"key", f.key}, {"name", "n"}});
    if (!cr.ok()) {
      if (cr.status().code() == EEXIST) {
        std::lock_guard<std::mutex> l(sh->mu);
        sh->anomalies.push_back("create answered EEXIST: " + cr.status().ToString());
      }
      sh->uncertain++;
      continue;
    }
    sh->Ack();
    f.ino = (*cr)["attr"]["ino"];
    if (i % 2 == 1) {
      // The one-entry small-file path, retried with the same rid across leader changes: a
      // second application would answer EEXIST (the client-chosen version id exists).
      std::string v = *crypto::RandomHexId(16);
      auto wi = c->Call("write_inline", {{"ino", f.ino},
                                         {"version", v},
                                         {"expected", nullptr},
                                         {"size", 3},
                                         {"content", "abc"},
                                         {"wrapped_key", "wk"}});
      if (wi.ok()) {
        sh->Ack();
        f.version = v;
      } else {
        f.version_uncertain = true;
        int code = wi.status().code();
        if (code == EEXIST || code == ESTALE || code == EINVAL) {
          std::lock_guard<std::mutex> l(sh->mu);
          sh->anomalies.push_back("write_inline answered " + wi.status().ToString());
        }
      }
      files->push_back(f);
      continue;
    }
    auto bv = c->Call("begin_version", {{"ino", f.ino}, {"wrapped_key", "wk"}, {"inline", true}});
    if (bv.ok()) {
      sh->Ack();
      std::string v = (*bv)["version"];
      auto cv = c->Call(
          "commit_version",
          {{"ino", f.ino}, {"version", v}, {"expected", nullptr}, {"size", 3}, {"content", "abc"}});
      if (cv.ok()) {
        sh->Ack();
        f.version = v;
      } else {
        f.version_uncertain = true;
        if (cv.status().code() == ESTALE || cv.status().code() == EINVAL) {
          std::lock_guard<std::mutex> l(sh->mu);
          sh->anomalies.push_back("commit answered " + cv.status().ToString());
        }
      }
    } else {
      f.version_uncertain = true;
    }
    if (i % 2 == 0) {
      std::string to = f.key + K("-r");
      auto rn = c->Call("rename", {{"parent", dir},
                                   {"key", f.key},
                                   {"new_parent", dir},
                                   {"new_key", to},
                                   {"new_name", "n"},
                                   {"flags", 1}});
      if (rn.ok()) {
        sh->Ack();
        f.key = to;
      } else {
        if (rn.status().code() == ENOENT || rn.status().code() == EEXIST) {
          std::lock_guard<std::mutex> l(sh->mu);
          sh->anomalies.push_back("rename answered " + rn.status().ToString());
        }
        f.alt_key = to;
      }
    }
    files->push_back(f);
  }
}

// Waits until all three nodes report the same last applied index and state digest.
bool Converged(MetaCluster& cl, std::string* why) {
  auto deadline = SteadyClock::now() + seconds(60);
  Json infos[3];
  while (SteadyClock::now() < deadline) {
    for (int i = 0; i < 3; ++i) infos[i] = cl.NodeInfo(i, /*digest=*/true);
    bool same = infos[0].is_object() && infos[1].is_object() && infos[2].is_object() &&
                infos[0]["last_applied"] == infos[1]["last_applied"] &&
                infos[1]["last_applied"] == infos[2]["last_applied"] &&
                infos[0]["digest"] == infos[1]["digest"] &&
                infos[1]["digest"] == infos[2]["digest"];
    if (same) return true;
    std::this_thread::sleep_for(milliseconds(50));
  }
  *why = infos[0].dump() + "\n" + infos[1].dump() + "\n" + infos[2].dump();
  return false;
}

TEST(MetaFailoverTest, LeaderKilledTwentyTimesLosesNothing) {
  MetaCluster cl(3, /*single=*/false);
  ASSERT_TRUE(cl.StartAll().ok());
  ASSERT_GE(cl.WaitLeader(seconds(60)), 0) << cl.Log(0);

  auto admin = cl.Client();
  ASSERT_TRUE(admin
                  ->Call("register", {{"user", "fo"},
                                      {"salt", "00"},
                                      {"kdf", Json::object()},
                                      {"auth_key", kAuth},
                                      {"wrapped_master_key", "w"}})
                  .ok());
  auto login = admin->Login("fo", kAuth);
  ASSERT_TRUE(login.ok()) << login.status().ToString();
  int64_t root = (*login)["root"];
  std::string session = (*login)["session"];

  constexpr int kWorkers = 3;
  std::vector<int64_t> dirs;
  for (int w = 0; w < kWorkers; ++w) {
    auto d = admin->Call("mkdir",
                         {{"parent", root}, {"key", K("dir" + std::to_string(w))}, {"name", "n"}});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dirs.push_back((*d)["attr"]["ino"]);
  }

  Shared sh;
  std::vector<std::vector<FileRecord>> files(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back(Worker, std::cref(cl), session, dirs[w], w, &sh, &files[w]);
  }
  struct Joiner {
    Shared* sh;
    std::vector<std::thread>* t;
    ~Joiner() {
      sh->stop = true;
      for (auto& th : *t)
        if (th.joinable()) th.join();
    }
  } joiner{&sh, &threads};

  std::mt19937 rng(12345);
  std::vector<double> kill_to_ack_ms;
  constexpr int kKills = 20;
  for (int round = 0; round < kKills; ++round) {
    int leader = cl.WaitLeader(seconds(60));
    ASSERT_GE(leader, 0) << "no leader in round " << round;
    // Let some writes land under this leader, then kill it at a random moment.
    size_t before = sh.AckCount();
    auto progress_deadline = SteadyClock::now() + seconds(60);
    while (sh.AckCount() < before + 3 && SteadyClock::now() < progress_deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_GE(sh.AckCount(), before + 3) << "no progress in round " << round;
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
    auto killed_at = SteadyClock::now();
    cl.Kill(leader);
    ASSERT_TRUE(cl.Start(leader).ok()) << cl.Log(leader);
    auto ack_deadline = killed_at + seconds(60);
    std::optional<SteadyClock::time_point> next;
    while (!(next = sh.FirstAckAfter(killed_at)) && SteadyClock::now() < ack_deadline) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_TRUE(next.has_value()) << "no acknowledged write after kill " << round << "\n"
                                  << cl.NodeInfo(0).dump() << " " << cl.State(0) << "\n"
                                  << cl.NodeInfo(1).dump() << " " << cl.State(1) << "\n"
                                  << cl.NodeInfo(2).dump() << " " << cl.State(2);
    kill_to_ack_ms.push_back(std::chrono::duration<double, std::milli>(*next - killed_at).count());
  }
  sh.stop = true;
  for (auto& th : threads) th.join();

  std::sort(kill_to_ack_ms.begin(), kill_to_ack_ms.end());
  double median = kill_to_ack_ms[kill_to_ack_ms.size() / 2];
  std::printf(
      "[meta failover] %d leader kills; kill -> next acknowledged write: median %.0f ms, "
      "min %.0f ms, max %.0f ms (target median < 2000 ms); %zu acks, %d uncertain ops\n",
      kKills, median, kill_to_ack_ms.front(), kill_to_ack_ms.back(), sh.AckCount(),
      sh.uncertain.load());
  RecordProperty("kill_to_ack_median_ms", static_cast<int>(median));
  {
    std::lock_guard<std::mutex> l(sh.mu);
    EXPECT_TRUE(sh.anomalies.empty())
        << sh.anomalies.size() << " anomalies, first: " << sh.anomalies.front();
  }

  // Every acknowledged operation is present.
  MetaClientOptions opts;
  opts.deadline = seconds(60);
  auto check = cl.Client(opts);
  check->SetSession(session);
  size_t checked = 0;
  for (int w = 0; w < kWorkers; ++w) {
    std::set<std::string> keys_seen;
    for (const FileRecord& f : files[w]) {
      auto l = check->Call("lookup", {{"parent", dirs[w]}, {"key", f.key}});
      if (!l.ok() && !f.alt_key.empty())
        l = check->Call("lookup", {{"parent", dirs[w]}, {"key", f.alt_key}});
      ASSERT_TRUE(l.ok()) << "acknowledged create lost: " << l.status().ToString();
      EXPECT_EQ((*l)["attr"]["ino"], f.ino);
      if (!f.version.empty() && !f.version_uncertain) {
        EXPECT_EQ((*l)["attr"]["version"], f.version);
      }
      ++checked;
    }
    // No entry appears twice under two names (a rename applied twice would need ENOENT first).
    Json cursor = "";
    std::set<int64_t> inos;
    while (true) {
      auto r = check->Call(
          "readdir", {{"ino", dirs[w]}, {"cursor", cursor}, {"limit", 1000}, {"attrs", true}});
      ASSERT_TRUE(r.ok());
      for (const Json& e : (*r)["entries"]) {
        EXPECT_TRUE(inos.insert(e["ino"].get<int64_t>()).second);
        EXPECT_EQ(e["attr"]["ino"], e["ino"]);
      }
      if ((*r)["next"].is_null()) break;
      cursor = (*r)["next"];
    }
    EXPECT_GE(inos.size(), files[w].size());
  }
  EXPECT_GT(checked, 20u);

  // The three databases converge to the same state.
  ASSERT_TRUE(check->Call("mkdir", {{"parent", root}, {"key", K("final")}, {"name", "n"}}).ok());
  std::string why;
  EXPECT_TRUE(Converged(cl, &why)) << why;
}

TEST(MetaFailoverTest, IsolatedLeaderStopsAcknowledgingWrites) {
  MetaCluster cl(3, /*single=*/false);
  ASSERT_TRUE(cl.StartAll().ok());
  int leader = cl.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  auto c = cl.Client();
  ASSERT_TRUE(c->Call("register", {{"user", "iso"},
                                   {"salt", "00"},
                                   {"kdf", Json::object()},
                                   {"auth_key", kAuth},
                                   {"wrapped_master_key", "w"}})
                  .ok());
  auto login = c->Login("iso", kAuth);
  ASSERT_TRUE(login.ok());
  int64_t root = (*login)["root"];
  leader = cl.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);

  for (int i = 0; i < 3; ++i)
    if (i != leader) cl.Signal(i, SIGSTOP);
  struct Resume {
    MetaCluster* cl;
    ~Resume() {
      for (int i = 0; i < 3; ++i) cl->Signal(i, SIGCONT);
    }
  } resume{&cl};

  MetaClientOptions opts;
  opts.deadline = seconds(6);
  opts.attempt_timeout = seconds(2);
  auto lone = cl.ClientFor(leader, opts);
  lone->SetSession(c->session());
  auto r = lone->Call("mkdir", {{"parent", root}, {"key", K("isolated")}, {"name", "n"}});
  EXPECT_FALSE(r.ok()) << "an isolated node acknowledged a write";
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), ETIMEDOUT) << r.status().ToString();
    EXPECT_NE(r.status().message().find("no leader among"), std::string::npos);
  }
  // It also stops claiming leadership (bounded wait).
  auto deadline = SteadyClock::now() + seconds(20);
  bool stepped_down = false;
  while (!stepped_down && SteadyClock::now() < deadline) {
    Json info = cl.NodeInfo(leader);
    stepped_down = info.is_object() && !info.value("is_leader", true);
    if (!stepped_down) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_TRUE(stepped_down);

  for (int i = 0; i < 3; ++i) cl.Signal(i, SIGCONT);
  MetaClientOptions heal;
  heal.deadline = seconds(60);
  auto after = cl.Client(heal);
  after->SetSession(c->session());
  auto ok = after->Call("mkdir", {{"parent", root}, {"key", K("healed")}, {"name", "n"}});
  EXPECT_TRUE(ok.ok()) << ok.status().ToString();
}

// Issue 20 item 11: failed logins are counted in the replicated store, so a fail-over does
// not hand an attacker a fresh set of free guesses.
TEST(MetaFailoverTest, LoginThrottleSurvivesFailover) {
  MetaCluster cl(3, /*single=*/false);
  ASSERT_TRUE(cl.StartAll().ok());
  int leader = cl.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  auto c = cl.Client();
  ASSERT_TRUE(c->Call("register", {{"user", "thr"},
                                   {"salt", "00"},
                                   {"kdf", Json::object()},
                                   {"auth_key", kAuth},
                                   {"wrapped_master_key", "w"}})
                  .ok());
  const std::string wrong(64, 'f');
  auto throttled = [](const Result<Json>& r) {
    return !r.ok() && r.status().code() == EACCES &&
           r.status().message().find("too many failed logins") != std::string::npos;
  };
  // 11 checked failures: the 5 free ones, then one each time the growing delay has passed;
  // the last one blocks the user for 32 s.
  int checked = 0;
  const auto deadline = SteadyClock::now() + seconds(120);
  while (checked < 11 && SteadyClock::now() < deadline) {
    auto r = c->Login("thr", wrong);
    ASSERT_FALSE(r.ok());
    if (throttled(r)) {
      std::this_thread::sleep_for(milliseconds(200));
    } else {
      ASSERT_EQ(r.status().code(), EACCES) << r.status().ToString();
      ++checked;
    }
  }
  ASSERT_EQ(checked, 11);
  leader = cl.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  cl.Kill(leader);
  MetaClientOptions patient;
  patient.deadline = seconds(60);
  auto after = cl.Client(patient);
  // Even the right key waits out the delay on the new leader; one that had forgotten the
  // failures would let it in.
  auto r = after->Login("thr", kAuth);
  EXPECT_TRUE(throttled(r)) << "after the fail-over: "
                            << (r.ok() ? std::string("logged in") : r.status().ToString());
  EXPECT_NE(cl.WaitLeader(seconds(60)), leader);
}

TEST(MetaFailoverTest, LaggingNodeCatchesUpFromSnapshotAndAllRestartConsistently) {
  MetaCluster cl(3, /*single=*/false);
  cl.SetExtraArgs({"--snapshot-threshold", "64", "--snapshot-trailing", "16"});
  ASSERT_TRUE(cl.StartAll().ok());
  ASSERT_GE(cl.WaitLeader(seconds(60)), 0);
  auto c = cl.Client();
  ASSERT_TRUE(c->Call("register", {{"user", "snap"},
                                   {"salt", "00"},
                                   {"kdf", Json::object()},
                                   {"auth_key", kAuth},
                                   {"wrapped_master_key", "w"}})
                  .ok());
  auto login = c->Login("snap", kAuth);
  ASSERT_TRUE(login.ok());
  int64_t root = (*login)["root"];
  int leader = cl.WaitLeader(seconds(60));
  ASSERT_GE(leader, 0);
  int lagging = (leader + 1) % 3;
  cl.Kill(lagging);
  // Far more entries than threshold + trailing: the lagging node can only catch up through
  // InstallSnapshot, which replaces its database via Restore.
  constexpr int kFiles = 300;
  for (int i = 0; i < kFiles; ++i) {
    auto r =
        c->Call("create", {{"parent", root}, {"key", K("s" + std::to_string(i))}, {"name", "n"}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  ASSERT_TRUE(cl.Start(lagging).ok());
  std::string why;
  ASSERT_TRUE(Converged(cl, &why)) << why;
  EXPECT_NE(cl.Log(lagging).find("restored metadata snapshot"), std::string::npos)
      << "the lagging node did not catch up through a snapshot";

  // Restart everyone: each node loads its snapshot, keeps its newer database and skips the log
  // entries it already applied. The state must be the same as before.
  std::string before = cl.NodeInfo(0, true)["digest"];
  for (int i = 0; i < 3; ++i) cl.Kill(i);
  ASSERT_TRUE(cl.StartAll().ok());
  ASSERT_GE(cl.WaitLeader(seconds(60)), 0);
  ASSERT_TRUE(Converged(cl, &why)) << why;
  EXPECT_EQ(cl.NodeInfo(0, true)["digest"], before);
  auto r = c->Call("readdir", {{"ino", root}, {"limit", 1000}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["entries"].size(), static_cast<size_t>(kFiles));
  EXPECT_TRUE(c->Call("mkdir", {{"parent", root}, {"key", K("after")}, {"name", "n"}}).ok());
}

// SIGTERM closes everything (client listener, raft, its TLS links and connects in flight) and
// the process exits 0; under the sanitizer build that also means nothing leaked.
TEST(MetaFailoverTest, AllNodesShutDownCleanlyOnSigterm) {
  MetaCluster cl(3, /*single=*/false);
  ASSERT_TRUE(cl.StartAll().ok());
  ASSERT_GE(cl.WaitLeader(seconds(60)), 0);
  auto c = cl.Client();
  ASSERT_TRUE(c->Call("register", {{"user", "bye"},
                                   {"salt", "00"},
                                   {"kdf", Json::object()},
                                   {"auth_key", kAuth},
                                   {"wrapped_master_key", "w"}})
                  .ok());
  for (int i = 0; i < 3; ++i) cl.Signal(i, SIGTERM);
  auto deadline = SteadyClock::now() + seconds(30);
  for (int i = 0; i < 3; ++i) {
    std::string state = cl.State(i);
    while (state == "running" && SteadyClock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(20));
      state = cl.State(i);
    }
    EXPECT_EQ(state, "exit 0") << "node " << i + 1 << ":\n" << cl.Log(i);
  }
}

TEST(MetaFailoverTest, NodeWithCertificateFromAnotherCaNeverJoins) {
  MetaCluster cl(3, /*single=*/false);
  const std::string rogue = cl.dir() + "/rogue";
  Status st = MakeCerts(rogue, {"meta-3"});
  ASSERT_TRUE(st.ok()) << st.ToString();
  cl.SetTlsArgs(2, {"--tls-ca", rogue + "/ca.pem", "--tls-cert", rogue + "/meta-3.pem", "--tls-key",
                    rogue + "/meta-3.key"});
  ASSERT_TRUE(cl.StartAll().ok());
  int leader = cl.WaitLeader(seconds(60));
  ASSERT_TRUE(leader == 0 || leader == 1) << leader;
  auto c = cl.Client();
  auto r = c->Call("register", {{"user", "ca"},
                                {"salt", "00"},
                                {"kdf", Json::object()},
                                {"auth_key", kAuth},
                                {"wrapped_master_key", "w"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Json info = cl.NodeInfo(leader);
  ASSERT_TRUE(info.is_object());
  EXPECT_GT(info["last_applied"].get<uint64_t>(), 0u) << info;

  // Ask the rogue node itself (it answers clients that trust its CA): it knows no leader,
  // however long we give it.
  auto rogue_ctx =
      tls::TlsContext::Client(tls::TlsIdentity{ReadTextFile(rogue + "/ca.pem"), "", ""});
  ASSERT_TRUE(rogue_ctx.ok());
  auto deadline = SteadyClock::now() + seconds(3);
  Json rinfo;
  do {
    auto raw =
        RawExchange(cl.config().meta[2].address,
                    *EncodeFrame(R"({"op":"node_info","id":1})", SIZE_MAX), seconds(5), *rogue_ctx);
    ASSERT_TRUE(raw.ok()) << raw.status().ToString();
    rinfo = Json::parse(*raw);
    // Without a session a node tells only who leads (not how far it applied the log).
    ASSERT_FALSE(rinfo.contains("last_applied")) << rinfo;
    ASSERT_FALSE(rinfo.value("is_leader", true)) << rinfo;
    ASSERT_TRUE(rinfo["leader"].is_null()) << rinfo;
  } while (SteadyClock::now() < deadline);

  // The leader (the one that dials followers) refused it, logging the reason once although
  // raft retries every 200 ms. (Should leadership move, the next leader logs it once too.)
  const std::string to_rogue =
      "connection to " + cl.config().meta[2].raft_address.ToString() + " refused";
  size_t total = 0;
  for (int i = 0; i < 2; ++i) {
    std::string log = cl.Log(i);
    size_t n = 0;
    for (size_t at = log.find(to_rogue); at != std::string::npos; at = log.find(to_rogue, at + 1)) {
      ++n;
    }
    EXPECT_LE(n, 1u) << log;
    if (n > 0) {
      EXPECT_NE(log.find("not signed by the cluster CA"), std::string::npos) << log;
    }
    total += n;
  }
  EXPECT_GE(total, 1u) << cl.Log(leader);
  // The rogue node, campaigning, was refused by both (its CA does not vouch for them).
  EXPECT_NE(cl.Log(2).find("is not signed by the cluster CA"), std::string::npos) << cl.Log(2);
}

}  // namespace
}  // namespace vaultfs::testing
