// DataServer: see data_server.h. Everything here runs on the loop thread except the bodies
// handed to RunWork()/RunDetached(), which run on libuv's thread pool and touch only the
// values they captured and the (thread-safe) ChunkStore.
#include "servers/data/data_server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <new>
#include <set>
#include <utility>

#include "src/common/log.h"
#include "src/common/tls.h"
#include "src/crypto/token.h"

namespace vaultfs::data {
namespace {

constexpr size_t kMaxBufferedInput = 1u << 20;  // stop reading past this while busy
constexpr int kMaxCommitsPerConn = 8;           // unanswered uploads of one connection
// Upload payloads are received into buffers of this size, each written with one write(2);
// with at most kMaxUploadBuffers per connection, a connection holds <= 4 MiB of payload.
constexpr size_t kUploadBufSize = 1u << 20;
constexpr int kMaxUploadBuffers = 4;
constexpr size_t kDownloadReadChunk = 256u << 10;
constexpr uint64_t kDownloadPrefetch = 4u << 20;  // readahead hint when a download starts

uint32_t RightsFor(DataOp op) {
  switch (op) {
    case DataOp::kUpload:
      return crypto::kRightWrite;
    case DataOp::kDownload:
      return crypto::kRightRead;
    case DataOp::kDelete:
      return crypto::kRightDelete;
    case DataOp::kList:
      return crypto::kRightList;
    case DataOp::kVerify:
      return crypto::kRightRead;
    case DataOp::kHealth:
      return 0;
  }
  return crypto::kRightAll;
}

// A token with a chunk scope (crypto/token.h) reaches only the chunk ids it names: what the
// metadata service handed out for one upload or rebuild. It cannot list the namespace.
Status CheckScope(const std::string& scope, const DataRequest& req) {
  if (scope.empty() || req.op == DataOp::kHealth) return Status::Ok();
  if (req.op == DataOp::kList) return PermissionDenied("a token scoped to chunks cannot list");
  if (!crypto::ScopeCovers(scope, req.chunk)) {
    return PermissionDenied("the token does not cover chunk " + req.chunk +
                            "; write under the chunk ids the metadata service handed out");
  }
  return Status::Ok();
}

// "IP:port" for the log (Connection::peer() is the address alone, for the per-address cap).
std::string PeerName(const uv_tcp_t* tcp) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  if (uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(a, host, sizeof(host));
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    uv_ip6_name(a, host, sizeof(host));
    port = ntohs(a->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}

Status UvError(int rc, const std::string& what) {
  return Status(-rc, what + ": " + uv_strerror(rc));
}

// A fixed-capacity byte buffer that upload payload is copied into. Aligned for O_DIRECT writes
// (chunk_store.h).
struct ByteBuffer {
  struct Free {
    void operator()(char* p) const { std::free(p); }
  };
  std::unique_ptr<char, Free> data;
  size_t size = 0;
  size_t cap = 0;
  ByteBuffer() = default;
  ByteBuffer(ByteBuffer&& o) noexcept
      : data(std::move(o.data)), size(std::exchange(o.size, 0)), cap(std::exchange(o.cap, 0)) {}
  ByteBuffer& operator=(ByteBuffer&& o) noexcept {
    data = std::move(o.data);
    size = std::exchange(o.size, 0);
    cap = std::exchange(o.cap, 0);
    return *this;
  }
  size_t room() const { return cap - size; }
  // `c` must be a multiple of kDirectIoAlign.
  void Allocate(size_t c) {
    data.reset(static_cast<char*>(std::aligned_alloc(kDirectIoAlign, c)));
    if (!data) throw std::bad_alloc();
    size = 0;
    cap = c;
  }
};

}  // namespace

// One upload, from its head until its reply. The connection receives its payload into upload
// buffers and queues them here; one thread-pool job at a time writes the oldest (the first
// job also creates the temp file), and once everything is written a last job commits
// (ChunkStore::Commit). Once its payload is received the connection moves on to the next
// request while this finishes; its reply waits in `slot`.
struct Upload {
  uint64_t id = 0;
  std::string chunk;
  std::string user;
  uint64_t size = 0;                             // payload bytes announced
  uint64_t remaining = 0;                        // payload bytes not yet received
  uint64_t written = 0;                          // payload bytes in the temp file
  uint64_t reserved = 0;                         // quota reservation, released when the upload ends
  std::deque<ByteBuffer> queued;                 // received, not yet written
  ByteBuffer writing;                            // being written by the job in flight
  bool job_inflight = false;                     // a create/write or commit job runs
  bool committing = false;                       // the commit job has been started
  TempFile file;                                 // fd -1 until the first write job creates it
  std::pair<bool, std::string>* slot = nullptr;  // its place in Conn::slots
};

// One client connection: the request state machine over a Connection, which owns the socket,
// TLS and the bounds. Listed in Impl::conns until closed; freed once the loop has come back
// around after the close (Impl::dead) and no thread-pool job or fs read refers to it
// (`pending`), so code that closed it on the way may still look at it.
struct Conn {
  enum class State {
    kHead,     // waiting for / parsing the next request head
    kPayload,  // receiving an upload's payload into the temp file
    kDiscard,  // skipping the payload of a refused upload
    kWaiting,  // a disk job runs or a download body streams; input is only buffered
  };

