// OpenFile: see open_file.h.
#include "src/fuse/open_file.h"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "src/common/log.h"
#include "src/fuse/commit_retrier.h"

namespace vaultfs::fuse {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

client::Attr NewFileAttr(uint64_t ino, const client::NewEntry& e, int64_t now) {
  client::Attr a;
  a.ino = ino;
  a.type = "file";
  a.mode = e.mode;
  a.uid = e.uid;
  a.gid = e.gid;
  a.nlink = 1;
  a.atime_ns = a.mtime_ns = a.ctime_ns = now;
  return a;
}

namespace {

// The data token that comes with a version lasts 20 minutes (kept short: a password change
// cannot revoke it); a file kept open longer reopens its version for a fresh one.
constexpr auto kReaderLifetime = std::chrono::minutes(15);

}  // namespace

OpenFile::OpenFile(OpenFileContext* ctx, const client::Attr& fresh)
    : ctx_(ctx), ino_(fresh.ino), base_(fresh), size_(fresh.size), base_limit_(fresh.size) {}

OpenFile::OpenFile(OpenFileContext* ctx, uint64_t ino, const client::NewEntry& e)
    : ctx_(ctx), ino_(ino), base_(NewFileAttr(ino, e, NowNs())) {
  dirty_ = true;  // close() commits it, even empty
  write_mtime_ns_ = base_.mtime_ns;
  creating_ = e;
}

OpenFile::OpenFile(OpenFileContext* ctx, const client::Attr& now, const StagedJournal& j,
                   std::unique_ptr<StagedFile> staged)
    : ctx_(ctx), ino_(j.ino), base_(now) {
  base_.version = j.base_version;  // the content builds on this one, even if replaced
  size_ = j.size;
  base_limit_ = j.base_limit;
  staged_ = std::move(staged);
  dirty_ = true;
  creating_ = j.create;
  write_mtime_ns_ = j.mtime_ns;
  pending_ = j.attrs;
  failed_ = true;
  next_retry_ = std::chrono::steady_clock::now();
}

void OpenFile::Refresh(const client::Attr& fresh) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (dirty_) return;  // unflushed local changes win (and a commit in flight is not awaited)
  }
  std::lock_guard<std::timed_mutex> commit(commit_mu_);
  bool same = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (dirty_) return;
    same = base_.version == fresh.version;
  }
  client::Attr now = fresh;
  if (!same) {
    // Committed elsewhere, or `fresh` was read before a commit of ours ended and names the
    // version that commit replaced: read again, with no commit of ours in flight, to tell.
    auto again = ctx_->store->GetAttr(ino_);
    if (again.ok()) now = *again;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (dirty_) return;
  if (base_.version != now.version) {  // changed elsewhere: start over
    size_ = now.size;
    base_limit_ = now.size;
    staged_.reset();
    reader_.reset();
  }
  base_ = now;  // same content; attributes may have changed
}

Status OpenFile::PinVersion() {
  client::Attr base;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (reader_ || base_.version.empty() || base_limit_ == 0) return Status::Ok();
    base = base_;
  }
  return ReaderFor(base, nullptr).status();
}

Result<std::shared_ptr<BaseReader>> OpenFile::ReaderFor(const client::Attr& base,
                                                        std::shared_ptr<BaseReader> have) {
  if (have) return have;
  // A metadata round trip (placement and key of the version): without mu_.
  VFS_ASSIGN_OR_RETURN(std::shared_ptr<BaseReader> cache, ctx_->store->OpenVersion(base));
  std::lock_guard<std::mutex> lock(mu_);
  if (base_.version == base.version && !reader_) {
    reader_ = cache;
    reader_opened_ = std::chrono::steady_clock::now();
  }
  return cache;
}

