// Status and Result<T>: errors as values, with an errno-style code and a human message.
//
// Every module boundary in vaultfs returns one of these instead of throwing. The code is a
// POSIX errno value (ENOENT, EIO, ...) so the FUSE layer can reply with it unchanged and the
// wire protocols can carry it by name ("ENOENT"). Success costs one int compare.
#pragma once

#include <cerrno>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vaultfs {

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status Error(int code, std::string message) { return Status(code, std::move(message)); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }

  // "ENOENT: no such file 'a/b'" — for logs and for the user.
  std::string ToString() const;

  // Prefixes the message with context ("upload shard 3: " + message), keeping the code.
  Status Annotate(std::string_view context) const;

  bool operator==(const Status& o) const { return code_ == o.code_ && message_ == o.message_; }

 private:
  int code_ = 0;
  std::string message_;
};

// Shorthands for the codes we use most; each takes the message.
inline Status InvalidArgument(std::string m) { return Status(EINVAL, std::move(m)); }
inline Status NotFound(std::string m) { return Status(ENOENT, std::move(m)); }
inline Status IoError(std::string m) { return Status(EIO, std::move(m)); }
inline Status PermissionDenied(std::string m) { return Status(EACCES, std::move(m)); }
inline Status Corruption(std::string m) { return Status(EBADMSG, std::move(m)); }
// A failed system call: code `err`, message "<what>: <strerror(err)>".
Status SystemError(int err, const std::string& what);

// errno value <-> its symbolic name ("ENOENT"). Unknown names map to EIO; unknown codes to
// "E<number>".
std::string ErrnoName(int code);
int ErrnoFromName(std::string_view name);

// Result<T>: either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status(EINVAL, "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vaultfs

// Propagate a non-OK Status from an expression returning Status.
#define VFS_RETURN_IF_ERROR(expr)       \
  do {                                  \
    ::vaultfs::Status _vfs_st = (expr); \
    if (!_vfs_st.ok()) return _vfs_st;  \
  } while (0)

#define VFS_CONCAT_INNER(a, b) a##b
#define VFS_CONCAT(a, b) VFS_CONCAT_INNER(a, b)
// `VFS_ASSIGN_OR_RETURN(auto x, Foo());` declares x from a Result or returns its Status.
#define VFS_ASSIGN_OR_RETURN(lhs, expr) \
  VFS_ASSIGN_OR_RETURN_IMPL(VFS_CONCAT(_vfs_res_, __LINE__), lhs, expr)
#define VFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
