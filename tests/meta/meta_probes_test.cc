// What a peer learns by probing the metadata service (issue 20, item 10): register is rate
// limited per address and overall; get_salt answers an unknown name like a known one and its
// login fails like a wrong password; another user's inode (or version) answers exactly like a
// missing one in every op; cluster_map and node_info tell a peer without a session only who
// leads the metadata group.
#include <gtest/gtest.h>

#include <regex>
#include <set>

#include "src/common/format_marker.h"
#include "src/common/hex.h"
#include "src/crypto/password_kdf.h"
#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

Json RegisterArgs(const std::string& name) {
  return {{"user", name},
          {"salt", "00112233"},
          {"kdf", {{"alg", "scrypt"}, {"n", 16384}}},
          {"auth_key", kAuth},
          {"wrapped_master_key", "wrapped-" + name}};
}

// A node of its own with `args` (the shared one runs without register limits).
std::unique_ptr<MetaCluster> NodeWith(std::vector<std::string> args) {
  auto c = std::make_unique<MetaCluster>(1, /*single=*/true);
  c->SetExtraArgs(std::move(args));
  Status st = c->StartAll();
  EXPECT_TRUE(st.ok()) << st.ToString();
  return c;
}

// Registers `n` accounts as fast as it can; returns how many were made, and the refusals.
int RegisterMany(MetaClient& c, const std::string& prefix, int n, std::vector<Status>* refused) {
  int made = 0;
  for (int i = 0; i < n; ++i) {
    auto r = c.Call("register", RegisterArgs(prefix + std::to_string(i)));
    if (r.ok()) {
      ++made;
    } else {
      refused->push_back(r.status());
    }
  }
  return made;
}

TEST(MetaRegisterLimits, DefaultLimitStopsAFloodOfAccountsFromOneAddress) {
  auto node = NodeWith({});  // the defaults: 10 per address, 100 overall
  auto c = node->Client();
  std::vector<Status> refused;
  const int made = RegisterMany(*c, "flood", 50, &refused);
  // Ten at once; after that each waits a delay of at least a second, doubling, so a few more
  // pass only if the loop itself takes that long.
  EXPECT_GE(made, 10);
  EXPECT_LE(made, 13);
  ASSERT_EQ(made + refused.size(), 50u);
  for (const Status& st : refused) {
    EXPECT_EQ(st.code(), EBUSY) << st.ToString();
    EXPECT_NE(st.message().find("too many new accounts from this address"), std::string::npos)
        << st.ToString();
    EXPECT_TRUE(std::regex_search(st.message(), std::regex("wait [0-9]+ s and register again")))
        << st.ToString();
  }
  // A refused account was not made: its name is still free to log in as nobody.
  EXPECT_ERRNO(c->Login("flood49", kAuth), EACCES);
  // Logins of the accounts that were made are not limited by it.
  EXPECT_TRUE(c->Login("flood0", kAuth).ok());
}

TEST(MetaRegisterLimits, PerAddressAndOverallBurstsAreFlags) {
  {
    auto node = NodeWith({"--register-burst-per-address", "3", "--register-burst", "0"});
    auto c = node->Client();
    std::vector<Status> refused;
    EXPECT_EQ(RegisterMany(*c, "addr", 4, &refused), 3);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].code(), EBUSY);
    EXPECT_NE(refused[0].message().find("from this address"), std::string::npos);
  }
  {
    auto node = NodeWith({"--register-burst-per-address", "0", "--register-burst", "4"});
    auto c = node->Client();
    std::vector<Status> refused;
    EXPECT_EQ(RegisterMany(*c, "all", 5, &refused), 4);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].code(), EBUSY);
    EXPECT_NE(refused[0].message().find("on this cluster"), std::string::npos);
  }
  {
    auto node = NodeWith({"--register-burst-per-address", "0", "--register-burst", "0"});
    auto c = node->Client();
    std::vector<Status> refused;
    EXPECT_EQ(RegisterMany(*c, "free", 30, &refused), 30);
  }
}

