// Suite 'security': the hostile-client soak (issue 20). One TLS cluster (3 metadata + 14 data
// servers) and a `vaultfs web` gateway; hostile threads open connections to every metadata,
// Raft and data port and to the gateway, and send random bytes, truncated frames, deeply nested
// JSON, oversized length prefixes, pipelined requests whose replies they never read, and
// half-open connections they abandon; meanwhile a normal user keeps storing, listing and reading
// files through the CLI. Every server must stay up, every server's resident memory under a
// stated bound, and every normal operation must succeed.
//
// It runs for VAULTFS_SOAK_SECONDS (default 60) inside tools/test; `tools/soak-hostile` runs it
// for longer. The last line gives frames sent per target and peak RSS per server kind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "src/common/frame.h"
#include "src/common/socket.h"
#include "src/common/tls_stream.h"
#include "tests/cluster/cluster_fixture.h"
#include "tests/cluster/gateway_process.h"
#include "tests/common/proc_status.h"

namespace vaultfs::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Resident memory every server must stay under for the whole soak, by kind. A server at rest
// uses 10-30 MiB; the bounds leave room for its buffers under load, not for unbounded queues.
const std::map<std::string, long> kRssBoundKiB = {
    {"meta", 256 * 1024}, {"data", 256 * 1024}, {"web", 256 * 1024}, {"repair", 256 * 1024}};

int SoakSeconds() {
  const char* s = std::getenv("VAULTFS_SOAK_SECONDS");
  int n = s ? std::atoi(s) : 0;
  return n > 0 ? n : 60;
}

// "meta-1" -> "meta"; "data-12" -> "data".
std::string KindOf(const std::string& node) { return node.substr(0, node.find('-')); }

