// Status formatting and the errno <-> name table used by both wire protocols.
#include "src/common/status.h"

#include <array>
#include <cstring>

namespace vaultfs {
namespace {

struct ErrnoEntry {
  int code;
  const char* name;
};

// The codes vaultfs produces or forwards; the FUSE layer can reply with any of them.
constexpr std::array<ErrnoEntry, 41> kErrnos = {{
    {EPERM, "EPERM"},
    {ENOENT, "ENOENT"},
    {EIO, "EIO"},
    {EBADF, "EBADF"},
    {EAGAIN, "EAGAIN"},
    {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},
    {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},
    {EXDEV, "EXDEV"},
    {ENOTDIR, "ENOTDIR"},
    {EISDIR, "EISDIR"},
    {EINVAL, "EINVAL"},
    {EFBIG, "EFBIG"},
    {ENOSPC, "ENOSPC"},
    {EROFS, "EROFS"},
    {EMLINK, "EMLINK"},
    {ERANGE, "ERANGE"},
    {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},
    {ENOTEMPTY, "ENOTEMPTY"},
    {ELOOP, "ELOOP"},
    {ENODATA, "ENODATA"},
    {ETIME, "ETIME"},
    {EPROTO, "EPROTO"},
    {EBADMSG, "EBADMSG"},
    {EOVERFLOW, "EOVERFLOW"},
    {EMSGSIZE, "EMSGSIZE"},
    {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ENOTSUP, "ENOTSUP"},
    {EADDRINUSE, "EADDRINUSE"},
    {ENETDOWN, "ENETDOWN"},
    {ECONNRESET, "ECONNRESET"},
    {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"},
    {EHOSTUNREACH, "EHOSTUNREACH"},
    {EALREADY, "EALREADY"},
    {ESTALE, "ESTALE"},
    {EDQUOT, "EDQUOT"},
    {ECANCELED, "ECANCELED"},
    {E2BIG, "E2BIG"},
}};

}  // namespace

Status SystemError(int err, const std::string& what) {
  return Status(err, what + ": " + std::strerror(err));
}

std::string ErrnoName(int code) {
  if (code == 0) return "OK";
  for (const auto& e : kErrnos) {
    if (e.code == code) return e.name;
  }
  std::string name = "E";  // two steps: GCC 12 -O3 warns falsely on "E" + to_string
  name += std::to_string(code);
  return name;
}

int ErrnoFromName(std::string_view name) {
  for (const auto& e : kErrnos) {
    if (name == e.name) return e.code;
  }
  return EIO;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return ErrnoName(code_) + ": " + message_;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + message_);
}

}  // namespace vaultfs
