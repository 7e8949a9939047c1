// StagedFile: see staged_file.h.
#include "src/fuse/staged_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "src/common/frame.h"
#include "src/common/hex.h"
#include "src/common/json_parse.h"
#include "src/common/log.h"
#include "src/crypto/hash.h"
#include "src/crypto/hkdf.h"
#include "src/crypto/key_labels.h"
#include "src/crypto/random.h"

namespace vaultfs::fuse {
namespace {

constexpr std::string_view kAadPrefix = "vaultfs staged block";
constexpr std::string_view kJournalAadPrefix = "vaultfs staging journal";
// A journal is small (ranges and attributes); anything larger is not one of ours.
constexpr size_t kMaxJournalSize = size_t{64} << 20;

Status Errno(const std::string& what) { return Status(errno, what + ": " + strerror(errno)); }

std::string Stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();  // "<dir>/<x>.json" -> "<x>"
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

Status WriteAll(int fd, const char* p, size_t n, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno(what);
    }
    done += static_cast<size_t>(w);
  }
  return Status::Ok();
}

// Up to n bytes; fewer only at the end of the file.
Result<size_t> ReadAll(int fd, char* p, size_t n, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno(what);
    }
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  return done;
}

// The key of one sealing: HKDF(staging key, salt).
Result<crypto::Key> SealingKey(const StagingArea& area, std::string_view salt) {
  VFS_ASSIGN_OR_RETURN(std::string raw,
                       crypto::HkdfSha256(area.seal_key().bytes(), salt,
                                          crypto::labels::kStagingBlock, crypto::Key::kSize));
  return crypto::Key::FromBytes(raw);
}

std::string JournalAad(const std::string& id) {
  std::string aad(kJournalAadPrefix);
  aad.push_back(static_cast<char>(StagedFile::kJournalFormat));
  return aad + id;
}

// The journal's content after its envelope checks out (format, checksum, MAC, identity).
Result<nlohmann::json> OpenJournal(const StagingArea& area, const std::string& journal_path) {
  const std::string refused = "staging journal " + journal_path + " refused: ";
  std::ifstream in(journal_path, std::ios::binary);
  if (!in) return Errno("open staging journal " + journal_path);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxJournalSize) return Corruption(refused + "larger than any journal");
  auto parsed = ParseJson(text.str());
  if (!parsed.ok() || !parsed->is_object()) {
    return Corruption(refused + "not valid JSON (cut short or damaged)");
  }
  const nlohmann::json& env = *parsed;
  if (!env.contains("format") || !env["format"].is_number_integer()) {
    return Corruption(refused +
                      "it has no format version (written by a vaultfs before staging was "
                      "sealed, or not a journal)");
  }
  if (env["format"].get<int64_t>() != StagedFile::kJournalFormat) {
    return Corruption(refused + "format " + env["format"].dump() +
                      " is unknown to this vaultfs (it reads format " +
                      std::to_string(StagedFile::kJournalFormat) +
                      "); commit it with the vaultfs that wrote it");
  }
  if (!env.contains("body") || !env["body"].is_string() || !env.contains("sha256") ||
      !env["sha256"].is_string() || !env.contains("mac") || !env["mac"].is_string()) {
    return Corruption(refused + "body, checksum or MAC missing");
  }
  const std::string& body = env["body"].get_ref<const std::string&>();
  if (crypto::DigestToHex(crypto::Sha256(body)) != env["sha256"].get<std::string>()) {
    return Corruption(refused + "checksum mismatch (damaged on disk)");
  }
  auto mac = HexDecode(env["mac"].get<std::string>());
  if (!mac.ok() ||
      !crypto::ConstantTimeEquals(crypto::HmacSha256(area.journal_key().bytes(), body), *mac)) {
    return Corruption(refused +
                      "its MAC does not verify (edited, or written under another user's key)");
  }
  // The body is sealed like a block (file names of new files are in it), bound to the
  // staging file it belongs to.
  auto sealed = HexDecode(body);
  if (!sealed.ok() || sealed->size() < StagedFile::kSaltSize) {
    return Corruption(refused + "body is not a sealed journal");
  }
  VFS_ASSIGN_OR_RETURN(crypto::Key key, SealingKey(area, std::string_view(*sealed).substr(
                                                             0, StagedFile::kSaltSize)));
  auto plain = crypto::OpenBlob(key, std::string_view(*sealed).substr(StagedFile::kSaltSize),
                                JournalAad(Stem(journal_path)));
  if (!plain.ok()) {
    return Corruption(refused + "it does not open for staging file " + Stem(journal_path) +
                      " (moved or copied from another one)");
  }
  auto content = ParseJson(*plain);
  if (!content.ok() || !content->is_object()) return Corruption(refused + "body is not JSON");
  const nlohmann::json& j = *content;
  if (!j.contains("format") || j["format"] != StagedFile::kJournalFormat) {
    return Corruption(refused + "body and envelope disagree on the format");
  }
  if (!j.contains("file") || !j["file"].is_string() || j["file"] != Stem(journal_path)) {
    return Corruption(refused + "it belongs to staging file " +
                      (j.contains("file") ? j["file"].dump() : std::string("(none)")) + ", not " +
                      Stem(journal_path) + " (moved or copied)");
  }
  return std::move(content).value();
}

}  // namespace

