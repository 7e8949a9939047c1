// OpenFiles: see open_files.h.
#include "src/fuse/open_files.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "src/common/log.h"
#include "src/crypto/name_cipher.h"

namespace vaultfs::fuse {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {

cluster::Attr UncreatedAttr(uint64_t ino, const cluster::NewEntry& e, int64_t now) {
  cluster::Attr a;
  a.ino = ino;
  a.type = "file";
  a.mode = e.mode;
  a.uid = e.uid;
  a.gid = e.gid;
  a.nlink = 1;
  a.atime_ns = a.mtime_ns = a.ctime_ns = now;
  return a;
}

}  // namespace

OpenFiles::OpenFiles(cluster::Vault* vault, std::string staging_dir)
    : vault_(vault), staging_dir_(std::move(staging_dir)) {
  retry_ = std::thread([this] { RetryLoop(); });
}

OpenFiles::~OpenFiles() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  retry_.join();
}

void OpenFiles::RecoverJournals() {
  for (const std::string& path : StagedFile::FindJournals(staging_dir_)) {
    StagedJournal j;
    auto staged = StagedFile::Recover(path, &j);
    if (!staged.ok()) {
      VFS_LOG(kError) << "cannot recover staged data: " << staged.status().ToString()
                      << " (left in place)";
      continue;
    }
    auto now = vault_->tree().GetAttr(j.ino);
    if (!now.ok() && now.status().code() == ENOENT && j.create) {
      now = UncreatedAttr(j.ino, *j.create, j.mtime_ns);  // its first commit creates it
    }
    if (!now.ok()) {
      VFS_LOG(kWarn) << "staged changes of inode " << j.ino << " (" << (*staged)->path()
                     << ") not recovered now: " << now.status().ToString();
      if (now.status().code() == ENOENT) (*staged)->DropJournal();  // the file is gone
      continue;
    }
    auto f = std::make_shared<FileState>();
    f->ino = j.ino;
    f->base = *now;
    f->base.version = j.base_version;  // the content builds on this one, even if replaced
    f->size = j.size;
    f->base_limit = j.base_limit;
    f->staged = std::move(staged).value();
    f->dirty = true;
    f->write_mtime_ns = j.mtime_ns;
    f->pending = j.attrs;
    f->failed = true;
    f->next_retry = std::chrono::steady_clock::now();
    f->creating = j.create;
    VFS_LOG(kInfo) << "recovered staged changes of inode " << j.ino << "; committing them";
    std::lock_guard<std::mutex> lock(mu_);
    if (j.create) uncreated_[{j.create->parent, j.create->name}] = j.ino;
    files_.emplace(j.ino, std::move(f));  // an open of the inode joins it
  }
  cv_.notify_all();
}

Result<std::shared_ptr<FileState>> OpenFiles::Open(const cluster::Attr& fresh) {
  std::shared_ptr<FileState> f;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = files_[fresh.ino];
    if (!slot) {
      slot = std::make_shared<FileState>();
      slot->ino = fresh.ino;
      slot->base = fresh;
      slot->size = fresh.size;
      slot->base_limit = fresh.size;
    }
    f = slot;
    ++f->opens;
  }
  std::lock_guard<std::timed_mutex> lock(f->mu);
  if (!f->dirty && f->base.version != fresh.version) {  // changed elsewhere: start over
    f->base = fresh;
    f->size = fresh.size;
    f->base_limit = fresh.size;
    f->staged.reset();
    f->cache.reset();
  } else if (!f->dirty) {
    f->base = fresh;  // same content; attributes may have changed
  }
  return f;
}

std::shared_ptr<FileState> OpenFiles::OpenNew(uint64_t ino, const cluster::NewEntry& e) {
  const cluster::Attr a = UncreatedAttr(ino, e, NowNs());
  auto f = std::make_shared<FileState>();
  f->ino = a.ino;
  f->base = a;
  f->dirty = true;  // close() commits it, even empty
  f->write_mtime_ns = a.mtime_ns;
  f->creating = e;
  f->opens = 1;
  std::lock_guard<std::mutex> lock(mu_);
  files_[a.ino] = f;
  uncreated_[{e.parent, e.name}] = a.ino;
  return f;
}

