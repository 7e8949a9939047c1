// vaultfs-data end to end: a real server process per test on 127.0.0.1, driven through
// cluster::DataClient and, for hostile input, raw sockets.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "src/cluster/data_client.h"
#include "src/common/frame.h"
#include "src/common/hex.h"
#include "src/common/socket.h"
#include "src/crypto/hash.h"
#include "tests/common/private_modes.h"
#include "tests/data/test_server.h"

namespace vaultfs {
namespace {

namespace fs = std::filesystem;
using cluster::DataClient;

// AddressSanitizer's shadow memory and quarantine inflate RSS; memory bounds are checked in
// the normal build only.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
using testing::PatternBytes;
using testing::TempDir;
using testing::TestServer;

class DataServerTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start().ok()) << ReadLog(); }
  std::string ReadLog() {
    std::ifstream f(dir_.path() + "/server.log");
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  std::string Alice() { return server_.Token("alice"); }

  Status Put(const std::string& chunk, const std::string& data, std::string token = "") {
    return client_.Upload(server_.addr(), token.empty() ? Alice() : token, chunk, data)
        .get()
        .status();
  }
  Result<std::string> Get(const std::string& chunk, std::string token = "") {
    return client_.Download(server_.addr(), token.empty() ? Alice() : token, chunk).get();
  }

  TempDir dir_;
  TestServer server_{dir_.path()};
  DataClient client_;
};

// A write token the metadata service hands out names a chunk scope: it stores, reads and
// deletes only ScopedChunkId(scope, i) and lists nothing (issue 20 item 5).
TEST_F(DataServerTest, ScopedTokenReachesOnlyItsChunkIds) {
  const std::string scope = "0123456789abcdef0123456789abcd";
  const std::string other = "fedcba9876543210fedcba98765432";
  const std::string tok = server_.Token(
      "alice", crypto::kRightWrite | crypto::kRightRead | crypto::kRightDelete, 3600, scope);
  const std::string mine = crypto::ScopedChunkId(scope, 3);
  ASSERT_TRUE(Put(mine, "shard 3", tok).ok());
  EXPECT_EQ(*Get(mine, tok), "shard 3");
  ASSERT_TRUE(Put("0b0b", "unscoped", Alice()).ok());
  // Any other chunk id: refused before a byte is stored, the payload skipped.
  for (const std::string& chunk :
       {std::string("0b0b"), std::string("0c0c"), crypto::ScopedChunkId(other, 3), scope,
        scope + "0", scope + "000", std::string(32, 'a')}) {
    EXPECT_EQ(client_.Upload(server_.addr(), tok, chunk, "planted").get().status().code(), EACCES)
        << chunk;
    EXPECT_EQ(client_.Download(server_.addr(), tok, chunk).get().status().code(), EACCES) << chunk;
    EXPECT_EQ(client_.Delete(server_.addr(), tok, chunk).get().code(), EACCES) << chunk;
    EXPECT_EQ(client_.Verify(server_.addr(), tok, chunk).get().status().code(), EACCES) << chunk;
  }
  EXPECT_EQ(client_.List(server_.addr(), tok).get().status().code(), EACCES);
  // The connection stays usable: the refused payloads were skipped, not parsed as requests.
  EXPECT_EQ(*Get("0b0b"), "unscoped");
  auto all = client_.List(server_.addr(), Alice()).get();
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->entries.size(), 2u);
  ASSERT_TRUE(client_.Delete(server_.addr(), tok, mine).get().ok());
  EXPECT_EQ(Get(mine).status().code(), ENOENT);
}

TEST_F(DataServerTest, RoundTripsSmallAndOddSizes) {
  for (size_t size : {0u, 1u, 4097u, (1u << 20) + 3u, (3u << 20) + 1u}) {
    std::string data = PatternBytes(size, size);
    std::string chunk = "c" + std::to_string(size);
    ASSERT_TRUE(Put(chunk, data).ok()) << size;
    auto got = Get(chunk);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, data) << size;
  }
  EXPECT_TRUE(fs::exists(server_.storage() + "/alice/c4097.chunk"));
  EXPECT_TRUE(server_.TempFiles().empty());
}

// Objects, their folders and the storage id are 0600 / 0700 whatever umask the server was
// started with (the test's is 022): other local accounts learn nothing from them (issue 20).
TEST_F(DataServerTest, EverythingItStoresIsPrivate) {
  ASSERT_TRUE(Put("c1", PatternBytes(1, 5000)).ok());
  ASSERT_TRUE(Put("c2", PatternBytes(2, 10)).ok());
  ASSERT_TRUE(client_.Upload(server_.addr(), server_.Token("bob"), "c3", "x").get().ok());
  EXPECT_TRUE(fs::exists(server_.storage() + "/alice/c1.chunk"));
  EXPECT_TRUE(fs::exists(server_.storage() + "/bob/c3.chunk"));
  std::vector<std::string> open = testing::NotPrivate(server_.storage());
  EXPECT_TRUE(open.empty()) << ::testing::PrintToString(open);
}