StagedFile::StagedFile(StagingArea* area, uint64_t ino, std::string id, std::string data_path,
                       UniqueFd fd)
    : area_(area),
      ino_(ino),
      id_(std::move(id)),
      data_path_(std::move(data_path)),
      journal_path_(area_->dir() + "/" + id_ + ".json"),
      fd_(std::move(fd)) {}

StagedFile::~StagedFile() {
  area_->Release(disk_bytes());
  if (journaled_) return;
  unlink(journal_path_.c_str());
  unlink(data_path_.c_str());
}

Result<std::unique_ptr<StagedFile>> StagedFile::Create(StagingArea* area, uint64_t ino) {
  VFS_ASSIGN_OR_RETURN(std::string random, crypto::RandomHexId(8));
  std::string id = std::to_string(ino) + "-" + random;
  std::string path = area->dir() + "/" + id + ".data";
  UniqueFd fd(open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd.valid()) return Errno("create staging file " + path);
  return std::unique_ptr<StagedFile>(
      new StagedFile(area, ino, std::move(id), std::move(path), std::move(fd)));
}

std::vector<std::string> StagedFile::FindJournals(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") out.push_back(e.path().string());
  }
  return out;
}

int StagedFile::RemoveUnjournaled(const std::string& dir) {
  std::vector<std::filesystem::path> doomed;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::filesystem::path& p = e.path();
    if (p.extension() == ".tmp" ||
        (p.extension() == ".data" &&
         !std::filesystem::exists(std::filesystem::path(p).replace_extension(".json")))) {
      doomed.push_back(p);
    }
  }
  int removed = 0;
  for (const auto& p : doomed) removed += unlink(p.c_str()) == 0 ? 1 : 0;
  return removed;
}

