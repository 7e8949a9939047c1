// Names and paths that arrive from the browser, checked before they reach the vault.
//
// The gateway never joins user input into a path it did not check: every component the API
// takes (a file name, a new name, each segment of a directory path) must be a plain name —
// not empty, not "." or "..", no '/', no NUL, at most 255 bytes — so a request can only
// name entries inside the logged-in user's own tree, one level at a time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "src/client/content.h"

#include "src/common/status.h"

namespace vaultfs::web {

inline constexpr size_t kMaxNameBytes = 255;  // NAME_MAX, as the FUSE mount has it

// OK for a plain entry name; EINVAL (ENAMETOOLONG for > 255 bytes) otherwise.
Status ValidateName(std::string_view name);

// "/" -> {}, "/a/b" -> {"a", "b"}. The path must be absolute with no empty, "." or ".."
// segments (a trailing '/' is tolerated); each segment must pass ValidateName.
Result<std::vector<std::string>> SplitVaultPath(std::string_view path);

// The inverse of SplitVaultPath: {} -> "/", {"a", "b"} -> "/a/b".
std::string JoinVaultPath(const std::vector<std::string>& parts);

// Names Content::Store gives files while they are being uploaded (by the gateway or the CLI);
// listings hide them.
inline constexpr std::string_view kUploadTempPrefix = client::kStoreTempPrefix;
bool IsUploadTempName(std::string_view name);

}  // namespace vaultfs::web
