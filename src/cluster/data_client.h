// DataClient: the asynchronous, pipelined client of vaultfs-data servers (protocol in
// src/common/data_protocol.h), plus ShardIndexBuilder, the streaming writer side of the shard
// format (src/common/shard_format.h).
//
// Threading: one DataClient owns one I/O thread running a private libuv loop. Every public
// method may be called from any thread; it queues the request and returns a std::future at
// once. Per server the client keeps up to `connections_per_server` TCP connections open and
// reuses them; a new request goes to the least loaded connection, and a new connection is
// opened only when all existing ones are busy. Requests are pipelined: they are written as
// soon as the connection can take them, and the server answers each connection's requests in
// order. Requests on different connections run concurrently, so a caller that needs one
// request to see another's effect (upload, then download) waits for the first one's future.
//
// Timeouts: a connection attempt (TCP connect and TLS handshake) fails after
// `connect_timeout`; a connection fails when it makes no progress (no byte sent or received)
// for `request_timeout`, so a 1 GiB transfer is fine while a hung server is noticed (an idle
// pooled connection is closed then too, failing nothing). When a
// connection fails, every request queued on it fails with that error (ETIMEDOUT,
// ECONNREFUSED, ECONNRESET, ...); nothing is retried here, since the object layer decides
// what to do with a missing shard. The next request opens a fresh connection.
//
// Callbacks (DownloadTo's sink) run on the I/O thread: keep them short and never call back
// into the DataClient from them. An UploadStream must not outlive its DataClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "src/common/cluster_config.h"
#include "src/common/data_protocol.h"
#include "src/common/shard_format.h"
#include "src/common/status.h"
#include "src/common/tls.h"
#include "src/crypto/hash.h"

namespace vaultfs::cluster {

struct DataClientOptions {
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{30000};  // max time without progress
  int connections_per_server = 4;
  uint64_t max_download_in_memory = 256ull << 20;  // Download() refuses larger bodies (EFBIG)
  // UploadStream::Write blocks past this many bytes not yet handed to the connection, which
  // itself stops taking more past about as many again (at least 256 KiB). Per stream, so a
  // 14-shard writer holds at most about 28 times this; the I/O thread also encrypts, so
  // queues do fill.
  size_t stream_window = 1u << 20;
  DataProtocolLimits limits;
  // TLS client context (tls::ClientContext); null: plain TCP, for "insecure" clusters only.
  std::shared_ptr<tls::TlsContext> tls;
};

struct StreamState;  // shared between an UploadStream and the I/O thread (data_client.cc)

// A streamed upload of a known total size. Write() the bytes in order, then Finish().
// Destroying it before all bytes were written aborts it and closes its connection (the
// server cannot tell a stalled stream from an abandoned one otherwise).
class UploadStream {
 public:
  ~UploadStream();
  UploadStream(const UploadStream&) = delete;
  UploadStream& operator=(const UploadStream&) = delete;

  // Queues bytes; blocks while more than stream_window bytes are queued unsent. Fails if the
  // request already failed or more than the announced size is written.
  Status Write(std::string_view data);
  // Waits for the server's reply; the stored size on success. EINVAL if fewer bytes than
  // announced were written (and the stream is aborted).
  Result<uint64_t> Finish();

 private:
  friend class DataClient;
  UploadStream(std::shared_ptr<StreamState> state, std::future<Result<uint64_t>> reply);
  std::shared_ptr<StreamState> state_;
  std::future<Result<uint64_t>> reply_;
  bool finished_ = false;
};

class DataClient {
 public:
  explicit DataClient(DataClientOptions options = {});
  // Fails whatever is still outstanding with ECANCELED and joins the I/O thread.
  ~DataClient();
  DataClient(const DataClient&) = delete;
  DataClient& operator=(const DataClient&) = delete;

  using Sink = std::function<Status(std::string_view)>;

  // Stores `data` as the user's object `chunk` (the user comes from the token).
  std::future<Result<uint64_t>> Upload(const HostPort& server, std::string token, std::string chunk,
                                       std::string data);
  // The same, sharing `data` instead of taking it (no copy when the caller keeps the bytes,
  // e.g. to send them to several servers). The bytes must not change until the future is
  // ready.
  std::future<Result<uint64_t>> UploadShared(const HostPort& server, std::string token,
                                             std::string chunk,
                                             std::shared_ptr<const std::string> data);
  // Streams an upload of exactly `size` bytes.
  Result<std::unique_ptr<UploadStream>> BeginUpload(const HostPort& server, std::string token,
                                                    std::string chunk, uint64_t size);
  // Whole object (no length) or bytes [offset, offset+length). ERANGE past the end.
  std::future<Result<std::string>> Download(const HostPort& server, std::string token,
                                            std::string chunk, uint64_t offset = 0,
                                            std::optional<uint64_t> length = std::nullopt);
  // Like Download but hands the body to `sink` piece by piece (bounded memory). A sink error
  // fails the request and closes the connection.
  std::future<Result<DownloadInfo>> DownloadTo(const HostPort& server, std::string token,
                                               std::string chunk, uint64_t offset,
                                               std::optional<uint64_t> length, Sink sink);
  std::future<Status> Delete(const HostPort& server, std::string token, std::string chunk);
  // One page of chunk ids > cursor ("" = from the start); next_cursor "" on the last page.
  std::future<Result<ListPage>> List(const HostPort& server, std::string token,
                                     std::string cursor = "", uint32_t limit = kListMaxLimit);
  std::future<Result<VerifyReport>> Verify(const HostPort& server, std::string token,
                                           std::string chunk);
  std::future<Result<HealthInfo>> Health(const HostPort& server);

  struct Impl;  // the I/O thread and its connections (data_client.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

// Builds a shard object while its blocks stream past: hashes each block, then produces the
// trailer (shard_format.h) to send after the last block, and the shard root.
class ShardIndexBuilder {
 public:
  // Every block but the last must be exactly `block_size` bytes (1..kShardMaxBlockSize).
  explicit ShardIndexBuilder(uint32_t block_size) : block_size_(block_size) {}

  // EINVAL if a block has the wrong size or follows a short (last) block.
  Status AddBlock(std::string_view block);
  // The trailer bytes; *root receives SHA-256 of them.
  Result<std::string> Finish(crypto::Sha256Digest* root);
  // Total object size for `data_bytes` of blocks of this builder's block size.
  static uint64_t ObjectSize(uint64_t data_bytes, uint32_t block_size);

 private:
  uint32_t block_size_;
  bool saw_short_ = false;
  ShardIndex index_;
};

}  // namespace vaultfs::cluster
