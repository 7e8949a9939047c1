// StagedFile: see staged_file.h.
#include "src/fuse/staged_file.h"
#include "src/common/json_parse.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/crypto/random.h"

namespace vaultfs::fuse {
namespace {

Status Errno(const std::string& what) { return Status(errno, what + ": " + strerror(errno)); }

std::string JournalPathFor(const std::string& data_path) {
  return data_path.substr(0, data_path.size() - 5) + ".json";  // "<x>.data" -> "<x>.json"
}

nlohmann::json AttrsToJson(const client::AttrUpdate& u) {
  nlohmann::json j = nlohmann::json::object();
  u.AddTo(j);
  return j;
}

client::AttrUpdate AttrsFromJson(const nlohmann::json& j) {
  client::AttrUpdate u;
  if (j.contains("mode")) u.mode = j["mode"].get<uint32_t>();
  if (j.contains("uid")) u.uid = j["uid"].get<uint32_t>();
  if (j.contains("gid")) u.gid = j["gid"].get<uint32_t>();
  if (j.contains("atime")) u.atime_ns = j["atime"].get<int64_t>();
  if (j.contains("mtime")) u.mtime_ns = j["mtime"].get<int64_t>();
  return u;
}

}  // namespace

StagedFile::StagedFile(std::string data_path, UniqueFd fd)
    : data_path_(std::move(data_path)),
      journal_path_(JournalPathFor(data_path_)),
      fd_(std::move(fd)) {}

StagedFile::~StagedFile() {
  if (journaled_) return;
  unlink(journal_path_.c_str());
  unlink(data_path_.c_str());
}

Result<std::unique_ptr<StagedFile>> StagedFile::Create(const std::string& dir, uint64_t ino) {
  VFS_ASSIGN_OR_RETURN(std::string id, crypto::RandomHexId(8));
  std::string path = dir + "/" + std::to_string(ino) + "-" + id + ".data";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Errno("create staging file " + path);
  return std::unique_ptr<StagedFile>(new StagedFile(path, std::move(fd)));
}

std::vector<std::string> StagedFile::FindJournals(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  return out;
}

Result<std::unique_ptr<StagedFile>> StagedFile::Recover(const std::string& journal_path,
                                                        StagedJournal* journal) {
  std::ifstream in(journal_path);
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = ParseJson(text.str());
  nlohmann::json j = parsed.ok() ? std::move(*parsed) : nlohmann::json();
  if (!j.is_object()) {
    return Corruption("staging journal " + journal_path + " is not valid JSON");
  }
  std::string data_path = journal_path.substr(0, journal_path.size() - 5) + ".data";
  UniqueFd fd(open(data_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Errno("open staging file " + data_path);
  std::unique_ptr<StagedFile> f(new StagedFile(data_path, std::move(fd)));
  f->journaled_ = true;
  try {
    journal->ino = j.at("ino").get<uint64_t>();
    journal->base_version = j.at("base_version").get<std::string>();
    journal->size = j.at("size").get<uint64_t>();
    journal->base_limit = j.at("base_limit").get<uint64_t>();
    journal->mtime_ns = j.at("mtime").get<int64_t>();
    journal->attrs = AttrsFromJson(j.at("attrs"));
    if (j.contains("create")) {
      const auto& c = j.at("create");
      auto name = HexDecode(c.at("name").get<std::string>());
      if (!name.ok()) return Corruption("staging journal " + journal_path + ": bad name");
      journal->create =
          client::NewEntry{c.at("parent").get<uint64_t>(), *name, c.at("mode").get<uint32_t>(),
                           c.at("uid").get<uint32_t>(), c.at("gid").get<uint32_t>()};
    }
    for (const auto& r : j.at("present")) {
      f->present_.Add(r.at(0).get<uint64_t>(), r.at(1).get<uint64_t>());
    }
  } catch (const nlohmann::json::exception& e) {
    return Corruption("staging journal " + journal_path + ": " + e.what());
  }
  return f;
}

Status StagedFile::Write(uint64_t offset, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd_.get(), data.data() + done, data.size() - done,
                       static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("write staging file " + data_path_);
    }
    done += static_cast<size_t>(n);
  }
  present_.Add(offset, offset + data.size());
  return Status::Ok();
}

Status StagedFile::Read(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd_.get(), buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("read staging file " + data_path_);
    }
    if (r == 0) {  // a hole at the end that was never extended: zeros
      memset(buf + done, 0, n - done);
      break;
    }
    done += static_cast<size_t>(r);
  }
  return Status::Ok();
}

Status StagedFile::Truncate(uint64_t size) {
  present_.TruncateTo(size);
  struct stat st;
  if (fstat(fd_.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) > size) {
    if (ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
      return Errno("truncate staging file " + data_path_);
    }
  }
  return Status::Ok();
}

void StagedFile::DropJournal() {
  unlink(journal_path_.c_str());
  journaled_ = false;
}

Status StagedFile::SaveJournal(const StagedJournal& j) {
  if (fdatasync(fd_.get()) != 0) return Errno("sync staging file " + data_path_);
  nlohmann::json ranges = nlohmann::json::array();
  for (const auto& [s, e] : present_.ranges()) ranges.push_back({s, e});
  nlohmann::json doc = {{"ino", j.ino},
                        {"base_version", j.base_version},
                        {"size", j.size},
                        {"base_limit", j.base_limit},
                        {"mtime", j.mtime_ns},
                        {"attrs", AttrsToJson(j.attrs)},
                        {"present", std::move(ranges)}};
  if (j.create) {
    // Names are bytes, not necessarily UTF-8 (which JSON strings must be).
    doc["create"] = {{"parent", j.create->parent},
                     {"name", HexEncode(j.create->name)},
                     {"mode", j.create->mode},
                     {"uid", j.create->uid},
                     {"gid", j.create->gid}};
  }
  std::string tmp = journal_path_ + ".tmp";
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return Errno("write journal " + tmp);
    std::string text = doc.dump();
    if (write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
        fsync(fd.get()) != 0) {
      return Errno("write journal " + tmp);
    }
  }
  if (rename(tmp.c_str(), journal_path_.c_str()) != 0) return Errno("rename journal " + tmp);
  journaled_ = true;
  return Status::Ok();
}

}  // namespace vaultfs::fuse
