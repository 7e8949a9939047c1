// CommitRetrier: see commit_retrier.h.
#include "src/fuse/commit_retrier.h"

#include <algorithm>
#include <vector>

#include "src/common/log.h"
#include "src/fuse/open_files.h"

namespace vaultfs::fuse {

CommitRetrier::CommitRetrier(FileStore* store, OpenFiles* files) : store_(store), files_(files) {}

CommitRetrier::~CommitRetrier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CommitRetrier::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void CommitRetrier::Wake() { cv_.notify_all(); }

void CommitRetrier::NoteGarbage() {
  std::lock_guard<std::mutex> lock(mu_);
  gc_due_ = true;
}

void CommitRetrier::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::seconds(1));
    if (stop_) break;
    lock.unlock();
    const auto now = std::chrono::steady_clock::now();
    std::vector<uint64_t> clean;
    bool probed = false;
    for (const auto& f : files_->All()) {
      if (!probed && f->RetryDue(now)) {  // servers that came back are used at once
        store_->ProbeDownServers();
        probed = true;
      }
      if (f->RetryIfDue(now)) clean.push_back(f->ino());
    }
    files_->ForgetClosed(clean);
    MaybeCollectGarbage();
    lock.lock();
  }
}

void CommitRetrier::MaybeCollectGarbage() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (gc_wanted_.exchange(false)) gc_due_ = true;
    if (!gc_due_ || now - last_gc_ < std::chrono::seconds(60)) return;
  }
  if (files_->AnyOpen()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gc_due_ = false;
    last_gc_ = now;
  }
  auto removed = store_->CollectGarbage();
  if (!removed.ok()) {
    VFS_LOG(kWarn) << "garbage collection: " << removed.status().ToString();
  } else if (*removed > 0) {
    VFS_LOG(kInfo) << "garbage collection removed " << *removed << " shard(s)";
  }
}

int CommitRetrier::FlushAll(std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    const auto all = files_->All();
    int left = 0;
    store_->ProbeDownServers();
    for (const auto& f : all) {
      if (!f->Commit().ok()) ++left;
    }
    if (left == 0) {
      // A last garbage-collection pass, so an unmount leaves no replaced versions behind.
      std::vector<uint64_t> inos;
      for (const auto& f : all) inos.push_back(f->ino());
      files_->ForgetClosed(inos);
      {
        std::lock_guard<std::mutex> lock(mu_);
        last_gc_ = {};
      }
      MaybeCollectGarbage();
      return 0;
    }
    if (std::chrono::steady_clock::now() >= deadline) return left;
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock,
                   std::min(deadline, std::chrono::steady_clock::now() + std::chrono::seconds(2)));
  }
}

}  // namespace vaultfs::fuse