  DataServer::Impl* srv = nullptr;
  std::shared_ptr<Connection> io;
  std::string peer;
  std::list<Conn*>::iterator self;
  std::string in;  // received, not yet consumed input starts at in_pos
  size_t in_pos = 0;
  State state = State::kHead;
  bool closed = false;
  bool reaped = false;  // the loop came back around after the close
  bool close_after_flush = false;
  int pending = 0;  // thread-pool jobs and fs reads referring to this
  DataRequest cur;  // the request being served
  std::string user;

  // Upload receiving: `up` is the request being served while its payload arrives, copied
  // into `fill`. Upload buffers (kUploadBufSize each) are recycled through `spare_bufs`; at
  // most kMaxUploadBuffers exist per connection, counting those still queued for the disk.
  Upload* up = nullptr;
  ByteBuffer fill;
  std::vector<ByteBuffer> spare_bufs;
  int bufs_allocated = 0;
  uint64_t discard_remaining = 0;

  // Download in progress.
  bool dl_active = false;
  int dl_fd = -1;
  uint64_t dl_pos = 0;
  uint64_t dl_end = 0;
  bool dl_read_inflight = false;

  // Overlapped uploads: once an upload's payload is received, its disk writes and commit
  // finish in the background while the next request is read. Replies still leave in request
  // order through `slots`; a request other than an upload of a different chunk waits
  // (`deferred`) until those uploads finish, so pipelined requests always see the effect of
  // earlier ones.
  std::list<Upload> uploads;                       // unanswered uploads, oldest first
  int commits_inflight = 0;                        // uploads.size(), kept for the checks below
  std::set<std::string> committing;                // their chunk ids
  std::deque<std::pair<bool, std::string>> slots;  // (ready, reply bytes), oldest first
  std::optional<RequestHead> deferred;

  size_t buffered() const { return in.size() - in_pos; }
};

struct DataServer::Impl {
  DataServerOptions opt;
  uv_loop_t loop{};
  std::unique_ptr<ConnectionListener> listener;
  uv_signal_t sigterm{}, sigint{};
  uv_timer_t reaper{}, drain{};
  std::unique_ptr<ChunkStore> store;
  std::list<Conn*> conns;
  std::vector<Conn*> dead;  // closed, waiting for the reaper
  bool draining = false;
  bool shut = false;
  int detached = 0;  // thread-pool jobs not tied to a connection
  uint64_t start_ms = 0;
  uint64_t used_bytes = 0;
  uint64_t objects = 0;
  uint64_t reserved_bytes = 0;  // payload bytes of uploads in progress (quota accounting)

  // ---- plumbing ----

  struct Work {
    uv_work_t req{};
    Impl* srv = nullptr;
    Conn* conn = nullptr;  // may be null (detached)
    std::function<void()> work, after;
  };

  void RunWork(Conn* c, std::function<void()> work, std::function<void()> after) {
    auto* w = new Work;
    w->srv = this;
    w->conn = c;
    w->work = std::move(work);
    w->after = std::move(after);
    w->req.data = w;
    if (c) {
      ++c->pending;
      c->io->Touch();  // disk work for the client is no idleness
    } else {
      ++detached;
    }
    uv_queue_work(
        &loop, &w->req, [](uv_work_t* r) { static_cast<Work*>(r->data)->work(); },
        [](uv_work_t* r, int) {
          std::unique_ptr<Work> w(static_cast<Work*>(r->data));
          if (w->conn && !w->conn->closed) w->conn->io->Touch();
          if (w->after) w->after();
          if (w->conn) {
            --w->conn->pending;
            w->srv->MaybeFree(w->conn);
          } else {
            --w->srv->detached;
            w->srv->CheckDrained();
          }
        });
  }

  void AbandonDetached(int fd, std::string temp) {
    RunWork(
        nullptr, [fd, temp] { ChunkStore::Abandon(fd, temp); }, nullptr);
  }

  // Replies and download bodies; Connection encrypts, queues and counts them.
  void Send(Conn* c, std::string data) {
    if (!c->closed) c->io->Send(std::move(data));
  }

