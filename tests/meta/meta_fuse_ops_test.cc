// The metadata ops the FUSE daemon (issue 6) leans on, against one real `vaultfs-meta --single`
// process: write_inline (a small file in one log entry), attribute fields on commit_version,
// readdir with attributes (readdirplus), long sealed symlink targets, modes kept exactly as
// given, and directory/inode timestamps changing when POSIX says they do. Each with bad input.
#include <gtest/gtest.h>

#include <set>
#include <utility>
#include <vector>

#include "src/crypto/random.h"
#include "src/crypto/token.h"
#include "tests/meta/meta_single_fixture.h"

namespace vaultfs::testing {
namespace {

class MetaFuseOpsTest : public MetaSingleTest {
 protected:
  // A fresh client-chosen version id: 32 lowercase hex characters.
  static std::string NewVid() { return *crypto::RandomHexId(16); }

  static Result<Json> WriteInline(MetaClient& c, int64_t ino, const std::string& vid,
                                  const Json& expected, Json extra = Json::object()) {
    Json args = {{"ino", ino}, {"version", vid},        {"expected", expected},
                 {"size", 5},  {"content", "c2VhbGVk"}, {"wrapped_key", "wk-" + vid}};
    args.update(extra);
    return c.Call("write_inline", args);
  }

  static Json Attr(MetaClient& c, int64_t ino) {
    auto r = c.Call("getattr", {{"ino", ino}});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? (*r)["attr"] : Json();
  }