std::optional<cluster::Attr> OpenFiles::Uncreated(uint64_t parent, const std::string& name) {
  uint64_t ino = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (uncreated_.empty()) return std::nullopt;  // the usual case: no key to build
    auto it = uncreated_.find({parent, name});
    if (it == uncreated_.end()) return std::nullopt;
    ino = it->second;
  }
  return Uncreated(ino);
}

std::optional<cluster::Attr> OpenFiles::Uncreated(uint64_t ino) {
  auto f = Find(ino);
  if (!f) return std::nullopt;
  std::lock_guard<std::timed_mutex> lock(f->mu);
  if (!f->creating) return std::nullopt;
  cluster::Attr a = f->base;
  Overlay(*f, &a);
  return a;
}

void OpenFiles::CreatePending() {
  std::vector<std::shared_ptr<FileState>> pending;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (uncreated_.empty()) return;
    for (const auto& [name, ino] : uncreated_) {
      auto it = files_.find(ino);
      if (it != files_.end()) pending.push_back(it->second);
    }
  }
  for (auto& f : pending) {
    // A file busy for longer is being committed (a large one is created as its upload
    // begins): no listing or rename waits behind its whole upload.
    std::unique_lock<std::timed_mutex> lock(f->mu, std::defer_lock);
    if (!lock.try_lock_for(std::chrono::seconds(2))) continue;
    if (!f->creating) continue;  // committed meanwhile
    auto a = vault_->tree().CreateReserved(f->ino, *f->creating);
    if (!a.ok() && a.status().code() == EEXIST) {
      MoveToConflictName(*f);
      a = vault_->tree().CreateReserved(f->ino, *f->creating);
    }
    if (!a.ok()) {  // its close() tries again and reports it
      VFS_LOG(kWarn) << "could not create inode " << f->ino << " yet: " << a.status().ToString();
      continue;
    }
    // The content is still to come: only the identity and link count change here.
    f->base.version = a->version;
    f->base.nlink = a->nlink;
    DoneCreating(*f);
  }
}

void OpenFiles::DoneCreating(FileState& f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = uncreated_.find({f.creating->parent, f.creating->name});
    if (it != uncreated_.end() && it->second == f.ino) uncreated_.erase(it);
  }
  f.creating.reset();
}

// Another client created the name first (it was free when this file was created here): the
// file is created under "<name>.conflict-<ino>" instead, so nothing written is lost.
void OpenFiles::MoveToConflictName(FileState& f) {
  const std::string was = f.creating->name;
  const std::string suffix = ".conflict-" + std::to_string(f.ino);
  std::string name = was.substr(0, std::min(was.size(), crypto::kMaxNameSize - suffix.size()));
  name += suffix;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = uncreated_.find({f.creating->parent, was});
    if (it != uncreated_.end() && it->second == f.ino) uncreated_.erase(it);
    uncreated_[{f.creating->parent, name}] = f.ino;
  }
  f.creating->name = name;
  VFS_LOG(kWarn) << "another client created '" << was << "' first; inode " << f.ino
                 << " is kept as '" << name << "' in the same directory";
}

void OpenFiles::Release(const std::shared_ptr<FileState>& f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (--f->opens > 0) return;
  }
  // f->mu is taken without mu_ held: a commit in progress must not stall every other open.
  std::lock_guard<std::timed_mutex> flock(f->mu);
  if (f->dirty) return;  // a failed commit: the retry thread keeps it
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(f->ino);
  if (it != files_.end() && it->second == f && f->opens == 0) files_.erase(it);
}

std::shared_ptr<FileState> OpenFiles::Find(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(ino);
  return it == files_.end() ? nullptr : it->second;
}

bool OpenFiles::AnyOpen() {
  std::lock_guard<std::mutex> lock(mu_);
  return !files_.empty();
}

void OpenFiles::Overlay(const FileState& f, cluster::Attr* a) {
  a->size = f.size;
  if (f.dirty) {
    a->mtime_ns = f.write_mtime_ns;
    a->ctime_ns = std::max(a->ctime_ns, f.write_mtime_ns);
  }
  f.pending.ApplyTo(*a);
}

