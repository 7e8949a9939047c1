// Content: see content.h.
#include "src/client/content.h"

#include <charconv>
#include <condition_variable>
#include <thread>

#include "src/cluster/reply_field.h"
#include "src/common/hex.h"
#include "src/common/log.h"
#include "src/crypto/key_wrap.h"
#include "src/crypto/random.h"
#include "src/crypto/segment_cipher.h"

namespace vaultfs::client {

using nlohmann::json;

namespace {

Status FileTooBig(uint64_t size, uint64_t max) {
  return Status(EFBIG, "a file of " + std::to_string(size) +
                           " bytes is larger than this cluster stores (at most " +
                           std::to_string(max) + " bytes)");
}

// One entry of a version's "shards" array: {index, server, address, chunk, ...}.
Result<cluster::ShardPlacement> ParsePlacement(const json& s, int shard_count) {
  cluster::ShardPlacement p;
  VFS_ASSIGN_OR_RETURN(p.index, cluster::Field<int>(s, "index"));
  if (p.index < 0 || p.index >= shard_count) return Status(EPROTO, "shard index out of range");
  VFS_ASSIGN_OR_RETURN(p.server, cluster::Field<uint64_t>(s, "server"));
  VFS_ASSIGN_OR_RETURN(p.chunk, cluster::Field<std::string>(s, "chunk"));
  VFS_ASSIGN_OR_RETURN(std::string addr, cluster::Field<std::string>(s, "address"));
  auto hp = ParseHostPort(addr);
  if (!hp.ok()) return Status(EPROTO, "shard address: " + hp.status().message());
  p.address = *hp;
  return p;
}

}  // namespace

Result<uint64_t> VersionNumber(std::string_view version_id) {
  if (version_id.size() < 16) return Status(EPROTO, "version id is too short");
  uint64_t v = 0;
  auto r = std::from_chars(version_id.data(), version_id.data() + 16, v, 16);
  if (r.ec != std::errc() || r.ptr != version_id.data() + 16) {
    return Status(EPROTO, "version id is not hex");
  }
  return v;
}

Content::Content(const ClusterConfig* config, const VaultOptions* options, MetaClient* meta,
                 cluster::ShardTransport* transport, cluster::DataClient* data,
                 cluster::ServerHealth* health, const SessionKeys* keys, Tree* tree)
    : config_(*config),
      options_(*options),
      meta_(meta),
      transport_(transport),
      data_(data),
      health_(health),
      keys_(keys),
      tree_(tree) {}

Content::~Content() = default;

// ---- content ----

Result<const erasure::Codec*> Content::CodecFor(int k, int m) {
  std::lock_guard<std::mutex> lock(codec_mu_);
  auto& c = codecs_[{k, m}];
  if (!c) {
    VFS_ASSIGN_OR_RETURN(c, erasure::MakeCodec(k, m, options_.engine));
    VFS_LOG(kDebug) << "erasure engine " << c->engine_name() << " for RS(" << k << "," << m << ")";
  }
  return c.get();
}

Result<Attr> Content::WriteContent(const Attr& attr, uint64_t size,
                                   const cluster::PlaintextReader& read,
                                   const std::function<void(uint64_t)>& progress,
                                   ContentReport* report) {
  WriteOptions o;
  o.progress = progress;
  o.report = report;
  return WriteContent(attr, size, read, o);
}

namespace {

// Renews a pending version every `interval` while its shards upload (renew_pending), from a
// thread of its own so a stalled upload still renews. A failed renewal is logged: the commit
// reports an expiry (ETIME) if it mattered.
class PendingRenewer {
 public:
  PendingRenewer(MetaClient* meta, uint64_t ino, std::string vid,
                 std::chrono::milliseconds interval)
      : meta_(meta), ino_(ino), vid_(std::move(vid)), interval_(interval) {
    thread_ = std::thread([this] { Run(); });
  }
  ~PendingRenewer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
      lock.unlock();
      auto r = meta_->Call("renew_pending", {{"ino", ino_}, {"version", vid_}});
      if (!r.ok()) {
        VFS_LOG(kWarn) << "could not renew pending version " << vid_ << " of inode " << ino_ << ": "
                       << r.status().ToString();
      }
      lock.lock();
    }
  }