Status OpenFile::ReadRange(uint64_t offset, size_t n, char* out) {
  struct Run {
    uint64_t pos;
    uint64_t len;
  };
  std::vector<Run> from_base;
  client::Attr base;
  std::shared_ptr<BaseReader> cache;
  {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t pos = offset;
    const uint64_t end = offset + n;
    while (pos < end) {
      bool held = false;
      uint64_t run = staged_ ? staged_->present().RunAt(pos, end - pos, &held) : end - pos;
      if (held) {
        VFS_RETURN_IF_ERROR(staged_->Read(pos, out + (pos - offset), run));
      } else if (pos < base_limit_) {
        run = std::min(run, base_limit_ - pos);
        from_base.push_back({pos, run});
      } else {
        memset(out + (pos - offset), 0, run);  // past the base's end: a hole
      }
      pos += run;
    }
    if (from_base.empty()) return Status::Ok();
    base = base_;
    if (reader_ && std::chrono::steady_clock::now() - reader_opened_ > kReaderLifetime) {
      reader_.reset();
    }
    cache = reader_;
  }
  // The download happens without mu_: metadata operations and reads of staged ranges go on.
  VFS_ASSIGN_OR_RETURN(cache, ReaderFor(base, std::move(cache)));
  for (const Run& r : from_base) {
    if (r.pos + r.len > cache->size()) {
      return Status(EIO, "inode " + std::to_string(ino_) + ": version " + base.version +
                             " is shorter than its recorded size");
    }
    VFS_RETURN_IF_ERROR(cache->Read(r.pos, r.len, out + (r.pos - offset)));
  }
  return Status::Ok();
}

Result<size_t> OpenFile::Read(uint64_t offset, size_t n, char* out) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (offset >= size_) return size_t{0};
    n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  }
  VFS_RETURN_IF_ERROR(ReadRange(offset, n, out));
  return n;
}

// Sizes above what the cluster stores fail here with EFBIG, not later at close.
Status OpenFile::CheckSize(uint64_t offset, uint64_t length) const {
  const uint64_t max = ctx_->store->max_file_size();
  if (offset > max || length > max - offset) {
    return Status(EFBIG, "a file may hold at most " + std::to_string(max) + " bytes");
  }
  return Status::Ok();
}

Status OpenFile::EnsureStagedLocked() {
  if (staged_) return Status::Ok();
  VFS_ASSIGN_OR_RETURN(staged_, StagedFile::Create(ctx_->staging, ino_));
  return Status::Ok();
}

Status OpenFile::Write(uint64_t offset, std::string_view data) {
  VFS_RETURN_IF_ERROR(CheckSize(offset, data.size()));
  std::lock_guard<std::timed_mutex> commit(commit_mu_);  // an upload's view stays frozen
  std::lock_guard<std::mutex> lock(mu_);
  VFS_RETURN_IF_ERROR(EnsureStagedLocked());
  VFS_RETURN_IF_ERROR(staged_->Write(offset, data));
  size_ = std::max<uint64_t>(size_, offset + data.size());
  dirty_ = true;
  write_mtime_ns_ = NowNs();
  pending_.mtime_ns.reset();  // a write after utimens sets the time again
  return Status::Ok();
}

Status OpenFile::TruncateHeld(uint64_t size) {
  if (size == size_ && base_limit_ <= size) return Status::Ok();
  VFS_RETURN_IF_ERROR(CheckSize(size, 0));
  VFS_RETURN_IF_ERROR(EnsureStagedLocked());
  VFS_RETURN_IF_ERROR(staged_->Truncate(size));
  base_limit_ = std::min(base_limit_, size);
  size_ = size;
  dirty_ = true;
  write_mtime_ns_ = NowNs();
  pending_.mtime_ns.reset();
  return Status::Ok();
}

Status OpenFile::Truncate(uint64_t size) {
  std::lock_guard<std::timed_mutex> commit(commit_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  return TruncateHeld(size);
}

Status OpenFile::Allocate(int mode, uint64_t offset, uint64_t length) {
  constexpr int kSupported = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  const bool punch = (mode & FALLOC_FL_PUNCH_HOLE) != 0;
  const bool zero = (mode & FALLOC_FL_ZERO_RANGE) != 0;
  const bool keep_size = (mode & FALLOC_FL_KEEP_SIZE) != 0;
  // The kernel's own rules (vfs_fallocate); collapse, insert and unshare have no meaning here.
  if ((mode & ~kSupported) != 0 || (punch && zero) || (punch && !keep_size)) {
    return Status(EOPNOTSUPP, "fallocate mode " + std::to_string(mode) +
                                  " is not supported (supported: 0, KEEP_SIZE, PUNCH_HOLE, "
                                  "ZERO_RANGE)");
  }
  if (length == 0) return InvalidArgument("fallocate: the length must be positive");
  VFS_RETURN_IF_ERROR(CheckSize(offset, length));
  std::lock_guard<std::timed_mutex> commit(commit_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t end = offset + length;
  if ((punch || zero) && offset < size_) {
    // Zeros staged like written bytes: the version format stores a hole as zeros.
    VFS_RETURN_IF_ERROR(EnsureStagedLocked());
    static const std::string kZeros(size_t{1} << 20, '\0');
    for (uint64_t at = offset, stop = std::min(end, size_); at < stop;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeros.size(), stop - at));
      VFS_RETURN_IF_ERROR(staged_->Write(at, std::string_view(kZeros.data(), n)));
      at += n;
    }
    dirty_ = true;
    write_mtime_ns_ = NowNs();
    pending_.mtime_ns.reset();
  }
  if (!keep_size && end > size_) return TruncateHeld(end);
  return Status::Ok();
}

