// File data bookkeeping: versions and their shard placement (DESIGN.md §3), data-server state,
// and the repair and garbage-collection queues. A version is `pending` from begin_version until
// commit_version switches the inode to it by compare-and-swap on the inode's current version;
// the replaced version's chunks go to the GC queue and its rows are dropped. A committed version
// with missing or corrupt shards sits in the repair queue until repair_done. write_inline is the
// small-file fast path: begin + commit of an inline version in one log entry, with a version id
// the client chose (it seals the content bound to that id before sending).
#include <algorithm>
#include <set>

#include "servers/meta/store_ops.h"
#include "src/common/json_parse.h"

namespace vaultfs::meta {
namespace {

constexpr size_t kMaxInline = 256 * 1024;  // encoded sealed content of a small file
constexpr size_t kMaxWrappedKey = 1024;
constexpr int kMaxShards = 64;
constexpr size_t kClientVersionIdLen = 32;  // 16 random bytes in lowercase hex

void CheckHexId(const std::string& s, const char* what) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      throw OpError{EINVAL, std::string(what) + " must be lowercase hex"};
    }
  }
}

struct VersionRow {
  int64_t inode = 0;
  std::string owner;
  std::string state;
  int64_t k = 0, m = 0;
  bool is_inline = false;
};

std::optional<VersionRow> FindVersion(SqliteDb& db, const std::string& id) {
  Stmt st =
      db.Prepare("SELECT inode, owner, state, k, m, inline IS NOT NULL FROM versions WHERE id=?1");
  st.Bind(1, id);
  if (!st.Step()) return std::nullopt;
  return VersionRow{st.Int(0), st.Text(1), st.Text(2), st.Int(3), st.Int(4), st.Int(5) != 0};
}

// Content versions belong to regular files only.
void CheckRegularFile(const StoreOps::Inode& n) {
  if (n.type != "file") throw OpError{n.type == "dir" ? EISDIR : EINVAL, "not a regular file"};
}

// The `expected` field of a compare-and-swap commit: required, but may be null.
std::optional<std::string> ExpectedVersion(const Args& a) {
  if (!a.json().is_object() || !a.json().contains("expected")) {
    throw OpError{EINVAL, "missing field 'expected' (current version id, or null)"};
  }
  return a.OptStr("expected", 64);
}

std::string AddressOf(const ClusterConfig& cfg, int64_t server) {
  const DataNodeConfig* d = cfg.FindData(static_cast<uint64_t>(server));
  return d ? d->address.ToString() : std::string();
}

int64_t VersionSize(SqliteDb& db, const std::optional<std::string>& id) {
  if (!id) return 0;
  Stmt st = db.Prepare("SELECT size FROM versions WHERE id=?1");
  st.Bind(1, *id);
  return st.Step() ? st.Int(0) : 0;
}

}  // namespace

// Storage accounting: the `usage` table holds each owner's sum of version sizes (plaintext
// bytes, committed and pending: a pending version counts the size its begin_version
// declared), kept by triggers on `versions` (meta_store.cc). A quota comes from `quotas`
// (set_quota) or, without a row there, from the leader's --default-quota, which it puts in
// the entry (gen "default_quota") so every node decides alike. Only growth is refused.
int64_t StoreOps::UsedBytes(const std::string& owner) {
  Stmt st = db_.Prepare("SELECT bytes FROM usage WHERE owner=?1");
  st.Bind(1, owner);
  return st.Step() ? st.Int(0) : 0;
}

std::optional<int64_t> StoreOps::QuotaOf(const std::string& owner) {
  Stmt st = db_.Prepare("SELECT bytes FROM quotas WHERE owner=?1");
  st.Bind(1, owner);
  if (!st.Step()) return std::nullopt;
  return st.Int(0);
}

void StoreOps::CheckQuota(int64_t before, int64_t after, const Args& gen) {
  if (after <= before) return;
  const int64_t quota =
      QuotaOf(user_).value_or(gen.OptInt("default_quota", 0, INT64_MAX).value_or(0));
  if (quota > 0 && after > quota) {
    throw OpError{EDQUOT, "storage quota exceeded: " + std::to_string(after) + " bytes of " +
                              std::to_string(quota) + " allowed; delete files to make room"};
  }
}

// A cluster operator's per-user limit (bytes; 0 = none for this user). Without "bytes" the
// user falls back to the default quota.
Json StoreOps::SetQuota(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "set_quota needs a cluster session"};
  std::string name = a.Str("user", 256);
  Stmt u = db_.Prepare("SELECT id FROM users WHERE name=?1");
  u.Bind(1, name);
  if (!u.Step()) throw OpError{ENOENT, "no user " + name};
  const std::string id = u.Text(0);
  if (auto bytes = a.OptInt("bytes", 0, INT64_MAX)) {
    Stmt st = db_.Prepare("INSERT OR REPLACE INTO quotas(owner, bytes) VALUES(?1,?2)");
    st.Bind(1, id).Bind(2, *bytes).Run();
  } else {
    Stmt st = db_.Prepare("DELETE FROM quotas WHERE owner=?1");
    st.Bind(1, id).Run();
  }
  std::optional<int64_t> q = QuotaOf(id);
  return Json{{"user_id", id},
              {"used_bytes", UsedBytes(id)},
              {"quota_bytes", q ? Json(*q) : Json(nullptr)}};
}