TEST_F(DataServerTest, RangeReadsAtEdges) {
  std::string data = PatternBytes(9, 10000);
  ASSERT_TRUE(Put("abc", data).ok());
  auto get = [&](uint64_t off, std::optional<uint64_t> len) {
    return client_.Download(server_.addr(), Alice(), "abc", off, len).get();
  };
  EXPECT_EQ(*get(0, 1), data.substr(0, 1));
  EXPECT_EQ(*get(9999, 1), data.substr(9999, 1));
  EXPECT_EQ(*get(5000, std::nullopt), data.substr(5000));
  EXPECT_EQ(*get(123, 4567), data.substr(123, 4567));
  EXPECT_EQ(*get(10000, 0), "");
  EXPECT_EQ(*get(10000, std::nullopt), "");
  EXPECT_EQ(get(10001, std::nullopt).status().code(), ERANGE);
  EXPECT_EQ(get(9999, 2).status().code(), ERANGE);
  EXPECT_EQ(get(0, ~0ull >> 1).status().code(), EFBIG);  // refused client-side, too big
  EXPECT_EQ(get(1, 10000).status().code(), ERANGE);
  // The connection is still usable after errors.
  EXPECT_EQ(*get(0, std::nullopt), data);
}

TEST_F(DataServerTest, OverwriteDeleteAndHealth) {
  ASSERT_TRUE(Put("aa", PatternBytes(1, 5000)).ok());
  ASSERT_TRUE(Put("aa", PatternBytes(2, 3000)).ok());
  EXPECT_EQ(*Get("aa"), PatternBytes(2, 3000));
  ASSERT_TRUE(Put("bb", "x").ok());
  auto h = client_.Health(server_.addr()).get();
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->objects, 2u);
  EXPECT_EQ(h->used_bytes, 3001u);
  EXPECT_GT(h->total_bytes, 0u);
  EXPECT_EQ(h->version, VAULTFS_VERSION);
  EXPECT_TRUE(client_.Delete(server_.addr(), Alice(), "aa").get().ok());
  EXPECT_EQ(Get("aa").status().code(), ENOENT);
  EXPECT_EQ(client_.Delete(server_.addr(), Alice(), "aa").get().code(), ENOENT);
  h = client_.Health(server_.addr()).get();
  EXPECT_EQ(h->objects, 1u);
  EXPECT_EQ(h->used_bytes, 1u);
}

TEST_F(DataServerTest, PipelinesManyRequests) {
  std::vector<std::future<Result<uint64_t>>> ups;
  for (int i = 0; i < 300; ++i) {
    ups.push_back(client_.Upload(server_.addr(), Alice(), "a" + std::to_string(i),
                                 PatternBytes(i, 100 + i * 37)));
  }
  for (auto& f : ups) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::vector<std::future<Result<std::string>>> downs;
  for (int i = 0; i < 300; ++i) {
    downs.push_back(client_.Download(server_.addr(), Alice(), "a" + std::to_string(i)));
  }
  for (int i = 0; i < 300; ++i) {
    auto got = downs[i].get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(*got, PatternBytes(i, 100 + i * 37));
  }
}

// One connection, everything pipelined without waiting: uploads' fsyncs overlap, yet each
// request sees the effect of the ones before it and replies come back in order.
TEST_F(DataServerTest, PipelinedRequestsSeeEarlierOnes) {
  cluster::DataClientOptions o;
  o.connections_per_server = 1;
  DataClient one(o);
  const std::string tok = Alice();
  std::vector<std::future<Result<uint64_t>>> ups;
  for (int v = 0; v < 20; ++v) {
    ups.push_back(one.Upload(server_.addr(), tok, "aaaa", PatternBytes(v, 30000 + v)));
    ups.push_back(one.Upload(server_.addr(), tok, "b" + std::to_string(v), "x"));
  }
  auto got = one.Download(server_.addr(), tok, "aaaa");
  auto del = one.Delete(server_.addr(), tok, "b7");
  auto gone = one.Download(server_.addr(), tok, "b7");
  auto again = one.Upload(server_.addr(), tok, "b7", "y");
  auto back = one.Download(server_.addr(), tok, "b7");
  auto list = one.List(server_.addr(), tok);
  for (auto& f : ups) ASSERT_TRUE(f.get().ok());
  EXPECT_EQ(*got.get(), PatternBytes(19, 30019));
  EXPECT_TRUE(del.get().ok());
  EXPECT_EQ(gone.get().status().code(), ENOENT);
  EXPECT_TRUE(again.get().ok());
  EXPECT_EQ(*back.get(), "y");
  auto page = list.get();
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->entries.size(), 21u);
}

