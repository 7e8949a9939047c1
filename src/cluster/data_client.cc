// DataClient and ShardIndexBuilder: see data_client.h.
//
// Inside: public calls build a Request and hand it to the I/O thread through a mutex-guarded
// queue and a uv_async wake-up. On the I/O thread each Conn keeps `unsent` requests and
// `awaiting` ones (head written, reply pending, in order). The socket, TLS, the connect and
// handshake timeout, the no-progress timeout and output backpressure are a Connection's
// (src/common/connection.h, in client mode: it keeps reading while its output is queued):
// requests and stream bytes are handed to it only while it is not congested, and on_drain
// resumes. A streamed upload occupies its connection's send side until its last byte is
// sent, the bytes arriving from UploadStream::Write through the shared StreamState.
#include "src/cluster/data_client.h"

#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "src/common/connection.h"
#include "src/common/log.h"
#include "src/common/tls.h"

namespace vaultfs::cluster {

struct StreamState {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> chunks;  // written by the user, not yet taken by the I/O thread
  uint64_t size = 0;               // announced payload size
  uint64_t appended = 0;           // bytes accepted by Write()
  uint64_t queued = 0;             // accepted and not yet fully written to the socket
  size_t window = 0;
  Status failed;               // set by the I/O thread when the request ends in error
  bool done = false;           // the request completed (either way)
  bool aborted = false;        // the user gave up before writing everything
  std::function<void()> wake;  // wakes the I/O thread
};

namespace {

constexpr uint64_t kTimerTickMs = 50;

struct Request {
  DataOp op = DataOp::kHealth;
  uint64_t id = 0;
  std::string head;
  std::shared_ptr<const std::string> payload;  // buffered upload
  std::shared_ptr<StreamState> stream;         // streamed upload
  uint64_t payload_size = 0;
  uint64_t payload_sent = 0;
  DataClient::Sink sink;  // download: body pieces go here if set...
  std::string body;       // ...else here
  ReplyHead reply;
  bool completed = false;
  // Called once on the I/O thread: OK with `reply`/`body` filled, or the failure.
  std::function<void(const Status&, Request&)> done;
};

using RequestPtr = std::shared_ptr<Request>;

}  // namespace

struct DataClient::Impl {
  struct Conn;

  DataClientOptions opt;
  ConnectionLimits limits;
  uv_loop_t loop{};
  uv_async_t async{};
  uv_timer_t timer{};
  std::thread thread;
  std::atomic<uint64_t> next_id{1};

  std::mutex mu;  // guards incoming and stopping
  std::vector<std::pair<HostPort, RequestPtr>> incoming;
  bool stopping = false;

  // I/O thread only.
  std::map<std::string, std::vector<Conn*>> servers;
  // Failed ones, freed at the next tick: a failure may happen deep inside their own callbacks.
  std::vector<Conn*> dead;

  struct Conn {
    Impl* impl = nullptr;
    std::string key;
    HostPort addr;
    std::shared_ptr<Connection> io;
    bool closed = false;
    Status error;  // why it closed
    std::deque<RequestPtr> unsent;
    std::deque<RequestPtr> awaiting;
    RequestPtr streaming;  // upload whose payload is still being sent
    RequestPtr body_req;   // awaiting.front() while its download body arrives
    uint64_t body_remaining = 0;
    std::string in;
    size_t in_pos = 0;

    size_t load() const { return unsent.size() + awaiting.size(); }
  };

  explicit Impl(DataClientOptions o) : opt(std::move(o)) {
    if (opt.connections_per_server < 1) opt.connections_per_server = 1;
    limits.handshake_timeout = opt.connect_timeout;  // TCP connect and TLS handshake
    limits.idle_timeout = opt.request_timeout;
    limits.read_while_congested = true;
    // A stream's bytes leave its window once handed over, so the connection holds at most
    // about one window more (plus a buffered upload in one piece).
    limits.high_water = std::max<size_t>(opt.stream_window, 256u << 10);
    limits.low_water = limits.high_water / 4;
    uv_loop_init(&loop);
    uv_async_init(&loop, &async, [](uv_async_t* a) { static_cast<Impl*>(a->data)->OnWake(); });
    async.data = this;
    uv_timer_init(&loop, &timer);
    timer.data = this;
    uv_timer_start(
        &timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->OnTick(); }, kTimerTickMs,
        kTimerTickMs);
    thread = std::thread([this] {
      // A write to a connection the server reset raises SIGPIPE in the writing thread; block
      // it here so it becomes EPIPE instead of killing the embedding process.
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
    });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    uv_async_send(&async);
    thread.join();
    uv_loop_close(&loop);
    for (Conn* c : dead) delete c;
  }