  // Sets atime and mtime to 1, so a later op that sets them is visible; ctime becomes the
  // setattr's time, which differs from any later op's time.
  static void Age(MetaClient& c, int64_t ino) {
    ASSERT_TRUE(c.Call("setattr", {{"ino", ino}, {"atime", 1}, {"mtime", 1}}).ok());
  }
};

TEST_F(MetaFuseOpsTest, SymlinkTargetsFitASealedPathMax) {
  User u = NewUser("longlinks");
  auto& c = *u.c;
  // What the client sends for a 4095-byte target: hex of the sealed blob (padded to 4096).
  std::string sealed = HexEncode(std::string(4096 + 29, '\xa5'));
  ASSERT_EQ(sealed.size(), 8250u);
  auto sl = c.Call("symlink",
                   {{"parent", u.root}, {"key", K("long")}, {"name", "n"}, {"target", sealed}});
  ASSERT_TRUE(sl.ok()) << sl.status().ToString();
  EXPECT_EQ((*sl)["attr"]["type"], "symlink");
  auto rl = c.Call("readlink", {{"ino", Ino(sl)}});
  ASSERT_TRUE(rl.ok());
  EXPECT_EQ((*rl)["target"], sealed);
  std::string max(16384, 'b');
  auto at_max =
      c.Call("symlink", {{"parent", u.root}, {"key", K("max")}, {"name", "n"}, {"target", max}});
  ASSERT_TRUE(at_max.ok()) << at_max.status().ToString();
  EXPECT_EQ((*c.Call("readlink", {{"ino", Ino(at_max)}}))["target"], max);

  EXPECT_ERRNO(c.Call("symlink", {{"parent", u.root},
                                  {"key", K("over")},
                                  {"name", "n"},
                                  {"target", std::string(16385, 'b')}}),
               EINVAL);
  EXPECT_ERRNO(
      c.Call("symlink", {{"parent", u.root}, {"key", K("empty")}, {"name", "n"}, {"target", ""}}),
      EINVAL);
  EXPECT_ERRNO(
      c.Call("symlink", {{"parent", u.root}, {"key", K("num")}, {"name", "n"}, {"target", 7}}),
      EINVAL);
  EXPECT_ERRNO(c.Call("symlink", {{"parent", u.root}, {"key", K("none")}, {"name", "n"}}), EINVAL);
  EXPECT_ERRNO(c.Call("lookup", {{"parent", u.root}, {"key", K("over")}}), ENOENT);
}

TEST_F(MetaFuseOpsTest, CommitVersionAppliesAttributesAtomically) {
  User u = NewUser("commitattrs");
  auto& c = *u.c;
  int64_t f = Ino(c.Call("create", {{"parent", u.root}, {"key", K("f")}, {"name", "n"}}));
  Json before = Attr(c, f);
  auto b = c.Call("begin_version", {{"ino", f}, {"wrapped_key", "wk"}, {"inline", true}});
  ASSERT_TRUE(b.ok());
  Json commit = {{"ino", f},
                 {"version", (*b)["version"]},
                 {"expected", nullptr},
                 {"size", 5},
                 {"content", "c2VhbGVk"},
                 {"mtime", 111},
                 {"atime", -222},
                 {"mode", 04755},
                 {"uid", 4294967295LL},
                 {"gid", 0}};
  // Bad attribute values fail the whole commit: nothing changes, the version stays pending.
  for (const auto& [field, bad] :
       std::vector<std::pair<std::string, Json>>{{"mode", 010000},
                                                 {"mode", 040755},
                                                 {"mode", -1},
                                                 {"mode", "0755"},
                                                 {"uid", 4294967296LL},
                                                 {"gid", -1},
                                                 {"mtime", 1.5},
                                                 {"atime", "now"},
                                                 {"mtime", Json::array()}}) {
    SCOPED_TRACE(field + "=" + bad.dump());
    Json bad_commit = commit;
    bad_commit[field] = bad;
    EXPECT_ERRNO(c.Call("commit_version", bad_commit), EINVAL);
  }
  EXPECT_EQ(Attr(c, f), before);
  auto ok = c.Call("commit_version", commit);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  const Json& a = (*ok)["attr"];
  EXPECT_EQ(a["version"], (*b)["version"]);
  EXPECT_EQ(a["size"], 5);
  EXPECT_EQ(a["mtime"], 111);
  EXPECT_EQ(a["atime"], -222);
  EXPECT_EQ(a["mode"], 04755);
  EXPECT_EQ(a["uid"], 4294967295LL);
  EXPECT_EQ(a["gid"], 0);
  EXPECT_EQ(a["type"], "file");
  EXPECT_GT(a["ctime"].get<int64_t>(), before["ctime"].get<int64_t>());  // always now
  EXPECT_EQ(Attr(c, f), a);

  // Without attributes a commit sets mtime = ctime = now and keeps mode, owner and atime.
  auto b2 = c.Call("begin_version", {{"ino", f}, {"wrapped_key", "wk"}, {"inline", true}});
  ASSERT_TRUE(b2.ok());
  auto plain = c.Call("commit_version", {{"ino", f},
                                         {"version", (*b2)["version"]},
                                         {"expected", (*b)["version"]},
                                         {"size", 7},
                                         {"content", "eHh4"}});
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  const Json& p = (*plain)["attr"];
  EXPECT_EQ(p["mtime"], p["ctime"]);
  EXPECT_GT(p["ctime"].get<int64_t>(), a["ctime"].get<int64_t>());
  EXPECT_EQ(p["atime"], -222);
  EXPECT_EQ(p["mode"], 04755);
  EXPECT_EQ(p["uid"], 4294967295LL);

  // A sharded commit takes the same fields.
  auto b3 = c.Call("begin_version", {{"ino", f}, {"wrapped_key", "wk3"}});
  ASSERT_TRUE(b3.ok()) << b3.status().ToString();
  auto sharded = c.Call("commit_version", {{"ino", f},
                                           {"version", (*b3)["version"]},
                                           {"expected", (*b2)["version"]},
                                           {"size", 3000000},
                                           {"shards", Shards(14)},
                                           {"mode", 0600},
                                           {"gid", 100},
                                           {"mtime", 999}});
  ASSERT_TRUE(sharded.ok()) << sharded.status().ToString();
  EXPECT_EQ((*sharded)["attr"]["mode"], 0600);
  EXPECT_EQ((*sharded)["attr"]["gid"], 100);
  EXPECT_EQ((*sharded)["attr"]["mtime"], 999);
  EXPECT_EQ((*sharded)["attr"]["size"], 3000000);
}

TEST_F(MetaFuseOpsTest, WriteInlineEqualsBeginPlusCommit) {
  User u = NewUser("inliner");
  auto& c = *u.c;
  int64_t a = Ino(c.Call("create", {{"parent", u.root}, {"key", K("a")}, {"name", "n"}}));
  int64_t b = Ino(c.Call("create", {{"parent", u.root}, {"key", K("b")}, {"name", "n"}}));
  // a: the two-entry way.
  auto bv = c.Call("begin_version", {{"ino", a}, {"wrapped_key", "same-key"}, {"inline", true}});
  ASSERT_TRUE(bv.ok());
  auto ca = c.Call("commit_version", {{"ino", a},
                                      {"version", (*bv)["version"]},
                                      {"expected", nullptr},
                                      {"size", 5},
                                      {"content", "c2VhbGVk"}});
  ASSERT_TRUE(ca.ok());
  // b: one write_inline.
  std::string vb = NewVid();
  auto wb = WriteInline(c, b, vb, nullptr, {{"wrapped_key", "same-key"}});
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  EXPECT_EQ((*wb)["attr"]["version"], vb);
  EXPECT_EQ((*wb)["attr"]["size"], 5);
  EXPECT_EQ((*wb)["attr"]["mtime"], (*wb)["attr"]["ctime"]);
  EXPECT_EQ(Attr(c, b), (*wb)["attr"]);

  auto ga = c.Call("get_version", {{"ino", a}});
  auto gb = c.Call("get_version", {{"ino", b}});
  ASSERT_TRUE(ga.ok() && gb.ok());
  Json ja = *ga, jb = *gb;
  EXPECT_EQ(jb["version"], vb);
  for (const char* per_call : {"id", "version", "token", "expires_at"}) {
    ja.erase(per_call);
    jb.erase(per_call);
  }
  EXPECT_EQ(ja, jb);
  EXPECT_EQ(jb["state"], "committed");
  EXPECT_EQ(jb["inline"], true);
  EXPECT_EQ(jb["content"], "c2VhbGVk");
  EXPECT_TRUE(crypto::VerifyToken((*gb)["token"].get<std::string>(), cluster_->TokenKey("data"),
                                  "data", crypto::kRightRead, crypto::UnixNow())
                  .ok());

  // Overwrite with attributes; the replaced version is gone.
  std::string vb2 = NewVid();
  auto wb2 = WriteInline(c, b, vb2, vb, {{"mtime", 42}, {"mode", 02640}, {"uid", 5}, {"gid", 6}});
  ASSERT_TRUE(wb2.ok()) << wb2.status().ToString();
  EXPECT_EQ((*wb2)["attr"]["mtime"], 42);
  EXPECT_EQ((*wb2)["attr"]["mode"], 02640);
  EXPECT_EQ((*wb2)["attr"]["uid"], 5);
  EXPECT_EQ((*wb2)["attr"]["gid"], 6);
  EXPECT_GT((*wb2)["attr"]["ctime"].get<int64_t>(), (*wb)["attr"]["ctime"].get<int64_t>());
  EXPECT_ERRNO(c.Call("get_version", {{"ino", b}, {"version", vb}}), ENOENT);
  EXPECT_EQ((*c.Call("get_version", {{"ino", b}}))["wrapped_key"], "wk-" + vb2);

  // A retry with the same rid returns the original result and applies nothing again.
  std::string vb3 = NewVid();
  Json retry = {{"rid", "inline-retry-1"}};
  auto r1 = WriteInline(c, b, vb3, vb2, retry);
  auto r2 = WriteInline(c, b, vb3, vb2, retry);
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ((*r1)["attr"], (*r2)["attr"]);
  // The same write under a new rid is a new request: the id exists now.
  EXPECT_ERRNO(WriteInline(c, b, vb3, vb2), EEXIST);
  EXPECT_EQ(Attr(c, b)["version"], vb3);
}

// The FUSE daemon names a new file with a reserved inode number and creates it with its first
// commit (write_inline or begin_version carrying "new_entry"): one log entry per small file.
TEST_F(MetaFuseOpsTest, ReservedInodesLetTheFirstCommitCreateTheFile) {
  User u = NewUser("reserver");
  User other = NewUser("squatter");
  auto& c = *u.c;
  auto r = c.Call("reserve_inodes", {{"count", 4}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const int64_t first = (*r)["first"];
  EXPECT_EQ((*r)["count"], 4);
  auto r2 = c.Call("reserve_inodes", {{"count", 1}});
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ((*r2)["first"], first + 4) << "reservations never overlap";
  EXPECT_ERRNO(c.Call("reserve_inodes", {{"count", 0}}), EINVAL);
  EXPECT_ERRNO(c.Call("reserve_inodes", {{"count", 65537}}), EINVAL);
  EXPECT_ERRNO(c.Call("reserve_inodes", Json::object()), EINVAL);

  auto entry = [&](const std::string& name) {
    return Json{{"parent", u.root}, {"key", K(name)}, {"name", "n"}, {"mode", 0600}};
  };
  // create with a reserved number; a retry of it (its reply lost) succeeds again.
  Json ca = entry("a");
  ca["ino"] = first;
  auto a = c.Call("create", ca);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(Ino(a), first);
  EXPECT_EQ(Ino(c.Call("create", ca)), first);
  Json reuse = entry("a2");
  reuse["ino"] = first;
  EXPECT_ERRNO(c.Call("create", reuse), EEXIST);  // the number is taken
  Json taken = entry("a");
  taken["ino"] = first + 1;
  EXPECT_ERRNO(c.Call("create", taken), EEXIST);  // the name is taken
  Json unreserved = entry("u");
  unreserved["ino"] = first + 100;
  EXPECT_ERRNO(c.Call("create", unreserved), EINVAL);
  // Any type takes a reserved number (the client seals each name for its inode).
  Json fifo = entry("f");
  fifo["ino"] = first + 4;
  fifo["type"] = "fifo";
  auto f = c.Call("create", fifo);
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(Ino(f), first + 4);
  EXPECT_EQ((*f)["attr"]["type"], "fifo");
  // Another user cannot take this user's numbers.
  Json stolen = {{"parent", other.root}, {"key", K("s")}, {"name", "n"}, {"ino", first + 1}};
  EXPECT_ERRNO(other.c->Call("create", stolen), EINVAL);

  // write_inline that creates the file: one entry, the file complete.
  const std::string vb = NewVid();
  auto wb = WriteInline(c, first + 1, vb, nullptr, {{"new_entry", entry("b")}});
  ASSERT_TRUE(wb.ok()) << wb.status().ToString();
  EXPECT_EQ((*wb)["attr"]["ino"], first + 1);
  EXPECT_EQ((*wb)["attr"]["size"], 5);
  EXPECT_EQ((*wb)["attr"]["mode"], 0600);
  EXPECT_EQ((*wb)["attr"]["version"], vb);
  auto lb = c.Call("lookup", {{"parent", u.root}, {"key", K("b")}});
  ASSERT_TRUE(lb.ok());
  EXPECT_EQ(Ino(lb), first + 1);
  // A later commit that still carries new_entry (a retry) writes to the existing file.
  auto again = WriteInline(c, first + 1, NewVid(), vb, {{"new_entry", entry("b")}});
  EXPECT_TRUE(again.ok()) << again.status().ToString();
  // A taken name refuses the whole entry: no inode, no version.
  auto clash = WriteInline(c, first + 2, NewVid(), nullptr, {{"new_entry", entry("b")}});
  EXPECT_ERRNO(clash, EEXIST);
  EXPECT_ERRNO(c.Call("getattr", {{"ino", first + 2}}), ENOENT);
  // Malformed new_entry.
  EXPECT_ERRNO(WriteInline(c, first + 2, NewVid(), nullptr, {{"new_entry", "b"}}), EINVAL);
  EXPECT_ERRNO(WriteInline(c, first + 2, NewVid(), nullptr,
                           {{"new_entry", {{"parent", u.root}, {"name", "n"}}}}),
               EINVAL);

  // begin_version creates a large file's entry with its placement.
  auto bv = c.Call("begin_version", {{"ino", first + 2}, {"new_entry", entry("c")}});
  ASSERT_TRUE(bv.ok()) << bv.status().ToString();
  Json attr_c = Attr(c, first + 2);
  EXPECT_EQ(attr_c["size"], 0);
  EXPECT_EQ(attr_c["mode"], 0600);
  EXPECT_EQ(Ino(c.Call("lookup", {{"parent", u.root}, {"key", K("c")}})), first + 2);
}

TEST_F(MetaFuseOpsTest, WriteInlineRefusesBadInputAndConflicts) {
  User u = NewUser("inlinebad");
  User other = NewUser("inlineother");
  auto& c = *u.c;
  int64_t f = Ino(c.Call("create", {{"parent", u.root}, {"key", K("f")}, {"name", "n"}}));
  int64_t dir = Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("d")}, {"name", "n"}}));
  int64_t fifo =
      Ino(c.Call("create", {{"parent", u.root}, {"key", K("p")}, {"name", "n"}, {"type", "fifo"}}));
  std::string v1 = NewVid();
  ASSERT_TRUE(WriteInline(c, f, v1, nullptr).ok());
  Json settled = Attr(c, f);

