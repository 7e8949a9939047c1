// RepairDaemon: see repair_daemon.h.
#include "servers/repair/repair_daemon.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <thread>

#include "src/cluster/segment_layout.h"
#include "src/cluster/shard_rebuilder.h"
#include "src/common/log.h"
#include "src/crypto/random.h"
#include "src/crypto/token.h"

namespace vaultfs::repair {
namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kSessionTtlS = 3600;
constexpr auto kRetryFailedAfter = std::chrono::seconds(30);
constexpr int kPage = 200;

cluster::DataClientOptions DataOptions(std::shared_ptr<tls::TlsContext> tls) {
  cluster::DataClientOptions o;
  o.tls = std::move(tls);
  o.connect_timeout = std::chrono::milliseconds(2000);
  o.request_timeout = std::chrono::milliseconds(10000);
  o.connections_per_server = 2;
  return o;
}

Result<HostPort> AddressOf(const Json& j) {
  if (!j.is_string()) return Status(EPROTO, "server address missing");
  return ParseHostPort(j.get<std::string>());
}

}  // namespace

RepairDaemon::RepairDaemon(RepairOptions options)
    : opt_(std::move(options)),
      meta_(opt_.config, MetaClientOptions{.tls = opt_.tls}),
      data_(DataOptions(opt_.tls)),
      transport_(&data_),
      health_(cluster::ServerHealth::Options{std::chrono::milliseconds(500),
                                             std::chrono::milliseconds(5000)}) {
  bucket_start_ = SteadyClock::now();
  if (opt_.scrub_interval.count() > 0) next_scrub_ = SteadyClock::now() + opt_.scrub_interval;
  if (opt_.stray_interval.count() > 0) next_sweep_ = SteadyClock::now() + opt_.stray_interval;
}

RepairDaemon::~RepairDaemon() = default;