  // The connection's output fell below low water after it was congested: take requests, or
  // the download body, again.
  void OnDrain(Conn* c) {
    if (c->closed) return;
    if (c->dl_active) {
      PumpDownload(c);
    } else if (c->state == Conn::State::kHead) {
      Process(c);
    }
  }

  void Reply(Conn* c, const Status& st, nlohmann::json fields = {},
             std::optional<uint64_t> payload = std::nullopt) {
    if (!st.ok()) {
      VFS_LOG(kInfo) << "peer " << c->peer << ": " << DataOpName(c->cur.op) << " id " << c->cur.id
                     << (c->cur.chunk.empty() ? "" : " chunk " + c->cur.chunk) << ": "
                     << st.ToString();
    }
    std::string bytes = EncodeReply(c->cur.id, st, std::move(fields), payload);
    if (c->slots.empty()) {
      Send(c, std::move(bytes));
    } else {
      c->slots.emplace_back(true, std::move(bytes));  // behind a commit still running
    }
  }

  void FlushSlots(Conn* c) {
    while (!c->slots.empty() && c->slots.front().first) {
      Send(c, std::move(c->slots.front().second));
      c->slots.pop_front();
    }
  }

  // Whether `head` may start while commits of this connection are still running.
  bool MustWait(Conn* c, const RequestHead& head) {
    if (c->commits_inflight == 0) return false;
    if (head.op != DataOp::kUpload || c->commits_inflight >= kMaxCommitsPerConn) return true;
    DataRequest probe;
    if (!DecodeRequest(head, &probe).ok()) return true;
    return c->committing.count(probe.chunk) > 0;
  }

  // ---- connection life cycle ----

  // Reading pauses once enough input is buffered (or an upload has no buffer to receive
  // into); Connection also pauses it while the connection's output is congested.
  void UpdateReading(Conn* c) {
    if (c->closed || c->close_after_flush) return;
    bool want = false;
    switch (c->state) {
      case Conn::State::kHead:
      case Conn::State::kWaiting:
        want = c->buffered() < kMaxBufferedInput;
        break;
      case Conn::State::kPayload:
        want = c->fill.room() > 0 && c->buffered() < kMaxBufferedInput;
        break;
      case Conn::State::kDiscard:
        want = true;
        break;
    }
    c->io->PauseReading(!want);
  }

  void OnData(Conn* c, std::string_view data) {
    if (c->closed) return;
    if (c->state == Conn::State::kPayload && c->buffered() == 0) {
      TakePayload(c, &data);  // straight into the upload buffer: one copy less
    }
    if (!data.empty()) {
      if (c->in_pos > 0 && c->in_pos >= c->in.size() / 2) {
        c->in.erase(0, c->in_pos);
        c->in_pos = 0;
      }
      c->in.append(data);
    }
    Process(c);
  }

  void Close(Conn* c, const Status& why) {
    if (!c->closed) c->io->Close(why);  // OnClosed runs inside
  }

  // Connection's on_close: every way a connection ends (our Close, the peer, a timeout, an I/O
  // error) comes through here once.
  void OnClosed(Conn* c, const Status& why) {
    if (c->closed) return;
    c->closed = true;
    if (why.code() == ETIMEDOUT) {
      VFS_LOG(kInfo) << "peer " << c->peer << ": "
                     << (c->io->ready() ? "idle timeout: " : "TLS handshake timeout: ")
                     << why.message();
    } else if (why.code() == ECONNRESET &&
               (c->buffered() > 0 || c->state == Conn::State::kPayload ||
                c->state == Conn::State::kDiscard)) {
      VFS_LOG(kWarn) << "peer " << c->peer << ": connection ended inside a request";
    } else {
      VFS_LOG(kDebug) << "peer " << c->peer << ": close (" << why.ToString() << ")";
    }
    // Uploads without a disk job in flight end here; the others when their job returns.
    c->up = nullptr;
    for (auto it = c->uploads.begin(); it != c->uploads.end();) {
      Upload* u = &*it++;
      if (!u->job_inflight) EndUpload(c, u, Status(ECONNRESET, "connection closed"));
    }
    if (c->dl_active && !c->dl_read_inflight) FinishDownloadFd(c);
    conns.erase(c->self);
    // Freed from the reaper, not here: the code that closed it may still be on the stack.
    dead.push_back(c);
    if (dead.size() == 1) {
      uv_timer_start(
          &reaper, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->Reap(); }, 0, 0);
    }
  }

  void Reap() {
    std::vector<Conn*> now;
    now.swap(dead);
    for (Conn* c : now) {
      c->reaped = true;
      MaybeFree(c);
    }
  }

  void MaybeFree(Conn* c) {
    if (!c->closed || !c->reaped || c->pending > 0) return;
    delete c;
    CheckDrained();
  }

