// File content through the gateway's API — uploads and downloads, both streamed: see
// gateway.h. Neither direction holds a whole file in memory: uploads go through a bounded
// BytePipe into Content::Store (file_upload.h), downloads are read one segment at a time
// from a VersionReader straight into the socket.
#include <algorithm>
#include <memory>
#include <string>

#include "src/common/log.h"
#include "src/web/content_headers.h"
#include "src/web/file_upload.h"
#include "src/web/gateway.h"
#include "src/web/http_error.h"
#include "src/web/http_range.h"
#include "src/web/multipart_upload.h"
#include "src/web/vault_path.h"

namespace vaultfs::web {

using client::Attr;
using nlohmann::json;

namespace {

// Bytes per read of a download when the version has no segments (inline content).
constexpr uint64_t kDownloadChunk = 1 << 20;

Result<uint64_t> ContentLength(const httplib::Request& req) {
  if (!req.has_header("Content-Length")) {
    return InvalidArgument("uploads need a Content-Length (the size must be known up front)");
  }
  std::string text = req.get_header_value("Content-Length");
  if (text.empty() || text.size() > 19 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return InvalidArgument("bad Content-Length");
  }
  return std::stoull(text);
}

json FilesJson(const std::vector<UploadedFile>& files) {
  json out = json::array();
  for (const auto& f : files) out.push_back({{"name", f.name}, {"size", f.size}});
  return out;
}

// Replies with the upload's outcome: the files stored, and the error that stopped it, if any.
void ReplyUpload(httplib::Response& res, client::Vault& v, const std::vector<UploadedFile>& files,
                 const Status& st) {
  if (std::any_of(files.begin(), files.end(), [](const auto& f) { return f.replaced; })) {
    auto n = v.content().CollectGarbage();  // the replaced versions' shards
    if (!n.ok()) VFS_LOG(kInfo) << "garbage collection postponed: " << n.status().ToString();
  }
  json body = {{"uploaded", FilesJson(files)}};
  if (!st.ok()) {
    body["error"] = st.message();
    body["code"] = ErrnoName(st.code());
  }
  ReplyJson(res, st.ok() ? 200 : HttpStatusFor(st), body);
}

}  // namespace

Status Gateway::PostUpload(const Request& req, Response& res, const ContentReader& reader,
                           const Session& s) {
  if (!req.is_multipart_form_data()) {
    return InvalidArgument("an upload is a multipart/form-data body (or PUT /api/file)");
  }
  VFS_RETURN_IF_ERROR(ContentLength(req).status());
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, req.get_param_value("dir")));
  MultipartUpload upload(s.vault, dir);
  bool complete = reader(
      [&](const httplib::MultipartFormData& part) {
        return upload.OnPart(part.name, part.filename);
      },
      [&](const char* data, size_t n) { return upload.OnData(std::string_view(data, n)); });
  if (!complete) {
    upload.Abort(InvalidArgument("the upload was cut off or is not valid multipart/form-data"));
  }
  Status st = upload.Finish();
  if (!st.ok()) VFS_LOG(kInfo) << "upload failed: " << st.ToString();
  ReplyUpload(res, *s.vault, upload.files(), st);
  return Status::Ok();
}

Status Gateway::PutFile(const Request& req, Response& res, const ContentReader& reader,
                        const Session& s) {
  VFS_ASSIGN_OR_RETURN(uint64_t size, ContentLength(req));
  std::string name = req.get_param_value("name");
  VFS_RETURN_IF_ERROR(ValidateName(name).Annotate("'name'"));
  VFS_ASSIGN_OR_RETURN(Attr dir, ResolveDir(*s.vault, req.get_param_value("dir")));
  FileUpload upload(s.vault, dir, name, size);
  bool failed = false;
  bool complete = reader([&](const char* data, size_t n) {
    // After a failure the rest is read and dropped, so the client gets the error.
    if (!failed && !upload.Write(std::string_view(data, n))) failed = true;
    return true;
  });
  if (!complete) upload.Abort(IoError("the upload was cut off"));
  auto done = upload.Finish();
  std::vector<UploadedFile> files;
  if (done.ok()) files.push_back(*done);
  ReplyUpload(res, *s.vault, files, done.status());
  return Status::Ok();
}

Status Gateway::GetDownload(const Request& req, Response& res, const Session& s) {
  std::string path = req.get_param_value("path");
  VFS_ASSIGN_OR_RETURN(auto parts, SplitVaultPath(path));
  if (parts.empty()) return Status(EISDIR, "/ is a folder");
  VFS_ASSIGN_OR_RETURN(Attr a, ResolveChecked(*s.vault, path));
  if (a.is_dir()) return Status(EISDIR, path + " is a folder");
  if (a.type != "file") return InvalidArgument(path + " is not a regular file");

  const std::string& name = parts.back();
  std::string type = MediaTypeForName(name);
  res.set_header("Content-Disposition", AttachmentDisposition(name));
  res.set_header("Accept-Ranges", "bytes");
  res.set_header("Cache-Control", "no-store");
  // Should a browser ever render it anyway: no script, no plugins, an opaque origin.
  res.set_header("Content-Security-Policy", "sandbox");
  const std::string etag = "\"" + a.version + "\"";
  if (!a.version.empty()) res.set_header("ETag", etag);

  RangeRequest range = ResolveRange(req.get_header_value("Range"), a.size);
  // A resumed download names the version it has the start of; if the file has been replaced
  // since, it gets the whole new version instead of a piece of it (RFC 9110 If-Range).
  if (req.has_header("If-Range") && req.get_header_value("If-Range") != etag) {
    range = RangeRequest{};
  }
  uint64_t offset = 0, length = a.size;
  if (range.kind == RangeRequest::Kind::kUnsatisfiable) {
    res.status = 416;
    res.set_header("Content-Range", ContentRangeValue(range, a.size));
    res.set_content("", type);
    return Status::Ok();
  }
  if (range.kind == RangeRequest::Kind::kPartial) {
    res.status = 206;
    res.set_header("Content-Range", ContentRangeValue(range, a.size));
    offset = range.offset;
    length = range.length;
  } else {
    res.status = 200;
  }
  if (length == 0) {
    res.set_content("", type);
    return Status::Ok();
  }
  VFS_ASSIGN_OR_RETURN(auto opened, s.vault->content().OpenVersion(a));
  std::shared_ptr<client::VersionReader> version(std::move(opened));
  // The provider runs after this handler returned, on the same connection thread; it keeps
  // the vault alive even if the session ends meanwhile.
  std::shared_ptr<client::Vault> vault = s.vault;
  res.set_content_provider(
      static_cast<size_t>(length), type,
      [version, vault, offset, path](size_t done, size_t left, httplib::DataSink& sink) {
        uint64_t at = offset + done;
        uint64_t seg = version->segment_size() > 0 ? version->segment_size() : kDownloadChunk;
        uint64_t chunk = std::min<uint64_t>(left, seg - at % seg);  // whole segments
        Status st = version->Read(at, chunk, [&](std::string_view piece) {
          return sink.write(piece.data(), piece.size()) ? Status::Ok()
                                                        : IoError("the client went away");
        });
        if (!st.ok()) VFS_LOG(kWarn) << "download of " << path << " stopped: " << st.ToString();
        return st.ok();
      });
  return Status::Ok();
}

}  // namespace vaultfs::web