  void Wake() { uv_async_send(&async); }

  void Submit(const HostPort& server, RequestPtr r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!stopping) {
        incoming.emplace_back(server, std::move(r));
        r = nullptr;
      }
    }
    if (r) {
      Complete(*r, Status(ECANCELED, "data client is shutting down"));
      return;
    }
    Wake();
  }

  // ---- I/O thread ----

  static void Complete(Request& r, const Status& st) {
    if (r.completed) return;
    r.completed = true;
    if (r.stream) {
      std::lock_guard<std::mutex> lock(r.stream->mu);
      r.stream->done = true;
      if (!st.ok()) r.stream->failed = st;
      r.stream->cv.notify_all();
    }
    if (r.done) r.done(st, r);
  }

  void OnWake() {
    std::vector<std::pair<HostPort, RequestPtr>> batch;
    bool stop;
    {
      std::lock_guard<std::mutex> lock(mu);
      batch.swap(incoming);
      stop = stopping;
    }
    if (stop) {
      for (auto& [addr, r] : batch) Complete(*r, Status(ECANCELED, "data client stopped"));
      std::vector<Conn*> all;
      for (auto& [key, conns] : servers) all.insert(all.end(), conns.begin(), conns.end());
      for (Conn* c : all) Fail(c, Status(ECANCELED, "data client stopped"));
      uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
      uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
      return;
    }
    for (auto& [addr, r] : batch) Dispatch(addr, std::move(r));
    // Streamed uploads may have new bytes. Collected first: a send that fails closes its
    // connection and may erase its server's entry from `servers`.
    std::vector<Conn*> streaming;
    for (auto& [key, conns] : servers) {
      for (Conn* c : conns) {
        if (c->streaming) streaming.push_back(c);
      }
    }
    for (Conn* c : streaming) {
      if (!c->closed && c->streaming) PumpSend(c);
    }
  }

  void Dispatch(const HostPort& addr, RequestPtr r) {
    auto& conns = servers[addr.ToString()];
    Conn* best = nullptr;
    for (Conn* c : conns) {
      if (!best || c->load() < best->load()) best = c;
    }
    if (!best ||
        (best->load() > 0 && conns.size() < static_cast<size_t>(opt.connections_per_server))) {
      Conn* c = Open(addr);
      if (!c) {
        Complete(*r, Status(EHOSTUNREACH, "cannot resolve data server " + addr.ToString()));
        return;
      }
      best = c;
    }
    if (best->closed) {  // the connect failed synchronously
      Complete(*r, best->error);
      return;
    }
    // An idle pooled connection's silence so far was not the server's fault.
    if (best->load() == 0) best->io->Touch();
    best->unsent.push_back(std::move(r));
    PumpSend(best);
  }

  Conn* Open(const HostPort& addr) {
    sockaddr_storage ss{};
    if (uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&ss)) != 0 &&
        uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&ss)) != 0) {
      // A host name: resolved synchronously (cluster.json normally holds addresses).
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      addrinfo* ai = nullptr;
      if (getaddrinfo(addr.host.c_str(), std::to_string(addr.port).c_str(), &hints, &ai) != 0) {
        return nullptr;
      }
      std::memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
      freeaddrinfo(ai);
    }
    std::unique_ptr<tls::TlsEngine> engine;
    Status tls_error;
    if (opt.tls != nullptr) {
      // Requests wait in `unsent` until the handshake is done (on_ready).
      auto e = tls::TlsEngine::Connect(opt.tls, addr.host);
      if (e.ok()) {
        engine = std::move(e).value();
      } else {
        tls_error = e.status().Annotate("TLS to data server " + addr.ToString());
      }
    }
    auto* c = new Conn;
    c->impl = this;
    c->key = addr.ToString();
    c->addr = addr;
    c->io = Connection::Create(&loop, std::move(engine), limits);
    servers[c->key].push_back(c);
    if (!tls_error.ok()) {
      Fail(c, tls_error);
      return c;
    }
    // Raw pointers: the Connection drops its callbacks when it closes, and a failed Conn is
    // freed only at the next tick.
    c->io->set_on_ready([c] { c->impl->PumpSend(c); });
    c->io->set_on_drain([c] { c->impl->PumpSend(c); });
    c->io->set_on_data([c](std::string_view bytes) { c->impl->OnData(c, bytes); });
    c->io->set_on_close([c](const Status& why) {
      c->impl->Fail(c, Status(why.code(), "data server " + c->key + ": " + why.message()));
    });
    // The connect's failure, if any, comes through on_close.
    (void)c->io->Connect(reinterpret_cast<sockaddr*>(&ss));
    return c;
  }

  // Hands requests and stream bytes to the connection while it is not congested.
  void PumpSend(Conn* c) {
    while (!c->closed && c->io->ready() && !c->io->congested()) {
      if (c->streaming) {
        Request& r = *c->streaming;
        StreamState& st = *r.stream;
        std::string chunk;
        bool aborted;
        {
          std::lock_guard<std::mutex> lock(st.mu);
          aborted = st.aborted;
          if (!st.chunks.empty()) {
            chunk = std::move(st.chunks.front());
            st.chunks.pop_front();
            // Now the Connection's to bound: the writer may queue more.
            st.queued -= chunk.size();
            st.cv.notify_all();
          }
        }
        if (!chunk.empty()) {
          r.payload_sent += chunk.size();
          c->io->Send(std::move(chunk));
          continue;
        }
        if (r.payload_sent < r.payload_size) {
          if (aborted) Fail(c, Status(ECONNABORTED, "upload stream abandoned by its writer"));
          return;  // more bytes come with the next Write()
        }
        c->streaming.reset();
      }
      if (c->unsent.empty()) return;
      RequestPtr r = std::move(c->unsent.front());
      c->unsent.pop_front();
      c->awaiting.push_back(r);
      std::string out = r->head;
      if (r->payload && !r->payload->empty()) {
        out += *r->payload;
        r->payload_sent = r->payload->size();
      }
      c->io->Send(std::move(out));
      if (r->stream) c->streaming = r;
    }
  }

  void OnData(Conn* c, std::string_view data) {
    if (c->closed) return;
    if (c->in_pos > 0 && c->in_pos >= c->in.size() / 2) {
      c->in.erase(0, c->in_pos);
      c->in_pos = 0;
    }
    // A large body bypasses the buffer.
    if (c->body_req && c->in_pos == c->in.size()) {
      if (!TakeBody(c, &data)) return;
    }
    c->in.append(data);
    ParseReplies(c);
  }

  // Feeds body bytes to the current download; false if the connection failed.
  bool TakeBody(Conn* c, std::string_view* data) {
    Request& r = *c->body_req;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(data->size(), c->body_remaining));
    if (n > 0) {
      if (r.sink) {
        Status st = r.sink(data->substr(0, n));
        if (!st.ok()) {
          Fail(c, st.Annotate("download sink"));
          return false;
        }
      } else {
        r.body.append(data->data(), n);
      }
      c->body_remaining -= n;
      data->remove_prefix(n);
    }
    if (c->body_remaining == 0) {
      RequestPtr done = std::move(c->body_req);
      c->body_req.reset();
      c->awaiting.pop_front();
      Complete(*done, Status::Ok());
    }
    return true;
  }

  void ParseReplies(Conn* c) {
    while (!c->closed) {
      std::string_view buf(c->in.data() + c->in_pos, c->in.size() - c->in_pos);
      if (c->body_req) {
        size_t before = buf.size();
        if (!TakeBody(c, &buf)) return;
        c->in_pos += before - buf.size();
        if (c->body_req) break;
        continue;
      }
      if (buf.empty()) break;
      if (c->awaiting.empty()) {
        Fail(c, Status(EPROTO, "data server " + c->key + " sent an unsolicited reply"));
        return;
      }
      RequestPtr front = c->awaiting.front();
      size_t used = 0;
      auto head = ParseReplyHead(buf, &used, front->op, opt.limits.max_header);
      if (!head.ok()) {
        Fail(c, head.status().Annotate("reply from " + c->key));
        return;
      }
      if (!head->has_value()) break;
      c->in_pos += used;
      front->reply = std::move(**head);
      if (front->reply.id == 0 && !front->reply.status.ok()) {
        // The server could not frame our request and is closing: pass its reason on.
        Fail(c, front->reply.status);
        return;
      }
      if (front->reply.id != front->id) {
        Fail(c, Status(EPROTO, "data server " + c->key + " answered request " +
                                   std::to_string(front->reply.id) + " when " +
                                   std::to_string(front->id) + " was due"));
        return;
      }
      if (front->reply.has_payload) {
        if (!front->sink && front->reply.payload_size > opt.max_download_in_memory) {
          Fail(c, Status(EFBIG, "download of " + std::to_string(front->reply.payload_size) +
                                    " bytes exceeds max_download_in_memory; use DownloadTo"));
          return;
        }
        if (!front->sink) front->body.reserve(front->reply.payload_size);
        c->body_req = front;
        c->body_remaining = front->reply.payload_size;
        continue;
      }
      c->awaiting.pop_front();
      const bool stream_cut = c->streaming == front && front->payload_sent < front->payload_size;
      Complete(*front, front->reply.status);
      if (stream_cut) {
        // Refused before its payload was complete: the rest of the stream cannot be sent
        // without the writer, so this connection is spent.
        Fail(c, Status(ECONNRESET, "connection dropped after a refused upload stream"));
        return;
      }
    }
    if (c->in_pos == c->in.size()) {
      c->in.clear();
      c->in_pos = 0;
    }
  }

  void Fail(Conn* c, const Status& st) {
    if (c->closed) return;
    c->closed = true;
    c->error = st;
    auto& conns = servers[c->key];
    conns.erase(std::find(conns.begin(), conns.end(), c));
    if (conns.empty()) servers.erase(c->key);
    std::deque<RequestPtr> victims;
    victims.swap(c->awaiting);
    for (auto& r : c->unsent) victims.push_back(std::move(r));
    c->unsent.clear();
    c->streaming.reset();
    c->body_req.reset();
    for (auto& r : victims) Complete(*r, st);
    if (!victims.empty()) {
      VFS_LOG(kDebug) << "connection to " << c->key << " failed: " << st.ToString();
    }
    c->io->Close(st);
    dead.push_back(c);
  }

  void OnTick() {
    for (Conn* c : dead) delete c;
    dead.clear();
    for (auto& [key, conns] : servers) {
      for (Conn* c : conns) {
        if (!c->streaming) continue;
        // Waiting for the writer to produce bytes is not the server's fault.
        std::lock_guard<std::mutex> lock(c->streaming->stream->mu);
        if (c->streaming->stream->chunks.empty() && c->io->queued() == 0) c->io->Touch();
      }
    }
  }

  // ---- request construction (any thread) ----

  template <typename T>
  RequestPtr MakeRequest(DataRequest req, std::shared_ptr<std::promise<T>> promise,
                         std::function<T(const Status&, Request&)> convert) {
    auto r = std::make_shared<Request>();
    req.id = next_id++;
    r->op = req.op;
    r->id = req.id;
    r->payload_size = req.payload_size;
    auto head = EncodeRequestHead(req, opt.limits);
    r->done = [promise, convert](const Status& st, Request& rq) {
      promise->set_value(convert(st, rq));
    };
    if (!head.ok()) {
      r->completed = true;
      promise->set_value(convert(head.status(), *r));
      return nullptr;
    }
    r->head = std::move(*head);
    return r;
  }
};