void StoreOps::DeleteVersions(int64_t ino, const std::optional<std::string>& only_version) {
  std::vector<std::string> ids;
  if (only_version) {
    ids.push_back(*only_version);
  } else {
    Stmt st = db_.Prepare("SELECT id FROM versions WHERE inode=?1 ORDER BY id");
    st.Bind(1, ino);
    while (st.Step()) ids.push_back(st.Text(0));
  }
  for (const std::string& v : ids) {
    Stmt q = db_.Prepare(
        "INSERT INTO gc_queue(owner, server, chunk, enqueued) SELECT v.owner, s.server, s.chunk, "
        "?2 FROM shards s JOIN versions v ON v.id=s.version WHERE s.version=?1 ORDER BY s.idx");
    q.Bind(1, v).Bind(2, now_).Run();
    Stmt d1 = db_.Prepare("DELETE FROM shards WHERE version=?1");
    d1.Bind(1, v).Run();
    Stmt d2 = db_.Prepare("DELETE FROM repair_queue WHERE version=?1");
    d2.Bind(1, v).Run();
    Stmt d3 = db_.Prepare("DELETE FROM versions WHERE id=?1");
    d3.Bind(1, v).Run();
  }
}

// The pending version `vid` of `n`, or why not. A version this inode no longer has was
// expired by the repairer (expire_pending): ETIME, distinct from ENOENT (the inode is gone),
// so a writer knows to upload again instead of dropping its data.
void StoreOps::PendingVersion(const Inode& n, const std::string& vid) {
  auto v = FindVersion(db_, vid);
  // Another user's version answers like one that is gone.
  if (!v || v->owner != user_) {
    throw OpError{ETIME, "pending version " + vid + " of inode " + std::to_string(n.id) +
                             " expired (not renewed within the pending grace); begin a new "
                             "version and upload again"};
  }
  if (v->inode != n.id) {
    throw OpError{ENOENT, "no pending version " + vid + " for this inode"};
  }
  if (v->state != "pending") throw OpError{EINVAL, "version " + vid + " is already committed"};
}

// A writer still uploading keeps its pending version from expiring: expire_pending counts a
// version's age from its last renewal. The reply lists the version's chunk ids, from which the
// service makes a fresh write token of the same scope (MetaService::Finish).
Json StoreOps::RenewPending(const Args& a) {
  Inode n = LoadInode(a.Ino("ino"));
  std::string vid = a.Str("version", 64);
  PendingVersion(n, vid);
  Stmt st = db_.Prepare("UPDATE versions SET created=?1 WHERE id=?2");
  st.Bind(1, now_).Bind(2, vid).Run();
  Json chunks = Json::array();
  Stmt sh = db_.Prepare("SELECT chunk FROM shards WHERE version=?1 ORDER BY idx");
  sh.Bind(1, vid);
  while (sh.Step()) chunks.push_back(sh.Text(0));
  return Json{{"version", vid}, {"chunks", std::move(chunks)}};
}

Json StoreOps::BeginVersion(const Args& a, const Args& gen) {
  Inode n = FileForWrite(a);
  CheckRegularFile(n);
  int64_t segment_size =
      a.OptInt("segment_size", 4096, 64 << 20).value_or(store_->config().segment_size);
  int64_t k = a.OptInt("k", 1, 32).value_or(store_->config().k);
  int64_t m = a.OptInt("m", 0, 32).value_or(store_->config().m);
  // The wrapped file key may come now or with commit_version: clients bind it to the
  // version id, which they learn only from this reply.
  std::string wrapped = a.OptStr("wrapped_key", kMaxWrappedKey).value_or("");
  bool is_inline = a.Bool("inline", false);
  // The size the client means to store: charged to its usage while the version is pending.
  const int64_t declared = a.OptInt("size", 0, INT64_MAX).value_or(0);
  const int64_t used = UsedBytes(user_);
  CheckQuota(used, used + declared, gen);
  std::string id = gen.Str("version", 64);
  CheckHexId(id, "version id");
  const Json& placed = gen.Array("shards", kMaxShards);
  if (!is_inline && static_cast<int64_t>(placed.size()) != k + m) {
    throw OpError{EINVAL, "placement does not match k+m"};
  }
  Stmt ins = db_.Prepare(
      "INSERT INTO versions(id, inode, owner, size, segment_size, k, m, wrapped_key, state, "
      "inline, created) VALUES(?1,?2,?3,?10,?4,?5,?6,?7,'pending',?8,?9)");
  ins.Bind(1, id).Bind(2, n.id).Bind(3, user_).Bind(4, segment_size).Bind(5, k).Bind(6, m);
  ins.Bind(10, declared);
  ins.Bind(7, wrapped).Bind(8, is_inline ? std::optional<std::string>("") : std::nullopt);
  ins.Bind(9, now_).Run();
  Json shards = Json::array();
  for (const Json& p : placed) {
    Args s(p);
    int64_t idx = s.Int("index", 0, kMaxShards - 1);
    int64_t server = s.Int("server", 1, INT64_MAX);
    std::string chunk = s.Str("chunk", 64);
    Stmt sh = db_.Prepare(
        "INSERT INTO shards(version, idx, server, chunk, root, state) "
        "VALUES(?1,?2,?3,?4,NULL,'pending')");
    sh.Bind(1, id).Bind(2, idx).Bind(3, server).Bind(4, chunk).Run();
    shards.push_back({{"index", idx}, {"server", server}, {"chunk", chunk}});
  }
  return Json{{"version", id},
              {"k", k},
              {"m", m},
              {"segment_size", segment_size},
              {"inline", is_inline},
              {"shards", std::move(shards)}};
}