// One connection, uploads of sizes around the server's 1 MiB receive buffers and O_DIRECT's
// 4 KiB alignment pipelined without waiting, more bytes than the connection's buffer budget:
// uploads finish in the background while the next ones arrive, and every byte lands.
TEST_F(DataServerTest, PipelinedUploadsAroundBufferAndAlignmentEdges) {
  cluster::DataClientOptions o;
  o.connections_per_server = 1;
  DataClient one(o);
  const std::string tok = Alice();
  const std::vector<size_t> sizes = {0,
                                     1,
                                     4095,
                                     4096,
                                     4097,
                                     (1u << 20) - 1,
                                     1u << 20,
                                     (1u << 20) + 1,
                                     (3u << 20) + 5,
                                     (5u << 20) + 4096,
                                     2,
                                     8191};
  std::vector<std::future<Result<uint64_t>>> ups;
  for (size_t i = 0; i < sizes.size(); ++i) {
    ups.push_back(
        one.Upload(server_.addr(), tok, "e" + std::to_string(i), PatternBytes(100 + i, sizes[i])));
  }
  std::vector<std::future<Result<std::string>>> downs;  // pipelined behind the uploads
  for (size_t i = 0; i < sizes.size(); ++i) {
    downs.push_back(one.Download(server_.addr(), tok, "e" + std::to_string(i)));
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto up = ups[i].get();
    ASSERT_TRUE(up.ok()) << sizes[i] << ": " << up.status().ToString();
    EXPECT_EQ(*up, sizes[i]);
    auto got = downs[i].get();
    ASSERT_TRUE(got.ok()) << sizes[i] << ": " << got.status().ToString();
    EXPECT_TRUE(*got == PatternBytes(100 + i, sizes[i])) << "size " << sizes[i];
  }
  EXPECT_TRUE(server_.TempFiles().empty());
  auto h = one.Health(server_.addr()).get();
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->objects, sizes.size());
  uint64_t total = 0;
  for (size_t s : sizes) total += s;
  EXPECT_EQ(h->used_bytes, total);
}

// All files under storage, relative, for "nothing else changed" checks.
std::set<std::string> Tree(const std::string& root) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    out.insert(fs::relative(e.path(), root).string());
  }
  return out;
}

TEST_F(DataServerTest, AuthorizationRefusals) {
  const std::string victim = PatternBytes(77, 4000);
  ASSERT_TRUE(Put("0a0a", victim).ok());
  const auto tree = Tree(server_.storage());
  auto unchanged = [&] {
    EXPECT_EQ(*Get("0a0a"), victim);
    EXPECT_EQ(Tree(server_.storage()), tree);
  };
  crypto::TokenClaims c{"data", "alice", crypto::kRightAll, crypto::UnixNow() - 10, ""};
  const std::string expired = *crypto::SignToken(c, server_.secret());
  c.expires_at = crypto::UnixNow() + 3600;
  const std::string forged = *crypto::SignToken(c, std::string(64, 'f'));
  c.audience = "meta";
  const std::string meta = *crypto::SignToken(c, server_.secret());
  std::string tampered = Alice();
  tampered[tampered.size() - 1] = tampered.back() == '0' ? '1' : '0';
  const std::string readonly = server_.Token("alice", crypto::kRightRead);
  for (const std::string& tok :
       {std::string(), std::string("garbage"), expired, forged, meta, tampered}) {
    EXPECT_NE(client_.Upload(server_.addr(), tok, "0a0a", "evil").get().status().code(), 0);
    EXPECT_NE(client_.Download(server_.addr(), tok, "0a0a").get().status().code(), 0);
    EXPECT_NE(client_.Delete(server_.addr(), tok, "0a0a").get().code(), 0);
    EXPECT_NE(client_.List(server_.addr(), tok).get().status().code(), 0);
    EXPECT_NE(client_.Verify(server_.addr(), tok, "0a0a").get().status().code(), 0);
    unchanged();
  }
  EXPECT_EQ(client_.Upload(server_.addr(), readonly, "0a0a", "evil").get().status().code(), EACCES);
  EXPECT_EQ(client_.Delete(server_.addr(), readonly, "0a0a").get().code(), EACCES);
  unchanged();
  // Bob's token only ever reaches bob's namespace.
  const std::string bob = server_.Token("bob");
  EXPECT_EQ(Get("0a0a", bob).status().code(), ENOENT);
  EXPECT_EQ(client_.Delete(server_.addr(), bob, "0a0a").get().code(), ENOENT);
  EXPECT_TRUE(client_.List(server_.addr(), bob).get()->entries.empty());
  unchanged();
  ASSERT_TRUE(Put("0a0a", "bob's own", bob).ok());
  EXPECT_EQ(*Get("0a0a", bob), "bob's own");
  EXPECT_EQ(*Get("0a0a"), victim);
  ASSERT_TRUE(client_.Delete(server_.addr(), bob, "0a0a").get().ok());
  // Path tricks in chunk ids.
  for (const std::string& bad :
       {std::string("../alice/0a0a"), std::string("../x"), std::string("a/b"), std::string(""),
        std::string("."), std::string(".."), std::string(200, 'a'), std::string("0A0A"),
        std::string("0a0a.chunk"), std::string("0a0a\n"), std::string("x y"),
        std::string("/etc/passwd"), std::string("0a0a\0", 5)}) {
    EXPECT_NE(client_.Upload(server_.addr(), bob, bad, "evil").get().status().code(), 0) << bad;
    EXPECT_NE(client_.Download(server_.addr(), bob, bad).get().status().code(), 0) << bad;
    EXPECT_NE(client_.Delete(server_.addr(), bob, bad).get().code(), 0) << bad;
    EXPECT_NE(client_.Delete(server_.addr(), Alice(), bad).get().code(), 0) << bad;
  }
  EXPECT_EQ(*Get("0a0a"), victim);
  EXPECT_EQ(Tree(server_.storage()).count("alice/0a0a.chunk"), 1u);
  for (const auto& p : Tree(server_.storage())) {
    EXPECT_TRUE(p == "alice" || p == "alice/0a0a.chunk" || p == ".tmp" || p == ".storage-id" ||
                p == "FORMAT" || p == "bob")
        << p;
  }
}

