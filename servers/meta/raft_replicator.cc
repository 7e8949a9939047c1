// libraft-backed Replicator: see raft_replicator.h for the rules it enforces.
#include "servers/meta/raft_replicator.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>

#include "servers/meta/raft_tls_transport.h"
#include "src/common/cluster_config.h"
#include "src/common/frame.h"
#include "src/common/log.h"
#include "src/crypto/random.h"

namespace vaultfs::meta {
namespace {

constexpr uint32_t kEntryMagic = 0x56464d31;  // "VFM1"
constexpr size_t kEntryHeader = 16;           // magic, body length, proposal tag
// Entries waiting for disk space are retried this often; past kMaxBacklogBytes of them (a
// follower whose disk stays full while the group goes on) the node stops, and its restart
// replays them from the log.
constexpr uint64_t kRetryMs = 200;
constexpr uint64_t kMaxBacklogBytes = uint64_t(256) << 20;

// libraft's TCP transport reports a taken port with an empty message, so probe it first.
Status CheckPortFree(const std::string& address) {
  auto hp = ParseHostPort(address);
  if (!hp.ok()) return hp.status().Annotate("--raft-listen");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(hp->port);
  if (inet_pton(AF_INET, hp->host.c_str(), &sa.sin_addr) != 1) {
    return InvalidArgument("raft address must be an IPv4 address and port: " + address);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IoError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    return Status(err, "cannot listen for raft traffic on " + address + ": " + std::strerror(err) +
                           (err == EADDRINUSE ? " (is another vaultfs-meta running?)" : ""));
  }
  return Status::Ok();
}

}  // namespace

struct RaftReplicator::Proposal {
  struct raft_apply req {};
  RaftReplicator* self = nullptr;
  uint64_t tag = 0;
  ProposeCallback done;
  std::string result;
  bool applied = false;
};

struct RaftReplicator::BarrierReq {
  struct raft_barrier req {};
  BarrierCallback done;
};

std::string RaftReplicator::EncodeEntry(uint64_t tag, std::string_view body) {
  size_t len = kEntryHeader + body.size();
  size_t padded = (len + 7) & ~size_t(7);
  std::string out(padded, '\0');
  PutBigEndian32(kEntryMagic, out.data());
  PutBigEndian32(static_cast<uint32_t>(body.size()), out.data() + 4);
  PutBigEndian64(tag, out.data() + 8);
  std::memcpy(out.data() + kEntryHeader, body.data(), body.size());
  return out;
}

bool RaftReplicator::DecodeEntry(std::string_view raw, uint64_t* tag, std::string_view* body) {
  if (raw.size() < kEntryHeader || raw.size() % 8 != 0) return false;
  if (GetBigEndian32(raw.data()) != kEntryMagic) return false;
  uint32_t len = GetBigEndian32(raw.data() + 4);
  if (len > raw.size() - kEntryHeader) return false;
  *tag = GetBigEndian64(raw.data() + 8);
  *body = raw.substr(kEntryHeader, len);
  return true;
}

Result<std::unique_ptr<RaftReplicator>> RaftReplicator::Start(uv_loop_t* loop,
                                                              const RaftOptions& opts,
                                                              StateMachine* sm) {
  std::unique_ptr<RaftReplicator> r(new RaftReplicator(sm));
  VFS_RETURN_IF_ERROR(r->Init(loop, opts));
  return r;
}

Status RaftReplicator::Init(uv_loop_t* loop, const RaftOptions& opts) {
  VFS_RETURN_IF_ERROR(CheckPortFree(opts.raft_address));
  std::error_code ec;
  std::filesystem::create_directories(opts.dir, ec);
  if (ec) return IoError("cannot create " + opts.dir + ": " + ec.message());

  auto seed = crypto::RandomBytes(8);
  if (!seed.ok()) return seed.status();
  tag_base_ = GetBigEndian64(seed->data()) & ~uint64_t(0xffffffff);
  if (tag_base_ == 0) tag_base_ = uint64_t(1) << 32;

  if ((opts.tls_server == nullptr) != (opts.tls_client == nullptr)) {
    return InvalidArgument("raft TLS needs both a server and a client context");
  }
  int rv = 0;
  if (opts.tls_server != nullptr) {
    RaftTlsOptions topts;
    topts.server = opts.tls_server;
    topts.client = opts.tls_client;
    topts.handshake_timeout = opts.handshake_timeout;
    topts.idle_timeout = opts.idle_timeout;
    topts.max_connections = opts.max_connections;
    topts.max_per_address = opts.max_per_address;
    for (const RaftPeer& p : opts.peers) {
      auto hp = ParseHostPort(p.raft_address);
      if (hp.ok() && p.id != opts.id) topts.peer_hosts.push_back(hp->host);
    }
    VFS_RETURN_IF_ERROR(RaftTlsTransportInit(&transport_, loop, std::move(topts)));
    tls_transport_ = true;
  } else {
    rv = raft_uv_tcp_init(&transport_, loop);
    if (rv != 0) return IoError(std::string("raft transport: ") + raft_strerror(rv));
  }
  transport_init_ = true;
  rv = raft_uv_init(&io_, loop, opts.dir.c_str(), &transport_);
  if (rv != 0) return IoError("raft storage in " + opts.dir + ": " + io_.errmsg);
  io_init_ = true;
  raft_uv_set_auto_recovery(&io_, false);
  raft_uv_set_connect_retry_delay(&io_, 200);  // reconnect fast to a restarted peer

  uv_timer_init(loop, &retry_timer_);
  retry_timer_.data = this;
  retry_timer_init_ = true;

  fsm_.version = 1;  // libraft frees snapshot buffers itself
  fsm_.data = this;
  fsm_.apply = &RaftReplicator::FsmApply;
  fsm_.snapshot = &RaftReplicator::FsmSnapshot;
  fsm_.restore = &RaftReplicator::FsmRestore;
  rv = raft_init(&raft_, &io_, &fsm_, opts.id, opts.raft_address.c_str());
  if (rv != 0) return IoError(std::string("raft init: ") + raft_errmsg(&raft_));
  raft_init_ = true;
  raft_.data = this;

  struct raft_configuration conf;
  raft_configuration_init(&conf);
  for (const RaftPeer& p : opts.peers) {
    rv = raft_configuration_add(&conf, p.id, p.raft_address.c_str(), RAFT_VOTER);
    if (rv != 0) {
      raft_configuration_close(&conf);
      return InvalidArgument("raft configuration: node " + std::to_string(p.id) + ": " +
                             raft_strerror(rv));
    }
  }
  rv = raft_bootstrap(&raft_, &conf);
  raft_configuration_close(&conf);
  if (rv != 0 && rv != RAFT_CANTBOOTSTRAP) {  // CANTBOOTSTRAP: state exists from a past run
    return IoError(std::string("raft bootstrap: ") + raft_errmsg(&raft_));
  }

  raft_set_election_timeout(&raft_, opts.election_timeout_ms);
  raft_set_heartbeat_timeout(&raft_, opts.heartbeat_timeout_ms);
  raft_set_install_snapshot_timeout(&raft_, opts.install_snapshot_timeout_ms);
  raft_set_pre_vote(&raft_, true);
  raft_set_snapshot_threshold(&raft_, opts.snapshot_threshold);
  snapshot_threshold_ = opts.snapshot_threshold;
  raft_set_snapshot_trailing(&raft_, opts.snapshot_trailing);

  rv = raft_start(&raft_);
  if (rv != 0) {
    std::string msg = raft_errmsg(&raft_);
    return IoError("raft start: " + (msg.empty() ? std::string(raft_strerror(rv)) : msg));
  }
  return Status::Ok();
}

RaftReplicator::~RaftReplicator() {
  // Close() must have completed for the libraft structures to be released; if the process is
  // exiting after a failed start, the OS reclaims them.
}

void RaftReplicator::Propose(std::string_view entry, ProposeCallback done) {
  if (closing_) {
    done(ProposeOutcome::kNotLeader, {});
    return;
  }
  auto* p = new Proposal;
  p->self = this;
  p->tag = tag_base_ | (++next_tag_ & 0xffffffff);
  p->done = std::move(done);
  p->req.data = p;
  std::string bytes = EncodeEntry(p->tag, entry);
  struct raft_buffer buf;
  buf.len = bytes.size();
  buf.base = raft_malloc(buf.len);
  if (buf.base == nullptr) {
    auto cb = std::move(p->done);
    delete p;
    cb(ProposeOutcome::kNotLeader, {});
    return;
  }
  std::memcpy(buf.base, bytes.data(), buf.len);
  proposals_[p->tag] = p;
  int rv = raft_apply(&raft_, &p->req, &buf, 1, &RaftReplicator::ApplyCb);
  if (rv != 0) {
    // Refused before entering the log: definitely not applied.
    raft_free(buf.base);
    proposals_.erase(p->tag);
    auto cb = std::move(p->done);
    delete p;
    cb(ProposeOutcome::kNotLeader, {});
  }
}

void RaftReplicator::ApplyCb(struct raft_apply* req, int status, void* /*result*/) {
  auto* p = static_cast<Proposal*>(req->data);
  p->self->proposals_.erase(p->tag);
  ProposeOutcome outcome = ProposeOutcome::kApplied;
  if (status != 0) {
    VFS_LOG(kDebug) << "proposal outcome unknown: " << raft_strerror(status);
    outcome = ProposeOutcome::kUnknown;
  } else if (!p->applied) {
    outcome = ProposeOutcome::kUnknown;
  }
  auto cb = std::move(p->done);
  std::string result = std::move(p->result);
  delete p;
  cb(outcome, std::move(result));
}

void RaftReplicator::Barrier(BarrierCallback done) {
  if (closing_) {
    done(Status(EAGAIN, "shutting down"));
    return;
  }
  auto* b = new BarrierReq;
  b->done = std::move(done);
  b->req.data = b;
  int rv = raft_barrier(&raft_, &b->req, &RaftReplicator::BarrierCb);
  if (rv != 0) {
    auto cb = std::move(b->done);
    delete b;
    cb(Status(EAGAIN, std::string("barrier: ") + raft_strerror(rv)));
  }
}

void RaftReplicator::BarrierCb(struct raft_barrier* req, int status) {
  auto* b = static_cast<BarrierReq*>(req->data);
  auto cb = std::move(b->done);
  delete b;
  cb(status == 0 ? Status::Ok() : Status(EAGAIN, std::string("barrier: ") + raft_strerror(status)));
}

bool RaftReplicator::IsLeader() const {
  return !closing_ && raft_state(const_cast<struct raft*>(&raft_)) == RAFT_LEADER;
}

uint64_t RaftReplicator::LeaderId() const {
  raft_id id = 0;
  const char* addr = nullptr;
  raft_leader(const_cast<struct raft*>(&raft_), &id, &addr);
  return id;
}

void RaftReplicator::Close(std::function<void()> done) {
  if (closing_) return;
  closing_ = true;
  close_done_ = std::move(done);
  if (retry_timer_init_) {
    // Waiting entries stay in libraft's log (no snapshot was taken past them): the next start
    // applies them.
    if (!backlog_.empty()) {
      VFS_LOG(kWarn) << backlog_.size() << " committed entries still wait for disk space; "
                     << "they are applied at the next start";
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&retry_timer_), nullptr);
  }
  raft_close(&raft_, &RaftReplicator::CloseCb);
}

