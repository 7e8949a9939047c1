// ChunkStore: see chunk_store.h.
#include "servers/data/chunk_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <queue>
#include <vector>

#include "src/common/format_marker.h"
#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/common/shard_format.h"
#include "src/crypto/hash.h"
#include "src/crypto/random.h"

namespace vaultfs::data {
namespace {

constexpr char kTmpDir[] = ".tmp";
constexpr char kStorageIdFile[] = ".storage-id";
constexpr char kSuffix[] = ".chunk";
constexpr size_t kSuffixLen = sizeof(kSuffix) - 1;

// The token format already restricts user ids; this re-check keeps the path safe even if a
// caller passes something else.
Status ValidateUser(std::string_view user) {
  if (user.empty() || user.size() > 64) return InvalidArgument("bad user id length");
  for (char c : user) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '-')) {
      return InvalidArgument("bad character in user id");
    }
  }
  return Status::Ok();
}

Status FsyncPath(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return SystemError(errno, "open " + path);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  if (rc != 0) return SystemError(err, "fsync " + path);
  return Status::Ok();
}

// The storage folder's identity: a random id written once, when the folder is first used. A
// wiped or replaced disk comes back with a new one, which tells the cluster that whatever the
// server held before is gone (rather than missing shards being found one read at a time).
Result<std::string> LoadOrCreateStorageId(const std::string& root) {
  const std::string path = root + "/" + kStorageIdFile;
  if (FILE* f = std::fopen(path.c_str(), "re")) {
    char buf[65] = {};
    size_t n = std::fread(buf, 1, 64, f);
    std::fclose(f);
    std::string id(buf, n);
    while (!id.empty() && (id.back() == '\n' || id.back() == ' ')) id.pop_back();
    if (id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos) {
      return id;
    }
    return Status(EBADMSG, path + " is damaged; move it aside only if this disk is new");
  }
  if (errno != ENOENT) return SystemError(errno, "open " + path);
  VFS_ASSIGN_OR_RETURN(std::string id, crypto::RandomHexId(16));
  const std::string tmp = path + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return SystemError(errno, "create " + tmp);
  const std::string line = id + "\n";
  bool ok =
      write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok) return SystemError(err, "write " + tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return SystemError(errno, "rename " + tmp);
  VFS_RETURN_IF_ERROR(FsyncPath(root));
  return id;
}

Status MakeDir(const std::string& path, bool* created) {
  *created = false;
  if (mkdir(path.c_str(), 0700) == 0) {
    *created = true;
    return Status::Ok();
  }
  if (errno == EEXIST) return Status::Ok();
  return SystemError(errno, "mkdir " + path);
}

Status PreadFull(int fd, char* buf, size_t n, uint64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, buf, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      return SystemError(errno, "read");
    }
    if (r == 0) return IoError("object shrank while being read");
    buf += r;
    n -= static_cast<size_t>(r);
    off += static_cast<uint64_t>(r);
  }
  return Status::Ok();
}

struct DirCloser {
  void operator()(DIR* d) const { closedir(d); }
};

}  // namespace

Status DirSyncer::Sync(const std::string& dir) {
  Ticket me;
  std::unique_lock<std::mutex> lock(mu_);
  DirState& d = dirs_[dir];  // std::map: the reference stays valid while users > 0
  ++d.users;
  d.next.push_back(&me);
  while (!me.done) {
    if (d.running) {
      cv_.wait(lock);
      continue;
    }
    // Lead the next fsync: it starts after every queued caller's rename.
    std::vector<Ticket*> round;
    round.swap(d.next);
    d.running = true;
    lock.unlock();
    Status st = FsyncPath(dir);
    lock.lock();
    for (Ticket* t : round) {
      t->status = st;
      t->done = true;
    }
    d.running = false;
    cv_.notify_all();
  }
  if (--d.users == 0) dirs_.erase(dir);
  return me.status;
}