  void ProtocolError(Conn* c, const Status& st) {
    VFS_LOG(kWarn) << "peer " << c->peer << ": protocol error, closing: " << st.ToString();
    Send(c, EncodeReply(0, st));
    c->close_after_flush = true;
    c->state = Conn::State::kWaiting;
    c->io->CloseAfterWrites(st);
  }

  void ResetRequest(Conn* c) {
    c->state = Conn::State::kHead;
    c->cur = DataRequest();
    c->user.clear();
  }

  // Called from completion callbacks when a request is done: serve whatever the client
  // pipelined meanwhile. (Process itself loops instead, so a burst of refused requests never
  // recurses.)
  void FinishRequest(Conn* c) {
    ResetRequest(c);
    Process(c);
  }

  void Process(Conn* c) {
    while (!c->closed && !c->close_after_flush) {
      if (c->state == Conn::State::kHead) {
        if (draining) {
          // Drain: the request in progress is done; do not start another.
          if (c->commits_inflight > 0) break;  // their replies are still due
          c->close_after_flush = true;
          c->io->CloseAfterWrites(Status(ESHUTDOWN, "draining"));
          break;
        }
        // Pipelined requests whose replies the client does not read must not pile up replies
        // in memory: pause until the output drains (OnDrain; the idle timeout ends the rest).
        if (c->io->congested()) break;
        size_t used = 0;
        std::string_view buf(c->in.data() + c->in_pos, c->buffered());
        auto head = ParseRequestHead(buf, &used, opt.limits);
        if (!head.ok()) {
          ProtocolError(c, head.status());
          break;
        }
        if (!head->has_value()) break;
        c->in_pos += used;
        if (MustWait(c, **head)) {
          c->deferred = std::move(**head);
          c->state = Conn::State::kWaiting;
          break;
        }
        HandleHead(c, std::move(**head));
      } else if (c->state == Conn::State::kPayload) {
        EnsureFill(c);  // a buffer may have come back since
        std::string_view buf(c->in.data() + c->in_pos, c->buffered());
        const size_t before = buf.size();
        TakePayload(c, &buf);
        c->in_pos += before - buf.size();
        // Go on while bytes move (a fresh buffer may take more); else wait for input/a buffer.
        if (c->state == Conn::State::kPayload && (buf.empty() || buf.size() == before)) break;
      } else if (c->state == Conn::State::kDiscard) {
        uint64_t n = std::min<uint64_t>(c->buffered(), c->discard_remaining);
        c->in_pos += n;
        c->discard_remaining -= n;
        if (c->discard_remaining > 0) break;
        ResetRequest(c);
      } else {
        break;  // kWaiting: a completion callback continues
      }
    }
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
    UpdateReading(c);
  }

  // ---- requests ----

  void HandleHead(Conn* c, RequestHead head) {
    Status st = DecodeRequest(head, &c->cur);
    if (st.ok() && c->cur.op != DataOp::kHealth) {
      auto claims = crypto::VerifyToken(c->cur.token, opt.secret, "data", RightsFor(c->cur.op),
                                        crypto::UnixNow());
      if (claims.ok()) {
        c->user = claims->user;
        st = CheckScope(claims->scope, c->cur);
      } else {
        st = claims.status();
      }
    }
    if (!st.ok()) {
      c->cur.op = head.op;
      Reply(c, st);
      StartDiscard(c, head.op == DataOp::kUpload ? head.payload_size : 0);
      return;
    }
    switch (c->cur.op) {
      case DataOp::kUpload:
        StartUpload(c);
        break;
      case DataOp::kDownload:
        StartDownload(c);
        break;
      case DataOp::kDelete:
        DoDelete(c);
        break;
      case DataOp::kHealth:
        DoHealth(c);
        break;
      case DataOp::kList:
        DoList(c);
        break;
      case DataOp::kVerify:
        DoVerify(c);
        break;
    }
  }

  void StartDiscard(Conn* c, uint64_t n) {
    c->discard_remaining = n;
    c->state = Conn::State::kDiscard;
  }

  // ---- uploads ----

  void StartUpload(Conn* c) {
    const uint64_t n = c->cur.payload_size;
    if (opt.quota_bytes > 0 && used_bytes + reserved_bytes + n > opt.quota_bytes) {
      Reply(c, Status(ENOSPC,
                      "quota of " + std::to_string(opt.quota_bytes) + " bytes would be exceeded"));
      StartDiscard(c, n);
      return;
    }
    Upload& u = c->uploads.emplace_back();
    u.id = c->cur.id;
    u.chunk = c->cur.chunk;
    u.user = c->user;
    u.size = u.remaining = n;
    u.reserved = n;
    reserved_bytes += n;
    c->slots.emplace_back(false, std::string());
    u.slot = &c->slots.back();  // deque: stable until popped
    ++c->commits_inflight;
    c->committing.insert(u.chunk);
    c->up = &u;
    c->state = Conn::State::kPayload;
    OnPayloadBytes(c);
  }