void RaftReplicator::CloseCb(struct raft* r) {
  auto* self = static_cast<RaftReplicator*>(r->data);
  raft_uv_close(&self->io_);
  if (self->tls_transport_) {
    RaftTlsTransportClose(&self->transport_);
  } else {
    raft_uv_tcp_close(&self->transport_);
  }
  if (self->close_done_) self->close_done_();
}

int RaftReplicator::FsmApply(struct raft_fsm* fsm, const struct raft_buffer* buf, void** result) {
  auto* self = static_cast<RaftReplicator*>(fsm->data);
  *result = nullptr;
  uint64_t index = raft_last_applied(&self->raft_) + 1;
  uint64_t tag = 0;
  std::string_view body;
  if (!DecodeEntry(std::string_view(static_cast<const char*>(buf->base), buf->len), &tag, &body)) {
    // Never fail apply (libraft would retry forever); the store records an error result.
    VFS_LOG(kError) << "log entry " << index << " has a malformed header (" << buf->len
                    << " bytes)";
    body = {};
  }
  auto it = self->proposals_.find(tag);
  Result<std::string> res = Status(ENOSPC, "waits behind earlier entries");
  if (self->backlog_.empty()) res = self->sm_->Apply(index, body);
  if (!res.ok()) {
    // Never fail apply (see the file comment): keep the entry for DrainBacklog. Its proposal,
    // if ours, reports an unknown outcome; a retry of it is refused while we are stalled.
    if (self->backlog_.empty()) {
      VFS_LOG(kError) << "cannot apply log entry " << index << ": " << res.status().message()
                      << "; this node refuses writes and retries every " << kRetryMs
                      << " ms until space is freed";
      if (!self->closing_) {
        uv_timer_start(&self->retry_timer_, &RaftReplicator::RetryCb, kRetryMs, kRetryMs);
      }
    }
    Waiting w;
    w.index = index;
    w.body = std::string(body);
    w.own = it != self->proposals_.end();
    w.term = self->raft_.current_term;
    self->backlog_bytes_ += w.body.size() + sizeof(Waiting);
    self->backlog_.push_back(std::move(w));
    if (self->backlog_bytes_ > kMaxBacklogBytes) {
      VFS_LOG(kError) << "fatal: " << self->backlog_.size()
                      << " committed entries wait for disk space (more than " << kMaxBacklogBytes
                      << " bytes); stopping so a restart, once space is freed, replays them "
                      << "from the log";
      std::abort();
    }
    return 0;
  }
  if (it != self->proposals_.end()) {
    it->second->result = std::move(res).value();
    it->second->applied = true;
  }
  return 0;
}