// The count is replicated with the accounts: a restarted node still refuses.
TEST(MetaRegisterLimits, CountSurvivesARestart) {
  auto node = NodeWith({"--register-burst-per-address", "2", "--register-burst", "0"});
  {
    auto c = node->Client();
    std::vector<Status> refused;
    EXPECT_EQ(RegisterMany(*c, "before", 2, &refused), 2);
  }
  node->Kill(0);
  ASSERT_TRUE(node->Start(0).ok());
  auto c = node->Client();
  EXPECT_ERRNO(c->Call("register", RegisterArgs("after")), EBUSY);
}

// get_salt of a name nobody registered: shaped like a real account's, the same every time (a
// restart included: the key comes from the server secret), different per name; and its login
// fails exactly like a wrong password, throttled alike. A node of its own, so no other test's
// failed logins count against this address.
TEST(MetaProbes, UnknownUserGetsAStableFakeSaltAndFailsLikeAWrongPassword) {
  auto node = NodeWith({});
  auto c = node->Client();
  // A real account, registered the way Accounts::Register does.
  auto salt = crypto::NewSalt();
  ASSERT_TRUE(salt.ok());
  Json args = RegisterArgs("salted");
  args["salt"] = HexEncode(*salt);
  args["kdf"] = crypto::KdfParamsToJson(crypto::KdfParams{});
  ASSERT_TRUE(c->Call("register", args).ok());
  auto real = c->Call("get_salt", {{"user", "salted"}});
  ASSERT_TRUE(real.ok()) << real.status().ToString();

  auto fake = c->Call("get_salt", {{"user", "nobody-here"}});
  ASSERT_TRUE(fake.ok()) << fake.status().ToString();
  auto again = c->Call("get_salt", {{"user", "nobody-here"}});
  ASSERT_TRUE(again.ok());
  auto other = c->Call("get_salt", {{"user", "nobody-else"}});
  ASSERT_TRUE(other.ok());
  EXPECT_EQ((*fake)["salt"], (*again)["salt"]);
  EXPECT_EQ((*fake)["kdf"], (*again)["kdf"]);
  EXPECT_NE((*fake)["salt"], (*other)["salt"]);
  // Same fields, same types, same lengths, same parameters.
  Json shape_real = *real, shape_fake = *fake;
  for (Json* j : {&shape_real, &shape_fake}) j->erase("id");
  EXPECT_EQ(shape_real.size(), shape_fake.size()) << real->dump() << " vs " << fake->dump();
  for (const auto& [key, value] : shape_real.items()) {
    ASSERT_TRUE(shape_fake.contains(key)) << key;
    EXPECT_EQ(value.type(), shape_fake[key].type()) << key;
  }
  EXPECT_EQ((*fake)["salt"].get<std::string>().size(), (*real)["salt"].get<std::string>().size());
  EXPECT_TRUE(HexDecode((*fake)["salt"].get<std::string>()).ok());
  EXPECT_EQ((*fake)["kdf"], (*real)["kdf"]);
  EXPECT_EQ((*fake)["kdf"].dump(), (*real)["kdf"].dump());
  // Both name the cluster's storage format, which the client checks before deriving keys.
  EXPECT_EQ((*real)["format"], kMetaStoreFormat);
  EXPECT_EQ((*fake)["format"], kMetaStoreFormat);

  // Logins: an unknown name and a known name with a wrong key answer the same, attempt by
  // attempt (5 free failures, then the throttle), with the same errors and messages.
  ASSERT_TRUE(c->Call("register", RegisterArgs("known-victim")).ok());
  std::vector<std::string> unknown, wrong;
  for (int i = 0; i < 8; ++i) {
    auto u = c->Login("unknown-victim", std::string(64, 'f'));
    auto w = c->Login("known-victim", std::string(64, 'f'));
    ASSERT_FALSE(u.ok());
    ASSERT_FALSE(w.ok());
    unknown.push_back(ErrnoName(u.status().code()) + ": " + u.status().message());
    wrong.push_back(ErrnoName(w.status().code()) + ": " + w.status().message());
  }
  // Retry delays are whole seconds and could differ by one at a second's boundary.
  auto strip = [](std::vector<std::string> v) {
    for (auto& s : v) s = std::regex_replace(s, std::regex("[0-9]+ s"), "N s");
    return v;
  };
  EXPECT_EQ(strip(unknown), strip(wrong));
  EXPECT_EQ(unknown[0], "EACCES: wrong user name or password");
  EXPECT_NE(unknown.back().find("too many failed logins for this user"), std::string::npos)
      << unknown.back();

  node->Kill(0);
  ASSERT_TRUE(node->Start(0).ok());
  auto after = node->Client()->Call("get_salt", {{"user", "nobody-here"}});
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ((*fake)["salt"], (*after)["salt"]);
  EXPECT_EQ((*fake)["kdf"], (*after)["kdf"]);
}