// ---- UploadStream ----

UploadStream::UploadStream(std::shared_ptr<StreamState> state, std::future<Result<uint64_t>> reply)
    : state_(std::move(state)), reply_(std::move(reply)) {}

UploadStream::~UploadStream() {
  if (finished_) return;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->done || state_->appended == state_->size) return;
    state_->aborted = true;
  }
  state_->wake();
}

Status UploadStream::Write(std::string_view data) {
  std::unique_lock<std::mutex> lock(state_->mu);
  if (!state_->failed.ok()) return state_->failed;
  if (state_->done) return Status(EALREADY, "upload already answered");
  if (data.size() > state_->size - state_->appended) {
    return InvalidArgument("upload stream: more bytes than the announced " +
                           std::to_string(state_->size));
  }
  state_->cv.wait(lock, [&] {
    return state_->queued < state_->window || !state_->failed.ok() || state_->done;
  });
  if (!state_->failed.ok()) return state_->failed;
  if (data.empty()) return Status::Ok();
  state_->chunks.emplace_back(data);
  state_->appended += data.size();
  state_->queued += data.size();
  lock.unlock();
  state_->wake();
  return Status::Ok();
}

Result<uint64_t> UploadStream::Finish() {
  finished_ = true;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->appended < state_->size && !state_->done) {
      state_->aborted = true;
      state_->wake();
      reply_.wait();
      return InvalidArgument("upload stream finished after " + std::to_string(state_->appended) +
                             " of " + std::to_string(state_->size) + " bytes");
    }
  }
  return reply_.get();
}