void OpenFile::OverlayLocked(client::Attr* a) const {
  a->size = size_;
  if (dirty_) {
    a->mtime_ns = write_mtime_ns_;
    a->ctime_ns = std::max(a->ctime_ns, write_mtime_ns_);
  }
  inflight_.ApplyTo(*a);
  pending_.ApplyTo(*a);
}

// Attributes the service answered for this file. The version is a content field: it moves
// only with the content (Refresh, Commit), never from an attribute change.
void OpenFile::ApplyServiceAttrLocked(const client::Attr& a) {
  if (!dirty_ && a.version == base_.version) {
    base_ = a;
    return;
  }
  base_.mode = a.mode;
  base_.uid = a.uid;
  base_.gid = a.gid;
  base_.nlink = a.nlink;
  base_.atime_ns = a.atime_ns;
  base_.mtime_ns = a.mtime_ns;
  base_.ctime_ns = a.ctime_ns;
}

client::Attr OpenFile::Attr() {
  std::lock_guard<std::mutex> lock(mu_);
  client::Attr a = base_;
  OverlayLocked(&a);
  return a;
}

std::optional<client::Attr> OpenFile::UncreatedAttr() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!creating_) return std::nullopt;
  client::Attr a = base_;
  OverlayLocked(&a);
  return a;
}

Result<client::Attr> OpenFile::SetAttr(const client::AttrUpdate& u, std::optional<uint64_t> size) {
  const int64_t now = NowNs();
  if (size) {
    std::lock_guard<std::timed_mutex> commit(commit_mu_);
    std::lock_guard<std::mutex> lock(mu_);
    VFS_RETURN_IF_ERROR(TruncateHeld(*size));
  }
  if (!u.empty()) {
    bool merged = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (dirty_) {
        pending_.Merge(u);  // goes with the commit (a commit in flight: with the next one)
        merged = true;
      }
    }
    if (!merged) {
      // A clean file: the change goes to the service now, without holding mu_.
      VFS_ASSIGN_OR_RETURN(client::Attr a, ctx_->store->SetAttr(ino_, u));
      std::lock_guard<std::mutex> lock(mu_);
      ApplyServiceAttrLocked(a);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  client::Attr a = base_;
  OverlayLocked(&a);
  if (dirty_) a.ctime_ns = now;
  return a;
}

void OpenFile::NoteLinked(const client::Attr& a) {
  std::lock_guard<std::mutex> lock(mu_);
  base_.nlink = a.nlink;  // open files answer getattr locally
  base_.ctime_ns = a.ctime_ns;
}

void OpenFile::NoteUnlinked() {
  std::lock_guard<std::mutex> lock(mu_);
  if (base_.nlink > 0) --base_.nlink;
  base_.ctime_ns = NowNs();
}

void OpenFile::NoteRead() {
  const int64_t now = NowNs();
  std::lock_guard<std::mutex> lock(mu_);
  client::Attr a = base_;
  OverlayLocked(&a);
  if (a.atime_ns <= a.mtime_ns || a.atime_ns < now - 86400LL * 1000000000) {
    client::AttrUpdate u;
    u.atime_ns = now;
    pending_.Merge(u);
  }
}

bool OpenFile::NeedsCommitAtRelease() {
  std::lock_guard<std::mutex> lock(mu_);
  return (dirty_ && !failed_) || (!dirty_ && !pending_.empty());
}

bool OpenFile::Clean() {
  std::lock_guard<std::mutex> lock(mu_);
  return !dirty_;
}

bool OpenFile::RetryDue(std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  return failed_ && dirty_ && now >= next_retry_;
}

bool OpenFile::RetryIfDue(std::chrono::steady_clock::time_point now) {
  std::unique_lock<std::timed_mutex> commit(commit_mu_, std::try_to_lock);
  if (!commit.owns_lock()) return false;  // a commit is in flight
  if (RetryDue(now)) {
    if (CommitHeld().ok()) {
      VFS_LOG(kInfo) << "inode " << ino_ << ": staged changes committed on retry";
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      backoff_ = std::min(backoff_ * 2, std::chrono::seconds(60));
      next_retry_ = now + backoff_;
    }
  }
  return Clean();
}

Status OpenFile::CreateReserved(std::chrono::milliseconds wait) {
  // A file busy for longer is being committed (a large one is created as its upload begins):
  // no listing or rename waits behind its whole upload.
  std::unique_lock<std::timed_mutex> commit(commit_mu_, std::defer_lock);
  if (!commit.try_lock_for(wait)) return Status::Ok();
  std::optional<client::NewEntry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!creating_) return Status::Ok();  // committed meanwhile
    e = creating_;
  }
  auto a = ctx_->store->CreateReserved(ino_, *e);
  if (!a.ok() && a.status().code() == EEXIST) {
    MoveToConflictName();
    {
      std::lock_guard<std::mutex> lock(mu_);
      e = creating_;
    }
    a = ctx_->store->CreateReserved(ino_, *e);
  }
  if (!a.ok()) return a.status();
  std::lock_guard<std::mutex> lock(mu_);
  // The content is still to come: only the identity and link count change here.
  base_.version = a->version;
  base_.nlink = a->nlink;
  DoneCreatingLocked();
  return Status::Ok();
}