  // Compare-and-swap on the current version, like commit_version.
  EXPECT_ERRNO(WriteInline(c, f, NewVid(), nullptr), ESTALE);
  EXPECT_ERRNO(WriteInline(c, f, NewVid(), NewVid()), ESTALE);
  // A version id that exists anywhere: this file, another file, another user, a pending one.
  EXPECT_ERRNO(WriteInline(c, f, v1, v1), EEXIST);
  int64_t g = Ino(c.Call("create", {{"parent", u.root}, {"key", K("g")}, {"name", "n"}}));
  EXPECT_ERRNO(WriteInline(c, g, v1, nullptr), EEXIST);
  int64_t theirs =
      Ino(other.c->Call("create", {{"parent", other.root}, {"key", K("t")}, {"name", "n"}}));
  std::string their_vid = NewVid();
  ASSERT_TRUE(WriteInline(*other.c, theirs, their_vid, nullptr).ok());
  EXPECT_ERRNO(WriteInline(c, g, their_vid, nullptr), EEXIST);
  auto pending = c.Call("begin_version", {{"ino", g}, {"wrapped_key", "k"}, {"inline", true}});
  ASSERT_TRUE(pending.ok());
  EXPECT_ERRNO(WriteInline(c, g, (*pending)["version"], nullptr), EEXIST);