using MetaProbeTest = MetaSingleTest;

// Every op that takes an inode (or a version) answers another user's exactly like a missing
// one: same errno, same message but for the number itself.
TEST_F(MetaProbeTest, AnotherUsersInodeAnswersLikeAMissingOne) {
  User alice = NewUser("probe-alice");
  User bob = NewUser("probe-bob");
  auto f = alice.c->Call("create", {{"parent", alice.root}, {"key", K("f")}, {"name", "n"}});
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const int64_t file = Ino(f);
  auto l = alice.c->Call("symlink",
                         {{"parent", alice.root}, {"key", K("l")}, {"name", "n"}, {"target", "t"}});
  ASSERT_TRUE(l.ok());
  auto d = alice.c->Call("mkdir", {{"parent", alice.root}, {"key", K("d")}, {"name", "n"}});
  ASSERT_TRUE(d.ok());
  auto begin = alice.c->Call("begin_version", {{"ino", file}, {"size", 10}});
  ASSERT_TRUE(begin.ok()) << begin.status().ToString();
  const std::string vid = (*begin)["version"];
  // An inode number nobody has (well above every one handed out).
  const int64_t missing = Ino(f) + (int64_t{1} << 40);
  auto bob_file = bob.c->Call("create", {{"parent", bob.root}, {"key", K("mine")}, {"name", "n"}});
  ASSERT_TRUE(bob_file.ok());
  const int64_t mine = Ino(bob_file);

  // Each probe as a function of the inode asked about.
  struct Probe {
    std::string what;
    std::function<Json(int64_t)> args;
    std::string op;
  };
  const std::string other_vid = std::string(32, 'e');
  const std::vector<Probe> probes = {
      {"getattr",
       [](int64_t i) {
         return Json{{"ino", i}};
       },
       "getattr"},
      {"setattr",
       [](int64_t i) {
         return Json{{"ino", i}, {"mode", 0600}};
       },
       "setattr"},
      {"readlink",
       [](int64_t i) {
         return Json{{"ino", i}};
       },
       "readlink"},
      {"readdir",
       [](int64_t i) {
         return Json{{"ino", i}};
       },
       "readdir"},
      {"readdir attrs",
       [](int64_t i) {
         return Json{{"ino", i}, {"attrs", true}};
       },
       "readdir"},
      {"lookup",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("f")}};
       },
       "lookup"},
      {"mkdir",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("x")}, {"name", "n"}};
       },
       "mkdir"},
      {"create",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("x")}, {"name", "n"}};
       },
       "create"},
      {"symlink",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("x")}, {"name", "n"}, {"target", "t"}};
       },
       "symlink"},
      {"link ino",
       [&](int64_t i) {
         return Json{{"ino", i}, {"parent", bob.root}, {"key", K("x")}, {"name", "n"}};
       },
       "link"},
      {"link parent",
       [&](int64_t i) {
         return Json{{"ino", mine}, {"parent", i}, {"key", K("x")}, {"name", "n"}};
       },
       "link"},
      {"unlink",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("f")}};
       },
       "unlink"},
      {"rmdir",
       [](int64_t i) {
         return Json{{"parent", i}, {"key", K("d")}};
       },
       "rmdir"},
      {"rename from",
       [&](int64_t i) {
         return Json{{"parent", i},
                     {"key", K("f")},
                     {"new_parent", bob.root},
                     {"new_key", K("y")},
                     {"new_name", "n"}};
       },
       "rename"},
      {"rename to",
       [&](int64_t i) {
         return Json{{"parent", bob.root},
                     {"key", K("mine")},
                     {"new_parent", i},
                     {"new_key", K("y")},
                     {"new_name", "n"}};
       },
       "rename"},
      {"begin_version",
       [](int64_t i) {
         return Json{{"ino", i}, {"size", 1}};
       },
       "begin_version"},
      {"begin_version new_entry",
       [&](int64_t i) {
         return Json{{"ino", i},
                     {"new_entry", {{"parent", bob.root}, {"key", K("z")}, {"name", "n"}}}};
       },
       "begin_version"},
      {"commit_version",
       [&](int64_t i) {
         return Json{{"ino", i}, {"version", vid}, {"expected", nullptr}, {"size", 0}};
       },
       "commit_version"},
      {"write_inline",
       [&](int64_t i) {
         return Json{{"ino", i},  {"version", other_vid}, {"expected", nullptr},
                     {"size", 0}, {"content", ""},        {"wrapped_key", "k"}};
       },
       "write_inline"},
      {"get_version",
       [](int64_t i) {
         return Json{{"ino", i}};
       },
       "get_version"},
      {"renew_pending",
       [&](int64_t i) {
         return Json{{"ino", i}, {"version", vid}};
       },
       "renew_pending"},
  };
  // The inode of alice's that fits each probe: the symlink for readlink, the directory for
  // readdir/lookup/..., the file otherwise.
  auto alices = [&](const Probe& p) -> int64_t {
    if (p.op == "readlink") return Ino(l);
    if (p.op == "readdir" || p.op == "mkdir" || p.op == "create" || p.op == "symlink" ||
        p.op == "lookup" || p.op == "unlink" || p.op == "rmdir" || p.op == "rename" ||
        p.what == "link parent") {
      return alice.root;
    }
    return file;
  };
  for (const Probe& p : probes) {
    SCOPED_TRACE(p.what);
    const int64_t theirs = alices(p);
    auto a = bob.c->Call(p.op, p.args(theirs));
    auto b = bob.c->Call(p.op, p.args(missing));
    ASSERT_FALSE(a.ok()) << "another user's inode: " << a->dump();
    ASSERT_FALSE(b.ok()) << "a missing inode: " << b->dump();
    EXPECT_EQ(a.status().code(), b.status().code())
        << a.status().ToString() << " vs " << b.status().ToString();
    EXPECT_NE(a.status().code(), EACCES) << a.status().ToString();
    const std::string ma =
        std::regex_replace(a.status().message(), std::regex(std::to_string(theirs)), "N");
    const std::string mb =
        std::regex_replace(b.status().message(), std::regex(std::to_string(missing)), "N");
    EXPECT_EQ(ma, mb);
  }
  // Versions: another user's answers like an id nobody has.
  for (const std::string& op : {std::string("report_shard")}) {
    auto a = bob.c->Call(op, {{"version", vid}, {"index", 0}, {"state", "missing"}});
    auto b = bob.c->Call(op, {{"version", other_vid}, {"index", 0}, {"state", "missing"}});
    ASSERT_FALSE(a.ok());
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(a.status().code(), ENOENT) << a.status().ToString();
    EXPECT_EQ(b.status().code(), ENOENT) << b.status().ToString();
    EXPECT_EQ(std::regex_replace(a.status().message(), std::regex(vid), "V"),
              std::regex_replace(b.status().message(), std::regex(other_vid), "V"));
  }
  {
    // Bob's own file, alice's pending version vs a version id nobody has.
    auto a = bob.c->Call("renew_pending", {{"ino", mine}, {"version", vid}});
    auto b = bob.c->Call("renew_pending", {{"ino", mine}, {"version", other_vid}});
    ASSERT_FALSE(a.ok());
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(a.status().code(), b.status().code());
    EXPECT_EQ(std::regex_replace(a.status().message(), std::regex(vid), "V"),
              std::regex_replace(b.status().message(), std::regex(other_vid), "V"));
  }
  // Nothing of alice's changed.
  auto still = alice.c->Call("getattr", {{"ino", file}});
  ASSERT_TRUE(still.ok());
  EXPECT_EQ((*still)["attr"]["mode"], 0644);
  EXPECT_TRUE(alice.c->Call("renew_pending", {{"ino", file}, {"version", vid}}).ok());
}