// Sends `bytes` on a fresh connection, half-closes, reads until the server closes.
void Hostile(const HostPort& addr, const std::string& bytes, bool half_close) {
  auto fd = ConnectTcp(addr, DeadlineIn(std::chrono::seconds(10)));
  if (!fd.ok()) return;
  (void)WriteAll(fd->get(), bytes, DeadlineIn(std::chrono::seconds(10)));
  if (half_close) shutdown(fd->get(), SHUT_WR);
  char buf[4096];
  const auto deadline = DeadlineIn(std::chrono::seconds(20));
  while (Clock::now() < deadline) {
    ssize_t n = recv(fd->get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    if (n < 0) {
      pollfd p{fd->get(), POLLIN, 0};
      poll(&p, 1, 100);
    }
    if (!half_close) break;
  }
}

std::string Op(char op, const std::string& json, std::optional<uint64_t> payload = {}) {
  std::string s(1, op);
  s += *EncodeFrame(json, 1u << 30);
  if (payload) {
    char b[8];
    PutBigEndian64(*payload, b);
    s.append(b, 8);
  }
  return s;
}

TEST_F(DataServerTest, SurvivesHostileInput) {
  const std::string victim = PatternBytes(5, 100000);
  ASSERT_TRUE(Put("beef", victim).ok());
  const std::string tok = Alice();
  std::atomic<int> sent{0};
  auto worker = [&](int seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 400; ++i) {
      std::string msg;
      switch (rng() % 10) {
        case 0:
          msg = PatternBytes(rng(), rng() % 2000);
          break;  // random bytes
        case 1:
          msg = Op('D', "{\"id\":1", {}).substr(0, 1 + rng() % 8);
          break;   // truncated
        case 2: {  // oversized header announcement
          msg = "U";
          msg.append(4, '\xff');
          break;
        }
        case 3:
          msg = Op('U', R"({"id":1,"token":")" + tok + R"(","chunk":"beef"})", ~0ull);
          break;
        case 4:  // upload cut off midway: must leave no temp file and not touch "beef"
          msg = Op('U', R"({"id":2,"token":")" + tok + R"(","chunk":"beef"})", 50000) +
                PatternBytes(rng(), rng() % 40000);
          break;
        case 5:
          msg = Op('D', "not json at all");
          break;
        case 6:
          msg = Op('D', R"({"id":"x","token":5,"chunk":["a"]})");
          break;
        case 7:
          msg = Op('X', R"({"id":3,"token":")" + tok + R"(","chunk":"../beef"})");
          break;
        case 8: {  // many well-framed bad requests pipelined
          for (int k = 0; k < 50; ++k) msg += Op('D', R"({"id":4,"token":"bad","chunk":"beef"})");
          break;
        }
        case 9:
          msg = Op('Z', "{}");
          break;
      }
      Hostile(server_.addr(), msg, rng() % 4 != 0);
      ++sent;
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) threads.emplace_back(worker, t + 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(sent.load(), 1600);
  // The same process still serves a normal client correctly.
  EXPECT_EQ(waitpid(server_.pid(), nullptr, WNOHANG), 0);
  EXPECT_EQ(*Get("beef"), victim);
  ASSERT_TRUE(Put("cafe", PatternBytes(6, 70000)).ok());
  EXPECT_EQ(*Get("cafe"), PatternBytes(6, 70000));
  // Cut-off uploads leave nothing behind (the cleanup runs on the thread pool).
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (!server_.TempFiles().empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  EXPECT_TRUE(server_.TempFiles().empty());
  EXPECT_NE(ReadLog().find("peer 127.0.0.1:"), std::string::npos);  // logged with the peer
}

// A client that pipelines thousands of requests and reads nothing for a while: the server
// pauses instead of queueing replies without bound, keeps serving others, and every reply
// comes back in request order once the client reads.
TEST_F(DataServerTest, UnreadPipelinedRepliesAreBackpressured) {
  auto fd = ConnectTcp(server_.addr(), DeadlineIn(std::chrono::seconds(10)));
  ASSERT_TRUE(fd.ok());
  constexpr int kRequests = 50000;
  std::string burst;
  for (int i = 1; i <= kRequests; ++i) {
    burst += Op('D', R"({"id":)" + std::to_string(i) + R"(,"token":"nope","chunk":"aa"})");
  }
  std::thread writer(
      [&] { EXPECT_TRUE(WriteAll(fd->get(), burst, DeadlineIn(std::chrono::seconds(60))).ok()); });
  // Meanwhile another client is served normally.
  ASSERT_TRUE(Put("0e0e", "other").ok());
  EXPECT_EQ(*Get("0e0e"), "other");
  for (int i = 1; i <= kRequests; ++i) {
    auto reply = ReadFrame(fd->get(), DeadlineIn(std::chrono::seconds(60)));
    ASSERT_TRUE(reply.ok()) << i << ": " << reply.status().ToString();
    auto j = nlohmann::json::parse(*reply);
    ASSERT_EQ(j["id"].get<int>(), i);
    ASSERT_FALSE(j["ok"].get<bool>());
  }
  writer.join();
  std::cout << "server VmHWM: " << (server_.PeakRssBytes() >> 10) << " KiB\n";
  if (!kSanitized) {
    EXPECT_LT(server_.PeakRssBytes(), 64ull << 20);
  }
}

TEST_F(DataServerTest, ListPages) {
  std::set<std::string> want;
  for (int i = 0; i < 25; ++i) {
    char name[8];
    snprintf(name, sizeof(name), "%04x", i * 7);
    want.insert(name);
    ASSERT_TRUE(Put(name, std::string(i, 'z')).ok());
  }
  std::vector<std::string> got;
  std::string cursor;
  int pages = 0;
  do {
    auto page = client_.List(server_.addr(), Alice(), cursor, 10).get();
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ++pages;
    for (const auto& e : page->entries) {
      got.push_back(e.chunk);
      EXPECT_EQ(e.size, std::stoul(e.chunk, nullptr, 16) / 7);
    }
    cursor = page->next_cursor;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(got, std::vector<std::string>(want.begin(), want.end()));
  EXPECT_TRUE(client_.List(server_.addr(), server_.Token("bob")).get()->entries.empty());
  EXPECT_FALSE(client_.List(server_.addr(), Alice(), "", 0).get().ok());
}

TEST_F(DataServerTest, VerifyFindsCorruptBlock) {
  cluster::ShardIndexBuilder b(1000);
  std::string data = PatternBytes(3, 5300);
  for (size_t off = 0; off < data.size(); off += 1000) {
    ASSERT_TRUE(b.AddBlock(std::string_view(data).substr(off, 1000)).ok());
  }
  crypto::Sha256Digest root;
  std::string object = data + *b.Finish(&root);
  ASSERT_TRUE(Put("5ead", object).ok());
  auto v = client_.Verify(server_.addr(), Alice(), "5ead").get();
  ASSERT_TRUE(v.ok()) << v.status().ToString();
  EXPECT_EQ(v->block_count, 6u);
  EXPECT_TRUE(v->bad_blocks.empty());
  EXPECT_EQ(v->root_hex, crypto::DigestToHex(root));
  {
    std::fstream f(server_.storage() + "/alice/5ead.chunk", std::ios::in | std::ios::out);
    f.seekp(2 * 1000 + 17);
    f.put('\x5a' ^ data[2017]);
    f.seekp(5 * 1000 + 299);
    f.put('\x01' ^ data[5299]);
  }
  v = client_.Verify(server_.addr(), Alice(), "5ead").get();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->bad_blocks, (std::vector<uint64_t>{2, 5}));
  ASSERT_TRUE(Put("0bad", "not a shard object at all").ok());
  EXPECT_EQ(client_.Verify(server_.addr(), Alice(), "0bad").get().status().code(), EBADMSG);
  EXPECT_EQ(client_.Verify(server_.addr(), Alice(), "0000").get().status().code(), ENOENT);
}

TEST(DataServerQuota, FullQuotaAnswersEnospc) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start({"--quota", "100000"}).ok());
  DataClient client;
  const std::string tok = server.Token("alice");
  ASSERT_TRUE(client.Upload(server.addr(), tok, "01", PatternBytes(1, 60000)).get().ok());
  EXPECT_EQ(client.Upload(server.addr(), tok, "02", PatternBytes(2, 50000)).get().status().code(),
            ENOSPC);
  auto s = client.BeginUpload(server.addr(), tok, "03", 50000);
  ASSERT_TRUE(s.ok());
  // The server refuses at the header, so Write may already see the refusal; Finish must.
  (void)(*s)->Write(PatternBytes(3, 50000));
  EXPECT_EQ((*s)->Finish().status().code(), ENOSPC);
  EXPECT_EQ(*client.Download(server.addr(), tok, "01").get(), PatternBytes(1, 60000));
  EXPECT_EQ(client.Download(server.addr(), tok, "02").get().status().code(), ENOENT);
  EXPECT_TRUE(server.TempFiles().empty());
  auto h = client.Health(server.addr()).get();
  EXPECT_EQ(h->used_bytes, 60000u);
  EXPECT_EQ(h->quota_bytes, 100000u);
  ASSERT_TRUE(client.Upload(server.addr(), tok, "04", PatternBytes(4, 40000)).get().ok());
}

TEST(DataServerTmpfs, FullDiskAnswersEnospc) {
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  fs::create_directory(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot mount a tmpfs (" << std::strerror(errno)
                 << "); the --quota variant covers ENOSPC";
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    TestServer server(dir.path(), mnt + "/storage");
    // No reserve: the write itself must hit ENOSPC here.
    ASSERT_TRUE(server.Start({"--reserve", "0"}).ok());
    DataClient client;
    const std::string tok = server.Token("alice");
    ASSERT_TRUE(client.Upload(server.addr(), tok, "01", PatternBytes(1, 2u << 20)).get().ok());
    auto big = client.Upload(server.addr(), tok, "02", PatternBytes(2, 3u << 20)).get();
    EXPECT_EQ(big.status().code(), ENOSPC) << big.status().ToString();
    EXPECT_EQ(client.Download(server.addr(), tok, "02").get().status().code(), ENOENT);
    EXPECT_EQ(*client.Download(server.addr(), tok, "01").get(), PatternBytes(1, 2u << 20));
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (!server.TempFiles().empty() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
    }
    EXPECT_TRUE(server.TempFiles().empty());
    // Space comes back once the partial upload is gone.
    ASSERT_TRUE(client.Upload(server.addr(), tok, "03", PatternBytes(3, 1u << 20)).get().ok());
  }
}

// Uploads that would leave less than --reserve free are refused with ENOSPC before any byte
// is written; nothing partial remains, reads and deletes go on, and freeing space lets
// uploads in again.
TEST(DataServerReserve, UploadBelowTheReserveAnswersEnospc) {
  TempDir dir;
  const std::string mnt = dir.path() + "/mnt";
  fs::create_directory(mnt);
  if (mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=32m") != 0) {
    GTEST_SKIP() << "SKIPPED LOUDLY: cannot mount a tmpfs (" << std::strerror(errno)
                 << "); DataServerReserve.ReserveAboveFreeSpace covers the refusal";
  }
  struct Unmount {
    std::string p;
    ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
  } unmount{mnt};
  {
    TestServer server(dir.path(), mnt + "/storage");
    ASSERT_TRUE(server.Start({"--reserve", "16M"}).ok());
    DataClient client;
    const std::string tok = server.Token("alice");
    ASSERT_TRUE(client.Upload(server.addr(), tok, "01", PatternBytes(1, 8u << 20)).get().ok());
    // ~24 MiB free: 12 MiB more would leave less than 16 MiB.
    auto big = client.Upload(server.addr(), tok, "02", PatternBytes(2, 12u << 20)).get();
    EXPECT_EQ(big.status().code(), ENOSPC) << big.status().ToString();
    EXPECT_NE(big.status().message().find("reserve"), std::string::npos) << big.status().message();
    // A streamed upload too, whatever Write saw.
    auto s = client.BeginUpload(server.addr(), tok, "03", 12u << 20);
    ASSERT_TRUE(s.ok());
    (void)(*s)->Write(PatternBytes(3, 12u << 20));
    EXPECT_EQ((*s)->Finish().status().code(), ENOSPC);
    EXPECT_EQ(client.Download(server.addr(), tok, "02").get().status().code(), ENOENT);
    EXPECT_EQ(client.Download(server.addr(), tok, "03").get().status().code(), ENOENT);
    EXPECT_TRUE(server.TempFiles().empty());
    EXPECT_EQ(*client.Download(server.addr(), tok, "01").get(), PatternBytes(1, 8u << 20));
    auto h = client.Health(server.addr()).get();
    ASSERT_TRUE(h.ok()) << h.status().ToString();
    EXPECT_EQ(h->used_bytes, 8u << 20);
    // What still fits above the reserve is taken; deleting makes room for the big one.
    ASSERT_TRUE(client.Upload(server.addr(), tok, "04", PatternBytes(4, 1u << 20)).get().ok());
    ASSERT_TRUE(client.Delete(server.addr(), tok, "01").get().ok());
    ASSERT_TRUE(client.Upload(server.addr(), tok, "02", PatternBytes(2, 12u << 20)).get().ok());
    EXPECT_EQ(*client.Download(server.addr(), tok, "02").get(), PatternBytes(2, 12u << 20));
  }
}

// Works on any filesystem: a reserve above the free space refuses every upload, even an empty
// one, while objects stored before stay readable and deletable.
TEST(DataServerReserve, ReserveAboveFreeSpace) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start({"--reserve", "0"}).ok());
  DataClient client;
  const std::string tok = server.Token("alice");
  ASSERT_TRUE(client.Upload(server.addr(), tok, "01", PatternBytes(1, 100000)).get().ok());
  server.Signal(SIGTERM);
  ASSERT_EQ(server.WaitExit(), 0);
  struct statvfs sv {};
  ASSERT_EQ(statvfs(dir.path().c_str(), &sv), 0);
  const uint64_t free_bytes = static_cast<uint64_t>(sv.f_bavail) * sv.f_frsize;
  const uint64_t reserve_mib = free_bytes / (1u << 20) + 1024;
  ASSERT_TRUE(server.Start({"--reserve", std::to_string(reserve_mib) + "M"}).ok());
  EXPECT_EQ(client.Upload(server.addr(), tok, "02", PatternBytes(2, 5000)).get().status().code(),
            ENOSPC);
  EXPECT_EQ(client.Upload(server.addr(), tok, "03", "").get().status().code(), ENOSPC);
  EXPECT_EQ(client.Download(server.addr(), tok, "02").get().status().code(), ENOENT);
  EXPECT_TRUE(server.TempFiles().empty());
  EXPECT_EQ(*client.Download(server.addr(), tok, "01").get(), PatternBytes(1, 100000));
  EXPECT_TRUE(client.Delete(server.addr(), tok, "01").get().ok());
}