  // Inode rules of begin_version.
  EXPECT_ERRNO(WriteInline(c, 987654321, NewVid(), nullptr), ENOENT);
  EXPECT_ERRNO(WriteInline(c, dir, NewVid(), nullptr), EISDIR);
  EXPECT_ERRNO(WriteInline(c, fifo, NewVid(), nullptr), EINVAL);
  // Another user's inode answers like a missing one.
  EXPECT_ERRNO(WriteInline(c, theirs, NewVid(), their_vid), ENOENT);
  EXPECT_ERRNO(WriteInline(*other.c, f, NewVid(), v1), ENOENT);

  // Malformed fields.
  std::string v = NewVid();
  Json bad[] = {
      {{"version", v.substr(1)}},
      {{"version", v + "0"}},
      {{"version", "ABCDEF0123456789ABCDEF0123456789"}},
      {{"version", "g123456789abcdef0123456789abcdef"}},
      {{"version", 12345}},
      {{"version", nullptr}},
      {{"ino", "f"}},
      {{"ino", 0}},
      {{"size", -1}},
      {{"size", "5"}},
      {{"size", nullptr}},
      {{"content", nullptr}},
      {{"content", Json::object()}},
      {{"content", std::string(256 * 1024 + 1, 'x')}},
      {{"wrapped_key", nullptr}},
      {{"wrapped_key", ""}},
      {{"wrapped_key", std::string(1025, 'k')}},
      {{"expected", 17}},
      {{"mode", 010000}},
      {{"uid", -1}},
      {{"gid", 4294967296LL}},
      {{"mtime", "yesterday"}},
      {{"atime", 0.5}},
  };
  for (const Json& extra : bad) {
    SCOPED_TRACE(extra.dump());
    EXPECT_ERRNO(WriteInline(c, f, v, v1, extra), EINVAL);
  }
  Json no_expected = {
      {"ino", f}, {"version", v}, {"size", 5}, {"content", "c2VhbGVk"}, {"wrapped_key", "k"}};
  EXPECT_ERRNO(c.Call("write_inline", no_expected), EINVAL);
  auto no_session = cluster_->Client();
  EXPECT_ERRNO(WriteInline(*no_session, f, v, v1), EACCES);
  Json no_rid = no_expected;
  no_rid["expected"] = v1;
  no_rid["rid"] = "has spaces";
  EXPECT_ERRNO(c.Call("write_inline", no_rid), EINVAL);
  // None of it touched the file.
  EXPECT_EQ(Attr(c, f), settled);
  // Empty content at the limits still works (an empty file), as does the maximum size.
  ASSERT_TRUE(WriteInline(c, f, v, v1, {{"content", ""}, {"size", 0}}).ok());
  std::string vmax = NewVid();
  auto at_max = WriteInline(c, f, vmax, v, {{"content", std::string(256 * 1024, 'x')}});
  ASSERT_TRUE(at_max.ok()) << at_max.status().ToString();
}

