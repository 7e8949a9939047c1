// Several files in one multipart/form-data upload, each streamed as it arrives.
//
// A multipart part does not say how long it is, but the object layer needs each file's size
// before its first byte. So the page sends, for every file, a field "size" (decimal bytes)
// right before the part "file" (with its filename); the browser's File object knows the
// size, and FormData keeps parts in order. A file part must then hold exactly that many bytes.
// Other fields are ignored.
//
// After the first error the rest of the body is read and dropped (so the browser receives
// the error instead of a reset connection); files completed before it stay stored.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/client/vault.h"
#include "src/common/status.h"
#include "src/web/file_upload.h"

namespace vaultfs::web {

class MultipartUpload {
 public:
  MultipartUpload(std::shared_ptr<client::Vault> vault, client::Attr dir);

  // A new part begins: form field `field`, `filename` ("" for a plain field). Always true: a
  // failure is kept for Finish() and the rest of the body is drained.
  bool OnPart(std::string_view field, std::string_view filename);
  // Bytes of the current part. Always true, as above.
  bool OnData(std::string_view data);
  // The body ended: completes the last file. The first error, if any.
  Status Finish();
  // The body could not be read to its end (client gone, not valid multipart).
  void Abort(Status why);

  const std::vector<UploadedFile>& files() const { return files_; }

 private:
  void EndPart();
  void Fail(Status st);

  std::shared_ptr<client::Vault> vault_;
  client::Attr dir_;
  enum class PartKind { kNone, kSize, kFile, kIgnored } part_ = PartKind::kNone;
  std::string size_text_;  // the current "size" field
  bool have_size_ = false;
  uint64_t next_size_ = 0;
  std::unique_ptr<FileUpload> current_;
  std::vector<UploadedFile> files_;
  Status error_;
};

}  // namespace vaultfs::web