Result<std::unique_ptr<StagedFile>> StagedFile::Recover(StagingArea* area,
                                                        const std::string& journal_path,
                                                        StagedJournal* journal) {
  VFS_ASSIGN_OR_RETURN(nlohmann::json j, OpenJournal(*area, journal_path));
  const std::string id = Stem(journal_path);
  const std::string data_path = area->dir() + "/" + id + ".data";
  StagedJournal got;
  IntervalSet present;
  try {
    got.ino = j.at("ino").get<uint64_t>();
    got.base_version = j.at("base_version").get<std::string>();
    got.size = j.at("size").get<uint64_t>();
    got.base_limit = j.at("base_limit").get<uint64_t>();
    got.mtime_ns = j.at("mtime").get<int64_t>();
    got.attrs = AttrsFromJson(j.at("attrs"));
    if (j.contains("create")) {
      const auto& c = j.at("create");
      auto name = HexDecode(c.at("name").get<std::string>());
      if (!name.ok()) return Corruption("staging journal " + journal_path + ": bad name");
      got.create =
          client::NewEntry{c.at("parent").get<uint64_t>(), *name, c.at("mode").get<uint32_t>(),
                           c.at("uid").get<uint32_t>(), c.at("gid").get<uint32_t>()};
    }
    for (const auto& r : j.at("present")) {
      present.Add(r.at(0).get<uint64_t>(), r.at(1).get<uint64_t>());
    }
  } catch (const nlohmann::json::exception& e) {
    return Corruption("staging journal " + journal_path + " refused: " + e.what());
  }
  if (id.rfind(std::to_string(got.ino) + "-", 0) != 0) {
    return Corruption("staging journal " + journal_path + " refused: it names inode " +
                      std::to_string(got.ino) + ", its file another");
  }
  UniqueFd fd(open(data_path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return Errno("open staging file " + data_path);
  std::unique_ptr<StagedFile> f(new StagedFile(area, got.ino, id, data_path, std::move(fd)));
  f->journaled_ = true;
  f->present_ = std::move(present);
  for (const auto& [start, end] : f->present_.ranges()) {
    for (uint64_t b = start / kBlockSize; b <= (end - 1) / kBlockSize; ++b) f->blocks_[b] = "";
  }
  area->ForceReserve(f->disk_bytes());  // on disk already
  *journal = std::move(got);
  return f;
}

std::string StagedFile::Aad(uint64_t index) const {
  std::string aad(kAadPrefix);
  aad.push_back(static_cast<char>(kRecordFormat));
  char be[8];
  PutBigEndian64(ino_, be);
  aad.append(be, 8);
  aad += id_;
  PutBigEndian64(index, be);
  aad.append(be, 8);
  return aad;
}

Result<std::string> StagedFile::LoadBlock(uint64_t index) const {
  if (cached_index_ == index) return cached_;
  auto it = blocks_.find(index);
  if (it == blocks_.end()) return std::string(kBlockSize, '\0');
  const std::string where = "block " + std::to_string(index) + " of staging file " + data_path_;
  std::string record(kRecordSize, '\0');
  VFS_ASSIGN_OR_RETURN(size_t got, ReadAll(fd_.get(), record.data(), record.size(),
                                           index * kSlotSize, "read " + where));
  if (got != kRecordSize) return Corruption(where + " is cut short on disk");
  if (static_cast<uint8_t>(record[0]) != kRecordFormat) {
    return Corruption(where + " has unknown format " +
                      std::to_string(static_cast<uint8_t>(record[0])));
  }
  const std::string_view salt(record.data() + 1, kSaltSize);
  if (!it->second.empty() && salt != it->second) {
    return Corruption(where + " is not the one this daemon wrote last (replaced on disk)");
  }
  VFS_ASSIGN_OR_RETURN(crypto::Key key, SealingKey(*area_, salt));
  auto plain = crypto::OpenBlob(key, std::string_view(record).substr(1 + kSaltSize), Aad(index));
  if (!plain.ok() || plain->size() != kBlockSize) {
    return Corruption(where +
                      " does not authenticate (changed on disk, or moved from another file "
                      "or offset)");
  }
  cached_index_ = index;
  cached_ = *plain;
  return std::move(plain).value();
}

Status StagedFile::StoreBlock(uint64_t index, std::string plaintext) {
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::RandomBytes(kSaltSize));
  VFS_ASSIGN_OR_RETURN(crypto::Key key, SealingKey(*area_, salt));
  VFS_ASSIGN_OR_RETURN(std::string blob, crypto::SealBlob(key, plaintext, Aad(index)));
  std::string record;
  record.reserve(kRecordSize);
  record.push_back(static_cast<char>(kRecordFormat));
  record += salt;
  record += blob;
  cached_index_.reset();  // the old plaintext no longer matches the disk if the write fails
  VFS_RETURN_IF_ERROR(WriteAll(fd_.get(), record.data(), record.size(), index * kSlotSize,
                               "write staging file " + data_path_));
  blocks_[index] = std::move(salt);
  cached_index_ = index;
  cached_ = std::move(plaintext);
  return Status::Ok();
}

Status StagedFile::Write(uint64_t offset, std::string_view data, Cap cap) {
  if (data.empty()) return Status::Ok();
  const uint64_t first = offset / kBlockSize;
  const uint64_t last = (offset + data.size() - 1) / kBlockSize;
  uint64_t fresh = last - first + 1;
  for (auto it = blocks_.lower_bound(first); it != blocks_.end() && it->first <= last; ++it) {
    --fresh;
  }
  // The cap is taken before anything is written: a refused write changes nothing.
  if (cap == Cap::kEnforce) {
    VFS_RETURN_IF_ERROR(area_->Reserve(fresh * kSlotSize));
  } else {
    area_->ForceReserve(fresh * kSlotSize);
  }
  for (uint64_t b = first; b <= last; ++b) {
    const uint64_t block_start = b * kBlockSize;
    const uint64_t from = std::max(offset, block_start);
    const uint64_t to = std::min<uint64_t>(offset + data.size(), block_start + kBlockSize);
    const std::string_view part = data.substr(from - offset, to - from);
    std::string plain;
    Status st;
    if (part.size() == kBlockSize) {
      plain.assign(part);
    } else {
      auto loaded = LoadBlock(b);
      if (loaded.ok()) {
        plain = std::move(loaded).value();
        memcpy(plain.data() + (from - block_start), part.data(), part.size());
      } else {
        st = loaded.status();
      }
    }
    const bool existed = blocks_.count(b) != 0;
    if (st.ok()) st = StoreBlock(b, std::move(plain));
    if (!st.ok()) {
      // Give back what the blocks not written would have taken.
      uint64_t unused = existed ? 0 : 1;
      for (uint64_t c = b + 1; c <= last; ++c) unused += blocks_.count(c) == 0;
      area_->Release(unused * kSlotSize);
      return st;
    }
    present_.Add(from, to);
  }
  return Status::Ok();
}

Status StagedFile::Read(uint64_t offset, char* buf, size_t n) const {
  size_t done = 0;
  while (done < n) {
    const uint64_t pos = offset + done;
    const uint64_t b = pos / kBlockSize;
    const size_t in_block = static_cast<size_t>(pos - b * kBlockSize);
    const size_t len = std::min(n - done, kBlockSize - in_block);
    VFS_ASSIGN_OR_RETURN(std::string plain, LoadBlock(b));
    memcpy(buf + done, plain.data() + in_block, len);
    done += len;
  }
  return Status::Ok();
}

Status StagedFile::Truncate(uint64_t size) {
  present_.TruncateTo(size);
  const uint64_t keep = (size + kBlockSize - 1) / kBlockSize;  // blocks below `size`
  uint64_t dropped = 0;
  for (auto it = blocks_.lower_bound(keep); it != blocks_.end(); it = blocks_.erase(it)) {
    ++dropped;
  }
  area_->Release(dropped * kSlotSize);
  if (cached_index_ && *cached_index_ >= keep) cached_index_.reset();
  struct stat st;
  if (fstat(fd_.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) > keep * kSlotSize) {
    if (ftruncate(fd_.get(), static_cast<off_t>(keep * kSlotSize)) != 0) {
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
  nlohmann::json doc = {{"format", kJournalFormat},
                        {"file", id_},
                        {"ino", j.ino},
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
  VFS_ASSIGN_OR_RETURN(std::string salt, crypto::RandomBytes(kSaltSize));
  VFS_ASSIGN_OR_RETURN(crypto::Key key, SealingKey(*area_, salt));
  VFS_ASSIGN_OR_RETURN(std::string sealed, crypto::SealBlob(key, doc.dump(), JournalAad(id_)));
  const std::string body = HexEncode(salt + sealed);
  const nlohmann::json envelope = {
      {"format", kJournalFormat},
      {"body", body},
      {"sha256", crypto::DigestToHex(crypto::Sha256(body))},
      {"mac", HexEncode(crypto::HmacSha256(area_->journal_key().bytes(), body))}};
  const std::string text = envelope.dump();
  std::string tmp = journal_path_ + ".tmp";
  {
    UniqueFd fd(open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd.valid()) return Errno("write journal " + tmp);
    VFS_RETURN_IF_ERROR(WriteAll(fd.get(), text.data(), text.size(), 0, "write journal " + tmp));
    if (fsync(fd.get()) != 0) return Errno("sync journal " + tmp);
  }
  if (rename(tmp.c_str(), journal_path_.c_str()) != 0) return Errno("rename journal " + tmp);
  journaled_ = true;
  return Status::Ok();
}

}  // namespace vaultfs::fuse
