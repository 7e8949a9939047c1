// A bounded byte pipe between two threads: see byte_pipe.h.
#include "src/web/byte_pipe.h"

#include <algorithm>
#include <cstring>

namespace vaultfs::web {

BytePipe::BytePipe(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {}

bool BytePipe::Write(std::string_view data) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!data.empty()) {
    changed_.wait(lock, [&] { return read_closed_ || size_ < ring_.size(); });
    if (read_closed_ || write_closed_) return false;
    // Copy into the free space after the held bytes (at most two pieces around the end).
    size_t tail = (head_ + size_) % ring_.size();
    size_t room = std::min(ring_.size() - size_, ring_.size() - tail);
    size_t n = std::min(room, data.size());
    std::memcpy(ring_.data() + tail, data.data(), n);
    size_ += n;
    data.remove_prefix(n);
    changed_.notify_all();
  }
  return true;
}

void BytePipe::CloseWrite(Status why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (write_closed_) return;
  write_closed_ = true;
  write_status_ = std::move(why);
  changed_.notify_all();
}

Status BytePipe::Read(uint8_t* buf, size_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  size_t done = 0;
  while (done < n) {
    changed_.wait(lock, [&] { return size_ > 0 || write_closed_ || read_closed_; });
    if (write_closed_ && !write_status_.ok()) return write_status_;  // failed: stop now
    if (read_closed_) return Status(ECANCELED, "the upload was abandoned");
    if (size_ == 0) {
      return IoError("the upload ended " + std::to_string(n - done) + " bytes early");
    }
    size_t piece = std::min({n - done, size_, ring_.size() - head_});
    std::memcpy(buf + done, ring_.data() + head_, piece);
    head_ = (head_ + piece) % ring_.size();
    size_ -= piece;
    done += piece;
    changed_.notify_all();
  }
  return Status::Ok();
}

void BytePipe::CloseRead(Status why) {
  std::lock_guard<std::mutex> lock(mu_);
  read_closed_ = true;
  read_status_ = std::move(why);
  changed_.notify_all();
}

Status BytePipe::read_status() {
  std::lock_guard<std::mutex> lock(mu_);
  return read_status_;
}

}  // namespace vaultfs::web