TEST_F(MetaFuseOpsTest, WriteInlineOverShardedVersionQueuesItsChunks) {
  User u = NewUser("inlinegc");
  auto& c = *u.c;
  int64_t f = Ino(c.Call("create", {{"parent", u.root}, {"key", K("f")}, {"name", "n"}}));
  auto b = c.Call("begin_version", {{"ino", f}, {"wrapped_key", "wk"}});
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_TRUE(c.Call("commit_version", {{"ino", f},
                                        {"version", (*b)["version"]},
                                        {"expected", nullptr},
                                        {"size", 4000000},
                                        {"shards", Shards(13)}})
                  .ok());
  EXPECT_EQ((*c.Call("repair_list", Json::object()))["items"].size(), 1u);
  EXPECT_EQ((*c.Call("gc_list", Json::object()))["items"].size(), 0u);
  auto w = WriteInline(c, f, NewVid(), (*b)["version"]);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ((*w)["attr"]["size"], 5);
  auto gc = c.Call("gc_list", Json::object());
  ASSERT_TRUE(gc.ok());
  std::set<std::string> chunks;
  for (const Json& it : (*gc)["items"]) chunks.insert(it["chunk"].get<std::string>());
  std::set<std::string> placed;
  for (const Json& s : (*b)["shards"]) placed.insert(s["chunk"].get<std::string>());
  EXPECT_EQ(chunks, placed);
  EXPECT_EQ((*c.Call("repair_list", Json::object()))["items"].size(), 0u);
  // Unlinking the file drops the inline version with nothing more to collect.
  ASSERT_TRUE(c.Call("unlink", {{"parent", u.root}, {"key", K("f")}}).ok());
  EXPECT_EQ((*c.Call("gc_list", Json::object()))["items"].size(), 14u);
}

TEST_F(MetaFuseOpsTest, ReaddirWithAttrsMatchesGetattr) {
  User u = NewUser("lister");
  auto& c = *u.c;
  int64_t f = Ino(c.Call("create", {{"parent", u.root}, {"key", K("f")}, {"name", "nf"}}));
  ASSERT_TRUE(WriteInline(c, f, NewVid(), nullptr, {{"mtime", 77}}).ok());
  ASSERT_GT(Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("d")}, {"name", "nd"}})), 0);
  ASSERT_GT(Ino(c.Call("symlink",
                       {{"parent", u.root}, {"key", K("l")}, {"name", "nl"}, {"target", "t"}})),
            0);
  ASSERT_GT(Ino(c.Call("create", {{"parent", u.root},
                                  {"key", K("c")},
                                  {"name", "nc"},
                                  {"type", "chr"},
                                  {"rdev", 0x0103}})),
            0);
  ASSERT_TRUE(
      c.Call("link", {{"ino", f}, {"parent", u.root}, {"key", K("h")}, {"name", "nh"}}).ok());

  // Default: no attributes, as before.
  auto plain = c.Call("readdir", {{"ino", u.root}});
  ASSERT_TRUE(plain.ok());
  ASSERT_EQ((*plain)["entries"].size(), 5u);
  for (const Json& e : (*plain)["entries"]) EXPECT_FALSE(e.contains("attr")) << e.dump();
  auto off = c.Call("readdir", {{"ino", u.root}, {"attrs", false}});
  ASSERT_TRUE(off.ok());
  EXPECT_EQ((*off)["entries"], (*plain)["entries"]);

  // attrs: true, in pages of two: every entry carries exactly what getattr says.
  Json cursor = "";
  size_t seen = 0;
  for (int page = 0; page < 5; ++page) {
    auto r =
        c.Call("readdir", {{"ino", u.root}, {"cursor", cursor}, {"limit", 2}, {"attrs", true}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const Json& e : (*r)["entries"]) {
      ++seen;
      ASSERT_TRUE(e.contains("attr")) << e.dump();
      EXPECT_EQ(e["attr"], Attr(c, e["ino"].get<int64_t>())) << e.dump();
      EXPECT_EQ(e["attr"]["ino"], e["ino"]);
      EXPECT_EQ(e["attr"]["type"], e["type"]);
      (*plain)["entries"][seen - 1]["attr"] = e["attr"];
      EXPECT_EQ((*plain)["entries"][seen - 1], e);  // same key, name, ino, type as plain
    }
    if ((*r)["next"].is_null()) break;
    cursor = (*r)["next"];
  }
  EXPECT_EQ(seen, 5u);
  auto hard = c.Call("lookup", {{"parent", u.root}, {"key", K("h")}});
  ASSERT_TRUE(hard.ok());
  EXPECT_EQ((*hard)["attr"]["nlink"], 2);
  EXPECT_EQ((*hard)["attr"]["mtime"], 77);
  EXPECT_FALSE((*hard)["attr"].contains("xattrs"));  // extended attributes: getxattr only

  EXPECT_ERRNO(c.Call("readdir", {{"ino", u.root}, {"attrs", "yes"}}), EINVAL);
  EXPECT_ERRNO(c.Call("readdir", {{"ino", u.root}, {"attrs", 1}}), EINVAL);
  EXPECT_ERRNO(c.Call("readdir", {{"ino", f}, {"attrs", true}}), ENOTDIR);
  User other = NewUser("peeker");
  EXPECT_ERRNO(other.c->Call("readdir", {{"ino", u.root}, {"attrs", true}}), ENOENT);
}

