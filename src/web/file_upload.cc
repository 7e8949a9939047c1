// One uploaded file streamed into the vault: see file_upload.h.
#include "src/web/file_upload.h"

namespace vaultfs::web {

FileUpload::FileUpload(std::shared_ptr<client::Vault> vault, client::Attr dir, std::string name,
                       uint64_t size, size_t pipe_bytes)
    : vault_(std::move(vault)), dir_(std::move(dir)), pipe_(pipe_bytes) {
  file_.name = std::move(name);
  file_.size = size;
  worker_ = std::thread([this] {
    result_ = Store();
    // Whatever happened, the handler thread must not block on a pipe nobody reads.
    pipe_.CloseRead(result_.ok() ? Status(ECANCELED, "the upload is already complete") : result_);
  });
}

FileUpload::~FileUpload() {
  pipe_.CloseWrite(Status(ECANCELED, "the upload was abandoned"));
  Join();
}

void FileUpload::Join() {
  if (worker_.joinable()) worker_.join();
}

Status FileUpload::Store() {
  cluster::PlaintextReader read = [this](uint8_t* buf, size_t n) { return pipe_.Read(buf, n); };
  auto stored = vault_->content().Store(dir_.ino, file_.name, file_.size, read);
  if (!stored.ok()) {
    // The browser shows folders, not directories.
    if (stored.status().code() == EISDIR) return Status(EISDIR, file_.name + " is a folder");
    return stored.status();
  }
  file_.replaced = stored->replaced;
  return Status::Ok();
}

bool FileUpload::Write(std::string_view data) {
  if (data.size() > file_.size - received_) {
    overflow_ = InvalidArgument(file_.name + ": more bytes arrived than its announced size " +
                                std::to_string(file_.size));
    pipe_.CloseWrite(overflow_);
    return false;
  }
  received_ += data.size();
  return pipe_.Write(data);
}

Result<UploadedFile> FileUpload::Finish() {
  if (overflow_.ok() && received_ != file_.size) {
    pipe_.CloseWrite(InvalidArgument(file_.name + ": " + std::to_string(received_) +
                                     " bytes arrived, its announced size is " +
                                     std::to_string(file_.size)));
  } else {
    pipe_.CloseWrite();
  }
  Join();
  if (!overflow_.ok()) return overflow_;
  if (!result_.ok()) return result_;
  return file_;
}

void FileUpload::Abort(Status why) { pipe_.CloseWrite(std::move(why)); }

}  // namespace vaultfs::web
