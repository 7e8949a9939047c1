// Test support: see file_checks.h.
#include "tests/fuse/file_checks.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <sstream>
#include <vector>

#include "src/crypto/hash.h"
#include "tests/cluster/cluster_fixture.h"

namespace vaultfs::testing {

namespace fs = std::filesystem;

namespace {

constexpr size_t kBlock = 1 << 20;

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Block(uint64_t seed, uint64_t index) {
  return TestBytes(kBlock, seed * 1000003 + index);
}

}  // namespace

Status ErrnoStatus(int err, const std::string& what) {
  return Status(err, what + ": " + std::strerror(err));
}

std::string StreamResult::Describe() const {
  if (err == 0)
    return "ok: " + std::to_string(bytes) + " bytes in " + std::to_string(seconds) + " s";
  return op + " failed after " + std::to_string(bytes) + " bytes (" + std::to_string(seconds) +
         " s): " + ErrnoName(err) + " (" + std::strerror(err) + ")";
}

std::string PatternBytes(uint64_t seed, uint64_t offset, size_t len) {
  std::string out;
  out.reserve(len);
  uint64_t pos = offset;
  while (out.size() < len) {
    std::string b = Block(seed, pos / kBlock);
    size_t in_block = pos % kBlock;
    size_t take = std::min(len - out.size(), kBlock - in_block);
    out.append(b, in_block, take);
    pos += take;
  }
  return out;
}

std::string PatternSha256(uint64_t size, uint64_t seed) {
  crypto::Sha256Hasher h;
  for (uint64_t i = 0; i * kBlock < size; ++i) {
    std::string b = Block(seed, i);
    h.Update(std::string_view(b.data(), std::min<uint64_t>(kBlock, size - i * kBlock)));
  }
  return crypto::DigestToHex(h.Finish());
}

StreamResult WritePattern(const std::string& path, uint64_t size, uint64_t seed,
                          bool fsync_before_close) {
  StreamResult r;
  auto start = std::chrono::steady_clock::now();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    r.err = errno;
    r.op = "open";
    return r;
  }
  crypto::Sha256Hasher h;
  for (uint64_t i = 0; r.bytes < size && r.err == 0; ++i) {
    std::string b = Block(seed, i);
    size_t len = static_cast<size_t>(std::min<uint64_t>(kBlock, size - r.bytes));
    size_t done = 0;
    while (done < len) {
      ssize_t n = write(fd, b.data() + done, len - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        r.err = errno;
        r.op = "write";
        break;
      }
      done += static_cast<size_t>(n);
    }
    h.Update(std::string_view(b.data(), done));
    r.bytes += done;
  }
  if (r.err == 0 && fsync_before_close && fsync(fd) != 0) {
    r.err = errno;
    r.op = "fsync";
  }
  if (close(fd) != 0 && r.err == 0) {
    r.err = errno;
    r.op = "close";
  }
  r.sha256 = crypto::DigestToHex(h.Finish());
  r.seconds = SecondsSince(start);
  return r;
}

StreamResult ReadSha256(const std::string& path, const std::function<void(uint64_t)>& on_progress) {
  StreamResult r;
  auto start = std::chrono::steady_clock::now();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r.err = errno;
    r.op = "open";
    r.seconds = SecondsSince(start);
    return r;
  }
  crypto::Sha256Hasher h;
  std::vector<char> buf(kBlock);
  for (;;) {
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      r.err = errno;
      r.op = "read";
      break;
    }
    if (n == 0) break;
    h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    r.bytes += static_cast<uint64_t>(n);
    if (on_progress) on_progress(r.bytes);
  }
  close(fd);
  r.sha256 = crypto::DigestToHex(h.Finish());
  r.seconds = SecondsSince(start);
  return r;
}

Status PutFile(const std::string& path, const std::string& data, mode_t mode) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = ErrnoStatus(errno, "write " + path);
      close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  if (close(fd) != 0) return ErrnoStatus(errno, "close " + path);
  return Status::Ok();
}

Result<std::string> GetFile(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open " + path);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = ErrnoStatus(errno, "read " + path);
      close(fd);
      return st;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

Result<std::string> TreeListing(const std::string& dir, MtimePrecision precision) {
  std::vector<std::string> lines;
  std::error_code ec;
  auto it = fs::recursive_directory_iterator(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "list " + dir);
  for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return ErrnoStatus(ec.value(), "list " + dir);
    const std::string p = it->path().string();
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) return ErrnoStatus(errno, "lstat " + p);
    char type = S_ISDIR(st.st_mode)    ? 'd'
                : S_ISLNK(st.st_mode)  ? 'l'
                : S_ISREG(st.st_mode)  ? 'f'
                : S_ISFIFO(st.st_mode) ? 'p'
                                       : '?';
    std::ostringstream line;
    line << it->path().lexically_relative(dir).string() << '|' << type << '|' << std::oct
         << (st.st_mode & 07777) << std::dec << '|' << st.st_uid << ':' << st.st_gid << '|'
         << (type == 'd' ? std::string("-") : std::to_string(st.st_size)) << '|'
         << st.st_mtim.tv_sec;
    if (precision == MtimePrecision::kNanoseconds) {
      char ns[16];
      std::snprintf(ns, sizeof(ns), ".%09ld", static_cast<long>(st.st_mtim.tv_nsec));
      line << ns;
    }
    line << '|';
    if (type == 'l') {
      std::error_code lec;
      line << fs::read_symlink(it->path(), lec).string();
    }
    lines.push_back(line.str());
  }
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::string ListingDiff(const std::string& want, const std::string& got, size_t max_lines) {
  if (want == got) return "";
  auto split = [](const std::string& s) {
    std::set<std::string> out;
    std::istringstream in(s);
    std::string line;
    while (std::getline(in, line)) out.insert(line);
    return out;
  };
  std::set<std::string> a = split(want), b = split(got);
  std::string out;
  size_t n = 0;
  for (const auto& l : a) {
    if (!b.count(l) && n++ < max_lines) out += "  only in source: " + l + "\n";
  }
  n = 0;
  for (const auto& l : b) {
    if (!a.count(l) && n++ < max_lines) out += "  only in copy:   " + l + "\n";
  }
  return "listings differ (" + std::to_string(a.size()) + " vs " + std::to_string(b.size()) +
         " entries):\n" + out;
}

}  // namespace vaultfs::testing