// Bad --reserve values stop the start with a message.
TEST(DataServerReserve, BadReserveIsRefused) {
  TempDir dir;
  TestServer server(dir.path());
  for (const char* bad : {"-1", "12X", "", "99999999999T"}) {
    EXPECT_FALSE(server.Start({"--reserve", bad}).ok()) << bad;
  }
}

// The storage folder's identity survives restarts and changes when the folder is wiped, so
// the repairer can tell a restarted server from one that lost everything.
TEST(DataServerIdentity, StorageIdIsStableAcrossRestartsAndNewAfterAWipe) {
  TempDir dir;
  auto id_of = [&](TestServer& server) {
    DataClient client;
    auto h = client.Health(server.addr()).get();
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    return h.ok() ? h->storage_id : std::string();
  };
  std::string first, second, wiped;
  {
    TestServer server(dir.path());
    ASSERT_TRUE(server.Start().ok());
    first = id_of(server);
  }
  {
    TestServer server(dir.path());
    ASSERT_TRUE(server.Start().ok());
    second = id_of(server);
    std::filesystem::remove_all(server.storage());
  }
  {
    TestServer server(dir.path());
    ASSERT_TRUE(server.Start().ok());
    wiped = id_of(server);
  }
  EXPECT_EQ(first.size(), 32u);
  EXPECT_EQ(first, second);
  EXPECT_NE(first, wiped);
  EXPECT_EQ(wiped.size(), 32u);
}