void RaftReplicator::RetryCb(uv_timer_t* t) {
  static_cast<RaftReplicator*>(t->data)->DrainBacklog();
}

void RaftReplicator::DrainBacklog() {
  while (!backlog_.empty()) {
    Waiting& w = backlog_.front();
    Result<std::string> res = sm_->Apply(w.index, w.body);
    if (!res.ok()) return;  // still full: the timer tries again
    backlog_bytes_ -= w.body.size() + sizeof(Waiting);
    backlog_.pop_front();
  }
  uv_timer_stop(&retry_timer_);
  VFS_LOG(kInfo) << "disk space is back: every committed entry is applied, writes resume";
}

bool RaftReplicator::StaleForReads() const {
  for (const Waiting& w : backlog_) {
    if (!w.own || w.term != raft_.current_term) return true;
  }
  return false;
}

unsigned SnapshotInterval(unsigned configured, uint64_t image_bytes) {
  const uint64_t by_size = std::min<uint64_t>(image_bytes / (16u << 10), kMaxSnapshotInterval);
  return static_cast<unsigned>(std::max<uint64_t>(configured, by_size));
}

int RaftReplicator::FsmSnapshot(struct raft_fsm* fsm, struct raft_buffer* bufs[],
                                unsigned* n_bufs) {
  auto* self = static_cast<RaftReplicator*>(fsm->data);
  // The database lags libraft's applied index: a snapshot would claim the waiting entries,
  // and compacting the log would lose them. libraft tries again later.
  if (!self->backlog_.empty()) return RAFT_BUSY;
  auto image = self->sm_->Snapshot();
  if (!image.ok()) {
    VFS_LOG(kWarn) << "snapshot skipped: " << image.status().ToString();
    return RAFT_IOERR;
  }
  auto* arr = static_cast<struct raft_buffer*>(raft_malloc(sizeof(struct raft_buffer)));
  if (arr == nullptr) return RAFT_NOMEM;
  arr[0].len = image->size;
  arr[0].base = raft_malloc(image->size);
  if (arr[0].base == nullptr) {
    raft_free(arr);
    return RAFT_NOMEM;
  }
  std::memcpy(arr[0].base, image->data.get(), image->size);
  *bufs = arr;
  *n_bufs = 1;
  // A snapshot writes the whole database: at a fixed interval its cost per operation would
  // grow with the vault (a 100 MB database every 2048 entries was most of a small-file copy's
  // disk traffic), so the next one waits longer after a big image.
  raft_set_snapshot_threshold(&self->raft_,
                              SnapshotInterval(self->snapshot_threshold_, image->size));
  return 0;
}

int RaftReplicator::FsmRestore(struct raft_fsm* fsm, struct raft_buffer* buf) {
  auto* self = static_cast<RaftReplicator*>(fsm->data);
  Status st = self->sm_->Restore(std::string_view(static_cast<const char*>(buf->base), buf->len));
  if (!st.ok()) {
    VFS_LOG(kError) << "snapshot restore failed: " << st.ToString();
    return RAFT_IOERR;
  }
  raft_free(buf->base);  // ownership passed to us on success
  // libraft installs a snapshot only past this node's whole log, so it covers every entry
  // that was waiting for space.
  self->backlog_.clear();
  self->backlog_bytes_ = 0;
  if (self->retry_timer_init_ && !self->closing_) uv_timer_stop(&self->retry_timer_);
  return 0;
}

}  // namespace vaultfs::meta