void RepairDaemon::Stop() {
  stop_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void RepairDaemon::RequestScrub() {
  scrub_requested_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void RepairDaemon::RequestSweep() {
  sweep_requested_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

RepairStats RepairDaemon::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status RepairDaemon::Login() {
  const auto now = SteadyClock::now();
  if (now < session_renew_) return Status::Ok();
  VFS_ASSIGN_OR_RETURN(std::string tid, crypto::RandomHexId(16));
  crypto::TokenClaims c{std::string(crypto::kAudienceCluster), "_cluster", crypto::kRightAll,
                        crypto::UnixNow() + kSessionTtlS, tid};
  VFS_ASSIGN_OR_RETURN(std::string token, crypto::SignToken(c, opt_.secret));
  meta_.SetSession(std::move(token));
  session_renew_ = now + std::chrono::seconds(kSessionTtlS / 2);
  return Status::Ok();
}

void RepairDaemon::Run() {
  VFS_LOG(kInfo) << "repairing cluster " << opt_.config.cluster_id << " ("
                 << opt_.config.data.size() << " data servers), a pass every "
                 << opt_.interval.count() << " s";
  while (!stopping()) {
    Status st = RunPass(scrub_requested_.exchange(false), sweep_requested_.exchange(false));
    if (!st.ok() && !stopping()) VFS_LOG(kWarn) << "repair pass: " << st.ToString();
    WriteStatus();
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, opt_.interval,
                 [&] { return stopping() || scrub_requested_.load() || sweep_requested_.load(); });
  }
}

Status RepairDaemon::RunPass(bool force_scrub, bool force_sweep) {
  VFS_RETURN_IF_ERROR(Login());
  // `vaultfs scrub` leaves a request time in the metadata service.
  VFS_ASSIGN_OR_RETURN(Json map, meta_.Call("cluster_map"));
  const int64_t requested = map.value("scrub_requested", int64_t{0});
  if (requested > scrub_request_seen_) {
    if (scrub_request_seen_ >= 0) force_scrub = true;  // not one from before we started
    scrub_request_seen_ = requested;
  }
  recorded_.clear();
  for (const Json& d : map["data"]) {
    recorded_[d.value("id", uint64_t{0})] = d.value("state", "up");
  }
  // Each step runs even if an earlier one failed: a dead server must not stop GC.
  Status first = ProbeServers();
  auto keep = [&](Status st) {
    if (first.ok() && !st.ok()) first = std::move(st);
  };
  keep(RepairQueue());
  keep(CollectGarbage());
  const auto now = SteadyClock::now();
  if (force_scrub || (opt_.scrub_interval.count() > 0 && now >= next_scrub_)) {
    keep(Scrub());
    if (opt_.scrub_interval.count() > 0) next_scrub_ = SteadyClock::now() + opt_.scrub_interval;
    // Whatever the scrub found is repaired in the same pass.
    keep(RepairQueue());
  }
  // After GC: what the queue deletes anyway is gone, not judged.
  if (force_sweep || (opt_.stray_interval.count() > 0 && SteadyClock::now() >= next_sweep_)) {
    keep(SweepStrays());
    if (opt_.stray_interval.count() > 0) next_sweep_ = SteadyClock::now() + opt_.stray_interval;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.passes;
    stats_.last_error = first.ok() ? std::string() : first.message();
  }
  // Progress for `vaultfs status`, wherever it runs.
  auto r = meta_.Call("report_repair", {{"stats", StatusJson()}});
  if (!r.ok()) keep(r.status().Annotate("report_repair"));
  return first;
}

Status RepairDaemon::Drain(uint64_t server) {
  VFS_RETURN_IF_ERROR(Login());
  return meta_.Call("report_server", {{"server", server}, {"state", "draining"}}).status();
}

Result<bool> RepairDaemon::Drained(uint64_t server) {
  VFS_RETURN_IF_ERROR(Login());
  VFS_ASSIGN_OR_RETURN(Json left, meta_.Call("server_shards", {{"server", server}, {"limit", 1}}));
  return left["items"].empty();
}

// ---- 1. servers ----

Status RepairDaemon::ProbeServers() {
  std::vector<std::pair<uint64_t, std::future<Result<HealthInfo>>>> probes;
  for (const DataNodeConfig& d : opt_.config.data)
    probes.emplace_back(d.id, data_.Health(d.address));
  const auto now = SteadyClock::now();
  Status first;
  for (auto& [id, fut] : probes) {
    Result<HealthInfo> h = fut.get();
    ServerView& v = servers_[id];
    Json args = {{"server", id}};
    v.draining = recorded_[id] == "draining";
    if (h.ok()) {
      health_.ReportSuccess(id);
      v.up = true;
      v.failed_probes = 0;
      v.free = h->free_bytes;
      v.reported_lost = false;
      if (!v.draining) args["state"] = "up";  // an operator's drain stands until removal
      args["capacity"] = h->total_bytes;
      args["free"] = h->free_bytes;
      if (!h->storage_id.empty()) args["storage_id"] = h->storage_id;
    } else {
      health_.ReportFailure(id, h.status().ToString());
      if (v.up || v.down_since == SteadyClock::time_point{}) v.down_since = now;
      v.up = false;
      // One failed probe may be a restart in progress: the metadata service hears "down"
      // (which stops new placements there) only from the second one on.
      if (++v.failed_probes < 2) continue;
      const bool lost = now - v.down_since >= opt_.lost_after;
      if (lost && !v.reported_lost) {
        VFS_LOG(kWarn) << "data server " << id << " has been down for " << opt_.lost_after.count()
                       << " s: declaring it lost; its shards are rebuilt elsewhere";
      }
      args["state"] = lost ? "lost" : "down";
    }
    auto r = meta_.Call("report_server", args);
    if (!r.ok()) {
      if (first.ok()) first = r.status().Annotate("report server " + std::to_string(id));
      continue;
    }
    v.reported_state = args.value("state", recorded_[id]);
    if (v.reported_state == "lost") v.reported_lost = true;
    if (v.draining) {
      // Drained once the metadata places no shard of a committed version there any more.
      auto left = meta_.Call("server_shards", {{"server", id}, {"limit", 1}});
      if (left.ok() && (*left)["items"].empty()) v.reported_state = "drained";
    }
    if (r->value("lost_shards", false)) {
      VFS_LOG(kWarn) << "data server " << id
                     << (args["state"] == "lost" ? " is lost"
                                                 : " came back with an empty (new) storage folder")
                     << ": its shards are queued for repair";
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [id, v] : servers_) stats_.servers[id] = v.reported_state;
  return first;
}

// ---- 2. repair ----

Status RepairDaemon::RepairQueue() {
  const auto started = SteadyClock::now();
  uint64_t bytes_before = stats().bytes_rebuilt;
  Status first;
  std::set<std::string> seen;  // this pass: a version that stays queued is not retried at once
  while (!stopping()) {
    VFS_ASSIGN_OR_RETURN(Json page, meta_.Call("repair_list", {{"limit", kPage}}));
    const Json& items = page["items"];
    {
      // What is left to move, for the status's time estimate: each lost shard is about
      // size / k bytes.
      uint64_t bytes = 0;
      for (const Json& item : items) {
        int lost = 0;
        for (const Json& s : item["shards"]) lost += s.value("state", "") == "ok" ? 0 : 1;
        bytes += item.value("size", uint64_t{0}) / std::max(1, item.value("k", 1)) * lost;
      }
      std::lock_guard<std::mutex> lock(mu_);
      stats_.queue = items.size();
      stats_.queue_bytes = bytes;
    }
    bool progressed = false;
    for (const Json& item : items) {
      if (stopping()) break;
      const std::string vid = item.value("version", "");
      if (!seen.insert(vid).second) continue;
      auto retry = retry_at_.find(vid);
      if (retry != retry_at_.end() && SteadyClock::now() < retry->second) continue;
      progressed = true;
      Status st = RepairVersion(item);
      if (st.ok()) {
        retry_at_.erase(vid);
        continue;
      }
      retry_at_[vid] = SteadyClock::now() + kRetryFailedAfter;
      VFS_LOG(kWarn) << "repair of version " << vid << ": " << st.ToString();
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.repair_failures;
      if (first.ok()) first = st;
    }
    if (!progressed || items.size() < static_cast<size_t>(kPage)) break;
  }
  const double secs = std::chrono::duration<double>(SteadyClock::now() - started).count();
  std::lock_guard<std::mutex> lock(mu_);
  if (stats_.bytes_rebuilt > bytes_before && secs > 0) {
    stats_.rate_bytes_per_s = static_cast<double>(stats_.bytes_rebuilt - bytes_before) / secs;
  }
  return first;
}

Status RepairDaemon::RepairVersion(const Json& item) {
  const std::string vid = item.value("version", "");
  const int k = item.value("k", 0), m = item.value("m", 0);
  VFS_ASSIGN_OR_RETURN(cluster::SegmentLayout layout,
                       cluster::SegmentLayout::Make(item.value("size", uint64_t{0}),
                                                    item.value("segment_size", uint32_t{0}), k, m));
  auto& codec = codecs_[{k, m}];
  if (!codec) {
    VFS_ASSIGN_OR_RETURN(codec, erasure::MakeCodec(k, m));
  }

  cluster::RebuildRequest req;
  req.layout = &layout;
  req.token = item.value("token", "");
  // New shards go under chunk ids of the scope the metadata service handed out for this
  // rebuild; its token writes nothing else.
  const std::string scope = item.value("rebuild_scope", "");
  req.write_token = item.value("rebuild_token", "");
  if (scope.empty() || req.write_token.empty()) {
    return Status(EPROTO, "repair item without a rebuild scope and token");
  }
  req.sources.resize(k + m);
  std::set<uint64_t> holding;  // servers keeping a good shard of this version
  std::vector<int> lost;
  for (const Json& s : item["shards"]) {
    const int idx = s.value("index", -1);
    if (idx < 0 || idx >= k + m) return Status(EPROTO, "repair item with a bad shard index");
    cluster::ShardSource& src = req.sources[idx];
    src.where.index = idx;
    src.where.server = s.value("server", uint64_t{0});
    src.where.chunk = s.value("chunk", "");
    VFS_ASSIGN_OR_RETURN(src.where.address, AddressOf(s["address"]));
    const bool ok = s.value("state", "") == "ok" && s["root"].is_string();
    // A shard on a draining server is read from while a copy is made elsewhere.
    const bool moving = servers_[src.where.server].draining;
    if (ok) src.root_hex = s["root"];
    if (ok && !moving) {
      holding.insert(src.where.server);
    } else {
      lost.push_back(idx);
    }
  }
  if (lost.empty()) return Status::Ok();  // repaired by someone else meanwhile

  // New homes: up servers holding no other shard of this version, most free space first.
  std::vector<std::pair<uint64_t, const DataNodeConfig*>> candidates;
  for (const DataNodeConfig& d : opt_.config.data) {
    const ServerView& v = servers_[d.id];
    if (v.up && !v.draining && recorded_[d.id] != "lost" && !holding.count(d.id)) {
      candidates.emplace_back(v.free, &d);
    }
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  if (candidates.empty()) {
    return Status(ENOSPC, "no healthy server without a shard of this version is up");
  }
  for (size_t i = 0; i < lost.size() && i < candidates.size(); ++i) {
    cluster::ShardPlacement p;
    p.index = lost[i];
    p.server = candidates[i].second->id;
    p.address = candidates[i].second->address;
    p.chunk = crypto::ScopedChunkId(scope, lost[i]);
    req.targets.push_back(std::move(p));
  }
  uint64_t moved = 0;
  req.on_segment = [&](uint64_t bytes) -> Status {
    moved += bytes;
    return Throttle(bytes) ? Status::Ok() : Status(ECANCELED, "stopping");
  };
  VFS_ASSIGN_OR_RETURN(cluster::RebuildOutcome out,
                       cluster::RebuildShards(&transport_, &health_, codec.get(), req));
  Json done = Json::array();
  for (const cluster::RebuiltShard& s : out.shards) {
    if (!s.ok) {
      VFS_LOG(kWarn) << "version " << vid << ": " << s.error.ToString();
      continue;
    }
    done.push_back({{"index", s.index},
                    {"server", s.where.server},
                    {"chunk", s.where.chunk},
                    {"root", s.root_hex}});
  }
  // Sources that turned out bad on the way are queued too (the version stays in the queue).
  for (const cluster::ShardProblem& p : out.problems) {
    if (p.state == "unreachable") continue;
    auto r = meta_.Call("report_shard", {{"version", vid}, {"index", p.index}, {"state", p.state}});
    if (!r.ok()) VFS_LOG(kWarn) << "report_shard: " << r.status().ToString();
  }
  if (done.empty()) return Status(EIO, "no rebuilt shard of version " + vid + " could be stored");
  // One request id for every attempt: the service applies it at most once, so a retry after
  // a lost reply (leader killed) answers with the first outcome instead of guessing.
  const Json args = {{"version", vid}, {"shards", done}, {"rid", MetaClient::NewRequestId()}};
  auto r = meta_.Call("repair_done", args);
  for (int attempt = 1; !r.ok() && r.status().code() != ENOENT && attempt < 3 && !stopping();
       ++attempt) {
    r = meta_.Call("repair_done", args);
  }
  if (!r.ok()) {
    if (r.status().code() == ENOENT) {
      // The version was replaced or deleted meanwhile: the new chunks are nobody's.
      for (const cluster::RebuiltShard& s : out.shards) {
        if (s.ok) (void)transport_.Delete(s.where, req.write_token).get();
      }
      return Status::Ok();
    }
    // Outcome unknown: the placement may already name the new chunks, so they stay (deleting
    // them could destroy shards the metadata counts on; at worst they are unreferenced).
    return r.status().Annotate("repair_done " + vid);
  }
  VFS_LOG(kInfo) << "version " << vid << ": rebuilt " << done.size() << " shard(s), "
                 << r->value("remaining", 0) << " still missing";
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.versions_repaired;
  stats_.shards_rebuilt += done.size();
  stats_.bytes_rebuilt += moved;
  return Status::Ok();
}

bool RepairDaemon::Throttle(uint64_t bytes) {
  if (opt_.rate_bytes_per_s == 0) return !stopping();
  bucket_bytes_ += bytes;
  const auto due = bucket_start_ +
                   std::chrono::duration_cast<SteadyClock::duration>(std::chrono::duration<double>(
                       static_cast<double>(bucket_bytes_) / opt_.rate_bytes_per_s));
  const auto now = SteadyClock::now();
  if (now - bucket_start_ > std::chrono::seconds(5)) {  // an idle spell earns no burst
    bucket_start_ = now;
    bucket_bytes_ = 0;
    return !stopping();
  }
  if (due > now) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, due, [&] { return stopping(); });
  }
  return !stopping();
}

// ---- 3. gc ----

Status RepairDaemon::CollectGarbage() {
  auto exp = meta_.Call("expire_pending", {{"older_than_s", opt_.pending_grace.count()}});
  if (!exp.ok()) return exp.status().Annotate("expire_pending");
  uint64_t expired = exp->value("expired", uint64_t{0});
  cluster::GcOptions o;
  o.grace = opt_.gc_grace;
  o.page = kPage;
  o.max_pages = 0;  // the repairer works through the whole queue
  o.may_try = [this](uint64_t server) { return servers_[server].up; };
  o.stopping = [this] { return stopping(); };
  VFS_ASSIGN_OR_RETURN(cluster::GcOutcome out, cluster::CollectGarbage(meta_, transport_, o));
  const uint64_t removed = out.removed;
  if (removed > 0 || expired > 0) {
    VFS_LOG(kInfo) << "gc: removed " << removed << " chunk(s), expired " << expired
                   << " abandoned upload(s)";
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.gc_chunks_removed += removed;
  stats_.pending_expired += expired;
  return out.first_failure;
}

// ---- 4. scrub ----

Status RepairDaemon::Scrub() {
  VFS_LOG(kInfo) << "scrub: verifying every shard";
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.scrub_last_start = crypto::UnixNow();
  }
  Status first;
  for (const DataNodeConfig& d : opt_.config.data) {
    if (stopping()) break;
    if (!servers_[d.id].up) continue;  // its shards are checked once it is back
    Status st = ScrubServer(d.id, d.address);
    if (!st.ok() && first.ok()) first = st;
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.scrub_passes;
  stats_.scrub_last_end = crypto::UnixNow();
  return first;
}

Status RepairDaemon::ScrubServer(uint64_t server, const HostPort& address) {
  std::string cursor;
  uint64_t checked = 0, bad = 0;
  while (!stopping()) {
    VFS_ASSIGN_OR_RETURN(
        Json page,
        meta_.Call("server_shards", {{"server", server}, {"cursor", cursor}, {"limit", kPage}}));
    const Json& items = page["items"];
    std::vector<std::future<Result<VerifyReport>>> reports;
    for (const Json& item : items) {
      reports.push_back(data_.Verify(address, item.value("token", ""), item.value("chunk", "")));
    }
    for (size_t i = 0; i < items.size(); ++i) {
      const Json& item = items[i];
      Result<VerifyReport> r = reports[i].get();
      std::string state;
      if (!r.ok()) {
        if (r.status().code() == ENOENT) {
          state = "missing";
        } else if (r.status().code() == EBADMSG) {
          state = "corrupt";  // the trailer itself is unreadable
        } else {
          return r.status().Annotate("scrub server " + std::to_string(server));
        }
      } else if (!r->bad_blocks.empty() || !item["root"].is_string() ||
                 r->root_hex != item["root"].get<std::string>()) {
        state = "corrupt";
      }
      ++checked;
      if (state.empty() || item.value("state", "") != "ok") continue;
      ++bad;
      VFS_LOG(kWarn) << "scrub: shard " << item.value("index", 0) << " of version "
                     << item.value("version", "") << " on server " << server << " is " << state;
      VFS_RETURN_IF_ERROR(
          meta_
              .Call("report_shard",
                    {{"version", item["version"]}, {"index", item["index"]}, {"state", state}})
              .status());
    }
    if (!page["next"].is_string()) break;
    cursor = page["next"];
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.scrub_checked += checked;
  stats_.scrub_bad += bad;
  return Status::Ok();
}

// ---- 5. strays ----

Status RepairDaemon::SweepStrays() {
  VFS_LOG(kInfo) << "stray sweep: looking for unreferenced objects older than "
                 << opt_.stray_grace.count() << " s";
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.stray_last_start = crypto::UnixNow();
  }
  ClusterSweepBackend backend(&meta_, &data_);
  SweepOptions o;
  o.grace = opt_.stray_grace;
  o.may_try = [this](uint64_t server) { return servers_[server].up; };
  o.stopping = [this] { return stopping(); };
  const SweepOutcome out = repair::SweepStrays(&backend, opt_.config.data, o);
  const SweepCounts& c = out.counts;
  VFS_LOG(kInfo) << "stray sweep: " << c.seen << " object(s) seen, " << c.kept << " kept, "
                 << c.deleted << " deleted, " << c.skipped << " skipped (" << c.servers_skipped
                 << " server(s) skipped)";
  std::lock_guard<std::mutex> lock(mu_);
  ++stats_.stray_passes;
  stats_.stray_total.Add(c);
  stats_.stray_last = c;
  stats_.stray_last_end = crypto::UnixNow();
  return out.first_failure;
}

// ---- status ----

Json RepairDaemon::StatusJson() const {
  RepairStats s = stats();
  Json servers = Json::object();
  for (const auto& [id, state] : s.servers) servers[std::to_string(id)] = state;
  Json j = {
      {"updated", crypto::UnixNow()},
      {"passes", s.passes},
      {"lost_after_s", opt_.lost_after.count()},
      {"repair",
       {{"queue", s.queue},
        {"versions_repaired", s.versions_repaired},
        {"shards_rebuilt", s.shards_rebuilt},
        {"bytes_rebuilt", s.bytes_rebuilt},
        {"failures", s.repair_failures},
        {"queue_bytes", s.queue_bytes},
        {"rate_bytes_per_s", static_cast<uint64_t>(s.rate_bytes_per_s)},
        {"eta_s", s.rate_bytes_per_s > 0
                      ? Json(static_cast<uint64_t>(s.queue_bytes / s.rate_bytes_per_s))
                      : Json(nullptr)}}},
      {"gc", {{"chunks_removed", s.gc_chunks_removed}, {"pending_expired", s.pending_expired}}},
      {"scrub",
       {{"passes", s.scrub_passes},
        {"checked", s.scrub_checked},
        {"bad", s.scrub_bad},
        {"last_start", s.scrub_last_start},
        {"last_end", s.scrub_last_end}}},
      {"stray",
       {{"passes", s.stray_passes},
        {"grace_s", opt_.stray_grace.count()},
        {"seen", s.stray_total.seen},
        {"kept", s.stray_total.kept},
        {"deleted", s.stray_total.deleted},
        {"skipped", s.stray_total.skipped},
        {"servers_skipped", s.stray_total.servers_skipped},
        {"last",
         {{"seen", s.stray_last.seen},
          {"kept", s.stray_last.kept},
          {"deleted", s.stray_last.deleted},
          {"skipped", s.stray_last.skipped},
          {"servers_skipped", s.stray_last.servers_skipped}}},
        {"last_start", s.stray_last_start},
        {"last_end", s.stray_last_end}}},
      {"servers", servers},
      {"last_error", s.last_error}};
  return j;
}

void RepairDaemon::WriteStatus() {
  if (opt_.status_file.empty()) return;
  const Json j = StatusJson();
  const std::string tmp = opt_.status_file + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << j.dump(2) << "\n";
    if (!f) {
      VFS_LOG(kWarn) << "cannot write " << tmp;
      return;
    }
  }
  if (std::rename(tmp.c_str(), opt_.status_file.c_str()) != 0) {
    VFS_LOG(kWarn) << "cannot rename " << tmp << " to " << opt_.status_file;
  }
}

}  // namespace vaultfs::repair