Status OpenFiles::PinVersion(FileState& f) {
  if (f.cache || f.base.version.empty() || f.base_limit == 0) return Status::Ok();
  VFS_ASSIGN_OR_RETURN(auto reader, vault_->content().OpenVersion(f.base));
  f.cache = std::make_unique<SegmentCache>(std::move(reader), SegmentCache::Options{});
  f.cache_opened = std::chrono::steady_clock::now();
  return Status::Ok();
}

void OpenFiles::NoteUnlinked(uint64_t ino) {
  if (auto f = Find(ino)) {
    std::lock_guard<std::timed_mutex> lock(f->mu);
    if (f->base.nlink > 0) --f->base.nlink;
    f->base.ctime_ns = NowNs();
  }
}

Status OpenFiles::EnsureStaged(FileState& f) {
  if (f.staged) return Status::Ok();
  VFS_ASSIGN_OR_RETURN(f.staged, StagedFile::Create(staging_dir_, f.ino));
  return Status::Ok();
}

Status OpenFiles::ReadLocked(FileState& f, uint64_t offset, size_t n, char* out) {
  uint64_t pos = offset;
  const uint64_t end = offset + n;
  while (pos < end) {
    bool held = false;
    uint64_t run = f.staged ? f.staged->present().RunAt(pos, end - pos, &held) : end - pos;
    if (held) {
      VFS_RETURN_IF_ERROR(f.staged->Read(pos, out + (pos - offset), run));
    } else if (pos < f.base_limit) {
      run = std::min(run, f.base_limit - pos);
      // The data token that comes with a version lasts 20 minutes (kept short: a password
      // change cannot revoke it); a file kept open longer reopens its version for a fresh one.
      const auto now = std::chrono::steady_clock::now();
      if (f.cache && now - f.cache_opened > std::chrono::minutes(15)) f.cache.reset();
      if (!f.cache) {
        VFS_ASSIGN_OR_RETURN(auto reader, vault_->content().OpenVersion(f.base));
        f.cache = std::make_unique<SegmentCache>(std::move(reader), SegmentCache::Options{});
        f.cache_opened = now;
      }
      if (pos + run > f.cache->size()) {
        return Status(EIO, "inode " + std::to_string(f.ino) + ": version " + f.base.version +
                               " is shorter than its recorded size");
      }
      VFS_RETURN_IF_ERROR(f.cache->Read(pos, run, out + (pos - offset)));
    } else {
      memset(out + (pos - offset), 0, run);  // past the base's end: a hole
    }
    pos += run;
  }
  return Status::Ok();
}

Result<size_t> OpenFiles::Read(FileState& f, uint64_t offset, size_t n, char* out) {
  if (offset >= f.size) return size_t{0};
  n = static_cast<size_t>(std::min<uint64_t>(n, f.size - offset));
  VFS_RETURN_IF_ERROR(ReadLocked(f, offset, n, out));
  return n;
}

// Sizes above what the cluster stores fail here with EFBIG, not later at close.
Status OpenFiles::CheckSize(uint64_t offset, uint64_t length) const {
  const uint64_t max = vault_->max_file_size();
  if (offset > max || length > max - offset) {
    return Status(EFBIG, "a file may hold at most " + std::to_string(max) + " bytes");
  }
  return Status::Ok();
}

Status OpenFiles::Write(FileState& f, uint64_t offset, std::string_view data) {
  VFS_RETURN_IF_ERROR(CheckSize(offset, data.size()));
  VFS_RETURN_IF_ERROR(EnsureStaged(f));
  VFS_RETURN_IF_ERROR(f.staged->Write(offset, data));
  f.size = std::max<uint64_t>(f.size, offset + data.size());
  f.dirty = true;
  f.write_mtime_ns = NowNs();
  f.pending.mtime_ns.reset();  // a write after utimens sets the time again
  return Status::Ok();
}

