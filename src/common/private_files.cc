// Private folders and state files: see private_files.h.
#include "src/common/private_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace vaultfs {
namespace {

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// mkdir -p with mode 0700 for every folder it creates.
Status MakeDirs(const std::string& path) {
  if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  if (errno != ENOENT) return SystemError(errno, "cannot create " + path);
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos || slash == 0) return SystemError(ENOENT, "cannot create " + path);
  VFS_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  if (mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return Status::Ok();
  return SystemError(errno, "cannot create " + path);
}

}  // namespace

Status EnsurePrivateDir(const std::string& path, std::string_view what, DirLinks links) {
  if (path.empty()) return InvalidArgument(std::string(what) + ": empty path");
  std::string label = std::string(what) + " " + path;
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    if (errno != ENOENT) return SystemError(errno, "cannot inspect " + label);
    VFS_RETURN_IF_ERROR(MakeDirs(path));
    if (lstat(path.c_str(), &st) != 0) return SystemError(errno, "cannot inspect " + label);
  }
  if (S_ISLNK(st.st_mode)) {
    if (links == DirLinks::kRefuse) {
      return Status(ELOOP, label +
                               " is a symbolic link; it must be a folder of your own (remove "
                               "the link, or point the setting at a folder you made)");
    }
    if (stat(path.c_str(), &st) != 0) return SystemError(errno, "cannot inspect " + label);
  }
  if (!S_ISDIR(st.st_mode)) return Status(ENOTDIR, label + " is not a folder");
  if (st.st_uid != geteuid()) {
    return PermissionDenied(label + " belongs to uid " + std::to_string(st.st_uid) +
                            ", not to this user (uid " + std::to_string(geteuid()) +
                            "); use a folder of your own");
  }
  if ((st.st_mode & 077) != 0) {
    return PermissionDenied(label + " has mode " + Octal(st.st_mode) +
                            ": group or others may use it; run: chmod 700 " + path);
  }
  return Status::Ok();
}

Status WritePrivateFile(const std::string& dir, const std::string& name, std::string_view content) {
  const std::string target = dir + "/" + name;
  std::random_device rd;
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = dir + "/." + name + "." + std::to_string(rd()) + ".tmp";
    fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || attempt >= 16))
      return SystemError(errno, "cannot create " + tmp);
  }
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = SystemError(n < 0 ? errno : EIO, "cannot write " + tmp);
      close(fd);
      unlink(tmp.c_str());
      return s;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (close(fd) != 0) {
    Status s = SystemError(errno, "cannot write " + tmp);
    unlink(tmp.c_str());
    return s;
  }
  // rename() replaces a link at `target` itself; it never writes through it.
  if (rename(tmp.c_str(), target.c_str()) != 0) {
    Status s = SystemError(errno, "cannot replace " + target);
    unlink(tmp.c_str());
    return s;
  }
  return Status::Ok();
}

}  // namespace vaultfs