std::string ChunkStore::UserDir(std::string_view user) const {
  return root_ + "/" + std::string(user);
}

std::string ChunkStore::ObjectPath(std::string_view user, std::string_view chunk) const {
  return root_ + "/" + std::string(user) + "/" + std::string(chunk) + kSuffix;
}

Result<std::unique_ptr<ChunkStore>> ChunkStore::Open(const std::string& root) {
  std::unique_ptr<ChunkStore> store(new ChunkStore(root));
  bool created = false;
  VFS_RETURN_IF_ERROR(MakeDir(root, &created));
  // Before anything else is created, so an old store is never half-upgraded.
  VFS_RETURN_IF_ERROR(CheckOrCreateFormat(
      root, {"data-store", kDataStoreFormat, {kStorageIdFile, kTmpDir}}, "data folder " + root));
  const std::string tmp = root + "/" + kTmpDir;
  VFS_RETURN_IF_ERROR(MakeDir(tmp, &created));
  if (created) VFS_RETURN_IF_ERROR(FsyncPath(root));
  VFS_ASSIGN_OR_RETURN(store->storage_id_, LoadOrCreateStorageId(root));

  // Leftover uploads from a crash: never acknowledged, so they are garbage.
  std::unique_ptr<DIR, DirCloser> d(opendir(tmp.c_str()));
  if (!d) return SystemError(errno, "opendir " + tmp);
  int removed = 0;
  while (dirent* e = readdir(d.get())) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (unlink((tmp + "/" + name).c_str()) != 0) return SystemError(errno, "unlink temp " + name);
    ++removed;
  }
  if (removed > 0) {
    VFS_LOG(kInfo) << "removed " << removed << " leftover temp file(s) from " << tmp;
    VFS_RETURN_IF_ERROR(FsyncPath(tmp));
  }

  // Usage counters: every <user>/<chunk>.chunk.
  std::unique_ptr<DIR, DirCloser> r(opendir(root.c_str()));
  if (!r) return SystemError(errno, "opendir " + root);
  while (dirent* e = readdir(r.get())) {
    std::string user = e->d_name;
    if (!ValidateUser(user).ok()) continue;  // skips ".", "..", ".tmp" and strays
    std::unique_ptr<DIR, DirCloser> u(opendir((root + "/" + user).c_str()));
    if (!u) continue;
    while (dirent* f = readdir(u.get())) {
      std::string name = f->d_name;
      if (name.size() <= kSuffixLen ||
          name.compare(name.size() - kSuffixLen, kSuffixLen, kSuffix) != 0) {
        continue;
      }
      struct stat st {};
      if (stat((root + "/" + user + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
        ++store->initial_objects_;
        store->initial_bytes_ += static_cast<uint64_t>(st.st_size);
      }
    }
  }
  return store;
}

uint64_t DefaultReserve(uint64_t total_bytes) {
  constexpr uint64_t kMin = uint64_t(256) << 20, kMax = uint64_t(4) << 30;
  return std::clamp<uint64_t>(total_bytes / 20, kMin, kMax);
}

Result<TempFile> ChunkStore::CreateTemp(uint64_t size) {
  if (const uint64_t reserve = reserve_.load(std::memory_order_relaxed); reserve > 0) {
    // Checked per upload, before any byte is written. Uploads running side by side were each
    // checked against the space free when they started; the reserve absorbs that overlap.
    VFS_ASSIGN_OR_RETURN(DiskSpace space, Space());
    if (space.free_bytes < reserve || space.free_bytes - reserve < size) {
      return Status(ENOSPC, "storage " + root_ + " has " + std::to_string(space.free_bytes) +
                                " bytes free; an upload of " + std::to_string(size) +
                                " bytes would leave less than the reserve of " +
                                std::to_string(reserve) + " bytes (--reserve); free space " +
                                "or delete files");
    }
  }
  VFS_ASSIGN_OR_RETURN(std::string id, crypto::RandomHexId(12));
  TempFile t;
  t.path = root_ + "/" + kTmpDir + "/" + id + ".tmp";
  constexpr int kFlags = O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC;
  if (try_direct_.load(std::memory_order_relaxed)) {
    t.fd = open(t.path.c_str(), kFlags | O_DIRECT, 0600);
    if (t.fd >= 0) {
      t.direct = true;
      return t;
    }
    if (errno != EINVAL) return SystemError(errno, "create temp file");
    // No O_DIRECT on this filesystem (tmpfs before Linux 6.6, ...). The kernel may have
    // created the file before refusing the flag; the name is ours alone, so remove it.
    if (unlink(t.path.c_str()) != 0 && errno != ENOENT)
      return SystemError(errno, "unlink temp file");
    VFS_LOG(kInfo) << "storage does not support O_DIRECT; using buffered writes";
    try_direct_.store(false, std::memory_order_relaxed);
  }
  t.fd = open(t.path.c_str(), kFlags, 0600);
  if (t.fd < 0) return SystemError(errno, "create temp file");
  return t;
}

namespace {

Status PwriteAll(int fd, const char* data, size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return SystemError(errno, "write upload");
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status ClearDirect(TempFile* file) {
  const int flags = fcntl(file->fd, F_GETFL);
  if (flags < 0 || fcntl(file->fd, F_SETFL, flags & ~O_DIRECT) != 0) {
    return SystemError(errno, "clear O_DIRECT");
  }
  file->direct = false;
  return Status::Ok();
}

}  // namespace

Status ChunkStore::WriteAt(TempFile* file, const char* data, size_t n, uint64_t offset) {
  if (file->direct && offset % kDirectIoAlign == 0 &&
      reinterpret_cast<uintptr_t>(data) % kDirectIoAlign == 0) {
    const size_t aligned = n - n % kDirectIoAlign;
    Status st = PwriteAll(file->fd, data, aligned, offset);
    if (st.code() != EINVAL) {
      VFS_RETURN_IF_ERROR(st);
      data += aligned;
      n -= aligned;
      offset += aligned;
    }
    // else: the filesystem wants another alignment; nothing was written, redo it buffered.
  }
  if (n == 0) return Status::Ok();
  if (file->direct) VFS_RETURN_IF_ERROR(ClearDirect(file));
  return PwriteAll(file->fd, data, n, offset);
}

void ChunkStore::Abandon(int fd, const std::string& temp_path) {
  if (fd >= 0) close(fd);
  if (!temp_path.empty() && unlink(temp_path.c_str()) != 0 && errno != ENOENT) {
    VFS_LOG(kWarn) << "cannot remove temp file " << temp_path << ": " << std::strerror(errno);
  }
}

Result<CommitResult> ChunkStore::Commit(int fd, const std::string& temp_path, std::string_view user,
                                        std::string_view chunk) {
  Status st = ValidateUser(user);
  if (st.ok()) st = ValidateChunkId(chunk);
  if (st.ok() && fsync(fd) != 0) st = SystemError(errno, "fsync upload");
  if (!st.ok()) {
    Abandon(fd, temp_path);
    return st;
  }
  if (close(fd) != 0) {
    st = SystemError(errno, "close upload");
    Abandon(-1, temp_path);
    return st;
  }
  const std::string dir = UserDir(user);
  bool created = false;
  st = MakeDir(dir, &created);
  if (st.ok() && created) st = FsyncPath(root_);
  if (!st.ok()) {
    Abandon(-1, temp_path);
    return st;
  }
  const std::string final_path = ObjectPath(user, chunk);
  CommitResult result;
  // The replaced object stays open until after the directory fsync: freeing its blocks (the
  // last reference going away) then happens outside name_mu_ and after this upload is
  // durable, instead of inside rename() while every other commit waits.
  int replaced_fd = -1;
  {
    std::lock_guard<std::mutex> lock(name_mu_);
    replaced_fd = open(final_path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat old {};
    if (replaced_fd >= 0 ? fstat(replaced_fd, &old) == 0 : stat(final_path.c_str(), &old) == 0) {
      result.replaced = true;
      result.old_size = static_cast<uint64_t>(old.st_size);
    }
    if (rename(temp_path.c_str(), final_path.c_str()) != 0) {
      st = SystemError(errno, "rename upload into place");
      if (replaced_fd >= 0) close(replaced_fd);
      Abandon(-1, temp_path);
      return st;
    }
  }
  st = dir_syncer_.Sync(dir);
  if (replaced_fd >= 0) close(replaced_fd);
  VFS_RETURN_IF_ERROR(st);
  return result;
}

Result<uint64_t> ChunkStore::Remove(std::string_view user, std::string_view chunk) {
  VFS_RETURN_IF_ERROR(ValidateUser(user));
  VFS_RETURN_IF_ERROR(ValidateChunkId(chunk));
  const std::string path = ObjectPath(user, chunk);
  uint64_t size = 0;
  int removed_fd = -1;  // as in Commit: free the blocks outside name_mu_
  {
    std::lock_guard<std::mutex> lock(name_mu_);
    removed_fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st {};
    if (removed_fd >= 0 ? fstat(removed_fd, &st) != 0 : stat(path.c_str(), &st) != 0) {
      Status s = SystemError(errno, "object " + std::string(chunk));
      if (removed_fd >= 0) close(removed_fd);
      return s;
    }
    size = static_cast<uint64_t>(st.st_size);
    if (unlink(path.c_str()) != 0) {
      Status s = SystemError(errno, "remove " + std::string(chunk));
      if (removed_fd >= 0) close(removed_fd);
      return s;
    }
  }
  Status synced = dir_syncer_.Sync(UserDir(user));
  if (removed_fd >= 0) close(removed_fd);
  VFS_RETURN_IF_ERROR(synced);
  return size;
}

Result<OpenObject> ChunkStore::OpenForRead(std::string_view user, std::string_view chunk) {
  VFS_RETURN_IF_ERROR(ValidateUser(user));
  VFS_RETURN_IF_ERROR(ValidateChunkId(chunk));
  OpenObject o;
  o.fd = open(ObjectPath(user, chunk).c_str(), O_RDONLY | O_CLOEXEC);
  if (o.fd < 0) return SystemError(errno, "object " + std::string(chunk));
  struct stat st {};
  if (fstat(o.fd, &st) != 0) {
    Status s = SystemError(errno, "stat " + std::string(chunk));
    close(o.fd);
    return s;
  }
  o.size = static_cast<uint64_t>(st.st_size);
  return o;
}

void ChunkStore::Prefetch(int fd, uint64_t offset, uint64_t len) {
  constexpr uint64_t kMaxOff = static_cast<uint64_t>(std::numeric_limits<off_t>::max());
  if (offset > kMaxOff) return;
  posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(std::min(len, kMaxOff - offset)),
                POSIX_FADV_WILLNEED);
}

Result<ListPage> ChunkStore::List(std::string_view user, std::string_view cursor, uint32_t limit) {
  VFS_RETURN_IF_ERROR(ValidateUser(user));
  ListPage page;
  page.now = static_cast<int64_t>(::time(nullptr));
  const std::string dir = UserDir(user);
  std::unique_ptr<DIR, DirCloser> d(opendir(dir.c_str()));
  if (!d) {
    if (errno == ENOENT) return page;  // a user with no objects yet
    return SystemError(errno, "opendir");
  }
  // The `limit` + 1 smallest names past the cursor, in a max-heap: memory stays bounded by the
  // page, not by the folder (a server may hold millions of one owner's objects).
  std::priority_queue<std::string> smallest;
  for (;;) {
    errno = 0;
    dirent* e = readdir(d.get());
    if (e == nullptr) {
      // A listing cut short by a read error would look complete to the caller.
      if (errno != 0) return SystemError(errno, "readdir " + dir);
      break;
    }
    std::string name = e->d_name;
    if (name.size() <= kSuffixLen ||
        name.compare(name.size() - kSuffixLen, kSuffixLen, kSuffix) != 0) {
      continue;
    }
    name.resize(name.size() - kSuffixLen);
    if (!ValidateChunkId(name).ok() || name <= cursor) continue;
    if (smallest.size() <= limit) {
      smallest.push(std::move(name));
    } else if (name < smallest.top()) {
      smallest.pop();
      smallest.push(std::move(name));
    }
  }
  std::vector<std::string> names;
  names.reserve(smallest.size());
  for (; !smallest.empty(); smallest.pop()) names.push_back(smallest.top());
  std::reverse(names.begin(), names.end());
  const bool more = names.size() > limit;
  if (more) names.resize(limit);
  size_t bytes = 64;
  for (size_t i = 0; i < names.size(); ++i) {
    const size_t entry_bytes = names[i].size() + 64;  // {"chunk":..,"size":..,"mtime":..}
    if (i > 0 && bytes + entry_bytes > kListMaxReplyBytes) {
      page.next_cursor = names[i - 1];
      return page;
    }
    bytes += entry_bytes;
    struct stat st {};
    if (stat((dir + "/" + names[i] + kSuffix).c_str(), &st) != 0) continue;  // removed meanwhile
    page.entries.push_back(
        {names[i], static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtim.tv_sec)});
  }
  if (more && !names.empty()) page.next_cursor = names.back();
  return page;
}

Result<VerifyReport> ChunkStore::Verify(std::string_view user, std::string_view chunk) {
  VFS_ASSIGN_OR_RETURN(OpenObject o, OpenForRead(user, chunk));
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{o.fd};
  if (o.size < kShardFooterSize) return Corruption("object is smaller than a shard footer");
  std::string footer(kShardFooterSize, '\0');
  VFS_RETURN_IF_ERROR(PreadFull(o.fd, footer.data(), footer.size(), o.size - kShardFooterSize));
  VFS_ASSIGN_OR_RETURN(uint64_t body_len, ParseShardFooter(footer, o.size));
  std::string trailer(body_len + kShardFooterSize, '\0');
  VFS_RETURN_IF_ERROR(PreadFull(o.fd, trailer.data(), trailer.size(), o.size - trailer.size()));
  VFS_ASSIGN_OR_RETURN(ShardIndex index, ParseShardTrailer(trailer, o.size));

  VerifyReport report;
  report.block_count = index.block_count;
  report.root_hex = crypto::DigestToHex(crypto::Sha256(trailer));
  crypto::Sha256Hasher hasher;
  std::string buf(std::min<uint64_t>(index.block_size, 1u << 20), '\0');
  for (uint64_t j = 0; j < index.block_count; ++j) {
    VFS_ASSIGN_OR_RETURN(ShardIndex::Extent ext, index.BlockExtent(j));
    uint64_t done = 0;
    while (done < ext.length) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), ext.length - done));
      VFS_RETURN_IF_ERROR(PreadFull(o.fd, buf.data(), n, ext.offset + done));
      hasher.Update(std::string_view(buf.data(), n));
      done += n;
    }
    crypto::Sha256Digest got = hasher.Finish();
    if (std::memcmp(got.data(), index.block_hashes[j].data(), kShardHashSize) != 0) {
      report.bad_blocks.push_back(j);
    }
  }
  return report;
}

Result<DiskSpace> ChunkStore::Space() {
  struct statvfs sv {};
  if (statvfs(root_.c_str(), &sv) != 0) return SystemError(errno, "statvfs " + root_);
  DiskSpace s;
  s.total_bytes = static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize;
  s.free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  return s;
}

}  // namespace vaultfs::data