  // Gives the connection a receive buffer if it has none: a recycled one or, within the
  // per-connection budget, a new one. Without one, reading pauses until a write job returns
  // a buffer.
  void EnsureFill(Conn* c) {
    if (c->fill.cap > 0) return;
    if (!c->spare_bufs.empty()) {
      c->fill = std::move(c->spare_bufs.back());
      c->spare_bufs.pop_back();
    } else if (c->bufs_allocated < kMaxUploadBuffers) {
      c->fill.Allocate(kUploadBufSize);
      ++c->bufs_allocated;
    }
  }

  void RecycleBuffer(Conn* c, ByteBuffer buf) {
    if (buf.cap == 0) return;
    buf.size = 0;
    c->spare_bufs.push_back(std::move(buf));
  }

  void ReleaseSpareBuffers(Conn* c) {
    c->bufs_allocated -= static_cast<int>(c->spare_bufs.size());
    c->spare_bufs.clear();
  }

  // Moves payload bytes from `data` into the receive buffer, as many as fit.
  void TakePayload(Conn* c, std::string_view* data) {
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>({data->size(), c->up->remaining, c->fill.room()}));
    if (n == 0) return;
    std::memcpy(c->fill.data.get() + c->fill.size, data->data(), n);
    c->fill.size += n;
    c->up->remaining -= n;
    data->remove_prefix(n);
    OnPayloadBytes(c);
  }

  // After payload bytes reached `fill`: queues a full (or the final) buffer for the disk and,
  // once the whole payload is in, lets the connection go on to its next request while the
  // upload finishes in the background.
  void OnPayloadBytes(Conn* c) {
    Upload* u = c->up;
    if (c->fill.size > 0 && (c->fill.room() == 0 || u->remaining == 0)) {
      u->queued.push_back(std::move(c->fill));
    }
    PumpUpload(c, u);
    if (u->remaining > 0) {
      EnsureFill(c);
      return;
    }
    c->up = nullptr;
    ResetRequest(c);
  }

  // Starts the upload's next disk job, if none runs: a write of its oldest queued buffer or,
  // once every byte is written, the commit.
  void PumpUpload(Conn* c, Upload* u) {
    if (u->job_inflight || u->committing) return;
    if (!u->queued.empty()) {
      StartWriteJob(c, u);
    } else if (u->remaining == 0) {
      StartCommitJob(c, u);
    }
  }

  // Writes u->queued.front() at its offset in the temp file; the first write creates the file.
  void StartWriteJob(Conn* c, Upload* u) {
    u->writing = std::move(u->queued.front());
    u->queued.pop_front();
    u->job_inflight = true;
    struct Out {
      Status status;
      TempFile file;
    };
    auto out = std::make_shared<Out>();
    out->file = u->file;
    ChunkStore* st = store.get();
    RunWork(
        c,
        [out, st, data = u->writing.data.get(), len = u->writing.size, off = u->written,
         size = u->size] {
          if (out->file.fd < 0) {
            auto created = st->CreateTemp(size);
            if (!created.ok()) {
              out->status = created.status();
              return;
            }
            out->file = std::move(*created);
          }
          out->status = ChunkStore::WriteAt(&out->file, data, len, off);
        },
        [this, c, u, out] {
          u->job_inflight = false;
          u->file = std::move(out->file);
          const size_t n = u->writing.size;
          RecycleBuffer(c, std::move(u->writing));
          if (c->closed || !out->status.ok()) {
            EndUpload(c, u, c->closed ? Status(ECONNRESET, "connection closed") : out->status);
            return;
          }
          u->written += n;
          PumpUpload(c, u);
          if (c->up != nullptr && c->fill.cap == 0) Process(c);  // waits for a buffer
        });
  }

