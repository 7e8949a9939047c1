// OpenFiles: see open_files.h.
#include "src/fuse/open_files.h"

#include "src/common/log.h"

namespace vaultfs::fuse {

OpenFiles::OpenFiles(FileStore* store, StagingArea* staging) : store_(store) {
  ctx_.store = store;
  ctx_.staging = staging;
  ctx_.creates = &creates_;
  ctx_.names = &names_;
  ctx_.replaced = &replaced_;
  retrier_ = std::make_unique<CommitRetrier>(store, this);
  ctx_.retrier = retrier_.get();
  retrier_->Start();
}

OpenFiles::~OpenFiles() { retrier_.reset(); }

void OpenFiles::RecoverJournals() {
  if (int n = StagedFile::RemoveUnjournaled(ctx_.staging->dir()); n > 0) {
    VFS_LOG(kInfo) << "removed " << n << " staging file(s) of changes an earlier daemon never "
                   << "acknowledged (it stopped before their close or fsync returned)";
  }
  for (const std::string& path : StagedFile::FindJournals(ctx_.staging->dir())) {
    StagedJournal j;
    auto staged = StagedFile::Recover(ctx_.staging, path, &j);
    if (!staged.ok()) {
      VFS_LOG(kError) << "cannot recover staged data: " << staged.status().ToString()
                      << "; nothing of it is applied, and its files are left in place (move "
                      << "them out of the cache dir to look at them, or delete them)";
      continue;
    }
    auto now = store_->GetAttr(j.ino);
    if (!now.ok() && now.status().code() == ENOENT && j.create) {
      now = NewFileAttr(j.ino, *j.create, j.mtime_ns);  // its first commit creates it
    }
    if (!now.ok()) {
      VFS_LOG(kWarn) << "staged changes of inode " << j.ino << " (" << (*staged)->path()
                     << ") not recovered now: " << now.status().ToString();
      if (now.status().code() == ENOENT) (*staged)->DropJournal();  // the file is gone
      continue;
    }
    auto f = std::make_shared<OpenFile>(&ctx_, *now, j, std::move(staged).value());
    VFS_LOG(kInfo) << "recovered staged changes of inode " << j.ino << "; committing them";
    if (j.create) creates_.Add(j.create->parent, j.create->name, j.ino);
    std::lock_guard<std::mutex> lock(mu_);
    Slot& slot = files_[j.ino];
    if (!slot.file) slot.file = std::move(f);  // an open of the inode joins it
  }
  retrier_->Wake();
}

std::shared_ptr<OpenFile> OpenFiles::Open(const client::Attr& fresh) {
  client::Attr a = fresh;
  for (bool trust = false;;) {
    std::shared_ptr<OpenFile> f;
    bool joined = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(a.ino);
      joined = it != files_.end();
      // A commit here replaced the version `a` names after `a` was read, and the file has left
      // the table since (it does only after noting that version): read `a` again.
      if (joined || trust || !replaced_.Contains(a.ino, a.version)) {
        Slot& slot = files_[a.ino];
        if (!joined) slot.file = std::make_shared<OpenFile>(&ctx_, a);
        ++slot.opens;
        f = slot.file;
      }
    }
    if (f) {
      if (joined) f->Refresh(a);  // which reads the attributes again itself if need be
      return f;
    }
    auto again = store_->GetAttr(a.ino);
    if (again.ok()) {
      a = *again;
    } else {
      trust = true;  // as before: the attributes the open read
    }
  }
}

std::shared_ptr<OpenFile> OpenFiles::OpenNew(uint64_t ino, const client::NewEntry& e) {
  auto f = std::make_shared<OpenFile>(&ctx_, ino, e);
  creates_.Add(e.parent, e.name, ino);
  std::lock_guard<std::mutex> lock(mu_);
  files_[ino] = Slot{f, 1};
  return f;
}

std::optional<client::Attr> OpenFiles::Uncreated(uint64_t parent, const std::string& name) {
  if (creates_.empty()) return std::nullopt;  // the usual case
  auto ino = creates_.Find(parent, name);
  if (!ino) return std::nullopt;
  return Uncreated(*ino);
}

std::optional<client::Attr> OpenFiles::Uncreated(uint64_t ino) {
  auto f = Find(ino);
  if (!f) return std::nullopt;
  return f->UncreatedAttr();
}

void OpenFiles::CreatePending() {
  if (creates_.empty()) return;
  for (uint64_t ino : creates_.All()) {
    auto f = Find(ino);
    if (!f) continue;
    Status st = f->CreateReserved(std::chrono::seconds(2));
    if (!st.ok()) {  // its close() tries again and reports it
      VFS_LOG(kWarn) << "could not create inode " << ino << " yet: " << st.ToString();
    }
  }
}

std::shared_ptr<OpenFile> OpenFiles::Hold(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(ino);
  if (it == files_.end()) return nullptr;
  ++it->second.opens;
  return it->second.file;
}

void OpenFiles::Release(const std::shared_ptr<OpenFile>& f) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(f->ino());
    if (it == files_.end() || it->second.file != f || --it->second.opens > 0) return;
  }
  // Clean() takes the file's mu_ (never held across an upload): no wait behind a commit.
  if (!f->Clean()) return;  // a failed or running commit: the retrier forgets it later
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(f->ino());
  if (it != files_.end() && it->second.file == f && it->second.opens == 0) files_.erase(it);
}

bool OpenFiles::LastOpen(const std::shared_ptr<OpenFile>& f) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(f->ino());
  return it == files_.end() || it->second.file != f || it->second.opens <= 1;
}

std::shared_ptr<OpenFile> OpenFiles::Find(uint64_t ino) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = files_.find(ino);
  return it == files_.end() ? nullptr : it->second.file;
}

bool OpenFiles::AnyOpen() {
  std::lock_guard<std::mutex> lock(mu_);
  return !files_.empty();
}

std::vector<std::shared_ptr<OpenFile>> OpenFiles::All() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<OpenFile>> all;
  all.reserve(files_.size());
  for (const auto& [ino, slot] : files_) all.push_back(slot.file);
  return all;
}

void OpenFiles::ForgetClosed(const std::vector<uint64_t>& inos) {
  std::vector<std::shared_ptr<OpenFile>> candidates;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (uint64_t ino : inos) {
      auto it = files_.find(ino);
      if (it != files_.end() && it->second.opens == 0) candidates.push_back(it->second.file);
    }
  }
  std::vector<std::shared_ptr<OpenFile>> clean;
  for (auto& f : candidates) {
    if (f->Clean()) clean.push_back(f);  // outside mu_ (lock order)
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& f : clean) {
    auto it = files_.find(f->ino());
    if (it != files_.end() && it->second.file == f && it->second.opens == 0) files_.erase(it);
  }
}

void OpenFiles::NoteUnlinked(uint64_t ino) {
  if (auto f = Find(ino)) f->NoteUnlinked();
}

}  // namespace vaultfs::fuse
