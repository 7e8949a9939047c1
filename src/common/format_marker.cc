// Format markers: FORMAT files that name what a store directory holds (format_marker.h).
#include "src/common/format_marker.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

namespace vaultfs {
namespace {

constexpr size_t kMaxFormatFile = 256;

Result<std::string> ReadSmallFile(const std::string& path, bool* absent) {
  *absent = false;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      *absent = true;
      return std::string();
    }
    return SystemError(errno, "cannot open " + path);
  }
  std::string text(kMaxFormatFile + 1, '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = SystemError(errno, "cannot read " + path);
      close(fd);
      return s;
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  text.resize(got);
  return text;
}

Status FsyncFd(int fd, const std::string& path) {
  if (fsync(fd) != 0) return SystemError(errno, "cannot fsync " + path);
  return Status::Ok();
}

// FORMAT is written through a temporary file and a rename, and both the file and the folder
// are fsynced, so a crash leaves either no marker (and no other file: the caller creates
// nothing before this returns) or a whole one.
Status WriteMarker(const std::string& dir, const std::string& content) {
  const std::string path = dir + "/" + std::string(kFormatFile);
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return SystemError(errno, "cannot create " + tmp);
  Status st = Status::Ok();
  if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    st = SystemError(errno == 0 ? EIO : errno, "cannot write " + tmp);
  } else {
    st = FsyncFd(fd, tmp);
  }
  close(fd);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0)
    st = SystemError(errno, "cannot rename " + tmp);
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return SystemError(errno, "cannot open " + dir);
  st = FsyncFd(dfd, dir);
  close(dfd);
  return st;
}

std::string MarkerText(const FormatMarker& m) {
  return "vaultfs " + m.kind + " " + std::to_string(m.version) + "\n";
}

}  // namespace

std::string FormatMismatchMessage(std::string_view what, std::string_view kind, uint32_t found,
                                  uint32_t want) {
  std::string have = found == 0 ? std::string("a format from before format markers")
                                : "format " + std::to_string(found);
  return std::string(what) + " holds a vaultfs " + std::string(kind) + " of " + have +
         "; this vaultfs reads only format " + std::to_string(want) +
         ". There is no migration: copy your files out with the vaultfs that wrote it, stop "
         "the cluster (tools/mkcluster down), move the old folder aside and create a new "
         "cluster with tools/mkcluster (or start this server on an empty folder)";
}

Status CheckOrCreateFormat(const std::string& dir, const FormatMarker& want,
                           std::string_view what) {
  const std::string path = dir + "/" + std::string(kFormatFile);
  bool absent = false;
  VFS_ASSIGN_OR_RETURN(std::string text, ReadSmallFile(path, &absent));
  if (absent) {
    for (const std::string& a : want.artifacts) {
      struct stat st {};
      if (lstat((dir + "/" + a).c_str(), &st) == 0) {
        return Status(EPROTO, FormatMismatchMessage(what, want.kind, 0, want.version));
      }
    }
    return WriteMarker(dir, MarkerText(want));
  }
  // "vaultfs <kind> <version>\n"
  const std::string prefix = "vaultfs " + want.kind + " ";
  if (text.size() > kMaxFormatFile || text.compare(0, prefix.size(), prefix) != 0 ||
      text.back() != '\n') {
    return Status(EPROTO, path + " does not describe a vaultfs " + want.kind +
                              " (it is damaged, or the folder belongs to another kind of "
                              "server); point " +
                              std::string(what) +
                              " at the right folder, or at an empty one for a new store");
  }
  uint32_t found = 0;
  const char* begin = text.data() + prefix.size();
  const char* end = text.data() + text.size() - 1;
  auto [ptr, ec] = std::from_chars(begin, end, found);
  if (ec != std::errc() || ptr != end || found == 0) {
    return Status(EPROTO, path + " is damaged (no format number); point " + std::string(what) +
                              " at the right folder, or at an empty one for a new store");
  }
  if (found != want.version) {
    return Status(EPROTO, FormatMismatchMessage(what, want.kind, found, want.version));
  }
  return Status::Ok();
}

}  // namespace vaultfs