void OpenFile::DoneCreatingLocked() {
  ctx_->creates->Remove(creating_->parent, creating_->name, ino_);
  creating_.reset();
}

// Another client created the name first (it was free when this file was created here): the
// file is created under "<name>.conflict-<ino>" instead, so nothing written is lost.
void OpenFile::MoveToConflictName() {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string was = creating_->name;
  const std::string name = PendingCreates::ConflictName(was, ino_);
  ctx_->creates->Remove(creating_->parent, was, ino_);
  ctx_->creates->Add(creating_->parent, name, ino_);
  creating_->name = name;
  VFS_LOG(kWarn) << "another client created '" << was << "' first; inode " << ino_
                 << " is kept as '" << name << "' in the same directory";
}

Status OpenFile::Commit() {
  std::lock_guard<std::timed_mutex> commit(commit_mu_);
  return CommitHeld();
}

Status OpenFile::CommitHeld() {
  client::AttrUpdate attrs;
  bool dirty = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gone_) {  // deleted while open: changes live here until the last close
      dirty_ = false;
      pending_ = {};
      return Status::Ok();
    }
    dirty = dirty_;
    if (!dirty && pending_.empty()) return Status::Ok();
    // Changes made while this commit is in flight go into a fresh pending_.
    attrs = std::exchange(pending_, {});
    inflight_ = attrs;
  }
  if (!dirty) {
    auto a = ctx_->store->SetAttr(ino_, attrs);
    // Deleted while open here: nothing to send, ever (as with content, in UploadHeld).
    const bool gone = !a.ok() && a.status().code() == ENOENT && InodeGone();
    std::lock_guard<std::mutex> lock(mu_);
    inflight_ = {};  // only attributes: nothing to keep; the caller reports the error
    if (gone) {
      VFS_LOG(kInfo) << "inode " << ino_ << " was deleted while open here";
      gone_ = true;
      pending_ = {};
      return Status::Ok();
    }
    if (!a.ok()) return a.status();
    ApplyServiceAttrLocked(*a);
    return Status::Ok();
  }
  Status st = UploadHeld(std::move(attrs));
  std::unique_lock<std::mutex> lock(mu_);
  if (!inflight_.empty()) {  // not sent: back under the newer changes (newer win)
    client::AttrUpdate merged = std::exchange(inflight_, {});
    merged.Merge(pending_);
    pending_ = merged;
  }
  if (st.ok() || !dirty_) return st;  // !dirty_: committed, but not as asked (a conflict name)
  failed_ = true;
  next_retry_ = std::chrono::steady_clock::now() + backoff_;
  if (!staged_ && creating_) (void)EnsureStagedLocked();  // an empty new file: journal it too
  const StagedJournal j{ino_,     base_.version, size_, base_limit_, write_mtime_ns_,
                        pending_, creating_};
  StagedFile* staged = staged_.get();
  lock.unlock();
  // commit_mu_ keeps staged_ in place; the fsyncs happen without mu_.
  if (staged != nullptr) {
    Status js = staged->SaveJournal(j);
    if (!js.ok()) VFS_LOG(kError) << "could not journal staged data: " << js.ToString();
  }
  VFS_LOG(kWarn) << "commit of inode " << ino_ << " failed: " << st.ToString()
                 << "; the data is kept in " << (staged != nullptr ? staged->path() : "memory")
                 << " and retried";
  ctx_->retrier->Wake();
  return st;
}