Json StoreOps::CommitVersion(const Args& a, const Args& gen) {
  Inode n = LoadInode(a.Ino("ino"));
  std::string vid = a.Str("version", 64);
  std::optional<std::string> expected = ExpectedVersion(a);
  int64_t size = a.Int("size", 0, INT64_MAX);
  AttrChanges attrs = ParseAttrChanges(a);
  int64_t quorum = gen.Int("quorum", 1, kMaxShards);
  PendingVersion(n, vid);
  auto v = FindVersion(db_, vid);
  if (n.version != expected) {
    throw OpError{ESTALE, "the file changed since this version began (compare-and-swap failed)"};
  }
  {
    // The replaced version goes, the pending one takes its real size.
    const int64_t used = UsedBytes(user_);
    CheckQuota(used, used - VersionSize(db_, n.version) - VersionSize(db_, vid) + size, gen);
  }
  if (v->is_inline) {
    std::string content = a.Str("content", kMaxInline, true);
    Stmt st = db_.Prepare("UPDATE versions SET inline=?1 WHERE id=?2");
    st.Bind(1, content).Bind(2, vid).Run();
  } else {
    const Json& shards = a.Array("shards", kMaxShards);
    if (static_cast<int64_t>(shards.size()) != v->k + v->m) {
      throw OpError{EINVAL, "commit needs one entry per shard (k+m)"};
    }
    int64_t ok = 0, missing = 0;
    std::set<int64_t> seen;
    for (const Json& j : shards) {
      Args s(j);
      int64_t idx = s.Int("index", 0, v->k + v->m - 1);
      if (!seen.insert(idx).second) throw OpError{EINVAL, "duplicate shard index"};
      std::string state = s.Str("state", 16);
      std::optional<std::string> root;
      if (state == "ok") {
        root = s.Str("root", 128);
        CheckHexId(*root, "shard root");
        ++ok;
      } else if (state == "missing") {
        ++missing;
      } else {
        throw OpError{EINVAL, "shard state must be ok or missing"};
      }
      Stmt st = db_.Prepare("UPDATE shards SET root=?1, state=?2 WHERE version=?3 AND idx=?4");
      st.Bind(1, root).Bind(2, state).Bind(3, vid).Bind(4, idx).Run();
    }
    int64_t need = std::min<int64_t>(std::max<int64_t>(quorum, v->k), v->k + v->m);
    if (ok < need) {
      throw OpError{EIO, "only " + std::to_string(ok) +
                             " shards are durable, the write quorum is " + std::to_string(need)};
    }
    if (missing > 0) {
      Stmt rq = db_.Prepare(
          "INSERT OR IGNORE INTO repair_queue(version, owner, enqueued) VALUES(?1,?2,?3)");
      rq.Bind(1, vid).Bind(2, user_).Bind(3, now_).Run();
    }
  }
  if (auto wrapped = a.OptStr("wrapped_key", kMaxWrappedKey)) {
    Stmt wk = db_.Prepare("UPDATE versions SET wrapped_key=?1 WHERE id=?2");
    wk.Bind(1, *wrapped).Bind(2, vid).Run();
  }
  {
    Stmt wk = db_.Prepare("SELECT wrapped_key FROM versions WHERE id=?1");
    wk.Bind(1, vid);
    if (!wk.Step() || wk.Text(0).empty()) {
      throw OpError{EINVAL, "missing field 'wrapped_key' (the version's wrapped file key)"};
    }
  }
  return SwitchVersion(n, vid, size, attrs);
}

