// vaultfs errors as HTTP answers: see http_error.h.
#include "src/web/http_error.h"

namespace vaultfs::web {

int HttpStatusFor(const Status& st) {
  switch (st.code()) {
    case 0:
      return 200;
    case ENOENT:
      return 404;
    case EEXIST:
    case ENOTEMPTY:
    case EISDIR:
    case ENOTDIR:
    case ESTALE:
      return 409;
    case EACCES:
    case EPERM:
      return 403;
    case EINVAL:
    case ENAMETOOLONG:
      return 400;
    case ENOSPC:
    case EDQUOT:
      return 507;
    case EIO:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case EAGAIN:
      return 503;
    default:
      return 500;
  }
}

std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ErrorJson(const Status& st) {
  return DumpJson({{"error", st.message()}, {"code", ErrnoName(st.code())}});
}

}  // namespace vaultfs::web
