// The registry of running mount daemons: see daemon_registry.h.
#include "src/fuse/daemon_registry.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>

#include "src/common/private_files.h"
#include "src/crypto/hash.h"

namespace vaultfs::fuse {

std::string DaemonRegistry::DefaultDir(const char* xdg_runtime_dir, uid_t uid) {
  if (xdg_runtime_dir != nullptr && *xdg_runtime_dir != '\0') {
    return std::string(xdg_runtime_dir) + "/vaultfs";
  }
  return "/tmp/vaultfs-" + std::to_string(uid);
}

DaemonRegistry DaemonRegistry::ForThisUser() {
  return DaemonRegistry(DefaultDir(std::getenv("XDG_RUNTIME_DIR"), getuid()));
}

Status DaemonRegistry::Check() const {
  return EnsurePrivateDir(dir_, "the mount registry folder", DirLinks::kRefuse);
}

std::string DaemonRegistry::FileName(const std::string& mountpoint) {
  return crypto::DigestToHex(crypto::Sha256(mountpoint)).substr(0, 32) + ".pid";
}

Status DaemonRegistry::Record(const std::string& mountpoint, pid_t pid) const {
  VFS_RETURN_IF_ERROR(Check());
  return WritePrivateFile(dir_, FileName(mountpoint), std::to_string(pid) + "\n");
}

bool DaemonRegistry::IsOwnFolder() const {
  struct stat st {};
  return lstat(dir_.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
         (st.st_mode & 077) == 0;
}

pid_t DaemonRegistry::Lookup(const std::string& mountpoint) const {
  if (!IsOwnFolder()) return 0;
  struct stat st {};
  const std::string path = dir_ + "/" + FileName(mountpoint);
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  char buf[32] = {};
  ssize_t n = -1;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
    n = read(fd, buf, sizeof(buf) - 1);
  }
  close(fd);
  if (n <= 0) return 0;
  char* end = nullptr;
  long pid = std::strtol(buf, &end, 10);
  if (end == buf || (*end != '\n' && *end != '\0') || pid <= 0 || pid > (1L << 30)) return 0;
  return static_cast<pid_t>(pid);
}

void DaemonRegistry::Forget(const std::string& mountpoint) const {
  if (!IsOwnFolder()) return;
  unlink((dir_ + "/" + FileName(mountpoint)).c_str());
}

}  // namespace vaultfs::fuse