Json StoreOps::SwitchVersion(const Inode& n, const std::string& vid, int64_t size,
                             const AttrChanges& attrs) {
  if (n.version) DeleteVersions(n.id, n.version);
  Stmt st = db_.Prepare("UPDATE versions SET state='committed', size=?1 WHERE id=?2");
  st.Bind(1, size).Bind(2, vid).Run();
  Stmt in = db_.Prepare(
      "UPDATE inodes SET version=?1, size=?2, mtime=?3, ctime=?4, atime=?5, mode=?6, uid=?7, "
      "gid=?8 WHERE id=?9");
  in.Bind(1, vid).Bind(2, size).Bind(3, attrs.mtime.value_or(now_)).Bind(4, now_);
  in.Bind(5, attrs.atime.value_or(n.atime)).Bind(6, attrs.mode.value_or(n.mode));
  in.Bind(7, attrs.uid.value_or(n.uid)).Bind(8, attrs.gid.value_or(n.gid)).Bind(9, n.id).Run();
  return Json{{"attr", InodeJson(LoadInode(n.id))}};
}

// Equivalent to begin_version(inline) + commit_version, in one entry: the version row ends up
// exactly as those two would leave it (config k, m and segment size; created = now).
Json StoreOps::WriteInline(const Args& a, const Args& gen) {
  Inode n = FileForWrite(a);
  CheckRegularFile(n);
  std::string vid = a.Str("version", kClientVersionIdLen);
  CheckHexId(vid, "version id");
  if (vid.size() != kClientVersionIdLen) {
    throw OpError{EINVAL, "version id must be 32 lowercase hex characters"};
  }
  std::optional<std::string> expected = ExpectedVersion(a);
  int64_t size = a.Int("size", 0, INT64_MAX);
  std::string content = a.Str("content", kMaxInline, true);
  std::string wrapped = a.Str("wrapped_key", kMaxWrappedKey);
  AttrChanges attrs = ParseAttrChanges(a);
  if (FindVersion(db_, vid)) throw OpError{EEXIST, "a version " + vid + " already exists"};
  if (n.version != expected) {
    throw OpError{ESTALE, "the file changed since this write began (compare-and-swap failed)"};
  }
  {
    const int64_t used = UsedBytes(user_);
    CheckQuota(used, used - VersionSize(db_, n.version) + size, gen);
  }
  const ClusterConfig& cfg = store_->config();
  Stmt ins = db_.Prepare(
      "INSERT INTO versions(id, inode, owner, size, segment_size, k, m, wrapped_key, state, "
      "inline, created) VALUES(?1,?2,?3,0,?4,?5,?6,?7,'pending',?8,?9)");
  ins.Bind(1, vid).Bind(2, n.id).Bind(3, user_).Bind(4, int64_t(cfg.segment_size));
  ins.Bind(5, int64_t(cfg.k)).Bind(6, int64_t(cfg.m)).Bind(7, wrapped).Bind(8, content);
  ins.Bind(9, now_).Run();
  return SwitchVersion(n, vid, size, attrs);
}

Json StoreOps::GetVersion(const Args& a) {
  Inode n = LoadInode(a.Ino("ino"));
  std::optional<std::string> vid = a.OptStr("version", 64);
  if (!vid) vid = n.version;
  if (!vid) throw OpError{ENOENT, "the file has no content version yet"};
  Stmt st = db_.Prepare(
      "SELECT inode, owner, size, segment_size, k, m, wrapped_key, state, inline FROM versions "
      "WHERE id=?1");
  st.Bind(1, *vid);
  if (!st.Step() || st.Int(0) != n.id || st.Text(1) != user_) {
    throw OpError{ENOENT, "no version " + *vid + " for this inode"};
  }
  Json out = {{"version", *vid},     {"size", st.Int(2)},      {"segment_size", st.Int(3)},
              {"k", st.Int(4)},      {"m", st.Int(5)},         {"wrapped_key", st.Text(6)},
              {"state", st.Text(7)}, {"inline", !st.IsNull(8)}};
  if (!st.IsNull(8)) out["content"] = st.Text(8);
  Json shards = Json::array();
  Stmt sh = db_.Prepare(
      "SELECT idx, server, chunk, root, state FROM shards WHERE version=?1 ORDER BY idx");
  sh.Bind(1, *vid);
  while (sh.Step()) {
    shards.push_back({{"index", sh.Int(0)},
                      {"server", sh.Int(1)},
                      {"address", AddressOf(store_->config(), sh.Int(1))},
                      {"chunk", sh.Text(2)},
                      {"root", sh.IsNull(3) ? Json(nullptr) : Json(sh.Text(3))},
                      {"state", sh.Text(4)}});
  }
  out["shards"] = std::move(shards);
  return out;
}

