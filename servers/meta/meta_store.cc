// MetaStore core: schema, the transactional Apply with request-id dedup, read dispatch,
// placement, snapshots and the canonical digest. The ops live in store_*.cc.
#include "servers/meta/meta_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>

#include "servers/meta/store_ops.h"
#include "src/common/format_marker.h"
#include "src/common/json_parse.h"
#include "src/common/log.h"
#include "src/crypto/hash.h"

namespace vaultfs::meta {
namespace {

// Results of the last this-many entries are kept for retries; a client retries within seconds.
constexpr uint64_t kDedupWindow = 200000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES('last_applied', 0), ('next_ino', 1);
CREATE TABLE IF NOT EXISTS users(
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, salt TEXT NOT NULL, kdf TEXT NOT NULL,
  auth_hash TEXT NOT NULL, wrapped_master_key TEXT NOT NULL, root INTEGER NOT NULL,
  session_gen INTEGER NOT NULL, created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inodes(
  id INTEGER PRIMARY KEY, owner TEXT NOT NULL, type TEXT NOT NULL, mode INTEGER NOT NULL,
  uid INTEGER NOT NULL, gid INTEGER NOT NULL, rdev INTEGER NOT NULL, nlink INTEGER NOT NULL,
  size INTEGER NOT NULL, atime INTEGER NOT NULL, mtime INTEGER NOT NULL, ctime INTEGER NOT NULL,
  version TEXT, target TEXT);
CREATE TABLE IF NOT EXISTS xattrs(
  inode INTEGER NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
  PRIMARY KEY(inode, key));
CREATE TABLE IF NOT EXISTS dentries(
  parent INTEGER NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, child INTEGER NOT NULL,
  PRIMARY KEY(parent, key));
CREATE INDEX IF NOT EXISTS dentries_child ON dentries(child);
CREATE TABLE IF NOT EXISTS versions(
  id TEXT PRIMARY KEY, inode INTEGER NOT NULL, owner TEXT NOT NULL, size INTEGER NOT NULL,
  segment_size INTEGER NOT NULL, k INTEGER NOT NULL, m INTEGER NOT NULL,
  wrapped_key TEXT NOT NULL, state TEXT NOT NULL, inline TEXT, created INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS versions_inode ON versions(inode);
CREATE TABLE IF NOT EXISTS shards(
  version TEXT NOT NULL, idx INTEGER NOT NULL, server INTEGER NOT NULL, chunk TEXT NOT NULL,
  root TEXT, state TEXT NOT NULL, PRIMARY KEY(version, idx));
CREATE TABLE IF NOT EXISTS servers(
  id INTEGER PRIMARY KEY, state TEXT NOT NULL, capacity INTEGER NOT NULL,
  free INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS shards_server ON shards(server, chunk);
CREATE TABLE IF NOT EXISTS server_storage(id INTEGER PRIMARY KEY, storage_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reports(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS repair_queue(version TEXT PRIMARY KEY, owner TEXT NOT NULL,
  enqueued INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS gc_queue(seq INTEGER PRIMARY KEY, owner TEXT NOT NULL,
  server INTEGER NOT NULL, chunk TEXT NOT NULL, enqueued INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS gc_queue_chunk ON gc_queue(server, chunk);
CREATE TABLE IF NOT EXISTS requests(user TEXT NOT NULL, rid TEXT NOT NULL, result TEXT NOT NULL,
  idx INTEGER NOT NULL, PRIMARY KEY(user, rid));
CREATE INDEX IF NOT EXISTS requests_idx ON requests(idx);
CREATE TABLE IF NOT EXISTS ino_reservations(owner TEXT NOT NULL, lo INTEGER NOT NULL,
  hi INTEGER NOT NULL, PRIMARY KEY(owner, lo));
CREATE TABLE IF NOT EXISTS login_failures(key TEXT PRIMARY KEY, failures INTEGER NOT NULL,
  last_ms INTEGER NOT NULL, blocked_until_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_last ON login_failures(last_ms);
CREATE TABLE IF NOT EXISTS quotas(owner TEXT PRIMARY KEY, bytes INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS usage(owner TEXT PRIMARY KEY, bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO usage SELECT owner, sum(size) FROM versions GROUP BY owner;
CREATE TRIGGER IF NOT EXISTS usage_add AFTER INSERT ON versions BEGIN
  INSERT OR IGNORE INTO usage VALUES(NEW.owner, 0);
  UPDATE usage SET bytes=bytes+NEW.size WHERE owner=NEW.owner; END;
CREATE TRIGGER IF NOT EXISTS usage_drop AFTER DELETE ON versions BEGIN
  UPDATE usage SET bytes=bytes-OLD.size WHERE owner=OLD.owner; END;
CREATE TRIGGER IF NOT EXISTS usage_resize AFTER UPDATE OF size ON versions BEGIN
  UPDATE usage SET bytes=bytes-OLD.size+NEW.size WHERE owner=NEW.owner; END;
)sql";

// Every state table with the column order that makes its dump canonical.
const std::vector<std::pair<std::string, std::string>> kStateTables = {
    {"meta", "key"},
    {"users", "id"},
    {"inodes", "id"},
    {"xattrs", "inode, key"},
    {"dentries", "parent, key"},
    {"versions", "id"},
    {"shards", "version, idx"},
    {"servers", "id"},
    {"server_storage", "id"},
    {"repair_queue", "version"},
    {"gc_queue", "seq"},
    {"requests", "user, rid"},
    {"ino_reservations", "owner, lo"},
    {"login_failures", "key"},
    {"quotas", "owner"},
    {"usage", "owner"}};

Json ErrorResult(int code, const std::string& message) {
  return Json{{"ok", false}, {"error", {{"code", ErrnoName(code)}, {"message", message}}}};
}

using WriteFn = std::function<Json(StoreOps&, const Args&, const Args&)>;
using ReadFn = std::function<Json(StoreOps&, const Args&)>;

const std::map<std::string, WriteFn>& WriteOps() {
  static const std::map<std::string, WriteFn> ops = {
      {"register", [](StoreOps& s, const Args& a, const Args& g) { return s.Register(a, g); }},
      {"passwd", [](StoreOps& s, const Args& a, const Args& g) { return s.Passwd(a, g); }},
      {"setattr", [](StoreOps& s, const Args& a, const Args&) { return s.SetAttr(a); }},
      {"setxattr", [](StoreOps& s, const Args& a, const Args&) { return s.SetXattr(a); }},
      {"removexattr", [](StoreOps& s, const Args& a, const Args&) { return s.RemoveXattr(a); }},
      {"mkdir", [](StoreOps& s, const Args& a, const Args&) { return s.Mkdir(a); }},
      {"create", [](StoreOps& s, const Args& a, const Args&) { return s.Create(a); }},
      {"reserve_inodes",
       [](StoreOps& s, const Args& a, const Args&) { return s.ReserveInodes(a); }},
      {"symlink", [](StoreOps& s, const Args& a, const Args&) { return s.Symlink(a); }},
      {"link", [](StoreOps& s, const Args& a, const Args&) { return s.Link(a); }},
      {"unlink", [](StoreOps& s, const Args& a, const Args&) { return s.Unlink(a); }},
      {"rmdir", [](StoreOps& s, const Args& a, const Args&) { return s.Rmdir(a); }},
      {"rename", [](StoreOps& s, const Args& a, const Args&) { return s.Rename(a); }},
      {"begin_version",
       [](StoreOps& s, const Args& a, const Args& g) { return s.BeginVersion(a, g); }},
      {"commit_version",
       [](StoreOps& s, const Args& a, const Args& g) { return s.CommitVersion(a, g); }},
      {"write_inline",
       [](StoreOps& s, const Args& a, const Args& g) { return s.WriteInline(a, g); }},
      {"set_quota", [](StoreOps& s, const Args& a, const Args&) { return s.SetQuota(a); }},
      {"renew_pending", [](StoreOps& s, const Args& a, const Args&) { return s.RenewPending(a); }},
      {"report_shard", [](StoreOps& s, const Args& a, const Args&) { return s.ReportShard(a); }},
      {"report_server", [](StoreOps& s, const Args& a, const Args&) { return s.ReportServer(a); }},
      {"gc_done", [](StoreOps& s, const Args& a, const Args&) { return s.GcDone(a); }},
      {"repair_done", [](StoreOps& s, const Args& a, const Args&) { return s.RepairDone(a); }},
      {"expire_pending",
       [](StoreOps& s, const Args& a, const Args&) { return s.ExpirePending(a); }},
      {"report_repair", [](StoreOps& s, const Args& a, const Args&) { return s.ReportRepair(a); }},
      {"request_scrub", [](StoreOps& s, const Args& a, const Args&) { return s.RequestScrub(a); }},
      {"login_throttle",
       [](StoreOps& s, const Args&, const Args& g) { return s.LoginThrottle(g); }},
  };
  return ops;
}

const std::map<std::string, ReadFn>& ReadOps() {
  static const std::map<std::string, ReadFn> ops = {
      {"get_salt", [](StoreOps& s, const Args& a) { return s.GetSalt(a); }},
      {"lookup", [](StoreOps& s, const Args& a) { return s.Lookup(a); }},
      {"getattr", [](StoreOps& s, const Args& a) { return s.GetAttr(a); }},
      {"readlink", [](StoreOps& s, const Args& a) { return s.Readlink(a); }},
      {"getxattr", [](StoreOps& s, const Args& a) { return s.GetXattr(a); }},
      {"listxattr", [](StoreOps& s, const Args& a) { return s.ListXattr(a); }},
      {"readdir", [](StoreOps& s, const Args& a) { return s.Readdir(a); }},
      {"get_version", [](StoreOps& s, const Args& a) { return s.GetVersion(a); }},
      {"statfs", [](StoreOps& s, const Args& a) { return s.Statfs(a); }},
      {"cluster_map", [](StoreOps& s, const Args&) { return s.ClusterMap(); }},
      {"gc_list", [](StoreOps& s, const Args& a) { return s.GcList(a); }},
      {"repair_list", [](StoreOps& s, const Args& a) { return s.RepairList(a); }},
      {"server_shards", [](StoreOps& s, const Args& a) { return s.ServerShards(a); }},
      {"chunk_refs", [](StoreOps& s, const Args& a) { return s.ChunkRefs(a); }},
      {"sweep_owners", [](StoreOps& s, const Args& a) { return s.SweepOwners(a); }},
  };
  return ops;
}

// The database's format (format_marker.h) lives in its meta table, so it travels with the
// snapshots that replace a node's database. A database without a meta table is new; one with a
// meta table but no format row predates format numbers.
Status CheckDbFormat(SqliteDb& db, const std::string& what) {
  Stmt t = db.Prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'");
  if (!t.Step()) return Status::Ok();
  Stmt f = db.Prepare("SELECT value FROM meta WHERE key='format'");
  const uint32_t found = f.Step() ? static_cast<uint32_t>(f.Int(0)) : 0;
  if (found == kMetaStoreFormat) return Status::Ok();
  return Status(EPROTO, FormatMismatchMessage(what, "metadata-store", found, kMetaStoreFormat));
}

[[noreturn]] void Fatal(const std::string& what) {
  VFS_LOG(kError) << "fatal metadata store error (stopping so this node cannot diverge): " << what;
  std::abort();
}

}  // namespace

Status MetaStore::Open(const std::string& path) {
  path_ = path;
  try {
    db_.Open(path);
    db_.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;");
    if (Status st = CheckDbFormat(db_, "metadata database " + path); !st.ok()) {
      db_.Close();
      return st;
    }
    CreateSchema();
    LoadMeta();
  } catch (const SqlError& e) {
    return IoError(std::string("metadata database ") + path + ": " + e.what());
  }
  return Status::Ok();
}

void MetaStore::CreateSchema() {
  db_.Exec(kSchema);
  db_.Exec("INSERT OR IGNORE INTO meta VALUES('format', " + std::to_string(kMetaStoreFormat) + ")");
}

void MetaStore::LoadMeta() {
  Stmt st = db_.Prepare("SELECT value FROM meta WHERE key='last_applied'");
  last_applied_ = st.Step() ? static_cast<uint64_t>(st.Int(0)) : 0;
}

Json MetaStore::Apply(uint64_t index, const Json& cmd) {
  Result<Json> r = TryApply(index, cmd);
  if (!r.ok()) Fatal("apply entry " + std::to_string(index) + ": " + r.status().message());
  return std::move(r).value();
}

Result<Json> MetaStore::TryApply(uint64_t index, const Json& cmd) {
  if (index <= last_applied_) return Json(nullptr);
  std::string op, user, rid;
  int64_t now = 0;
  if (cmd.is_object()) {
    if (cmd.contains("op") && cmd["op"].is_string()) op = cmd["op"];
    if (cmd.contains("user") && cmd["user"].is_string()) user = cmd["user"];
    if (cmd.contains("rid") && cmd["rid"].is_string()) rid = cmd["rid"];
    if (cmd.contains("now") && cmd["now"].is_number_integer()) now = cmd["now"];
  }
  static const Json kEmpty = Json::object();
  const Json& args = cmd.is_object() && cmd.contains("args") ? cmd["args"] : kEmpty;
  const Json& gen = cmd.is_object() && cmd.contains("gen") ? cmd["gen"] : kEmpty;
  try {
    db_.Exec("BEGIN IMMEDIATE");
    Json result;
    if (!rid.empty()) {
      Stmt st = db_.Prepare("SELECT result FROM requests WHERE user=?1 AND rid=?2");
      st.Bind(1, user).Bind(2, rid);
      if (st.Step()) {
        auto stored = ParseJson(st.Text(0));
        if (stored.ok()) result = std::move(*stored);
      }
    }
    if (result.is_null()) {
      db_.Exec("SAVEPOINT op");
      try {
        auto it = WriteOps().find(op);
        if (it == WriteOps().end()) throw OpError{EINVAL, "unknown write op '" + op + "'"};
        StoreOps ops(this, user, now);
        result = it->second(ops, Args(args), Args(gen));
        result["ok"] = true;
        db_.Exec("RELEASE op");
      } catch (const OpError& e) {
        db_.Exec("ROLLBACK TO op; RELEASE op");
        result = ErrorResult(e.code, e.message);
      } catch (const Json::exception& e) {
        db_.Exec("ROLLBACK TO op; RELEASE op");
        result = ErrorResult(EINVAL, std::string("malformed request: ") + e.what());
      }
      if (!rid.empty()) {
        Stmt ins = db_.Prepare("INSERT INTO requests(user, rid, result, idx) VALUES(?1,?2,?3,?4)");
        ins.Bind(1, user).Bind(2, rid).Bind(3, result.dump()).Bind(4, int64_t(index)).Run();
        if (index % 1024 == 0 && index > kDedupWindow) {
          Stmt del = db_.Prepare("DELETE FROM requests WHERE idx < ?1");
          del.Bind(1, int64_t(index - kDedupWindow)).Run();
        }
      }
    }
    Stmt upd = db_.Prepare("UPDATE meta SET value=?1 WHERE key='last_applied'");
    upd.Bind(1, int64_t(index)).Run();
    db_.Exec("COMMIT");
    last_applied_ = index;
    return result;
  } catch (const SqlError& e) {
    if (!e.NoSpace()) Fatal(std::string("apply entry ") + std::to_string(index) + ": " + e.what());
    // Out of space: undo the whole entry (SQLite may already have rolled it back), so it can
    // be applied again, from the start, once space is back.
    if (sqlite3_get_autocommit(db_.handle()) == 0) {
      try {
        db_.Exec("ROLLBACK");
      } catch (const SqlError& r) {
        Fatal("apply entry " + std::to_string(index) + ": " + e.what() +
              "; rollback failed too: " + r.what());
      }
    }
    return Status(ENOSPC, "metadata database " + path_ + ": " + e.what() + " (entry " +
                              std::to_string(index) + " waits until space is freed)");
  }
}

Json MetaStore::Read(const std::string& op, const std::string& user, const Json& args) {
  try {
    auto it = ReadOps().find(op);
    if (it == ReadOps().end()) throw OpError{EINVAL, "unknown read op '" + op + "'"};
    db_.Exec("BEGIN");
    // Reads are not replicated, so the local clock is fine here (gc_list's grace period).
    const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    StoreOps ops(this, user, now);
    Json result;
    try {
      result = it->second(ops, Args(args));
    } catch (...) {
      db_.Exec("ROLLBACK");
      throw;
    }
    db_.Exec("COMMIT");
    result["ok"] = true;
    return result;
  } catch (const OpError& e) {
    return ErrorResult(e.code, e.message);
  } catch (const Json::exception& e) {
    return ErrorResult(EINVAL, std::string("malformed request: ") + e.what());
  } catch (const SqlError& e) {
    VFS_LOG(kError) << "read " << op << ": " << e.what();
    return ErrorResult(EIO, "metadata database error");
  }
}

namespace {
UserRecord UserFromRow(const Stmt& st) {
  UserRecord u;
  u.id = st.Text(0);
  u.name = st.Text(1);
  u.salt = st.Text(2);
  u.kdf = st.Text(3);
  u.auth_hash = st.Text(4);
  u.wrapped_master_key = st.Text(5);
  u.root = st.Int(6);
  u.session_gen = st.Int(7);
  return u;
}
constexpr const char* kUserCols =
    "SELECT id, name, salt, kdf, auth_hash, wrapped_master_key, root, session_gen FROM users ";
}  // namespace

std::optional<LoginFailures> MetaStore::LoginFailuresOf(const std::string& key) {
  try {
    Stmt st =
        db_.Prepare("SELECT failures, last_ms, blocked_until_ms FROM login_failures WHERE key=?1");
    st.Bind(1, key);
    if (!st.Step()) return std::nullopt;
    return LoginFailures{st.Int(0), st.Int(1), st.Int(2)};
  } catch (const SqlError& e) {
    VFS_LOG(kError) << "login throttle lookup: " << e.what();
    return std::nullopt;
  }
}

std::optional<UserRecord> MetaStore::UserByName(const std::string& name) {
  try {
    Stmt st = db_.Prepare(std::string(kUserCols) + "WHERE name=?1");
    st.Bind(1, name);
    if (!st.Step()) return std::nullopt;
    return UserFromRow(st);
  } catch (const SqlError& e) {
    VFS_LOG(kError) << "user lookup: " << e.what();
    return std::nullopt;
  }
}

std::optional<UserRecord> MetaStore::UserById(const std::string& id) {
  try {
    Stmt st = db_.Prepare(std::string(kUserCols) + "WHERE id=?1");
    st.Bind(1, id);
    if (!st.Step()) return std::nullopt;
    return UserFromRow(st);
  } catch (const SqlError& e) {
    VFS_LOG(kError) << "user lookup: " << e.what();
    return std::nullopt;
  }
}

Result<std::vector<uint64_t>> MetaStore::PlaceShards(int count, const std::string& seed) {
  struct Cand {
    uint64_t id;
    bool up;
    int64_t free;
    std::string tie;
  };
  std::vector<Cand> cands;
  int up = 0;
  try {
    for (const DataNodeConfig& d : config_->data) {
      Stmt st = db_.Prepare("SELECT state, free FROM servers WHERE id=?1");
      st.Bind(1, int64_t(d.id));
      std::string state = "up";
      int64_t free = 0;
      if (st.Step()) {
        state = st.Text(0);
        free = st.Int(1);
      }
      // A server that is down may come back; lost and draining ones take no new shards.
      if (state != "up" && state != "down") continue;
      up += state == "up" ? 1 : 0;
      cands.push_back({d.id, state == "up", free,
                       crypto::DigestToHex(crypto::Sha256(seed + std::to_string(d.id)))});
    }
  } catch (const SqlError& e) {
    return IoError(std::string("placement: ") + e.what());
  }
  // The write succeeds once the write quorum of shards is stored (DESIGN.md §3), so shards may
  // be placed on servers that are down right now: the writer records them missing and repair
  // rebuilds them once the server is back.
  const int quorum = std::min(config_->write_quorum, count);
  if (static_cast<int>(cands.size()) < count || up < quorum) {
    return Status(ENOSPC, "placement needs " + std::to_string(count) + " data servers (" +
                              std::to_string(quorum) + " of them up), but " + std::to_string(up) +
                              " are up and " + std::to_string(cands.size() - up) + " down");
  }
  // Up before down; then most free space first; among equals (or unknown free space) a
  // per-version pseudo-random order, so versions spread over more servers than k+m.
  std::sort(cands.begin(), cands.end(), [](const Cand& a, const Cand& b) {
    constexpr int64_t kBucket = int64_t(1) << 30;  // compare free space in GiB buckets
    if (a.up != b.up) return a.up;
    if (a.free / kBucket != b.free / kBucket) return a.free > b.free;
    return a.tie < b.tie;
  });
  std::vector<uint64_t> out;
  for (int i = 0; i < count; ++i) out.push_back(cands[i].id);
  return out;
}

Result<SnapshotImage> MetaStore::Serialize() {
  sqlite3_int64 size = 0;
  unsigned char* data = sqlite3_serialize(db_.handle(), "main", &size, 0);
  if (data == nullptr) return IoError("sqlite3_serialize failed");
  SnapshotImage image;
  image.data = {data, sqlite3_free};
  image.size = static_cast<size_t>(size);
  return image;
}

Status MetaStore::Restore(std::string_view image) {
  std::string tmp = path_ + ".restore";
  {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return IoError("restore: cannot create " + tmp);
    size_t off = 0;
    while (off < image.size()) {
      ssize_t n = ::write(fd, image.data() + off, image.size() - off);
      if (n <= 0) {
        ::close(fd);
        return IoError("restore: write " + tmp);
      }
      off += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
      ::close(fd);
      return IoError("restore: fsync " + tmp);
    }
    ::close(fd);
  }
  uint64_t image_applied = 0;
  try {
    SqliteDb probe;
    probe.Open(tmp);
    if (Status f = CheckDbFormat(probe, "a snapshot from another node"); !f.ok()) {
      probe.Close();
      ::unlink(tmp.c_str());
      return f;
    }
    Stmt st = probe.Prepare("SELECT value FROM meta WHERE key='last_applied'");
    if (st.Step()) image_applied = static_cast<uint64_t>(st.Int(0));
  } catch (const SqlError& e) {
    ::unlink(tmp.c_str());
    return Corruption(std::string("restore: snapshot is not a database: ") + e.what());
  }
  if (image_applied <= last_applied_) {
    // Our own database already holds this state or later (it survived the restart); keep it.
    VFS_LOG(kInfo) << "kept local database at index " << last_applied_ << " over snapshot at "
                   << image_applied;
    ::unlink(tmp.c_str());
    return Status::Ok();
  }
  uint64_t previous = last_applied_;
  db_.Close();
  ::unlink((path_ + "-wal").c_str());
  ::unlink((path_ + "-shm").c_str());
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return IoError("restore: rename " + tmp);
  VFS_RETURN_IF_ERROR(Open(path_));
  VFS_LOG(kInfo) << "restored metadata snapshot at index " << last_applied_
                 << " (local database was at " << previous << ")";
  return Status::Ok();
}

std::string MetaStore::Digest() {
  crypto::Sha256Hasher h;
  try {
    for (const auto& [table, order] : kStateTables) {
      h.Update("table " + table + "\n");
      Stmt st = db_.Prepare("SELECT * FROM " + table + " ORDER BY " + order);
      while (st.Step()) {
        for (int c = 0; c < st.Columns(); ++c) {
          std::string v = st.IsNull(c) ? std::string("N") : "V" + st.Text(c);
          std::string len = std::to_string(v.size()) + ":";
          h.Update(len);
          h.Update(v);
        }
        h.Update("\n");
      }
    }
  } catch (const SqlError& e) {
    return std::string("error: ") + e.what();
  }
  return crypto::DigestToHex(h.Finish());
}

// ---- Args ----

const Json& Args::Field(const char* key) const {
  if (!j_.is_object()) throw OpError{EINVAL, "request arguments must be a JSON object"};
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null())
    throw OpError{EINVAL, std::string("missing field '") + key + "'"};
  return *it;
}

std::string Args::Str(const char* key, size_t max_len, bool allow_empty) const {
  const Json& v = Field(key);
  if (!v.is_string()) throw OpError{EINVAL, std::string("field '") + key + "' must be a string"};
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() > max_len) throw OpError{EINVAL, std::string("field '") + key + "' is too long"};
  if (s.empty() && !allow_empty) throw OpError{EINVAL, std::string("field '") + key + "' is empty"};
  return s;
}

std::optional<std::string> Args::OptStr(const char* key, size_t max_len) const {
  if (!Has(key)) return std::nullopt;
  return Str(key, max_len, true);
}

int64_t Args::Int(const char* key, int64_t min, int64_t max) const {
  const Json& v = Field(key);
  if (!v.is_number_integer()) {
    throw OpError{EINVAL, std::string("field '") + key + "' must be an integer"};
  }
  int64_t x;
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      throw OpError{EINVAL, std::string("field '") + key + "' is out of range"};
    }
    x = static_cast<int64_t>(u);
  } else {
    x = v.get<int64_t>();
  }
  if (x < min || x > max) throw OpError{EINVAL, std::string("field '") + key + "' is out of range"};
  return x;
}

std::optional<int64_t> Args::OptInt(const char* key, int64_t min, int64_t max) const {
  if (!Has(key)) return std::nullopt;
  return Int(key, min, max);
}

bool Args::Bool(const char* key, bool dflt) const {
  if (!Has(key)) return dflt;
  const Json& v = Field(key);
  if (!v.is_boolean()) throw OpError{EINVAL, std::string("field '") + key + "' must be a boolean"};
  return v.get<bool>();
}

std::string Args::Key(const char* key) const {
  std::string s = Str(key, 128);
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      throw OpError{EINVAL, std::string("field '") + key + "' must be lowercase hex"};
    }
  }
  if (s.size() < 2) throw OpError{EINVAL, std::string("field '") + key + "' is too short"};
  return s;
}

const Json& Args::Array(const char* key, size_t max_items) const {
  const Json& v = Field(key);
  if (!v.is_array()) throw OpError{EINVAL, std::string("field '") + key + "' must be an array"};
  if (v.size() > max_items)
    throw OpError{EINVAL, std::string("field '") + key + "' has too many items"};
  return v;
}

const Json& Args::Object(const char* key) const {
  const Json& v = Field(key);
  if (!v.is_object()) throw OpError{EINVAL, std::string("field '") + key + "' must be an object"};
  return v;
}

}  // namespace vaultfs::meta