Status OpenFiles::Truncate(FileState& f, uint64_t size) {
  if (size == f.size && f.base_limit <= size) return Status::Ok();
  VFS_RETURN_IF_ERROR(CheckSize(size, 0));
  VFS_RETURN_IF_ERROR(EnsureStaged(f));
  VFS_RETURN_IF_ERROR(f.staged->Truncate(size));
  f.base_limit = std::min(f.base_limit, size);
  f.size = size;
  f.dirty = true;
  f.write_mtime_ns = NowNs();
  f.pending.mtime_ns.reset();
  return Status::Ok();
}

Status OpenFiles::Commit(FileState& f) {
  const bool had_content = f.dirty;
  Status st = CommitLocked(f);
  if (st.ok()) return st;
  if (!had_content) {  // only attributes: nothing to keep; the caller reports the error
    f.pending = {};
    return st;
  }
  if (!f.dirty) return st;  // committed, but not as asked (under a conflict name)
  f.failed = true;
  f.next_retry = std::chrono::steady_clock::now() + f.backoff;
  if (!f.staged && f.creating) (void)EnsureStaged(f);  // an empty new file: journal it too
  if (f.staged) {
    StagedJournal j{f.ino,     f.base.version, f.size, f.base_limit, f.write_mtime_ns,
                    f.pending, f.creating};
    Status js = f.staged->SaveJournal(j);
    if (!js.ok()) VFS_LOG(kError) << "could not journal staged data: " << js.ToString();
  }
  VFS_LOG(kWarn) << "commit of inode " << f.ino << " failed: " << st.ToString()
                 << "; the data is kept in " << (f.staged ? f.staged->path() : "memory")
                 << " and retried";
  cv_.notify_all();
  return st;
}

// Copies the parts of the base version that still show through into the staging file, so
// the upload reads only local bytes: downloads of the base must not queue behind the new
// version's own half-sent shard uploads, and a journaled retry no longer needs the base
// (whose shards are deleted once another version replaces it).
Status OpenFiles::Materialize(FileState& f) {
  const uint64_t limit = std::min(f.size, f.base_limit);
  if (limit == 0) return Status::Ok();
  VFS_RETURN_IF_ERROR(EnsureStaged(f));
  std::string buf;
  uint64_t pos = 0;
  while (pos < limit) {
    bool held = false;
    uint64_t run = f.staged->present().RunAt(pos, limit - pos, &held);
    if (!held) {
      run = std::min<uint64_t>(run, 1 << 20);
      buf.resize(run);
      VFS_RETURN_IF_ERROR(ReadLocked(f, pos, run, buf.data()));
      VFS_RETURN_IF_ERROR(f.staged->Write(pos, buf));
    }
    pos += run;
  }
  f.cache.reset();
  return Status::Ok();
}