TEST(DataServerIdentity, DamagedIdentityFileStopsTheStart) {
  TempDir dir;
  std::string storage;
  {
    TestServer server(dir.path());
    ASSERT_TRUE(server.Start().ok());
    storage = server.storage();
  }
  std::ofstream(storage + "/.storage-id", std::ios::trunc) << "not an id\n";
  TestServer server(dir.path());
  EXPECT_FALSE(server.Start().ok());  // refuses rather than inventing a new identity
}

// A storage folder that others may enter is refused before anything is written to it, with
// the command that fixes it.
TEST(DataServerPrivacy, StorageOpenToOthersIsRefused) {
  TempDir dir;
  const std::string storage = dir.path() + "/storage";
  ASSERT_EQ(mkdir(storage.c_str(), 0700), 0);
  ASSERT_EQ(chmod(storage.c_str(), 0755), 0);
  {
    TestServer server(dir.path());
    EXPECT_FALSE(server.Start().ok());
  }
  std::ifstream f(dir.path() + "/server.log");
  const std::string log(std::istreambuf_iterator<char>(f), {});
  EXPECT_NE(log.find("chmod 700 " + storage), std::string::npos) << log;
  EXPECT_TRUE(fs::is_empty(storage)) << "refused before creating anything";
  // Once fixed as told, the server starts.
  ASSERT_EQ(chmod(storage.c_str(), 0700), 0);
  TestServer server(dir.path());
  EXPECT_TRUE(server.Start().ok());
}

