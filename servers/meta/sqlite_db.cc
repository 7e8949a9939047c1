// SQLite RAII helpers: see sqlite_db.h.
#include "servers/meta/sqlite_db.h"

#include <cerrno>

namespace vaultfs::meta {
namespace {

[[noreturn]] void Throw(sqlite3* db, const std::string& what) {
  throw SqlError(what + sqlite3_errmsg(db), sqlite3_extended_errcode(db), sqlite3_system_errno(db));
}

}  // namespace

bool SqlError::NoSpace() const {
  return (code_ & 0xff) == SQLITE_FULL || sys_errno_ == ENOSPC || sys_errno_ == EDQUOT;
}

SqliteDb::~SqliteDb() { Close(); }

void SqliteDb::Open(const std::string& path) {
  Close();
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    const int sys = db_ ? sqlite3_system_errno(db_) : 0;
    Close();
    throw SqlError("open " + path + ": " + msg, rc, sys);
  }
}

void SqliteDb::Close() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  cache_.clear();
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

void SqliteDb::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw SqlError("exec: " + msg, sqlite3_extended_errcode(db_), sqlite3_system_errno(db_));
  }
}

Stmt SqliteDb::Prepare(const std::string& sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) {
    // Hand it out fresh even if a previous user of the same SQL is still in scope.
    sqlite3_reset(it->second);
    sqlite3_clear_bindings(it->second);
    return Stmt(it->second);
  }
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &s, nullptr) !=
      SQLITE_OK) {
    throw SqlError(std::string("prepare: ") + sqlite3_errmsg(db_) + " in: " + sql,
                   sqlite3_extended_errcode(db_), sqlite3_system_errno(db_));
  }
  cache_.emplace(sql, s);
  return Stmt(s);
}

Stmt::~Stmt() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

Stmt& Stmt::Bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::Bind(int i, std::string_view v) {
  sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Stmt& Stmt::BindNull(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

bool Stmt::Step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Throw(sqlite3_db_handle(s_), "step: ");
}

std::string Stmt::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : std::string();
}

}  // namespace vaultfs::meta