Status OpenFiles::CommitLocked(FileState& f) {
  if (!f.dirty) {
    if (f.pending.empty()) return Status::Ok();
    auto a = vault_->tree().SetAttr(f.ino, f.pending);
    if (!a.ok()) return a.status();
    f.base = *a;
    f.pending = {};
    return Status::Ok();
  }
  VFS_RETURN_IF_ERROR(Materialize(f));
  uint64_t pos = 0;
  auto source = [&](uint8_t* buf, size_t n) -> Status {
    Status st = ReadLocked(f, pos, n, reinterpret_cast<char*>(buf));
    pos += n;
    return st;
  };
  cluster::WriteOptions o;
  o.rewind = [&pos] {
    pos = 0;
    return Status::Ok();
  };
  o.attrs = f.pending;
  if (!o.attrs.mtime_ns) o.attrs.mtime_ns = f.write_mtime_ns;
  // WriteContent compares and swaps on the version this mount opened: a commit made elsewhere
  // since then is never replaced silently (ESTALE below keeps this content as a conflict copy).
  o.create = f.creating;
  auto a = vault_->content().WriteContent(f.base, f.size, source, o);
  if (!a.ok() && a.status().code() == ESTALE && !f.creating) {
    pos = 0;
    return SaveConflictCopy(f, source, o);
  }
  Status conflict;
  if (!a.ok() && a.status().code() == EEXIST && f.creating) {
    const std::string was = f.creating->name;
    MoveToConflictName(f);
    o.create = f.creating;
    pos = 0;
    a = vault_->content().WriteContent(f.base, f.size, source, o);
    conflict =
        Status(EEXIST, "another client created '" + was + "' first; this file was saved as '" +
                           f.creating->name + "' beside it");
  }
  if (!a.ok()) {
    // ENOENT may mean a directory or version the write needed, not the file: the data is
    // dropped only once getattr confirms the inode itself is gone.
    if (a.status().code() == ENOENT && !f.creating && !InodeGone(f.ino)) return a.status();
    if (a.status().code() == ENOENT) {
      Status result;
      if (f.creating) {
        // Its directory was removed (by another client) before the file was ever created:
        // as if it had been removed with it, and close() says so.
        result = Status(ENOENT, "the directory of '" + f.creating->name +
                                    "' was removed before the file could be created");
        VFS_LOG(kError) << "inode " << f.ino << ": " << result.message() << "; its data is dropped";
        DoneCreating(f);
      } else {
        // The file was deleted (by us or another client) while open: nothing to keep.
        VFS_LOG(kInfo) << "inode " << f.ino << " was deleted before its changes were committed";
      }
      f.dirty = false;
      f.failed = false;
      if (f.staged) f.staged->DropJournal();
      f.staged.reset();
      return result;
    }
    return a.status();
  }
  const bool replaced = !f.base.version.empty();
  if (f.creating) DoneCreating(f);
  f.base = *a;
  f.base_limit = f.size;
  f.cache.reset();  // the old version's shards are queued for deletion
  if (replaced) gc_wanted_ = true;
  if (f.staged) f.staged->DropJournal();
  f.dirty = false;
  f.failed = false;
  f.pending = {};
  f.backoff = std::chrono::seconds(2);
  return conflict;
}

bool OpenFiles::InodeGone(uint64_t ino) {
  auto a = vault_->tree().GetAttr(ino);
  if (a.ok() || a.status().code() != ENOENT) {
    VFS_LOG(kWarn) << "inode " << ino << ": the commit answered ENOENT but the file is "
                   << (a.ok() ? "still there"
                              : "not known to be gone (" + a.status().ToString() + ")")
                   << "; its data is kept and retried";
    return false;
  }
  return true;
}

void OpenFiles::NoteName(uint64_t ino, uint64_t parent, const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (names_.size() >= 65536) names_.clear();  // a hint for conflict copies, not a table
  names_[ino] = {parent, name};
}

// Another client committed a version of f since this mount opened it: this content is kept
// as a new file "<name>.conflict-<ino>" beside it (in the root if the name or the directory is
// unknown), the file keeps the other client's content, and close() reports EEXIST.
Status OpenFiles::SaveConflictCopy(FileState& f, const cluster::PlaintextReader& source,
                                   cluster::WriteOptions o) {
  std::pair<uint64_t, std::string> where{vault_->root(), "inode-" + std::to_string(f.ino)};
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = names_.find(f.ino);
    if (it != names_.end()) where = it->second;
  }
  VFS_ASSIGN_OR_RETURN(uint64_t copy_ino, vault_->tree().ReserveInode());
  const std::string suffix = ".conflict-" + std::to_string(copy_ino);
  cluster::NewEntry e{
      where.first,
      where.second.substr(0, std::min(where.second.size(), crypto::kMaxNameSize - suffix.size())) +
          suffix,
      f.base.mode, f.base.uid, f.base.gid};
  o.create = e;
  auto a = vault_->content().WriteContent(UncreatedAttr(copy_ino, e, f.write_mtime_ns), f.size,
                                          source, o);
  if (!a.ok() && a.status().code() == ENOENT && e.parent != vault_->root()) {
    VFS_RETURN_IF_ERROR(o.rewind());  // the directory is gone: the copy goes to the root
    e.parent = vault_->root();
    o.create = e;
    a = vault_->content().WriteContent(UncreatedAttr(copy_ino, e, f.write_mtime_ns), f.size, source,
                                       o);
  }
  if (!a.ok()) return a.status().Annotate("save a conflict copy of inode " + std::to_string(f.ino));
  VFS_LOG(kWarn) << "inode " << f.ino << " ('" << where.second << "') was changed by another "
                 << "client since it was opened here; this content was saved as '" << e.name
                 << "' (inode " << copy_ino << ")";
  // The file itself now shows the other client's version.
  if (f.staged) f.staged->DropJournal();
  f.staged.reset();
  f.cache.reset();
  f.dirty = false;
  f.failed = false;
  f.pending = {};
  f.backoff = std::chrono::seconds(2);
  if (auto now = vault_->tree().GetAttr(f.ino); now.ok()) {
    f.base = *now;
    f.size = now->size;
    f.base_limit = now->size;
  } else {
    f.base_limit = f.size = 0;
  }
  return Status(EEXIST, "'" + where.second + "' was changed by another client since it was " +
                            "opened here; this content was saved as '" + e.name + "' beside it");
}

