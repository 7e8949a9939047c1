// Test helper: lists what under a folder other accounts could use (issue 20: every file and
// folder a server or tools/mkcluster creates is 0600 / 0700).
#pragma once

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace vaultfs::testing {

// Every entry under `root` (root included) with a group or other permission bit, as
// "path mode"; symlinks are listed as such (a server makes none). Empty: all private.
inline std::vector<std::string> NotPrivate(const std::string& root) {
  namespace fs = std::filesystem;
  std::vector<std::string> bad;
  auto check = [&bad](const std::string& p) {
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return;  // vanished meanwhile (a temp file)
    char mode[16];
    std::snprintf(mode, sizeof(mode), " %04o", static_cast<unsigned>(st.st_mode & 07777));
    if (S_ISLNK(st.st_mode)) {
      bad.push_back(p + " (symlink)");
    } else if ((st.st_mode & 077) != 0) {
      bad.push_back(p + mode);
    }
  };
  check(root);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(
           root, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    check(it->path().string());
  }
  return bad;
}

}  // namespace vaultfs::testing
