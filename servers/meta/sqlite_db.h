// A thin RAII layer over SQLite for the metadata store: one connection, a cache of prepared
// statements keyed by their SQL text, and a statement cursor with typed binds and columns.
// Any SQLite failure throws SqlError; the store decides whether that is fatal (inside the
// replicated state machine it is, except for a full disk: a node whose database cannot apply an
// entry must stop rather than diverge, but one that lacks space retries the entry later).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace vaultfs::meta {

class SqlError : public std::runtime_error {
 public:
  explicit SqlError(const std::string& what, int code = SQLITE_ERROR, int sys_errno = 0)
      : std::runtime_error(what), code_(code), sys_errno_(sys_errno) {}
  int code() const { return code_; }  // SQLite's extended result code
  // The disk (or quota) is full: retrying once space is back can succeed.
  bool NoSpace() const;

 private:
  int code_;
  int sys_errno_;  // the OS error behind an I/O failure, 0 if none
};

class Stmt;

class SqliteDb {
 public:
  SqliteDb() = default;
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens (creating) `path`; ":memory:" for an in-memory database.
  void Open(const std::string& path);
  void Close();
  void Exec(std::string_view sql);
  // A cached prepared statement, reset and with bindings cleared. Valid until Close().
  Stmt Prepare(const std::string& sql);
  sqlite3* handle() const { return db_; }
  int64_t Changes() const { return sqlite3_changes64(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// Cursor over a cached statement. Binds are 1-based like SQLite's; columns 0-based.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, std::string_view v);
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i);
  Stmt& Bind(int i, const std::optional<std::string>& v) { return v ? Bind(i, *v) : BindNull(i); }

  // True while a row is available.
  bool Step();
  // Runs a statement that returns no rows.
  void Run() {
    while (Step()) {
    }
  }

  int64_t Int(int col) const { return sqlite3_column_int64(s_, col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::optional<std::string> OptText(int col) const {
    if (IsNull(col)) return std::nullopt;
    return Text(col);
  }
  int Columns() const { return sqlite3_column_count(s_); }
  int Type(int col) const { return sqlite3_column_type(s_, col); }

 private:
  sqlite3_stmt* s_;
};

}  // namespace vaultfs::meta