  // fsync, rename into place and fsync the directory (ChunkStore::Commit); the reply is sent
  // only after that.
  void StartCommitJob(Conn* c, Upload* u) {
    u->committing = true;
    u->job_inflight = true;
    TempFile file = std::move(u->file);
    u->file = TempFile();  // the job owns the temp file now
    auto res = std::make_shared<Result<CommitResult>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c,
        [res, st, file, user = u->user, chunk = u->chunk]() mutable {
          if (file.fd < 0) {  // an empty object: nothing was written
            auto created = st->CreateTemp(0);
            if (!created.ok()) {
              *res = created.status();
              return;
            }
            file = std::move(*created);
          }
          *res = st->Commit(file.fd, file.path, user, chunk);
        },
        [this, c, u, res] {
          u->job_inflight = false;
          if (res->ok()) {
            used_bytes += u->size;
            used_bytes -= std::min(used_bytes, (*res)->old_size);
            if (!(*res)->replaced) ++objects;
          }
          EndUpload(c, u, res->status());
        });
  }

  // Ends an upload: drops its temp file unless committed, releases its quota reservation and
  // buffers, answers it in its slot and lets the connection go on with whatever waited for it.
  // If its payload was still arriving, the rest is skipped.
  void EndUpload(Conn* c, Upload* u, const Status& st) {
    if (u->file.fd >= 0 || !u->file.path.empty()) AbandonDetached(u->file.fd, u->file.path);
    reserved_bytes -= u->reserved;
    --c->commits_inflight;
    c->committing.erase(u->chunk);
    const bool attached = c->up == u;
    const uint64_t rest = u->remaining;
    if (!c->closed) {
      if (st.ok()) {
        u->slot->second = EncodeReply(u->id, st, {{"size", u->size}});
      } else {
        VFS_LOG(kWarn) << "peer " << c->peer << ": upload id " << u->id << " chunk " << u->chunk
                       << ": " << st.ToString();
        u->slot->second = EncodeReply(u->id, st);
      }
      u->slot->first = true;
      for (ByteBuffer& b : u->queued) RecycleBuffer(c, std::move(b));
    }
    c->uploads.remove_if([u](const Upload& x) { return &x == u; });
    if (c->closed) return;
    // Buffers are for uploads in progress; an idle connection keeps none.
    if (c->uploads.empty()) ReleaseSpareBuffers(c);
    if (attached) {
      c->up = nullptr;
      RecycleBuffer(c, std::move(c->fill));
      StartDiscard(c, rest);
    }
    FlushSlots(c);
    if (c->deferred && !MustWait(c, *c->deferred)) {
      RequestHead head = std::move(*c->deferred);
      c->deferred.reset();
      c->state = Conn::State::kHead;
      HandleHead(c, std::move(head));
    }
    Process(c);
  }

  void StartDownload(Conn* c) {
    c->state = Conn::State::kWaiting;
    auto res = std::make_shared<Result<OpenObject>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c,
        [res, st, user = c->user, chunk = c->cur.chunk, off = c->cur.offset,
         len = c->cur.length.value_or(UINT64_MAX)] {
          *res = st->OpenForRead(user, chunk);
          // Uploads bypass the page cache: start reading the (first part of the) range now.
          if (res->ok()) ChunkStore::Prefetch((*res)->fd, off, std::min(len, kDownloadPrefetch));
        },
        [this, c, res] {
          if (c->closed) {
            if (res->ok()) close((*res)->fd);
            return;
          }
          if (!res->ok()) {
            Reply(c, res->status());
            FinishRequest(c);
            return;
          }
          const uint64_t size = (*res)->size;
          const uint64_t off = c->cur.offset;
          if (off > size || (c->cur.length && *c->cur.length > size - off)) {
            close((*res)->fd);
            Reply(c, Status(ERANGE,
                            "range past the end of a " + std::to_string(size) + "-byte object"));
            FinishRequest(c);
            return;
          }
          const uint64_t len = c->cur.length.value_or(size - off);
          Reply(c, Status::Ok(), {{"size", size}, {"offset", off}, {"length", len}}, len);
          c->dl_active = true;
          c->dl_fd = (*res)->fd;
          c->dl_pos = off;
          c->dl_end = off + len;
          PumpDownload(c);
        });
    UpdateReading(c);
  }

  void FinishDownloadFd(Conn* c) {
    if (c->dl_fd >= 0) close(c->dl_fd);
    c->dl_fd = -1;
    c->dl_active = false;
  }

  void PumpDownload(Conn* c) {
    if (c->closed || !c->dl_active || c->dl_read_inflight) return;
    if (c->dl_pos == c->dl_end) {
      FinishDownloadFd(c);
      FinishRequest(c);
      return;
    }
    // The body streams no faster than the client takes it: resumed by OnDrain.
    if (c->io->congested()) return;
    struct FsRead {
      uv_fs_t req{};
      Conn* conn;
      std::string buf;
    };
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(kDownloadReadChunk, c->dl_end - c->dl_pos));
    auto* r = new FsRead{{}, c, std::string(n, '\0')};
    r->req.data = r;
    c->dl_read_inflight = true;
    ++c->pending;
    uv_buf_t b = uv_buf_init(r->buf.data(), static_cast<unsigned>(n));
    uv_fs_read(&loop, &r->req, c->dl_fd, &b, 1, static_cast<int64_t>(c->dl_pos), [](uv_fs_t* q) {
      std::unique_ptr<FsRead> r(static_cast<FsRead*>(q->data));
      Conn* c = r->conn;
      Impl* s = c->srv;
      const ssize_t res = q->result;
      uv_fs_req_cleanup(q);
      --c->pending;
      c->dl_read_inflight = false;
      if (c->closed) {
        s->FinishDownloadFd(c);
        s->MaybeFree(c);
        return;
      }
      if (res <= 0) {
        // The reply head already promised the bytes; all we can do is cut the connection.
        VFS_LOG(kError) << "peer " << c->peer << ": reading chunk " << c->cur.chunk << ": "
                        << (res < 0 ? uv_strerror(static_cast<int>(res)) : "object shrank");
        s->Close(c, Status(EIO, "download read failed"));
        return;
      }
      c->dl_pos += static_cast<uint64_t>(res);
      r->buf.resize(static_cast<size_t>(res));
      s->Send(c, std::move(r->buf));
      s->PumpDownload(c);
    });
  }

  void DoDelete(Conn* c) {
    c->state = Conn::State::kWaiting;
    auto res = std::make_shared<Result<uint64_t>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c, [res, st, user = c->user, chunk = c->cur.chunk] { *res = st->Remove(user, chunk); },
        [this, c, res] {
          if (res->ok()) {
            used_bytes -= std::min(used_bytes, **res);
            if (objects > 0) --objects;
          }
          if (c->closed) return;
          Reply(c, res->ok() ? Status::Ok() : res->status());
          FinishRequest(c);
        });
    UpdateReading(c);
  }

  void DoHealth(Conn* c) {
    c->state = Conn::State::kWaiting;
    auto res = std::make_shared<Result<DiskSpace>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c, [res, st] { *res = st->Space(); },
        [this, c, res] {
          if (c->closed) return;
          if (!res->ok()) {
            Reply(c, res->status());
          } else {
            HealthInfo h;
            h.total_bytes = (*res)->total_bytes;
            h.free_bytes = (*res)->free_bytes;
            h.used_bytes = used_bytes;
            h.quota_bytes = opt.quota_bytes;
            h.objects = objects;
            h.uptime_s = (uv_now(&loop) - start_ms) / 1000;
            h.version = VAULTFS_VERSION;
            h.storage_id = store->storage_id();
            Reply(c, Status::Ok(), ToJson(h));
          }
          FinishRequest(c);
        });
    UpdateReading(c);
  }

  void DoList(Conn* c) {
    c->state = Conn::State::kWaiting;
    auto res = std::make_shared<Result<ListPage>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c,
        [res, st, user = c->user, cursor = c->cur.cursor, limit = c->cur.limit] {
          *res = st->List(user, cursor, limit);
        },
        [this, c, res] {
          if (c->closed) return;
          if (res->ok()) {
            Reply(c, Status::Ok(), ToJson(**res));
          } else {
            Reply(c, res->status());
          }
          FinishRequest(c);
        });
    UpdateReading(c);
  }

  void DoVerify(Conn* c) {
    c->state = Conn::State::kWaiting;
    auto res = std::make_shared<Result<VerifyReport>>(Status(EIO, "not run"));
    ChunkStore* st = store.get();
    RunWork(
        c, [res, st, user = c->user, chunk = c->cur.chunk] { *res = st->Verify(user, chunk); },
        [this, c, res] {
          if (c->closed) return;
          if (res->ok()) {
            if (!(*res)->bad_blocks.empty()) {
              VFS_LOG(kWarn) << "chunk " << c->cur.chunk << " of user " << c->user << " has "
                             << (*res)->bad_blocks.size() << " corrupt block(s)";
            }
            Reply(c, Status::Ok(), ToJson(**res));
          } else {
            Reply(c, res->status());
          }
          FinishRequest(c);
        });
    UpdateReading(c);
  }

  // ---- listener, timers, signals ----

  void OnAccept(std::shared_ptr<Connection> io) {
    if (draining) {
      VFS_LOG(kWarn) << "peer " << PeerName(io->tcp()) << ": refused, shutting down";
      io->Close(Status(ESHUTDOWN, "shutting down"));
      return;
    }
    auto* c = new Conn;
    c->srv = this;
    c->io = io;
    c->peer = PeerName(io->tcp());
    c->self = conns.insert(conns.end(), c);
    // Raw pointers: Connection drops these callbacks when it closes, before c can be freed.
    io->set_on_data([c](std::string_view b) { c->srv->OnData(c, b); });
    io->set_on_drain([c] { c->srv->OnDrain(c); });
    io->set_on_close([c](const Status& why) { c->srv->OnClosed(c, why); });
    VFS_LOG(kDebug) << "peer " << c->peer << ": connected";
    io->Start();
  }

  void StartDrain() {
    if (draining) return;
    draining = true;
    VFS_LOG(kInfo) << "draining: finishing " << conns.size() << " connection(s)";
    for (auto it = conns.begin(); it != conns.end();) {
      Conn* c = *it++;
      if (c->state == Conn::State::kHead) Process(c);  // closes it
    }
    uv_timer_start(
        &drain,
        [](uv_timer_t* t) {
          Impl* s = static_cast<Impl*>(t->data);
          VFS_LOG(kWarn) << "drain timeout: closing " << s->conns.size() << " connection(s)";
          while (!s->conns.empty()) {
            s->Close(s->conns.front(), Status(ETIMEDOUT, "drain timeout"));
          }
        },
        static_cast<uint64_t>(opt.drain_timeout.count()), 0);
    CheckDrained();
  }

  void CheckDrained() {
    if (!draining || shut || !conns.empty() || detached > 0) return;
    shut = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain), nullptr);
    listener->Close(nullptr);
  }

  // Listens on opt.listen (a host name is resolved to its first address, as before the
  // listener took numeric addresses only) and writes the port file.
  Status Bind() {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* ai = nullptr;
    const std::string port = std::to_string(opt.listen.port);
    int rc = getaddrinfo(opt.listen.host.c_str(), port.c_str(), &hints, &ai);
    if (rc != 0) {
      return InvalidArgument("cannot resolve " + opt.listen.host + ": " + gai_strerror(rc));
    }
    char host[NI_MAXHOST] = "";
    rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), nullptr, 0, NI_NUMERICHOST);
    freeaddrinfo(ai);
    if (rc != 0) {
      return InvalidArgument("cannot resolve " + opt.listen.host + ": " + gai_strerror(rc));
    }
    VFS_ASSIGN_OR_RETURN(const uint16_t bound,
                         listener->Listen(HostPort{host, opt.listen.port}, "clients", 511));
    VFS_LOG(kInfo) << "listening on " << opt.listen.host << ":" << bound << ", storage "
                   << opt.storage << ", " << objects << " objects, " << used_bytes << " bytes";
    if (!opt.port_file.empty()) {
      // Write then rename, so a reader never sees a half-written port number.
      const std::string tmp = opt.port_file + ".tmp";
      {
        std::ofstream f(tmp, std::ios::trunc);
        f << bound << "\n";
        if (!f) return IoError("cannot write " + tmp);
      }
      if (std::rename(tmp.c_str(), opt.port_file.c_str()) != 0) {
        return Status(errno, "rename " + tmp + ": " + std::strerror(errno));
      }
    }
    return Status::Ok();
  }

  Status Run() {
    VFS_ASSIGN_OR_RETURN(store, ChunkStore::Open(opt.storage));
    uint64_t reserve = 0;
    if (opt.reserve_bytes >= 0) {
      reserve = static_cast<uint64_t>(opt.reserve_bytes);
    } else {
      VFS_ASSIGN_OR_RETURN(DiskSpace space, store->Space());
      reserve = DefaultReserve(space.total_bytes);
    }
    store->set_reserve(reserve);
    VFS_LOG(kInfo) << "uploads keep " << reserve << " bytes free on " << opt.storage
                   << " (--reserve)";
    used_bytes = store->initial_bytes();
    objects = store->initial_objects();
    int rc = uv_loop_init(&loop);
    if (rc != 0) return UvError(rc, "uv_loop_init");
    start_ms = uv_now(&loop);
    listener = std::make_unique<ConnectionListener>(
        &loop, opt.tls, opt.conn_limits, opt.caps,
        [this](std::shared_ptr<Connection> io) { OnAccept(std::move(io)); });
    uv_timer_init(&loop, &reaper);
    reaper.data = this;
    Status st = Bind();
    if (!st.ok()) {
      listener->Close(nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&reaper), nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
      uv_loop_close(&loop);
      return st;
    }
    for (uv_signal_t* sig : {&sigterm, &sigint}) {
      uv_signal_init(&loop, sig);
      sig->data = this;
    }
    auto on_signal = [](uv_signal_t* s, int signum) {
      VFS_LOG(kInfo) << "signal " << signum << ": shutting down";
      static_cast<Impl*>(s->data)->StartDrain();
    };
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_timer_init(&loop, &drain);
    drain.data = this;
    uv_run(&loop, UV_RUN_DEFAULT);
    // Connections closed on the way out: every job has returned, so nothing refers to them.
    uv_close(reinterpret_cast<uv_handle_t*>(&reaper), nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (Conn* c : dead) delete c;
    dead.clear();
    rc = uv_loop_close(&loop);
    if (rc != 0) {
      VFS_LOG(kWarn) << "loop closed with handles open: " << uv_strerror(rc);
    }
    VFS_LOG(kInfo) << "stopped";
    return Status::Ok();
  }
};

DataServer::DataServer(DataServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
}

DataServer::~DataServer() = default;

Status DataServer::Run() { return impl_->Run(); }

}  // namespace vaultfs::data
