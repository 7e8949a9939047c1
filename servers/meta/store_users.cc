// Accounts: register (creates the user and its root directory), passwd (replaces the auth-key
// hash and wrapped master key, and bumps the session generation so every older session token
// stops working), get_salt. The server only ever sees SHA-256(auth key), computed by the leader
// before the command enters the log, and the master key wrapped under a key it never learns.
#include <sys/stat.h>

#include "servers/meta/store_ops.h"
#include "src/common/json_parse.h"
#include "src/crypto/hash.h"

namespace vaultfs::meta {
namespace {

void CheckUserName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '_') {
    throw OpError{EINVAL, "user name must be 1-64 characters and not start with '_'"};
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-' || c == '@';
    if (!ok) throw OpError{EINVAL, "user name may only hold letters, digits and . _ - @"};
  }
}

}  // namespace

Json StoreOps::Register(const Args& a, const Args& gen) {
  std::string name = a.Str("user", 64);
  CheckUserName(name);
  std::string salt = a.Str("salt", 256);
  std::string kdf = a.Object("kdf").dump();
  std::string wrapped = a.Str("wrapped_master_key", 1024);
  std::string id = gen.Str("user_id", 64);
  std::string auth_hash = gen.Str("auth_hash", 64);
  {
    Stmt st = db_.Prepare("SELECT 1 FROM users WHERE name=?1");
    st.Bind(1, name);
    if (st.Step()) throw OpError{EEXIST, "user '" + name + "' already exists"};
  }
  user_ = id;  // the root directory belongs to the new user
  int64_t root = NewInode("dir", a.OptInt("mode", 0, 07777).value_or(0700),
                          a.OptInt("uid", 0, UINT32_MAX).value_or(0),
                          a.OptInt("gid", 0, UINT32_MAX).value_or(0), 0, std::nullopt);
  Stmt ins = db_.Prepare(
      "INSERT INTO users(id, name, salt, kdf, auth_hash, wrapped_master_key, root, session_gen, "
      "created) VALUES(?1,?2,?3,?4,?5,?6,?7,1,?8)");
  ins.Bind(1, id).Bind(2, name).Bind(3, salt).Bind(4, kdf).Bind(5, auth_hash).Bind(6, wrapped);
  ins.Bind(7, root).Bind(8, now_).Run();
  return Json{{"user_id", id}, {"root", root}};
}

Json StoreOps::Passwd(const Args& a, const Args& gen) {
  std::string salt = a.Str("salt", 256);
  std::string kdf = a.Object("kdf").dump();
  std::string wrapped = a.Str("wrapped_master_key", 1024);
  std::string old_hash = gen.Str("old_auth_hash", 64);
  std::string new_hash = gen.Str("auth_hash", 64);
  Stmt st = db_.Prepare("SELECT auth_hash, session_gen FROM users WHERE id=?1");
  st.Bind(1, user_);
  if (!st.Step()) throw OpError{EACCES, "no such user"};
  if (!crypto::ConstantTimeEquals(st.Text(0), old_hash)) {
    throw OpError{EACCES, "current password is wrong"};
  }
  int64_t next_gen = st.Int(1) + 1;
  Stmt upd = db_.Prepare(
      "UPDATE users SET salt=?1, kdf=?2, wrapped_master_key=?3, auth_hash=?4, session_gen=?5 "
      "WHERE id=?6");
  upd.Bind(1, salt).Bind(2, kdf).Bind(3, wrapped).Bind(4, new_hash).Bind(5, next_gen);
  upd.Bind(6, user_).Run();
  return Json{{"session_gen", next_gen}};
}

Json StoreOps::LoginThrottle(const Args& gen) {
  // Bounds memory and disk under a spray of failures from many addresses; the oldest records
  // are the least useful (a quiet quarter hour forgets them anyway).
  constexpr int64_t kMaxLoginThrottles = 100000;
  if (!IsCluster()) throw OpError{EACCES, "login_throttle is the metadata service's own"};
  for (const Json& key : gen.Array("clear", 16)) {
    if (!key.is_string()) throw OpError{EINVAL, "clear holds strings"};
    Stmt del = db_.Prepare("DELETE FROM login_failures WHERE key=?1");
    del.Bind(1, key.get<std::string>()).Run();
  }
  for (const Json& r : gen.Array("set", 16)) {
    Args rec(r);
    Stmt up = db_.Prepare(
        "INSERT OR REPLACE INTO login_failures(key, failures, last_ms, blocked_until_ms) "
        "VALUES(?1,?2,?3,?4)");
    up.Bind(1, rec.Str("key", 200)).Bind(2, rec.Int("failures", 0, INT32_MAX));
    up.Bind(3, rec.Int("last_ms", 0, INT64_MAX)).Bind(4, rec.Int("blocked_until_ms", 0, INT64_MAX));
    up.Run();
  }
  Stmt evict = db_.Prepare(
      "DELETE FROM login_failures WHERE key IN (SELECT key FROM login_failures ORDER BY last_ms, "
      "key LIMIT max(0, (SELECT count(*) FROM login_failures) - ?1))");
  evict.Bind(1, kMaxLoginThrottles).Run();
  return Json::object();
}

Json StoreOps::GetSalt(const Args& a) {
  std::string name = a.Str("user", 64);
  Stmt st = db_.Prepare("SELECT salt, kdf FROM users WHERE name=?1");
  st.Bind(1, name);
  if (!st.Step()) throw OpError{ENOENT, "no such user"};
  auto kdf = ParseJson(st.Text(1));
  return Json{{"salt", st.Text(0)}, {"kdf", kdf.ok() ? std::move(*kdf) : Json(nullptr)}};
}

}  // namespace vaultfs::meta