Json StoreOps::ReportShard(const Args& a) {
  std::string vid = a.Str("version", 64);
  int64_t idx = a.Int("index", 0, kMaxShards - 1);
  std::string state = a.Str("state", 16);
  if (state != "missing" && state != "corrupt") {
    throw OpError{EINVAL, "shard state must be missing or corrupt"};
  }
  auto v = FindVersion(db_, vid);
  // Another user's version answers like a missing one.
  if (!v || (v->owner != user_ && !IsCluster())) throw OpError{ENOENT, "no version " + vid};
  Stmt st = db_.Prepare("UPDATE shards SET state=?1 WHERE version=?2 AND idx=?3");
  st.Bind(1, state).Bind(2, vid).Bind(3, idx).Run();
  if (db_.Changes() == 0) throw OpError{ENOENT, "no such shard"};
  if (v->state == "committed") {
    Stmt rq = db_.Prepare(
        "INSERT OR IGNORE INTO repair_queue(version, owner, enqueued) VALUES(?1,?2,?3)");
    rq.Bind(1, vid).Bind(2, v->owner).Bind(3, now_).Run();
  }
  return Json::object();
}

Json StoreOps::ReportServer(const Args& a) {
  // Placement and every user's statfs trust this state: the cluster's session only.
  if (!IsCluster()) throw OpError{EACCES, "report_server needs a cluster session"};
  int64_t id = a.Int("server", 1, INT64_MAX);
  if (!store_->config().FindData(static_cast<uint64_t>(id))) {
    throw OpError{ENOENT, "no data server " + std::to_string(id) + " in cluster.json"};
  }
  std::optional<std::string> state = a.OptStr("state", 16);
  if (state && *state != "up" && *state != "down" && *state != "draining" && *state != "lost") {
    throw OpError{EINVAL, "server state must be up, down, draining or lost"};
  }
  std::optional<std::string> storage_id = a.OptStr("storage_id", 64);
  if (storage_id) {
    if (storage_id->empty()) throw OpError{EINVAL, "storage_id must not be empty"};
    CheckHexId(*storage_id, "storage_id");
  }
  auto capacity = a.OptInt("capacity", 0, INT64_MAX);
  auto free = a.OptInt("free", 0, INT64_MAX);
  std::string cur_state = "up";
  int64_t cur_cap = 0, cur_free = 0;
  Stmt st = db_.Prepare("SELECT state, capacity, free FROM servers WHERE id=?1");
  st.Bind(1, id);
  if (st.Step()) {
    cur_state = st.Text(0);
    cur_cap = st.Int(1);
    cur_free = st.Int(2);
  }
  bool lose = state && *state == "lost" && cur_state != "lost";
  if (storage_id) {
    // A server whose storage folder has a new identity was wiped (or replaced by an empty
    // one): nothing it held before is there any more.
    Stmt cur = db_.Prepare("SELECT storage_id FROM server_storage WHERE id=?1");
    cur.Bind(1, id);
    if (cur.Step() && cur.Text(0) != *storage_id) lose = true;
    Stmt set = db_.Prepare("INSERT OR REPLACE INTO server_storage(id, storage_id) VALUES(?1,?2)");
    set.Bind(1, id).Bind(2, *storage_id).Run();
  }
  if (lose) {
    QueueServerShards(id, /*mark_missing=*/true);
  } else if (state && *state == "draining" && cur_state != "draining") {
    // Its shards stay readable while the repairer copies them elsewhere.
    QueueServerShards(id, /*mark_missing=*/false);
  }
  Stmt up = db_.Prepare(
      "INSERT OR REPLACE INTO servers(id, state, capacity, free, last_seen) "
      "VALUES(?1,?2,?3,?4,?5)");
  up.Bind(1, id).Bind(2, state.value_or(cur_state)).Bind(3, capacity.value_or(cur_cap));
  up.Bind(4, free.value_or(cur_free)).Bind(5, now_).Run();
  return Json{{"lost_shards", lose}};
}

void StoreOps::QueueServerShards(int64_t server, bool mark_missing) {
  Stmt rq = db_.Prepare(
      "INSERT OR IGNORE INTO repair_queue(version, owner, enqueued) "
      "SELECT DISTINCT s.version, v.owner, ?2 FROM shards s JOIN versions v ON v.id=s.version "
      "WHERE s.server=?1 AND v.state='committed'");
  rq.Bind(1, server).Bind(2, now_).Run();
  if (!mark_missing) return;
  Stmt mark = db_.Prepare("UPDATE shards SET state='missing' WHERE server=?1 AND state!='missing'");
  mark.Bind(1, server).Run();
}

Json StoreOps::ServerList() {
  Json out = Json::array();
  for (const DataNodeConfig& d : store_->config().data) {
    Json s = {{"id", d.id},    {"address", d.address.ToString()},
              {"state", "up"}, {"capacity", 0},
              {"free", 0},     {"last_seen", 0}};
    Stmt st = db_.Prepare("SELECT state, capacity, free, last_seen FROM servers WHERE id=?1");
    st.Bind(1, int64_t(d.id));
    if (st.Step()) {
      s["state"] = st.Text(0);
      s["capacity"] = st.Int(1);
      s["free"] = st.Int(2);
      s["last_seen"] = st.Int(3);
    }
    out.push_back(std::move(s));
  }
  return Json{{"data", std::move(out)}};
}