  MetaClient* meta_;
  const uint64_t ino_;
  const std::string vid_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace

Result<Attr> Content::WriteContent(const Attr& attr, uint64_t size,
                                   const cluster::PlaintextReader& read,
                                   const WriteOptions& options) {
  for (int attempt = 0;; ++attempt) {
    auto r = WriteContentOnce(attr, size, read, options);
    if (r.ok() || r.status().code() != ETIME || !options.rewind || attempt >= 2) return r;
    VFS_LOG(kWarn) << "inode " << attr.ino << ": " << r.status().ToString()
                   << "; uploading it again";
    VFS_RETURN_IF_ERROR(options.rewind().Annotate("restart the upload"));
  }
}

Result<Attr> Content::WriteContentOnce(const Attr& attr, uint64_t size,
                                       const cluster::PlaintextReader& read,
                                       const WriteOptions& options) {
  const auto& progress = options.progress;
  ContentReport* report = options.report;
  if (!logged_in()) return PermissionDenied("log in first");
  if (attr.type != "file") return Status(EISDIR, "not a regular file");
  if (size > max_file_size()) return FileTooBig(size, max_file_size());
  const bool is_inline = size + crypto::SegmentCipher::kTagSize <= config_.inline_threshold;
  // Small files: the client picks the version id and sends sealed content and commit in one
  // replicated write_inline; larger ones reserve placements with begin_version first.
  json begin;
  std::string vid;
  json new_entry;
  if (options.create) {
    VFS_ASSIGN_OR_RETURN(new_entry, tree_->NewEntryArgs(*options.create, attr.ino));
  }
  if (is_inline) {
    VFS_ASSIGN_OR_RETURN(vid, crypto::RandomHexId(16));
  } else {
    // The size is charged to our storage usage (and quota) while the upload is pending.
    json args = {{"ino", attr.ino}, {"size", size}};
    if (options.create) args["new_entry"] = new_entry;
    VFS_ASSIGN_OR_RETURN(begin, meta_->Call("begin_version", args));
    VFS_ASSIGN_OR_RETURN(vid, cluster::Field<std::string>(begin, "version"));
  }
  VFS_ASSIGN_OR_RETURN(uint64_t vnum, VersionNumber(vid));
  crypto::VersionBinding binding{keys_->user_id, attr.ino, vnum};
  VFS_ASSIGN_OR_RETURN(crypto::Key file_key, crypto::Key::Random());
  VFS_ASSIGN_OR_RETURN(crypto::SegmentCipher cipher,
                       crypto::SegmentCipher::Create(file_key, binding));
  VFS_ASSIGN_OR_RETURN(std::string wrapped, crypto::WrapFileKey(*keys_->master, file_key, binding));

  json commit = {
      {"ino", attr.ino}, {"version", vid}, {"size", size}, {"wrapped_key", HexEncode(wrapped)}};
  commit["expected"] = attr.version.empty() ? json(nullptr) : json(attr.version);
  if (is_inline && options.create) commit["new_entry"] = std::move(new_entry);
  if (is_inline) {
    std::vector<uint8_t> buf(size + crypto::SegmentCipher::kTagSize);
    if (size > 0) VFS_RETURN_IF_ERROR(read(buf.data(), size).Annotate("read input"));
    VFS_RETURN_IF_ERROR(cipher.Seal(0, true, std::span(buf.data(), size), std::span(buf)));
    commit["content"] =
        HexEncode(std::string_view(reinterpret_cast<char*>(buf.data()), buf.size()));
    if (progress) progress(size);
  } else {
    VFS_ASSIGN_OR_RETURN(int k, cluster::Field<int>(begin, "k"));
    VFS_ASSIGN_OR_RETURN(int m, cluster::Field<int>(begin, "m"));
    VFS_ASSIGN_OR_RETURN(uint32_t segment_size, cluster::Field<uint32_t>(begin, "segment_size"));
    VFS_ASSIGN_OR_RETURN(std::string token, cluster::Field<std::string>(begin, "token"));
    VFS_ASSIGN_OR_RETURN(json shards, cluster::Field<json>(begin, "shards"));
    VFS_ASSIGN_OR_RETURN(cluster::SegmentLayout layout,
                         cluster::SegmentLayout::Make(size, segment_size, k, m));
    VFS_ASSIGN_OR_RETURN(const erasure::Codec* codec, CodecFor(k, m));
    cluster::WriteRequest req;
    req.layout = &layout;
    req.token = token;
    req.quorum = std::min(config_.write_quorum, k + m);
    req.shards.resize(k + m);
    if (shards.size() != static_cast<size_t>(k + m)) {
      return Status(EPROTO, "begin_version placed the wrong number of shards");
    }
    for (const json& s : shards) {
      VFS_ASSIGN_OR_RETURN(cluster::ShardPlacement p, ParsePlacement(s, k + m));
      if (!req.shards[p.index].chunk.empty()) return Status(EPROTO, "shard index placed twice");
      req.shards[p.index] = std::move(p);
    }
    cluster::ObjectWriter writer(transport_, health_, codec);
    std::vector<cluster::ShardResult> results;
    {
      PendingRenewer renewer(meta_, attr.ino, vid, options_.pending_renew_interval);
      VFS_ASSIGN_OR_RETURN(results, writer.Write(req, cipher, read, progress));
    }
    json out = json::array();
    for (const auto& r : results) {
      if (r.ok) {
        out.push_back({{"index", r.index}, {"state", "ok"}, {"root", r.root_hex}});
      } else {
        out.push_back({{"index", r.index}, {"state", "missing"}});
        VFS_LOG(kWarn) << "write of inode " << attr.ino << ": " << r.error.ToString()
                       << " (the version is queued for repair)";
        if (report) ++report->shards_missing;
      }
    }
    commit["shards"] = std::move(out);
  }
  options.attrs.AddTo(commit);
  const char* op = is_inline ? "write_inline" : "commit_version";
  // Compare-and-swap on attr.version: a commit made elsewhere meanwhile answers ESTALE and is
  // never replaced silently.
  auto r = meta_->Call(op, commit);
  if (!r.ok()) return r.status().Annotate("commit");
  return Attr::FromJson((*r)["attr"]);
}

Result<std::unique_ptr<VersionReader>> Content::OpenVersion(const Attr& attr) {
  if (!logged_in()) return PermissionDenied("log in first");
  if (attr.type != "file") return Status(EISDIR, "not a regular file");
  std::unique_ptr<VersionReader> vr(new VersionReader());
  vr->meta_ = meta_;
  vr->attr_ = attr;
  if (attr.version.empty()) {  // never written: empty
    vr->inline_plain_ = std::string();
    return vr;
  }
  VFS_ASSIGN_OR_RETURN(json v,
                       meta_->Call("get_version", {{"ino", attr.ino}, {"version", attr.version}}));
  VFS_ASSIGN_OR_RETURN(uint64_t size, cluster::Field<uint64_t>(v, "size"));
  VFS_ASSIGN_OR_RETURN(std::string wrapped, cluster::HexField(v, "wrapped_key"));
  VFS_ASSIGN_OR_RETURN(uint64_t vnum, VersionNumber(attr.version));
  crypto::VersionBinding binding{keys_->user_id, attr.ino, vnum};
  VFS_ASSIGN_OR_RETURN(crypto::Key file_key,
                       crypto::UnwrapFileKey(*keys_->master, wrapped, binding));
  VFS_ASSIGN_OR_RETURN(crypto::SegmentCipher cipher,
                       crypto::SegmentCipher::Create(file_key, binding));
  vr->size_ = size;

  if (v.value("inline", false)) {
    VFS_ASSIGN_OR_RETURN(std::string sealed, cluster::HexField(v, "content"));
    if (sealed.size() != size + crypto::SegmentCipher::kTagSize) {
      return Corruption("inline content has the wrong size for its version");
    }
    std::string plain(size, '\0');
    VFS_RETURN_IF_ERROR(cipher.Open(
        0, true, std::span(reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size()),
        std::span(reinterpret_cast<uint8_t*>(plain.data()), size)));
    vr->inline_plain_ = std::move(plain);
    return vr;
  }

  VFS_ASSIGN_OR_RETURN(int k, cluster::Field<int>(v, "k"));
  VFS_ASSIGN_OR_RETURN(int m, cluster::Field<int>(v, "m"));
  VFS_ASSIGN_OR_RETURN(uint32_t segment_size, cluster::Field<uint32_t>(v, "segment_size"));
  VFS_ASSIGN_OR_RETURN(std::string token, cluster::Field<std::string>(v, "token"));
  VFS_ASSIGN_OR_RETURN(json shards, cluster::Field<json>(v, "shards"));
  VFS_ASSIGN_OR_RETURN(cluster::SegmentLayout layout,
                       cluster::SegmentLayout::Make(size, segment_size, k, m));
  VFS_ASSIGN_OR_RETURN(const erasure::Codec* codec, CodecFor(k, m));
  if (shards.size() != static_cast<size_t>(k + m)) {
    return Status(EPROTO, "get_version returned the wrong number of shards");
  }
  std::vector<cluster::ShardSource> sources(k + m);
  for (const json& s : shards) {
    VFS_ASSIGN_OR_RETURN(cluster::ShardPlacement where, ParsePlacement(s, k + m));
    cluster::ShardSource& src = sources[where.index];
    if (!src.where.chunk.empty()) return Status(EPROTO, "shard index listed twice");
    src.where = std::move(where);
    if (s.value("state", std::string()) == "ok" && s["root"].is_string()) {
      src.root_hex = s["root"].get<std::string>();
    }
  }
  vr->segment_size_ = segment_size;
  vr->reader_ = std::make_unique<cluster::ObjectReader>(
      transport_, health_, codec, std::make_unique<crypto::SegmentCipher>(std::move(cipher)),
      layout, std::move(sources), token, options_.read);
  return vr;
}

VersionReader::~VersionReader() = default;

Status VersionReader::Read(uint64_t offset, uint64_t length, const cluster::PlaintextSink& sink) {
  if (offset >= size_) return Status::Ok();
  length = std::min(length, size_ - offset);
  if (length == 0) return Status::Ok();
  if (inline_plain_) return sink(std::string_view(*inline_plain_).substr(offset, length));
  Status st = reader_->Read(offset, length, sink);
  ReportNewProblems();
  return st;
}

Status VersionReader::ReadSegments(uint64_t first, uint64_t last,
                                   const cluster::SegmentSink& sink) {
  if (!reader_) return InvalidArgument("inline content has no segments");
  Status st = reader_->ReadSegments(first, last, sink);
  ReportNewProblems();
  return st;
}

std::vector<cluster::ShardProblem> VersionReader::problems() const {
  return reader_ ? reader_->problems() : std::vector<cluster::ShardProblem>{};
}

// Tells the metadata service what we found, so repair can start; a failure to report is
// logged but does not fail a read that succeeded.
void VersionReader::ReportNewProblems() {
  const auto& problems = reader_->problems();
  for (; reported_ < problems.size(); ++reported_) {
    const cluster::ShardProblem& p = problems[reported_];
    VFS_LOG(kWarn) << "read of inode " << attr_.ino << ": " << p.detail;
    // An unreachable server says nothing about its shards; its absence is handled by server
    // membership, not by per-shard repair.
    if (p.state == "unreachable") continue;
    auto rep = meta_->Call("report_shard",
                           {{"version", attr_.version}, {"index", p.index}, {"state", p.state}});
    if (!rep.ok()) VFS_LOG(kWarn) << "could not report a bad shard: " << rep.status().ToString();
  }
}

Status Content::ReadContent(const Attr& attr, uint64_t offset, uint64_t length,
                            const cluster::PlaintextSink& sink,
                            const std::function<void(uint64_t)>& progress, ContentReport* report) {
  VFS_ASSIGN_OR_RETURN(std::unique_ptr<VersionReader> reader, OpenVersion(attr));
  uint64_t done = 0;
  Status st = reader->Read(offset, length, [&](std::string_view piece) {
    VFS_RETURN_IF_ERROR(sink(piece));
    done += piece.size();
    if (progress) progress(done);
    return Status::Ok();
  });
  if (report) report->problems = reader->problems();
  return st;
}

Result<size_t> Content::CollectGarbage(std::chrono::seconds grace) {
  if (!logged_in()) return PermissionDenied("log in first");
  cluster::GcOptions o;
  o.grace = grace;
  o.may_try = [this](uint64_t server) { return health_->ShouldTry(server); };
  VFS_ASSIGN_OR_RETURN(cluster::GcOutcome out, cluster::CollectGarbage(*meta_, *transport_, o));
  if (!out.first_failure.ok()) {
    VFS_LOG(kInfo) << "garbage collection: " << out.first_failure.ToString()
                   << " (will retry later)";
  }
  return out.removed;
}

int Content::ProbeDownServers() {
  std::vector<std::pair<uint64_t, std::future<Result<HealthInfo>>>> asks;
  for (uint64_t id : health_->DownServers()) {
    if (const DataNodeConfig* d = config_.FindData(id)) {
      asks.emplace_back(id, data_->Health(d->address));
    }
  }
  int down = 0;
  for (auto& [id, f] : asks) {
    auto h = f.get();
    if (h.ok()) {
      health_->ReportSuccess(id);
    } else {
      ++down;
    }
  }
  return down;
}

Result<FsStats> Content::StatFs() {
  return UsableCapacity(config_, ProbeDataServers(config_, *data_));
}

// ---- store under a name ----

Result<Stored> Content::Store(uint64_t parent, std::string_view name, uint64_t size,
                              const cluster::PlaintextReader& read, const StoreOptions& options) {
  if (!logged_in()) return PermissionDenied("log in first");
  WriteOptions w;
  w.progress = options.progress;
  w.report = options.report;
  Stored out;
  auto existing = tree_->Lookup(parent, name);
  if (existing.ok()) {
    if (existing->is_dir()) return Status(EISDIR, std::string(name) + " is a directory");
    if (existing->type != "file") {
      return Status(EEXIST, std::string(name) + " exists and is not a file");
    }
    // A new version of the same inode: the commit is one atomic compare-and-swap on the
    // version just looked up.
    VFS_ASSIGN_OR_RETURN(out.attr, WriteContent(*existing, size, read, w));
    out.replaced = true;
    return out;
  }
  if (existing.status().code() != ENOENT) return existing.status();
  // A new file appears only complete: written under a temporary name, then renamed.
  VFS_ASSIGN_OR_RETURN(std::string tag, crypto::RandomHexId(6));
  const std::string tmp = std::string(kStoreTempPrefix) + tag;
  VFS_ASSIGN_OR_RETURN(Attr created, tree_->Create(parent, tmp, options.mode));
  auto written = WriteContent(created, size, read, w);
  Status st = written.status();
  if (st.ok()) st = tree_->Rename(parent, tmp, parent, name, 0);
  if (!st.ok()) {
    (void)tree_->Unlink(parent, tmp);
    return st;
  }
  out.attr = std::move(written).value();
  return out;
}

}  // namespace vaultfs::client
