// vaultfs errors as HTTP answers: the status code for an errno-style Status, and the JSON
// body {"error": message, "code": "ENOENT"} the page shows to the user.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "src/common/status.h"

namespace vaultfs::web {

// ENOENT 404; EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, ESTALE 409; EACCES, EPERM 403; EINVAL,
// ENAMETOOLONG 400; ENOSPC, EDQUOT 507; the cluster being unable to serve (EIO, ETIMEDOUT,
// ECONNREFUSED, EHOSTUNREACH, EHOSTDOWN, EAGAIN) 503; anything else 500.
int HttpStatusFor(const Status& st);

// JSON text for a response body. Never throws: names that are not valid UTF-8 (possible for
// files made through the FUSE mount) have their bad bytes replaced by U+FFFD.
std::string DumpJson(const nlohmann::json& j);

// {"error": st.message(), "code": ErrnoName(st.code())}, dumped.
std::string ErrorJson(const Status& st);

}  // namespace vaultfs::web