Json StoreOps::ClusterMap() {
  Json out = ServerList();
  Stmt st = db_.Prepare("SELECT count(*) FROM repair_queue");
  out["repair_queue"] = st.Step() ? st.Int(0) : 0;
  out["repair"] = nullptr;
  out["scrub_requested"] = 0;
  Stmt r = db_.Prepare("SELECT key, value FROM reports");
  while (r.Step()) {
    if (r.Text(0) == "repair") {
      auto repair = ParseJson(r.Text(1));
      if (repair.ok()) out["repair"] = std::move(*repair);
    } else if (r.Text(0) == "scrub_requested") {
      out["scrub_requested"] = std::stoll(r.Text(1));
    }
  }
  return out;
}

// The repairer's progress (what `vaultfs status` shows), replacing the previous report.
Json StoreOps::ReportRepair(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "report_repair needs a cluster session"};
  const Json& stats = a.Object("stats");
  std::string text = stats.dump();
  if (text.size() > 64 * 1024) throw OpError{EINVAL, "stats larger than 64 KiB"};
  Stmt st = db_.Prepare("INSERT OR REPLACE INTO reports(key, value) VALUES('repair', ?1)");
  st.Bind(1, text).Run();
  return Json::object();
}

// Asks the repairer for a full scrub pass (`vaultfs scrub`); it compares this time with the
// start of its last pass.
Json StoreOps::RequestScrub(const Args&) {
  Stmt st = db_.Prepare("INSERT OR REPLACE INTO reports(key, value) VALUES('scrub_requested', ?1)");
  st.Bind(1, std::to_string(now_)).Run();
  return Json{{"requested_at", now_}};
}

Json StoreOps::Statfs(const Args&) {
  Json servers = ServerList()["data"];
  int64_t total = 0, free = 0, up = 0;
  for (const Json& s : servers) {
    if (s["state"] != "up") continue;
    ++up;
    total += s["capacity"].get<int64_t>();
    free += s["free"].get<int64_t>();
  }
  int64_t inodes = 0;
  Stmt st = db_.Prepare("SELECT count(*) FROM inodes WHERE owner=?1");
  st.Bind(1, user_);
  if (st.Step()) inodes = st.Int(0);
  // Erasure coding stores (k+m)/k bytes per user byte; report usable space.
  const ClusterConfig& cfg = store_->config();
  int64_t usable_total = total / (cfg.k + cfg.m) * cfg.k;
  int64_t usable_free = free / (cfg.k + cfg.m) * cfg.k;
  std::optional<int64_t> quota = QuotaOf(user_);
  return Json{{"total_bytes", usable_total},
              {"used_bytes", UsedBytes(user_)},
              // null: the service fills in its default quota (0 = none)
              {"quota_bytes", quota ? Json(*quota) : Json(nullptr)},
              {"free_bytes", usable_free},
              {"raw_total_bytes", total},
              {"raw_free_bytes", free},
              {"servers_up", up},
              {"servers", servers.size()},
              {"inodes", inodes}};
}

Json StoreOps::GcList(const Args& a) {
  int64_t limit = a.OptInt("limit", 1, 1000).value_or(100);
  // A grace period keeps replaced versions readable for a while by clients that opened them.
  int64_t older_than_s = a.OptInt("older_than_s", 0, INT64_MAX / 1000000000).value_or(0);
  // A cursor: items that can't be deleted yet (their server is down) must not hide the rest.
  int64_t after = a.OptInt("after", 0, INT64_MAX).value_or(0);
  Stmt st = db_.Prepare(
      "SELECT seq, owner, server, chunk FROM gc_queue WHERE (owner=?1 OR ?2) AND enqueued<=?4 "
      "AND seq>?5 ORDER BY seq LIMIT ?3");
  st.Bind(1, user_).Bind(2, IsCluster() ? 1 : 0).Bind(3, limit);
  st.Bind(4, now_ - older_than_s * 1000000000).Bind(5, after);
  Json items = Json::array();
  while (st.Step()) {
    items.push_back({{"seq", st.Int(0)},
                     {"owner", st.Text(1)},
                     {"server", st.Int(2)},
                     {"address", AddressOf(store_->config(), st.Int(2))},
                     {"chunk", st.Text(3)}});
  }
  return Json{{"items", std::move(items)}};
}