std::string Nested(size_t levels) {
  return std::string(levels, '[') + "1" + std::string(levels, ']');
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

enum class Port { kMeta, kRaft, kData, kWeb };
const char* PortName(Port p) {
  switch (p) {
    case Port::kMeta:
      return "meta";
    case Port::kRaft:
      return "raft";
    case Port::kData:
      return "data";
    case Port::kWeb:
      return "web";
  }
  return "?";
}

// One hostile message for a port: what a fuzzing outsider holding cluster.json would send.
std::string HostileMessage(Port port, std::mt19937_64& rng, int* frames) {
  auto frame = [](const std::string& body) { return *EncodeFrame(body, SIZE_MAX); };
  auto data_op = [&frame](char op, const std::string& header) { return op + frame(header); };
  *frames = 1;
  const int kind = static_cast<int>(rng() % 6);
  if (kind == 0) return RandomBytes(rng, 1 + rng() % 4096);
  if (port == Port::kWeb) {
    switch (kind) {
      case 1:
        return "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n{\"us";
      case 2: {
        std::string body = R"({"user":)" + Nested(30000) + "}";
        return "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Content-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
      }
      case 3:
        return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(200000, 'x') +
               "\r\n\r\n";
      case 4: {
        std::string s;
        *frames = 200;
        for (int i = 0; i < *frames; ++i)
          s += "GET /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        return s;
      }
      default:
        return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";  // never finished
    }
  }
  if (port == Port::kData) {
    switch (kind) {
      case 1:
        return data_op('D', R"({"id":1,"token":"t","chunk":"beef"})").substr(0, 1 + rng() % 20);
      case 2:
        return data_op('D', R"({"id":1,"token":"t","chunk":"beef","x":)" + Nested(20000) + "}");
      case 3:
        return "U" + std::string(4, '\xff');
      case 4: {
        std::string s;
        *frames = 2000;
        for (int i = 0; i < *frames; ++i) s += data_op('H', R"({"id":)" + std::to_string(i) + "}");
        return s;
      }
      default:
        return data_op('U', R"({"id":2,"token":"t","chunk":"beef"})") + std::string(8, '\x7f');
    }
  }
  // Metadata and Raft ports speak length-prefixed frames.
  switch (kind) {
    case 1:
      return frame(R"({"op":"node_info","id":1})").substr(0, 1 + rng() % 20);
    case 2:
      return frame(R"({"op":"node_info","id":)" + Nested(100000) + "}");
    case 3:
      return std::string(4, '\xff');
    case 4: {
      std::string s;
      *frames = 5000;
      for (int i = 0; i < *frames; ++i) {
        s += frame(R"({"op":"cluster_map","id":)" + std::to_string(i) + "}");
      }
      return s;
    }
    default:
      return frame(R"({"op":"register","id":1,"rid":"x","user":)" + Nested(60) + "}");
  }
}

// Sends `bytes` to `addr` over TLS (when `tls` is set and the handshake succeeds; an outsider
// without a node certificate fails it on the Raft port and falls back to plain bytes) and
// abandons the connection without reading, or after a short read. True if every byte was
// written (a server that stops reading, or closes early, makes the write fail).
bool SendHostile(const HostPort& addr, std::shared_ptr<tls::TlsContext> tls,
                 const std::string& bytes, std::mt19937_64& rng) {
  const auto deadline = DeadlineIn(3s);
  if (tls && rng() % 4 != 0) {
    auto s = Stream::Connect(addr, tls, deadline);
    if (s.ok()) {
      bool written = s->WriteAll(bytes, deadline).ok();
      if (rng() % 2) (void)s->ReadFrame(DeadlineIn(200ms));
      return written;
    }
  }
  auto fd = ConnectTcp(addr, deadline);
  if (!fd.ok()) return false;
  bool written = WriteAll(fd->get(), bytes, deadline).ok();
  if (rng() % 3 == 0) shutdown(fd->get(), SHUT_WR);  // half-open
  return written;
}

TEST(HostileSoak, ServersSurviveInBoundedMemoryAndServeNormalClients) {
  auto cluster = TestCluster::Start();
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  TestCluster& c = **cluster;
  const std::string user = "soak", password = "soak test password";
  auto reg = c.Vaultfs({"register", user}, user, password);
  ASSERT_EQ(reg.exit_code, 0) << reg.err;
  char tmpl[] = "/tmp/vaultfs-soak-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  auto gateway = GatewayProcess::Start(c, dir);
  ASSERT_TRUE(gateway.ok()) << gateway.status().ToString();

  // Every server process, by node name (mkcluster's pid files) plus the gateway.
  std::map<std::string, pid_t> pids;
  for (const auto& e : fs::directory_iterator(c.dir() + "/run")) {
    if (e.path().extension() != ".pid") continue;
    pids[e.path().stem().string()] = std::atoi(ReadFile(e.path().string()).c_str());
  }
  pids["web-1"] = (*gateway)->pid();
  ASSERT_GE(pids.size(), 18u);

  std::vector<std::pair<Port, HostPort>> targets;
  for (const auto& m : c.config().meta) {
    targets.push_back({Port::kMeta, m.address});
    targets.push_back({Port::kRaft, m.raft_address});
  }
  for (const auto& d : c.config().data) targets.push_back({Port::kData, d.address});
  targets.push_back({Port::kWeb, HostPort{"127.0.0.1", static_cast<uint16_t>((*gateway)->port())}});

  const auto end = Clock::now() + std::chrono::seconds(SoakSeconds());
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<std::string, long> connections;  // hostile connections opened, by port kind
  std::map<std::string, long> sent;         // frames written whole, by port kind
  std::map<std::string, long> peak_kib;     // peak RSS, by server kind
  std::vector<std::string> deaths;

  std::thread sampler([&] {
    while (!stop) {
      for (const auto& [node, pid] : pids) {
        long kib = RssKiB(pid);
        std::lock_guard<std::mutex> l(mu);
        if (kib < 0) {
          if (std::find(deaths.begin(), deaths.end(), node) == deaths.end()) deaths.push_back(node);
          continue;
        }
        long& peak = peak_kib[KindOf(node)];
        peak = std::max(peak, kib);
      }
      std::this_thread::sleep_for(100ms);  // sampling period
    }
  });

  std::vector<std::thread> hostile;
  for (int t = 0; t < 4; ++t) {
    hostile.emplace_back([&, t] {
      std::mt19937_64 rng(1000 + t);
      while (Clock::now() < end) {
        const auto& [port, addr] = targets[rng() % targets.size()];
        int frames = 0;
        std::string msg = HostileMessage(port, rng, &frames);
        bool written = SendHostile(addr, port == Port::kWeb ? nullptr : c.ClientTls(), msg, rng);
        std::lock_guard<std::mutex> l(mu);
        ++connections[PortName(port)];
        if (written) sent[PortName(port)] += frames;
      }
    });
  }

  // The normal user: store, list and read back files for the whole soak.
  int ops = 0;
  std::vector<std::string> failures;
  for (int i = 0; Clock::now() < end; ++i) {
    const std::string local = dir + "/f" + std::to_string(i);
    const std::string content = TestBytes(20000 + 7919 * (i % 40), i);
    WriteFile(local, content);
    const std::string remote = "/soak-" + std::to_string(i);
    auto put = c.Vaultfs({"put", local, remote}, user, password, 120s);
    auto ls = c.Vaultfs({"ls", "/"}, user, password, 120s);
    auto get = c.Vaultfs({"get", remote, local + ".back"}, user, password, 120s);
    ops += 3;
    if (put.exit_code != 0) failures.push_back("put " + remote + ": " + put.err);
    if (ls.exit_code != 0 || ls.out.find("soak-" + std::to_string(i)) == std::string::npos) {
      failures.push_back("ls: " + ls.err);
    }
    if (get.exit_code != 0 || ReadFile(local + ".back") != content) {
      failures.push_back("get " + remote + ": " + get.err);
    }
    fs::remove(local);
    fs::remove(local + ".back");
  }
  for (auto& th : hostile) th.join();
  stop = true;
  sampler.join();

  std::string summary = "hostile soak: " + std::to_string(SoakSeconds()) + " s; connections";
  for (const auto& [kind, n] : connections) summary += " " + kind + "=" + std::to_string(n);
  summary += "; frames written";
  for (const auto& [kind, n] : sent) summary += " " + kind + "=" + std::to_string(n);
  summary += "; peak RSS MiB";
  for (const auto& [kind, kib] : peak_kib) summary += " " + kind + "=" + std::to_string(kib / 1024);
  summary +=
      "; normal operations " + std::to_string(ops) + ", failed " + std::to_string(failures.size());
  std::cout << summary << std::endl;
  RecordProperty("summary", summary);

  EXPECT_TRUE(deaths.empty()) << "servers died: " << ::testing::PrintToString(deaths);
  for (const auto& [node, pid] : pids) {
    EXPECT_EQ(kill(pid, 0), 0) << node << " (pid " << pid << ") is gone";
  }
  for (const auto& [kind, kib] : peak_kib) {
    auto bound = kRssBoundKiB.find(kind);
    ASSERT_NE(bound, kRssBoundKiB.end()) << kind;
    EXPECT_LE(kib, bound->second) << kind << " peaked at " << kib / 1024 << " MiB";
  }
  EXPECT_GT(ops, 0);
  EXPECT_TRUE(failures.empty()) << ::testing::PrintToString(failures);
  for (const char* kind : {"meta", "raft", "data", "web"}) {
    EXPECT_GT(connections[kind], 0) << kind;
    EXPECT_GT(sent[kind], 0) << kind;
  }
  (*gateway)->Stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vaultfs::testing