int OpenFiles::FlushAll(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    std::vector<std::shared_ptr<FileState>> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& [ino, f] : files_) all.push_back(f);
    }
    int left = 0;
    vault_->content().ProbeDownServers();
    for (auto& f : all) {
      std::lock_guard<std::timed_mutex> lock(f->mu);
      if (!f->dirty && f->pending.empty()) continue;
      if (!Commit(*f).ok()) ++left;
    }
    if (left == 0) {
      // A last garbage-collection pass, so an unmount leaves no replaced versions behind.
      std::unique_lock<std::mutex> lock(mu_);
      std::erase_if(files_, [](const auto& kv) { return kv.second->opens == 0; });
      last_gc_ = {};
      if (gc_wanted_.exchange(false)) gc_due_ = true;
      MaybeCollectGarbage(lock);
      return 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) return left;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock,
                   std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2)));
  }
}

// Retries failed commits with exponential back-off (2 s .. 60 s) and forgets states that
// became clean while no handle has them open.
void OpenFiles::RetryLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stop_) break;
    std::vector<std::shared_ptr<FileState>> failed;
    for (auto& [ino, f] : files_) failed.push_back(f);
    lock.unlock();
    const auto now = std::chrono::steady_clock::now();
    std::vector<uint64_t> clean;
    bool probed = false;
    for (auto& f : failed) {
      std::unique_lock<std::timed_mutex> flock(f->mu, std::try_to_lock);
      if (!flock.owns_lock()) continue;  // in use by a handle
      if (f->failed && f->dirty && now >= f->next_retry) {
        if (!probed) {  // servers that came back are used at once, not after their back-off
          vault_->content().ProbeDownServers();
          probed = true;
        }
        if (Commit(*f).ok()) {
          VFS_LOG(kInfo) << "inode " << f->ino << ": staged changes committed on retry";
        } else {
          f->backoff = std::min(f->backoff * 2, std::chrono::seconds(60));
          f->next_retry = now + f->backoff;
        }
      }
      if (!f->dirty) clean.push_back(f->ino);
    }
    lock.lock();
    for (uint64_t ino : clean) {
      auto it = files_.find(ino);
      if (it != files_.end() && it->second->opens == 0) files_.erase(it);
    }
    MaybeCollectGarbage(lock);
  }
}

// Replaced and deleted versions' shards are deleted from the data servers at most once a
// minute, and only while this daemon has no file open: an open file keeps reading the version
// it opened (POSIX: even after unlink), so its shards must stay.
void OpenFiles::MaybeCollectGarbage(std::unique_lock<std::mutex>& lock) {
  const auto now = std::chrono::steady_clock::now();
  if (gc_wanted_.exchange(false)) gc_due_ = true;
  if (!gc_due_ || !files_.empty() || now - last_gc_ < std::chrono::seconds(60)) return;
  gc_due_ = false;
  last_gc_ = now;
  lock.unlock();
  auto removed = vault_->content().CollectGarbage();
  if (!removed.ok()) {
    VFS_LOG(kWarn) << "garbage collection: " << removed.status().ToString();
  } else if (*removed > 0) {
    VFS_LOG(kInfo) << "garbage collection removed " << *removed << " shard(s)";
  }
  lock.lock();
}

void OpenFiles::NoteGarbage() {
  std::lock_guard<std::mutex> lock(mu_);
  gc_due_ = true;
}

}  // namespace vaultfs::fuse