Json StoreOps::GcDone(const Args& a) {
  const Json& seqs = a.Array("seqs", 1000);
  int64_t removed = 0;
  for (const Json& j : seqs) {
    if (!j.is_number_integer()) throw OpError{EINVAL, "seqs must hold integers"};
    Stmt st = db_.Prepare("DELETE FROM gc_queue WHERE seq=?1 AND (owner=?2 OR ?3)");
    st.Bind(1, j.get<int64_t>()).Bind(2, user_).Bind(3, IsCluster() ? 1 : 0).Run();
    removed += db_.Changes();
  }
  return Json{{"removed", removed}};
}

Json StoreOps::RepairList(const Args& a) {
  int64_t limit = a.OptInt("limit", 1, 1000).value_or(100);
  Stmt st = db_.Prepare(
      "SELECT r.version, v.inode, v.owner, v.k, v.m, v.segment_size, v.size FROM repair_queue r "
      "JOIN versions v ON v.id=r.version WHERE (r.owner=?1 OR ?2) ORDER BY r.enqueued, r.version "
      "LIMIT ?3");
  st.Bind(1, user_).Bind(2, IsCluster() ? 1 : 0).Bind(3, limit);
  Json items = Json::array();
  while (st.Step()) {
    Json item = {{"version", st.Text(0)}, {"ino", st.Int(1)}, {"owner", st.Text(2)},
                 {"k", st.Int(3)},        {"m", st.Int(4)},   {"segment_size", st.Int(5)},
                 {"size", st.Int(6)}};
    Json shards = Json::array();
    Stmt sh = db_.Prepare(
        "SELECT idx, server, chunk, root, state FROM shards WHERE version=?1 ORDER BY idx");
    sh.Bind(1, item["version"].get<std::string>());
    while (sh.Step()) {
      shards.push_back({{"index", sh.Int(0)},
                        {"server", sh.Int(1)},
                        {"address", AddressOf(store_->config(), sh.Int(1))},
                        {"chunk", sh.Text(2)},
                        {"root", sh.IsNull(3) ? Json(nullptr) : Json(sh.Text(3))},
                        {"state", sh.Text(4)}});
    }
    item["shards"] = std::move(shards);
    items.push_back(std::move(item));
  }
  return Json{{"items", std::move(items)}};
}

Json StoreOps::RepairDone(const Args& a) {
  std::string vid = a.Str("version", 64);
  auto v = FindVersion(db_, vid);
  // Another user's version answers like a missing one.
  if (!v || (v->owner != user_ && !IsCluster())) throw OpError{ENOENT, "no version " + vid};
  const Json& shards = a.Array("shards", kMaxShards);
  for (const Json& j : shards) {
    Args s(j);
    int64_t idx = s.Int("index", 0, v->k + v->m - 1);
    int64_t server = s.Int("server", 1, INT64_MAX);
    std::string chunk = s.Str("chunk", 64);
    std::string root = s.Str("root", 128);
    CheckHexId(root, "shard root");
    Stmt cur = db_.Prepare("SELECT server, chunk FROM shards WHERE version=?1 AND idx=?2");
    cur.Bind(1, vid).Bind(2, idx);
    if (!cur.Step()) throw OpError{ENOENT, "no shard " + std::to_string(idx)};
    if (cur.Text(1) != chunk || cur.Int(0) != server) {
      Stmt gc =
          db_.Prepare("INSERT INTO gc_queue(owner, server, chunk, enqueued) VALUES(?1,?2,?3,?4)");
      gc.Bind(1, v->owner).Bind(2, cur.Int(0)).Bind(3, cur.Text(1)).Bind(4, now_).Run();
    }
    Stmt up = db_.Prepare(
        "UPDATE shards SET server=?1, chunk=?2, root=?3, state='ok' WHERE version=?4 AND idx=?5");
    up.Bind(1, server).Bind(2, chunk).Bind(3, root).Bind(4, vid).Bind(5, idx).Run();
  }
  // Shards still on a draining server count as left: the drain is not done with them.
  Stmt left = db_.Prepare(
      "SELECT count(*) FROM shards s LEFT JOIN servers sv ON sv.id=s.server "
      "WHERE s.version=?1 AND (s.state!='ok' OR sv.state='draining')");
  left.Bind(1, vid);
  int64_t remaining = left.Step() ? left.Int(0) : 0;
  if (remaining == 0) {
    Stmt d = db_.Prepare("DELETE FROM repair_queue WHERE version=?1");
    d.Bind(1, vid).Run();
  }
  return Json{{"remaining", remaining}};
}

