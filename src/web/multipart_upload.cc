// Several files in one multipart upload: see multipart_upload.h.
#include "src/web/multipart_upload.h"

#include "src/web/vault_path.h"

namespace vaultfs::web {

namespace {
constexpr size_t kMaxSizeField = 20;  // digits of a uint64
}

MultipartUpload::MultipartUpload(std::shared_ptr<client::Vault> vault, client::Attr dir)
    : vault_(std::move(vault)), dir_(std::move(dir)) {}

void MultipartUpload::Fail(Status st) {
  if (error_.ok()) error_ = std::move(st);
  if (current_) {
    current_->Abort(error_);
    current_.reset();
  }
  part_ = PartKind::kIgnored;
}

void MultipartUpload::EndPart() {
  if (!error_.ok()) return;
  if (part_ == PartKind::kSize) {
    uint64_t v = 0;
    bool ok = !size_text_.empty();
    for (char c : size_text_) {
      if (c < '0' || c > '9') ok = false;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) return Fail(InvalidArgument("the size field '" + size_text_ + "' is not a number"));
    next_size_ = v;
    have_size_ = true;
  } else if (part_ == PartKind::kFile && current_) {
    auto done = current_->Finish();
    current_.reset();
    if (!done.ok()) return Fail(done.status());
    files_.push_back(*done);
  }
  part_ = PartKind::kNone;
}

bool MultipartUpload::OnPart(std::string_view field, std::string_view filename) {
  EndPart();
  if (!error_.ok()) return true;
  if (field == "size") {
    part_ = PartKind::kSize;
    size_text_.clear();
  } else if (field == "file") {
    if (!have_size_) {
      Fail(InvalidArgument("each file part must come right after a 'size' field"));
      return true;
    }
    have_size_ = false;
    Status valid = ValidateName(filename);
    if (!valid.ok()) {
      Fail(valid.Annotate("file name '" + std::string(filename) + "'"));
      return true;
    }
    part_ = PartKind::kFile;
    current_ = std::make_unique<FileUpload>(vault_, dir_, std::string(filename), next_size_);
  } else {
    part_ = PartKind::kIgnored;
  }
  return true;
}

bool MultipartUpload::OnData(std::string_view data) {
  if (!error_.ok()) return true;  // draining
  switch (part_) {
    case PartKind::kSize:
      if (size_text_.size() + data.size() > kMaxSizeField) {
        Fail(InvalidArgument("the size field is too long"));
      } else {
        size_text_.append(data);
      }
      break;
    case PartKind::kFile:
      if (!current_->Write(data)) {
        auto done = current_->Finish();  // says why the worker stopped
        current_.reset();
        Fail(done.ok() ? IoError("the upload stopped early") : done.status());
      }
      break;
    case PartKind::kNone:
    case PartKind::kIgnored:
      break;
  }
  return true;
}

Status MultipartUpload::Finish() {
  EndPart();
  if (error_.ok() && have_size_) {
    Fail(InvalidArgument("a 'size' field was not followed by its file"));
  }
  return error_;
}

void MultipartUpload::Abort(Status why) { Fail(std::move(why)); }

}  // namespace vaultfs::web
