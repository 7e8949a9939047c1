// Names and paths from the browser: see vault_path.h.
#include "src/web/vault_path.h"

namespace vaultfs::web {

Status ValidateName(std::string_view name) {
  if (name.empty()) return InvalidArgument("a name must not be empty");
  if (name == "." || name == "..") return InvalidArgument("'.' and '..' are not names");
  if (name.size() > kMaxNameBytes) {
    return Status(ENAMETOOLONG, "a name has at most " + std::to_string(kMaxNameBytes) + " bytes");
  }
  for (char c : name) {
    if (c == '/') return InvalidArgument("a name must not contain '/'");
    if (c == '\0') return InvalidArgument("a name must not contain NUL");
  }
  return Status::Ok();
}

Result<std::vector<std::string>> SplitVaultPath(std::string_view path) {
  if (path.empty() || path.front() != '/') {
    return InvalidArgument("a path must start with '/'");
  }
  std::vector<std::string> parts;
  std::string_view rest = path.substr(1);
  if (rest == "/") return InvalidArgument("a path must not contain an empty segment");
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view part = rest.substr(0, slash);
    Status st = ValidateName(part);
    if (!st.ok()) return st.Annotate("path segment " + std::to_string(parts.size() + 1));
    parts.emplace_back(part);
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
    if (rest.empty()) return InvalidArgument("a path must not contain an empty segment");
  }
  return parts;
}

std::string JoinVaultPath(const std::vector<std::string>& parts) {
  if (parts.empty()) return "/";
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

bool IsUploadTempName(std::string_view name) {
  return name.substr(0, kUploadTempPrefix.size()) == kUploadTempPrefix;
}

}  // namespace vaultfs::web