// Copies the parts of the base version that still show through into the staging file, so
// the upload reads only local bytes: downloads of the base must not queue behind the new
// version's own half-sent shard uploads, and a journaled retry no longer needs the base
// (whose shards are deleted once another version replaces it). commit_mu_ keeps writers out;
// the downloads happen without mu_.
Status OpenFile::Materialize() {
  uint64_t limit = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    limit = std::min(size_, base_limit_);
    if (limit == 0) return Status::Ok();
    VFS_RETURN_IF_ERROR(EnsureStagedLocked());
  }
  std::string buf;
  uint64_t pos = 0;
  while (pos < limit) {
    bool held = false;
    uint64_t run = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      run = staged_->present().RunAt(pos, limit - pos, &held);
    }
    if (!held) {
      run = std::min<uint64_t>(run, 1 << 20);
      buf.resize(run);
      VFS_RETURN_IF_ERROR(ReadRange(pos, run, buf.data()));
      std::lock_guard<std::mutex> lock(mu_);
      // Past the cap if need be: a full staging area must not make staged changes
      // uncommittable (StagingArea::ForceReserve).
      VFS_RETURN_IF_ERROR(staged_->Write(pos, buf, StagedFile::Cap::kExempt));
    }
    pos += run;
  }
  std::lock_guard<std::mutex> lock(mu_);
  reader_.reset();
  return Status::Ok();
}

Status OpenFile::UploadHeld(client::AttrUpdate attrs) {
  VFS_RETURN_IF_ERROR(Materialize());
  client::Attr base;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::optional<client::NewEntry> creating;
  {
    std::lock_guard<std::mutex> lock(mu_);
    base = base_;
    size = size_;
    mtime_ns = write_mtime_ns_;
    creating = creating_;
  }
  // Everything below size is local now (staged or a hole): the source never downloads.
  uint64_t pos = 0;
  auto source = [&](uint8_t* buf, size_t n) -> Status {
    Status st = ReadRange(pos, n, reinterpret_cast<char*>(buf));
    pos += n;
    return st;
  };
  client::WriteOptions o;
  o.rewind = [&pos] {
    pos = 0;
    return Status::Ok();
  };
  o.attrs = std::move(attrs);
  if (!o.attrs.mtime_ns) o.attrs.mtime_ns = mtime_ns;
  // WriteContent compares and swaps on the version this mount opened: a commit made elsewhere
  // since then is never replaced silently (ESTALE below keeps this content as a conflict copy).
  o.create = creating;
  FileStore* store = ctx_->store;
  auto a = store->WriteContent(base, size, source, o);
  if (!a.ok() && a.status().code() == ESTALE && !creating) {
    pos = 0;
    return SaveConflictCopy(base, size, mtime_ns, source, o);
  }
  Status conflict;
  if (!a.ok() && a.status().code() == EEXIST && creating) {
    const std::string was = creating->name;
    MoveToConflictName();
    {
      std::lock_guard<std::mutex> lock(mu_);
      creating = creating_;
    }
    o.create = creating;
    pos = 0;
    a = store->WriteContent(base, size, source, o);
    conflict =
        Status(EEXIST, "another client created '" + was + "' first; this file was saved as '" +
                           creating->name + "' beside it");
  }
  if (!a.ok()) {
    // ENOENT may mean a directory or version the write needed, not the file: the data is
    // dropped only once getattr confirms the inode itself is gone.
    if (a.status().code() == ENOENT && !creating && !InodeGone()) return a.status();
    if (a.status().code() != ENOENT) return a.status();
    Status result;
    std::lock_guard<std::mutex> lock(mu_);
    if (creating_) {
      // Its directory was removed (by another client) before the file was ever created:
      // as if it had been removed with it, and close() says so.
      result = Status(ENOENT, "the directory of '" + creating_->name +
                                  "' was removed before the file could be created");
      VFS_LOG(kError) << "inode " << ino_ << ": " << result.message() << "; its data is dropped";
      DoneCreatingLocked();
    } else {
      // The file was deleted (by us or another client) while open: nothing to commit, ever.
      // Its open handles still read and write it (POSIX), so its content stays: Materialize()
      // above staged all of it, and the staging file goes with the last close. (The same
      // holds when only attributes were to be sent: see CommitHeld.)
      VFS_LOG(kInfo) << "inode " << ino_ << " was deleted while open here; its content stays "
                     << "readable until it is closed";
      gone_ = true;
    }
    dirty_ = false;
    failed_ = false;
    inflight_ = {};
    if (staged_) staged_->DropJournal();
    if (!gone_) staged_.reset();
    return result;
  }
  const bool replaced = !base.version.empty();
  // Before the file is clean and may leave the table: see OpenFiles::Open.
  if (replaced) ctx_->replaced->Note(ino_, base.version);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (creating_) DoneCreatingLocked();
    base_ = *a;
    // The new version is what Materialize() left here: the staged bytes over zeros. Nothing
    // of it is ever downloaded again, so a file deleted while open stays readable.
    base_limit_ = 0;
    reader_.reset();  // the old version's shards are queued for deletion
    if (staged_) staged_->DropJournal();
    dirty_ = false;
    failed_ = false;
    inflight_ = {};  // sent; changes made meanwhile stay in pending_ for the next commit
    backoff_ = std::chrono::seconds(2);
  }
  if (replaced) ctx_->retrier->NoteReplaced();
  return conflict;
}