// ---- DataClient ----

DataClient::DataClient(DataClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

DataClient::~DataClient() = default;

namespace {

DataRequest Req(DataOp op, std::string token, std::string chunk = {}) {
  DataRequest r;
  r.op = op;
  r.token = std::move(token);
  r.chunk = std::move(chunk);
  return r;
}

// Payload-free requests must still fail cleanly on bad input before touching the network.
template <typename T>
std::future<T> Ready(T value) {
  std::promise<T> p;
  p.set_value(std::move(value));
  return p.get_future();
}

}  // namespace

std::future<Result<uint64_t>> DataClient::Upload(const HostPort& server, std::string token,
                                                 std::string chunk, std::string data) {
  return UploadShared(server, std::move(token), std::move(chunk),
                      std::make_shared<const std::string>(std::move(data)));
}

std::future<Result<uint64_t>> DataClient::UploadShared(const HostPort& server, std::string token,
                                                       std::string chunk,
                                                       std::shared_ptr<const std::string> data) {
  if (!data) data = std::make_shared<const std::string>();
  DataRequest req = Req(DataOp::kUpload, std::move(token), std::move(chunk));
  req.payload_size = data->size();
  auto promise = std::make_shared<std::promise<Result<uint64_t>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<uint64_t>>(
      std::move(req), promise, [](const Status& st, Request& rq) -> Result<uint64_t> {
        if (!st.ok()) return st;
        return rq.payload_size;
      });
  if (!r) return fut;
  r->payload = std::move(data);
  impl_->Submit(server, std::move(r));
  return fut;
}

Result<std::unique_ptr<UploadStream>> DataClient::BeginUpload(const HostPort& server,
                                                              std::string token, std::string chunk,
                                                              uint64_t size) {
  if (size > impl_->opt.limits.max_payload) {
    return Status(EFBIG, "upload of " + std::to_string(size) + " bytes exceeds the limit");
  }
  DataRequest req = Req(DataOp::kUpload, std::move(token), std::move(chunk));
  req.payload_size = size;
  auto promise = std::make_shared<std::promise<Result<uint64_t>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<uint64_t>>(
      std::move(req), promise, [](const Status& st, Request& rq) -> Result<uint64_t> {
        if (!st.ok()) return st;
        return rq.payload_size;
      });
  if (!r) {
    auto res = fut.get();
    return res.status();
  }
  auto state = std::make_shared<StreamState>();
  state->size = size;
  state->window = impl_->opt.stream_window;
  Impl* impl = impl_.get();
  state->wake = [impl] { impl->Wake(); };
  r->stream = state;
  impl_->Submit(server, std::move(r));
  return std::unique_ptr<UploadStream>(new UploadStream(std::move(state), std::move(fut)));
}

std::future<Result<std::string>> DataClient::Download(const HostPort& server, std::string token,
                                                      std::string chunk, uint64_t offset,
                                                      std::optional<uint64_t> length) {
  if (length && *length > impl_->opt.max_download_in_memory) {
    return Ready<Result<std::string>>(
        Status(EFBIG, "download of " + std::to_string(*length) + " bytes; use DownloadTo"));
  }
  DataRequest req = Req(DataOp::kDownload, std::move(token), std::move(chunk));
  req.offset = offset;
  req.length = length;
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<std::string>>(
      std::move(req), promise, [](const Status& st, Request& rq) -> Result<std::string> {
        if (!st.ok()) return st;
        return std::move(rq.body);
      });
  if (r) impl_->Submit(server, std::move(r));
  return fut;
}

std::future<Result<DownloadInfo>> DataClient::DownloadTo(const HostPort& server, std::string token,
                                                         std::string chunk, uint64_t offset,
                                                         std::optional<uint64_t> length,
                                                         Sink sink) {
  DataRequest req = Req(DataOp::kDownload, std::move(token), std::move(chunk));
  req.offset = offset;
  req.length = length;
  auto promise = std::make_shared<std::promise<Result<DownloadInfo>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<DownloadInfo>>(
      std::move(req), promise, [](const Status& st, Request& rq) -> Result<DownloadInfo> {
        if (!st.ok()) return st;
        return DownloadInfoFromJson(rq.reply.fields);
      });
  if (!r) return fut;
  r->sink = std::move(sink);
  impl_->Submit(server, std::move(r));
  return fut;
}

std::future<Status> DataClient::Delete(const HostPort& server, std::string token,
                                       std::string chunk) {
  auto promise = std::make_shared<std::promise<Status>>();
  auto fut = promise->get_future();
  RequestPtr r =
      impl_->MakeRequest<Status>(Req(DataOp::kDelete, std::move(token), std::move(chunk)), promise,
                                 [](const Status& st, Request&) { return st; });
  if (r) impl_->Submit(server, std::move(r));
  return fut;
}

std::future<Result<ListPage>> DataClient::List(const HostPort& server, std::string token,
                                               std::string cursor, uint32_t limit) {
  DataRequest req = Req(DataOp::kList, std::move(token));
  req.cursor = std::move(cursor);
  req.limit = limit;
  auto promise = std::make_shared<std::promise<Result<ListPage>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<ListPage>>(
      std::move(req), promise, [](const Status& st, Request& rq) -> Result<ListPage> {
        if (!st.ok()) return st;
        return ListPageFromJson(rq.reply.fields);
      });
  if (r) impl_->Submit(server, std::move(r));
  return fut;
}

std::future<Result<VerifyReport>> DataClient::Verify(const HostPort& server, std::string token,
                                                     std::string chunk) {
  auto promise = std::make_shared<std::promise<Result<VerifyReport>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<VerifyReport>>(
      Req(DataOp::kVerify, std::move(token), std::move(chunk)), promise,
      [](const Status& st, Request& rq) -> Result<VerifyReport> {
        if (!st.ok()) return st;
        return VerifyReportFromJson(rq.reply.fields);
      });
  if (r) impl_->Submit(server, std::move(r));
  return fut;
}

std::future<Result<HealthInfo>> DataClient::Health(const HostPort& server) {
  auto promise = std::make_shared<std::promise<Result<HealthInfo>>>();
  auto fut = promise->get_future();
  RequestPtr r = impl_->MakeRequest<Result<HealthInfo>>(
      Req(DataOp::kHealth, ""), promise, [](const Status& st, Request& rq) -> Result<HealthInfo> {
        if (!st.ok()) return st;
        return HealthFromJson(rq.reply.fields);
      });
  if (r) impl_->Submit(server, std::move(r));
  return fut;
}

// ---- ShardIndexBuilder ----

Status ShardIndexBuilder::AddBlock(std::string_view block) {
  if (block_size_ == 0 || block_size_ > kShardMaxBlockSize) {
    return InvalidArgument("shard block size " + std::to_string(block_size_) + " out of range");
  }
  if (saw_short_) return InvalidArgument("a shard block follows the short last block");
  if (block.empty() || block.size() > block_size_) {
    return InvalidArgument("shard block of " + std::to_string(block.size()) +
                           " bytes; block size is " + std::to_string(block_size_));
  }
  if (index_.block_count >= kShardMaxBlockCount) return InvalidArgument("too many blocks");
  if (block.size() < block_size_) saw_short_ = true;
  crypto::Sha256Digest d = crypto::Sha256(block);
  ShardBlockHash h;
  std::memcpy(h.data(), d.data(), kShardHashSize);
  index_.block_hashes.push_back(h);
  ++index_.block_count;
  index_.block_size = block_size_;
  index_.last_block_size = static_cast<uint32_t>(block.size());
  return Status::Ok();
}

Result<std::string> ShardIndexBuilder::Finish(crypto::Sha256Digest* root) {
  VFS_ASSIGN_OR_RETURN(std::string trailer, SerializeShardTrailer(index_));
  if (root) *root = crypto::Sha256(trailer);
  return trailer;
}

uint64_t ShardIndexBuilder::ObjectSize(uint64_t data_bytes, uint32_t block_size) {
  const uint64_t blocks = block_size == 0 ? 0 : (data_bytes + block_size - 1) / block_size;
  return data_bytes + kShardIndexFixedSize + kShardHashSize * blocks + kShardFooterSize;
}

}  // namespace vaultfs::cluster