// The scrubber's work list: the shards a server should hold, by chunk id (cluster only).
Json StoreOps::ServerShards(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "server_shards needs a cluster session"};
  int64_t server = a.Int("server", 1, INT64_MAX);
  std::string cursor = a.OptStr("cursor", 64).value_or("");
  int64_t limit = a.OptInt("limit", 1, 1000).value_or(100);
  Stmt st = db_.Prepare(
      "SELECT s.chunk, s.version, s.idx, s.root, s.state, v.owner FROM shards s "
      "JOIN versions v ON v.id=s.version WHERE s.server=?1 AND s.chunk>?2 "
      "AND v.state='committed' ORDER BY s.chunk LIMIT ?3");
  st.Bind(1, server).Bind(2, cursor).Bind(3, limit);
  Json items = Json::array();
  while (st.Step()) {
    items.push_back({{"chunk", st.Text(0)},
                     {"version", st.Text(1)},
                     {"index", st.Int(2)},
                     {"root", st.IsNull(3) ? Json(nullptr) : Json(st.Text(3))},
                     {"state", st.Text(4)},
                     {"owner", st.Text(5)}});
  }
  Json next = items.size() == static_cast<size_t>(limit) ? Json(items.back()["chunk"]) : Json();
  return Json{{"items", std::move(items)}, {"next", std::move(next)}};
}

// The stray sweep's question (cluster only): which of these chunk ids, found in `owner`'s
// folder on data server `server`, does the metadata still account for? A chunk is referenced
// when a shard row of one of the owner's versions places it there (committed, or pending: an
// upload in progress) or when the GC queue will delete it anyway. Rebuilds in progress are
// not in the database; MetaService adds the scopes it handed out (meta_service.h). A read,
// at most kMaxChunkRefs ids per call; "checked" lets the caller see the answer is whole.
Json StoreOps::ChunkRefs(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "chunk_refs needs a cluster session"};
  constexpr size_t kMaxChunkRefs = 1000;
  const int64_t server = a.Int("server", 1, INT64_MAX);
  const std::string owner = a.Str("owner", 64);
  const Json& chunks = a.Array("chunks", kMaxChunkRefs);
  Json referenced = Json::object();
  for (const Json& c : chunks) {
    if (!c.is_string() || c.get_ref<const std::string&>().empty() ||
        c.get_ref<const std::string&>().size() > 128) {
      throw OpError{EINVAL, "chunks must hold chunk ids (1..128 characters)"};
    }
    const std::string& chunk = c.get_ref<const std::string&>();
    // Prepared statements are cached (sqlite_db.h): these cost one lookup per chunk.
    Stmt placed = db_.Prepare(
        "SELECT v.state FROM shards s JOIN versions v ON v.id=s.version "
        "WHERE s.server=?1 AND s.chunk=?2 AND v.owner=?3 LIMIT 1");
    placed.Bind(1, server).Bind(2, chunk).Bind(3, owner);
    if (placed.Step()) {
      referenced[chunk] = placed.Text(0);  // "committed" or "pending"
      continue;
    }
    Stmt queued =
        db_.Prepare("SELECT 1 FROM gc_queue WHERE server=?1 AND chunk=?2 AND owner=?3 LIMIT 1");
    queued.Bind(1, server).Bind(2, chunk).Bind(3, owner);
    if (queued.Step()) referenced[chunk] = "gc_queue";
  }
  return Json{{"referenced", std::move(referenced)}, {"checked", chunks.size()}};
}

// The owners whose folders the stray sweep walks on each data server: every user id, paged
// (cluster only). MetaService adds a list-and-delete data token per owner.
Json StoreOps::SweepOwners(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "sweep_owners needs a cluster session"};
  const std::string cursor = a.OptStr("cursor", 64).value_or("");
  const int64_t limit = a.OptInt("limit", 1, 1000).value_or(100);
  Stmt st = db_.Prepare("SELECT id FROM users WHERE id>?1 ORDER BY id LIMIT ?2");
  st.Bind(1, cursor).Bind(2, limit);
  Json owners = Json::array();
  while (st.Step()) owners.push_back({{"owner", st.Text(0)}});
  Json next = owners.size() == static_cast<size_t>(limit) ? Json(owners.back()["owner"]) : Json();
  return Json{{"owners", std::move(owners)}, {"next", std::move(next)}};
}

// Versions begun but never committed (a writer that died mid-upload) would hold their chunks
// forever; a cluster tool expires those begun or renewed (renew_pending) more than
// `older_than_s` ago, queueing their chunks.
Json StoreOps::ExpirePending(const Args& a) {
  if (!IsCluster()) throw OpError{EACCES, "expire_pending needs a cluster session"};
  int64_t older_than_s = a.Int("older_than_s", 0, INT64_MAX / 1000000000);
  int64_t cutoff = now_ - older_than_s * 1000000000;
  std::vector<std::pair<int64_t, std::string>> stale;
  {
    Stmt st = db_.Prepare(
        "SELECT inode, id FROM versions WHERE state='pending' AND created<=?1 ORDER BY id LIMIT "
        "10000");
    st.Bind(1, cutoff);
    while (st.Step()) stale.emplace_back(st.Int(0), st.Text(1));
  }
  for (const auto& [ino, id] : stale) DeleteVersions(ino, id);
  return Json{{"expired", stale.size()}};
}

}  // namespace vaultfs::meta