TEST(DataServerSignal, SigtermDrainsInFlightUpload) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start().ok());
  const std::string tok = server.Token("alice");
  const std::string data = PatternBytes(8, 8u << 20);
  {
    DataClient client;
    auto s = client.BeginUpload(server.addr(), tok, "d0", data.size());
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->Write(std::string_view(data).substr(0, 4u << 20)).ok());
    // Make sure the server is inside the request before the signal.
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    while (server.TempFiles().empty() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // poll interval
    }
    ASSERT_FALSE(server.TempFiles().empty());
    server.Signal(SIGTERM);
    ASSERT_TRUE((*s)->Write(std::string_view(data).substr(4u << 20)).ok());
    auto r = (*s)->Finish();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
  int st = server.WaitExit();
  ASSERT_NE(st, -1);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  ASSERT_TRUE(server.Start().ok());
  DataClient client;
  EXPECT_EQ(*client.Download(server.addr(), tok, "d0").get(), data);
}

TEST(DataServerLarge, OneGiBStreamedWithBoundedMemory) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start().ok());
  const std::string tok = server.Token("alice");
  constexpr uint64_t kSize = 1ull << 30;
  DataClient client;
  crypto::Sha256Hasher sent_hash;
  {
    auto s = client.BeginUpload(server.addr(), tok, "1616", kSize);
    ASSERT_TRUE(s.ok());
    std::string buf(1u << 20, '\0');
    uint64_t state = 12345;
    for (uint64_t done = 0; done < kSize; done += buf.size()) {
      testing::FillPattern(&state, buf.data(), buf.size());
      sent_hash.Update(buf);
      ASSERT_TRUE((*s)->Write(buf).ok());
    }
    auto r = (*s)->Finish();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  const uint64_t upload_rss = server.PeakRssBytes();
  crypto::Sha256Hasher got_hash;
  uint64_t got = 0;
  auto info = client
                  .DownloadTo(server.addr(), tok, "1616", 0, std::nullopt,
                              [&](std::string_view piece) {
                                got_hash.Update(piece);
                                got += piece.size();
                                return Status::Ok();
                              })
                  .get();
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(got, kSize);
  EXPECT_EQ(info->object_size, kSize);
  EXPECT_EQ(got_hash.Finish(), sent_hash.Finish());
  const uint64_t rss = server.PeakRssBytes();
  RecordProperty("upload_peak_rss_bytes", std::to_string(upload_rss));
  RecordProperty("peak_rss_bytes", std::to_string(rss));
  std::cout << "server VmHWM after 1 GiB upload: " << (upload_rss >> 10)
            << " KiB, after download: " << (rss >> 10) << " KiB\n";
  if (!kSanitized) {
    EXPECT_LT(rss, 64ull << 20);
  }
}