TEST_F(MetaFuseOpsTest, ReaddirPagesStayBoundedWithLongNames) {
  User u = NewUser("longnames");
  auto& c = *u.c;
  constexpr int kFiles = 300;
  const std::string name(4096, 'x');  // the longest sealed name the service takes
  std::set<std::string> want;
  for (int i = 0; i < kFiles; ++i) {
    std::string key = K("x" + std::to_string(i));
    ASSERT_GT(Ino(c.Call("create", {{"parent", u.root}, {"key", key}, {"name", name}})), 0);
    want.insert(key);
  }
  std::set<std::string> got;
  Json cursor = "";
  int pages = 0;
  while (true) {
    auto r =
        c.Call("readdir", {{"ino", u.root}, {"cursor", cursor}, {"limit", 1000}, {"attrs", true}});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ++pages;
    ASSERT_FALSE((*r)["entries"].empty());
    for (const Json& e : (*r)["entries"]) {
      got.insert(e["key"].get<std::string>());
      EXPECT_EQ(e["name"], name);
    }
    EXPECT_LE((*r).dump().size(), 2u << 20);
    if ((*r)["next"].is_null()) break;
    cursor = (*r)["next"];
    ASSERT_LT(pages, kFiles);
  }
  EXPECT_GT(pages, 1);  // 300 x 4 KiB names do not fit the page byte budget
  EXPECT_EQ(got, want);
}

TEST_F(MetaFuseOpsTest, ModesAreKeptExactlyAsGiven) {
  User u = NewUser("modes");
  auto& c = *u.c;
  int i = 0;
  for (int64_t mode : {0151, 02775, 01777, 07777, 0, 0700}) {
    SCOPED_TRACE("mkdir mode " + std::to_string(mode));
    auto d = c.Call(
        "mkdir",
        {{"parent", u.root}, {"key", K("d" + std::to_string(i++))}, {"name", "n"}, {"mode", mode}});
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ((*d)["attr"]["mode"], mode);
    EXPECT_EQ((*d)["attr"]["type"], "dir");
    EXPECT_EQ(Attr(c, Ino(d))["mode"], mode);
  }
  for (int64_t mode : {04755, 02644, 01644, 06711, 0, 0151}) {
    SCOPED_TRACE("create mode " + std::to_string(mode));
    auto f = c.Call(
        "create",
        {{"parent", u.root}, {"key", K("f" + std::to_string(i++))}, {"name", "n"}, {"mode", mode}});
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_EQ((*f)["attr"]["mode"], mode);
    EXPECT_EQ(Attr(c, Ino(f))["mode"], mode);
  }
  // setattr changes permission bits only; the type stays.
  int64_t d = Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("sd")}, {"name", "n"}}));
  auto sd = c.Call("setattr", {{"ino", d}, {"mode", 01777}});
  ASSERT_TRUE(sd.ok());
  EXPECT_EQ((*sd)["attr"]["mode"], 01777);
  EXPECT_EQ((*sd)["attr"]["type"], "dir");
  EXPECT_EQ(Attr(c, d)["type"], "dir");
  auto sd0 = c.Call("setattr", {{"ino", d}, {"mode", 0}});
  ASSERT_TRUE(sd0.ok());
  EXPECT_EQ((*sd0)["attr"]["mode"], 0);
  EXPECT_EQ((*sd0)["attr"]["type"], "dir");
  int64_t sock = Ino(
      c.Call("create", {{"parent", u.root}, {"key", K("so")}, {"name", "n"}, {"type", "socket"}}));
  auto ss = c.Call("setattr", {{"ino", sock}, {"mode", 06000}});
  ASSERT_TRUE(ss.ok());
  EXPECT_EQ((*ss)["attr"]["type"], "socket");
  EXPECT_EQ((*ss)["attr"]["mode"], 06000);
  // Type bits in a mode, negative or non-integer modes are refused everywhere.
  for (const Json& bad :
       {Json(040755), Json(0100644), Json(010000), Json(-1), Json("0755"), Json(0755.0)}) {
    SCOPED_TRACE(bad.dump());
    EXPECT_ERRNO(
        c.Call("mkdir", {{"parent", u.root}, {"key", K("bad")}, {"name", "n"}, {"mode", bad}}),
        EINVAL);
    EXPECT_ERRNO(
        c.Call("create", {{"parent", u.root}, {"key", K("bad")}, {"name", "n"}, {"mode", bad}}),
        EINVAL);
    EXPECT_ERRNO(c.Call("setattr", {{"ino", d}, {"mode", bad}}), EINVAL);
  }
  EXPECT_EQ(Attr(c, d)["mode"], 0);
  EXPECT_ERRNO(c.Call("lookup", {{"parent", u.root}, {"key", K("bad")}}), ENOENT);
}