// cluster_map without a session: the metadata nodes and the leader, nothing else.
TEST_F(MetaProbeTest, ClusterMapWithoutSessionNamesOnlyTheLeader) {
  auto anon = cluster_->Client();
  auto pub = anon->Call("cluster_map", Json::object());
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  std::set<std::string> keys;
  for (const auto& [k, v] : pub->items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "ok", "meta", "leader", "k", "m", "write_quorum"}))
      << pub->dump();
  EXPECT_TRUE((*pub)["leader"].is_string());
  ASSERT_EQ((*pub)["meta"].size(), 1u);

  // A user's session and the cluster's see the whole map.
  User u = NewUser("map-user");
  auto maintenance = ClusterClient();
  for (MetaClient* c : {u.c.get(), maintenance.get()}) {
    auto full = c->Call("cluster_map", Json::object());
    ASSERT_TRUE(full.ok()) << full.status().ToString();
    for (const char* k : {"data", "repair_queue", "repair", "scrub_requested", "meta", "leader"}) {
      EXPECT_TRUE(full->contains(k)) << k << ": " << full->dump();
    }
    EXPECT_EQ((*full)["data"].size(), cluster_->config().data.size());
  }
  // A session that is not valid is refused, not answered as if absent.
  auto forged = cluster_->Client();
  forged->SetSession("v1.meta.u.f.9999999999.00.00");
  EXPECT_ERRNO(forged->Call("cluster_map", Json::object()), EACCES);
}

// node_info without a session: who this node is and who leads; last_applied and the digest
// need a session.
TEST_F(MetaProbeTest, NodeInfoWithoutSessionNamesOnlyTheLeader) {
  auto anon = cluster_->Client();
  auto pub = anon->Call("node_info", Json::object());
  ASSERT_TRUE(pub.ok()) << pub.status().ToString();
  std::set<std::string> keys;
  for (const auto& [k, v] : pub->items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"id", "ok", "node", "is_leader", "leader"}))
      << pub->dump();
  EXPECT_ERRNO(anon->Call("node_info", {{"digest", true}}), EACCES);

  User u = NewUser("info-user");
  auto as_user = u.c->Call("node_info", {{"digest", true}});
  ASSERT_TRUE(as_user.ok()) << as_user.status().ToString();
  EXPECT_TRUE(as_user->contains("last_applied"));
  EXPECT_TRUE(as_user->contains("digest"));
  auto as_cluster = ClusterClient()->Call("node_info", {{"digest", true}});
  ASSERT_TRUE(as_cluster.ok()) << as_cluster.status().ToString();
  EXPECT_TRUE(as_cluster->contains("digest"));
}

}  // namespace
}  // namespace vaultfs::testing