// Waits (deadline) until `log` contains `text`.
bool LogShows(const std::string& log, const std::string& text) {
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    std::ifstream f(log);
    std::string all((std::istreambuf_iterator<char>(f)), {});
    if (all.find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // poll interval
  }
  return false;
}

// True if the server closes `fd` (EOF or reset) before the deadline.
bool ClosedByServer(int fd, std::chrono::seconds within) {
  const auto deadline = Clock::now() + within;
  char buf[4096];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
  }
  return false;
}

TEST(DataServerLimits, ConnectionLimit) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start({"--max-connections", "2"}).ok());
  auto a = ConnectTcp(server.addr(), DeadlineIn(std::chrono::seconds(10)));
  auto b = ConnectTcp(server.addr(), DeadlineIn(std::chrono::seconds(10)));
  ASSERT_TRUE(a.ok() && b.ok());
  auto c = ConnectTcp(server.addr(), DeadlineIn(std::chrono::seconds(10)));
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(ClosedByServer(c->get(), std::chrono::seconds(20)));
  EXPECT_TRUE(LogShows(dir.path() + "/server.log", "the listener's connection limit"));
  // The admitted connections still work.
  ASSERT_TRUE(
      WriteAll(a->get(), Op('H', R"({"id":9})"), DeadlineIn(std::chrono::seconds(10))).ok());
  auto reply = ReadFrame(a->get(), DeadlineIn(std::chrono::seconds(10)));
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_NE(reply->find("\"free_bytes\""), std::string::npos);
  a->Reset();
  b->Reset();
  // Once they are gone, a client gets in again.
  DataClient client;
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  Result<HealthInfo> h = Status(EIO, "not tried");
  while (Clock::now() < deadline && !(h = client.Health(server.addr()).get()).ok()) {
  }
  EXPECT_TRUE(h.ok()) << h.status().ToString();
}

TEST(DataServerLimits, OversizedUploadIsRefused) {
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start({"--max-object-size", "1000"}).ok());
  DataClient client;
  const std::string tok = server.Token("alice");
  auto big = client.Upload(server.addr(), tok, "b19", std::string(2000, 'x')).get();
  EXPECT_EQ(big.status().code(), EMSGSIZE) << big.status().ToString();
  EXPECT_EQ(client.Download(server.addr(), tok, "b19").get().status().code(), ENOENT);
  ASSERT_TRUE(client.Upload(server.addr(), tok, "5a11", std::string(1000, 'y')).get().ok());
  EXPECT_TRUE(server.TempFiles().empty());
}

TEST(DataClientFailures, TimeoutsRefusalAndServerDeath) {
  // A peer that accepts TCP but never answers: the request times out.
  auto silent = ListenTcp({"127.0.0.1", 0});
  ASSERT_TRUE(silent.ok());
  const uint16_t silent_port = *LocalPort(silent->get());
  cluster::DataClientOptions o;
  o.request_timeout = std::chrono::milliseconds(500);
  o.connect_timeout = std::chrono::milliseconds(2000);
  DataClient client(o);
  auto h = client.Health({"127.0.0.1", silent_port}).get();
  EXPECT_EQ(h.status().code(), ETIMEDOUT) << h.status().ToString();
  // Nobody listening: refused.
  uint16_t dead_port;
  {
    auto l = ListenTcp({"127.0.0.1", 0});
    ASSERT_TRUE(l.ok());
    dead_port = *LocalPort(l->get());
  }
  EXPECT_EQ(client.Health({"127.0.0.1", dead_port}).get().status().code(), ECONNREFUSED);
  // A server killed mid-transfer: the request fails, the client stays usable.
  TempDir dir;
  TestServer server(dir.path());
  ASSERT_TRUE(server.Start().ok());
  const std::string tok = server.Token("alice");
  auto s = client.BeginUpload(server.addr(), tok, "dead", 10u << 20);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Write(PatternBytes(1, 1u << 20)).ok());
  server.Signal(SIGKILL);
  ASSERT_NE(server.WaitExit(), -1);
  Status st;
  for (int i = 0; i < 9 && st.ok(); ++i) st = (*s)->Write(PatternBytes(2, 1u << 20));
  auto fin = (*s)->Finish();
  EXPECT_FALSE(fin.ok());
  EXPECT_NE(client.Health(server.addr()).get().status().code(), 0);
  ASSERT_TRUE(server.Start().ok());
  EXPECT_TRUE(server.TempFiles().empty());
  EXPECT_EQ(client.Download(server.addr(), tok, "dead").get().status().code(), ENOENT);
  ASSERT_TRUE(client.Upload(server.addr(), tok, "a11e", "alive").get().ok());
  EXPECT_EQ(*client.Download(server.addr(), tok, "a11e").get(), "alive");
}

}  // namespace
}  // namespace vaultfs