// POSIX: creating or removing an entry sets the directory's mtime and ctime; link, unlink and
// rename set the ctime of the inode whose link count or parent changed. Each step ages the
// inodes involved (mtime 1, ctime = the setattr's time) so the op's own time shows, and checks
// that everything the op touched carries that one time.
TEST_F(MetaFuseOpsTest, TimestampsChangeWhenPosixSaysSo) {
  User u = NewUser("clocks");
  auto& c = *u.c;
  int64_t a = Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("a")}, {"name", "n"}}));
  int64_t b = Ino(c.Call("mkdir", {{"parent", u.root}, {"key", K("b")}, {"name", "n"}}));
  auto op_time = [&](int64_t dir) {
    Json d = Attr(c, dir);
    EXPECT_NE(d["mtime"], 1) << "directory mtime not updated";
    EXPECT_EQ(d["mtime"], d["ctime"]) << "directory mtime and ctime not set by the same op";
    return d["mtime"].get<int64_t>();
  };

  Age(c, a);
  auto f = c.Call("create", {{"parent", a}, {"key", K("f")}, {"name", "n"}});
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(op_time(a), (*f)["attr"]["ctime"]);
  EXPECT_EQ((*f)["attr"]["mtime"], (*f)["attr"]["ctime"]);
  int64_t file = Ino(f);

  Age(c, a);
  auto sub = c.Call("mkdir", {{"parent", a}, {"key", K("sub")}, {"name", "n"}});
  ASSERT_TRUE(sub.ok());
  EXPECT_EQ(op_time(a), (*sub)["attr"]["ctime"]);

  Age(c, a);
  auto sl = c.Call("symlink", {{"parent", a}, {"key", K("sl")}, {"name", "n"}, {"target", "t"}});
  ASSERT_TRUE(sl.ok());
  EXPECT_EQ(op_time(a), (*sl)["attr"]["ctime"]);

  // A failed op changes nothing.
  Age(c, a);
  EXPECT_ERRNO(c.Call("create", {{"parent", a}, {"key", K("f")}, {"name", "n"}}), EEXIST);
  EXPECT_EQ(Attr(c, a)["mtime"], 1);

  // link: the new parent and the target's ctime (not its mtime).
  Age(c, b);
  Age(c, file);
  auto ln = c.Call("link", {{"ino", file}, {"parent", b}, {"key", K("hard")}, {"name", "n"}});
  ASSERT_TRUE(ln.ok());
  int64_t t = op_time(b);
  EXPECT_EQ((*ln)["attr"]["ctime"], t);
  EXPECT_EQ(Attr(c, file)["mtime"], 1);

  // unlink of one of two links: the parent, and the surviving inode's ctime.
  Age(c, b);
  Age(c, file);
  ASSERT_TRUE(c.Call("unlink", {{"parent", b}, {"key", K("hard")}}).ok());
  t = op_time(b);
  Json fa = Attr(c, file);
  EXPECT_EQ(fa["ctime"], t);
  EXPECT_EQ(fa["nlink"], 1);
  EXPECT_EQ(fa["mtime"], 1);

  // rename across directories: both parents, and the moved inode's ctime (mtime untouched).
  Age(c, a);
  Age(c, b);
  Age(c, file);
  ASSERT_TRUE(c.Call("rename", {{"parent", a},
                                {"key", K("f")},
                                {"new_parent", b},
                                {"new_key", K("f2")},
                                {"new_name", "n"}})
                  .ok());
  t = op_time(a);
  EXPECT_EQ(op_time(b), t);
  fa = Attr(c, file);
  EXPECT_EQ(fa["ctime"], t);
  EXPECT_EQ(fa["mtime"], 1);

  // rename within one directory over a file that keeps another link: that inode's ctime too.
  int64_t victim = Ino(c.Call("create", {{"parent", b}, {"key", K("v")}, {"name", "n"}}));
  ASSERT_TRUE(
      c.Call("link", {{"ino", victim}, {"parent", a}, {"key", K("v2")}, {"name", "n"}}).ok());
  Age(c, a);
  Age(c, b);
  Age(c, file);
  Age(c, victim);
  ASSERT_TRUE(c.Call("rename", {{"parent", b},
                                {"key", K("f2")},
                                {"new_parent", b},
                                {"new_key", K("v")},
                                {"new_name", "n"}})
                  .ok());
  t = op_time(b);
  EXPECT_EQ(Attr(c, file)["ctime"], t);
  Json va = Attr(c, victim);
  EXPECT_EQ(va["ctime"], t);
  EXPECT_EQ(va["nlink"], 1);
  EXPECT_EQ(Attr(c, a)["mtime"], 1);  // the other directory was not involved

  // RENAME_EXCHANGE across directories: both parents and both inodes.
  Age(c, a);
  Age(c, b);
  Age(c, file);
  Age(c, victim);
  ASSERT_TRUE(c.Call("rename", {{"parent", b},
                                {"key", K("v")},
                                {"new_parent", a},
                                {"new_key", K("v2")},
                                {"new_name", "n"},
                                {"flags", 2}})
                  .ok());
  t = op_time(a);
  EXPECT_EQ(op_time(b), t);
  EXPECT_EQ(Attr(c, file)["ctime"], t);
  EXPECT_EQ(Attr(c, victim)["ctime"], t);

  // rmdir and the last unlink: the parent.
  Age(c, a);
  ASSERT_TRUE(c.Call("rmdir", {{"parent", a}, {"key", K("sub")}}).ok());
  op_time(a);
  Age(c, a);
  ASSERT_TRUE(c.Call("unlink", {{"parent", a}, {"key", K("sl")}}).ok());
  op_time(a);
  // A directory moved to another parent gets a new ctime too (its ".." changed).
  int64_t moved = Ino(c.Call("mkdir", {{"parent", a}, {"key", K("m")}, {"name", "n"}}));
  Age(c, a);
  Age(c, b);
  Age(c, moved);
  ASSERT_TRUE(c.Call("rename", {{"parent", a},
                                {"key", K("m")},
                                {"new_parent", b},
                                {"new_key", K("m")},
                                {"new_name", "n"}})
                  .ok());
  t = op_time(a);
  EXPECT_EQ(op_time(b), t);
  EXPECT_EQ(Attr(c, moved)["ctime"], t);
}