bool OpenFile::InodeGone() {
  auto a = ctx_->store->GetAttr(ino_);
  if (a.ok() || a.status().code() != ENOENT) {
    VFS_LOG(kWarn) << "inode " << ino_ << ": the commit answered ENOENT but the file is "
                   << (a.ok() ? "still there"
                              : "not known to be gone (" + a.status().ToString() + ")")
                   << "; its data is kept and retried";
    return false;
  }
  return true;
}

// Another client committed a version of the file since this mount opened it: this content is
// kept as a new file "<name>.conflict-<ino>" beside it (in the root if the name or the
// directory is unknown), the file keeps the other client's content, and close() reports
// EEXIST.
Status OpenFile::SaveConflictCopy(const client::Attr& base, uint64_t size, int64_t mtime_ns,
                                  const cluster::PlaintextReader& source, client::WriteOptions o) {
  FileStore* store = ctx_->store;
  std::pair<uint64_t, std::string> where{store->root(), "inode-" + std::to_string(ino_)};
  if (auto hint = ctx_->names->Get(ino_)) where = *hint;
  VFS_ASSIGN_OR_RETURN(uint64_t copy_ino, store->ReserveInode());
  client::NewEntry e{where.first, PendingCreates::ConflictName(where.second, copy_ino), base.mode,
                     base.uid, base.gid};
  o.create = e;
  auto a = store->WriteContent(NewFileAttr(copy_ino, e, mtime_ns), size, source, o);
  if (!a.ok() && a.status().code() == ENOENT && e.parent != store->root()) {
    VFS_RETURN_IF_ERROR(o.rewind());  // the directory is gone: the copy goes to the root
    e.parent = store->root();
    o.create = e;
    a = store->WriteContent(NewFileAttr(copy_ino, e, mtime_ns), size, source, o);
  }
  if (!a.ok()) return a.status().Annotate("save a conflict copy of inode " + std::to_string(ino_));
  VFS_LOG(kWarn) << "inode " << ino_ << " ('" << where.second << "') was changed by another "
                 << "client since it was opened here; this content was saved as '" << e.name
                 << "' (inode " << copy_ino << ")";
  // The file itself now shows the other client's version.
  auto now = store->GetAttr(ino_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (staged_) staged_->DropJournal();
    staged_.reset();
    reader_.reset();
    dirty_ = false;
    failed_ = false;
    inflight_ = {};
    backoff_ = std::chrono::seconds(2);
    if (now.ok()) {
      base_ = *now;
      size_ = now->size;
      base_limit_ = now->size;
    } else {
      base_limit_ = size_ = 0;
    }
  }
  return Status(EEXIST, "'" + where.second + "' was changed by another client since it was " +
                            "opened here; this content was saved as '" + e.name + "' beside it");
}

}  // namespace vaultfs::fuse
