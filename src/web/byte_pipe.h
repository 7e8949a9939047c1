// A bounded in-memory byte pipe from one producer thread to one consumer thread.
//
// It turns the HTTP library's push (request body chunks handed to a callback on the handler
// thread) into the pull that Content::Store wants (a PlaintextReader asking for the next
// n bytes) without holding more than `capacity` bytes: a 2 GiB upload needs no 2 GiB of RAM.
// Either side can give up with a Status, and the other side then sees it instead of blocking.
//
// Thread-safe for one writer and one reader.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "src/common/status.h"

namespace vaultfs::web {

class BytePipe {
 public:
  explicit BytePipe(size_t capacity);

  // Appends `data`, blocking while the pipe is full. False once the reader has closed.
  bool Write(std::string_view data);
  // No more data. OK: a clean end; an error: the transfer failed (the reader sees `why`).
  void CloseWrite(Status why = Status::Ok());

  // Fills buf[0..n), blocking until enough bytes came. Fails with the writer's error, or with
  // EIO if the writer ended cleanly before n bytes.
  Status Read(uint8_t* buf, size_t n);
  // The reader gives up: pending and future Writes return false.
  void CloseRead(Status why);
  // Why the reader gave up (OK while it has not).
  Status read_status();

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<char> ring_;  // guarded by mu_
  size_t head_ = 0;         // index of the oldest byte; guarded
  size_t size_ = 0;         // bytes held; guarded
  bool write_closed_ = false;
  bool read_closed_ = false;
  Status write_status_;
  Status read_status_;
};

}  // namespace vaultfs::web
