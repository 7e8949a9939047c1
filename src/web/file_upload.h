// One uploaded file streamed into the vault while its bytes are still arriving.
//
// The HTTP handler thread pushes body bytes with Write(); a worker thread runs
// Content::Store (the same store-under-a-name as `vaultfs put`), pulling them through a
// bounded BytePipe. The size must be known up front (the object layer lays out segments and
// shards from it), and exactly that many bytes must arrive. A new file is written under a
// hidden temporary name and renamed into place once complete, so nobody ever sees half a file;
// an existing file gets a new version of the same inode (an atomic compare-and-swap commit).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/web/byte_pipe.h"

namespace vaultfs::web {

struct UploadedFile {
  std::string name;
  uint64_t size = 0;
  bool replaced = false;  // an existing file got a new version (old shards await GC)
};

class FileUpload {
 public:
  // Starts the worker for `name` (already checked with ValidateName) in directory `dir`.
  FileUpload(std::shared_ptr<client::Vault> vault, client::Attr dir, std::string name,
             uint64_t size, size_t pipe_bytes = kDefaultPipeBytes);
  // Abandons an unfinished upload (its temporary file is removed) and waits for the worker.
  ~FileUpload();
  FileUpload(const FileUpload&) = delete;
  FileUpload& operator=(const FileUpload&) = delete;

  // The next body bytes. False once the upload has failed (Finish() says why) or more bytes
  // than announced arrive.
  bool Write(std::string_view data);
  // The body ended: waits for the commit. Fails if the byte count differs from the size.
  Result<UploadedFile> Finish();
  // The request failed (client gone, bad body): abandons the upload with `why`.
  void Abort(Status why);

  static constexpr size_t kDefaultPipeBytes = 1 << 20;

 private:
  Status Store();
  void Join();

  std::shared_ptr<client::Vault> vault_;
  client::Attr dir_;
  UploadedFile file_;
  uint64_t received_ = 0;
  Status overflow_;  // set by Write when more than file_.size bytes came
  BytePipe pipe_;
  Status result_;  // written by the worker before it ends; read after Join
  std::thread worker_;
};

}  // namespace vaultfs::web