// Names are sealed for the inode their entry points at (src/crypto/name_cipher.h), so the
// client picks the numbers of new directories and symlinks too, and rename checks that the
// entries still point at the inodes the client sealed the moved names for.
TEST_F(MetaFuseOpsTest, MkdirSymlinkTakeReservedInodesAndRenameChecksTheSealedInodes) {
  User u = NewUser("sealer");
  auto& c = *u.c;
  auto r = c.Call("reserve_inodes", {{"count", 8}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const int64_t first = (*r)["first"];
  Json d = {{"parent", u.root}, {"key", K("d")}, {"name", "nd"}, {"ino", first}};
  EXPECT_EQ(Ino(c.Call("mkdir", d)), first);
  EXPECT_EQ(Ino(c.Call("mkdir", d)), first);  // a retry whose reply was lost
  Json d2 = d;
  d2["key"] = K("d2");
  EXPECT_ERRNO(c.Call("mkdir", d2), EEXIST);  // the number is taken
  d2["ino"] = first + 100;
  EXPECT_ERRNO(c.Call("mkdir", d2), EINVAL);  // not reserved
  Json sl = {
      {"parent", u.root}, {"key", K("s")}, {"name", "ns"}, {"target", "t"}, {"ino", first + 1}};
  EXPECT_EQ(Ino(c.Call("symlink", sl)), first + 1);
  EXPECT_EQ(Ino(c.Call("symlink", sl)), first + 1);
  Json sl2 = sl;
  sl2["ino"] = first + 2;
  EXPECT_ERRNO(c.Call("symlink", sl2), EEXIST);  // the name is taken

  int64_t file = Ino(c.Call("create", {{"parent", u.root}, {"key", K("f")}, {"name", "nf"}}));
  Json mv = {{"parent", u.root},  {"key", K("f")},    {"new_parent", first},
             {"new_key", K("g")}, {"new_name", "ng"}, {"ino", first + 1}};
  EXPECT_ERRNO(c.Call("rename", mv), ESTALE);  // "f" is not the symlink
  mv["ino"] = file;
  ASSERT_TRUE(c.Call("rename", mv).ok());
  auto lg = c.Call("lookup", {{"parent", first}, {"key", K("g")}});
  ASSERT_TRUE(lg.ok());
  EXPECT_EQ((*lg)["name"], "ng");
  EXPECT_EQ(Ino(lg), file);

  // EXCHANGE: both entries keep their keys and get the names sealed for their new inodes.
  Json ex = {{"parent", first},   {"key", K("g")},       {"new_parent", u.root},
             {"new_key", K("s")}, {"new_name", "ns->f"}, {"name", "ng->s"},
             {"ino", file},       {"new_ino", file},     {"flags", 2}};
  EXPECT_ERRNO(c.Call("rename", ex), ESTALE);  // "s" is not the file
  ex["new_ino"] = first + 1;
  ASSERT_TRUE(c.Call("rename", ex).ok());
  auto lg2 = c.Call("lookup", {{"parent", first}, {"key", K("g")}});
  ASSERT_TRUE(lg2.ok());
  EXPECT_EQ(Ino(lg2), first + 1);
  EXPECT_EQ((*lg2)["name"], "ng->s");
  auto ls = c.Call("lookup", {{"parent", u.root}, {"key", K("s")}});
  ASSERT_TRUE(ls.ok());
  EXPECT_EQ(Ino(ls), file);
  EXPECT_EQ((*ls)["name"], "ns->f");
}

}  // namespace
}  // namespace vaultfs::testing
