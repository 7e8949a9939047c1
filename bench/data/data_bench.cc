// data_bench: end-to-end throughput of one vaultfs-data server on loopback, against the raw
// disk it writes to, measured in the same run (issue 3 acceptance):
//   raw      N x 1 MiB objects written by 16 threads in a temp dir under --dir with the
//            server's durability steps per object: create a temp file, write, fsync, rename
//            into place, fsync the directory (the baseline of the upload ratio); also the
//            same without rename + directory fsync, and one sequential N MiB file (context)
//   upload   N x 1 MiB objects through cluster::DataClient with 16 in flight
//   download the same objects, 16 in flight
// Every round writes new object names on both sides, nothing is overwritten (vaultfs writes
// new chunk ids per file version and garbage-collects old ones).
//   rss      the server's peak RSS (VmHWM) after a streamed 1 GiB upload
// Baseline and server runs alternate for --rounds rounds; the ratios are medians of the
// per-round ratios, since this machine's disk and CPUs are shared and noisy.
// Usage: data_bench [--dir DIR (default: the build dir)] [--mib N (default 256)]
//                   [--rounds R (default 5)] [--no-big]
// The server binary comes from VAULTFS_DATA_BIN or the path meson compiled in.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "src/cluster/data_client.h"
#include "tests/data/test_server.h"

namespace {

using namespace vaultfs;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

void RemoveRaw(const std::string& dir, int mib, const std::string& prefix);

// `mib` 1 MiB objects from 16 threads, each: create a new temp file, write, fsync and, if
// `commit`, rename it to a new name + fsync of the directory. New names every round, as the
// server's objects (vaultfs writes new chunk ids and garbage-collects old ones; it does not
// overwrite). Without `commit` the files are removed after the timed part.
double RawDisk(const std::string& dir, int mib, bool commit, const std::string& prefix) {
  const std::string data = testing::PatternBytes(1, 1u << 20);
  const int threads = 16;
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = t; i < mib; i += threads) {
        const std::string final_path = dir + "/" + prefix + std::to_string(i);
        const std::string tmp = final_path + ".tmp";
        int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
            fsync(fd) != 0 || close(fd) != 0) {
          std::perror("raw write");
          std::exit(1);
        }
        if (!commit) continue;
        int dfd = -1;
        if (rename(tmp.c_str(), final_path.c_str()) != 0 ||
            (dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0) {
          std::perror("raw commit");
          std::exit(1);
        }
        close(dfd);
      }
    });
  }
  for (auto& t : ts) t.join();
  const double mbps = mib / Seconds(t0, Clock::now());
  if (!commit) RemoveRaw(dir, mib, prefix);
  return mbps;
}

void RemoveRaw(const std::string& dir, int mib, const std::string& prefix) {
  for (int i = 0; i < mib; ++i) {
    unlink((dir + "/" + prefix + std::to_string(i)).c_str());
    unlink((dir + "/" + prefix + std::to_string(i) + ".tmp").c_str());
  }
}

// One file, written sequentially in 1 MiB writes, one fsync at the end: the disk's best case.
double RawSequential(const std::string& dir, int mib) {
  const std::string data = testing::PatternBytes(3, 1u << 20);
  const std::string path = dir + "/raw-seq";
  auto t0 = Clock::now();
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  for (int i = 0; i < mib; ++i) {
    if (fd < 0 || write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
      std::perror("raw sequential write");
      std::exit(1);
    }
  }
  if (fsync(fd) != 0) std::exit(1);
  close(fd);
  double s = Seconds(t0, Clock::now());
  unlink(path.c_str());
  return mib / s;
}

// CPU seconds (user + system) used so far by process `pid` (0: this process).
double CpuSeconds(pid_t pid) {
  std::ifstream f(pid == 0 ? std::string("/proc/self/stat")
                           : "/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), {});
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

int main(int argc, char** argv) {
  std::string base = VAULTFS_BUILD_ROOT;
  int mib = 256;
  bool big = true;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc)
      base = argv[++i];
    else if (a == "--mib" && i + 1 < argc)
      mib = std::max(16, std::atoi(argv[++i]));
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::max(1, std::atoi(argv[++i]));
    else if (a == "--no-big")
      big = false;
    else {
      std::fprintf(stderr, "usage: data_bench [--dir DIR] [--mib N] [--rounds R] [--no-big]\n");
      return 2;
    }
  }
  setenv("VAULTFS_DATA_BIN", VAULTFS_DATA_BIN, /*overwrite=*/0);
  setenv("TMPDIR", base.c_str(), 1);  // temp dir on the same filesystem as --dir
  testing::TempDir dir;
  testing::TestServer server(dir.path());
  if (Status st = server.Start(); !st.ok()) {
    std::fprintf(stderr, "cannot start server: %s\n", st.ToString().c_str());
    return 1;
  }
  cluster::DataClientOptions copt;
  if (const char* n = std::getenv("DATA_BENCH_CONNECTIONS"))
    copt.connections_per_server = std::atoi(n);
  cluster::DataClient client(copt);
  const std::string tok = server.Token("bench");
  // One shared payload: copying 1 MiB per request would bill the benchmark's own memcpy to
  // the 2 CPUs the server shares with it.
  const auto obj = std::make_shared<const std::string>(testing::PatternBytes(2, 1u << 20));
  const int window = 16;
  auto run = [&](bool upload, int round) {
    std::deque<std::future<Result<uint64_t>>> ups;
    std::deque<std::future<Result<std::string>>> downs;
    auto t0 = Clock::now();
    for (int i = 0; i < mib; ++i) {
      const std::string chunk = "b" + std::to_string(round) + "-" + std::to_string(i);
      if (upload) {
        ups.push_back(client.UploadShared(server.addr(), tok, chunk, obj));
      } else {
        downs.push_back(client.Download(server.addr(), tok, chunk));
      }
      while (ups.size() >= window || (i + 1 == mib && !ups.empty())) {
        if (!ups.front().get().ok()) std::exit(1);
        ups.pop_front();
      }
      while (downs.size() >= window || (i + 1 == mib && !downs.empty())) {
        auto r = downs.front().get();
        if (!r.ok() || *r != *obj) std::exit(1);
        downs.pop_front();
      }
    }
    return mib / Seconds(t0, Clock::now());
  };

  std::vector<double> raws, plains, seqs, ups, downs, up_ratios, down_ratios;
  double server_cpu = 0, client_cpu = 0, upload_s = 0;
  for (int r = 0; r < rounds; ++r) {
    seqs.push_back(RawSequential(dir.path(), mib));
    plains.push_back(RawDisk(dir.path(), mib, /*commit=*/false, "plain-"));
    raws.push_back(RawDisk(dir.path(), mib, /*commit=*/true, "raw" + std::to_string(r) + "-"));
    const double s0 = CpuSeconds(server.pid()), c0 = CpuSeconds(0);
    ups.push_back(run(true, r));
    server_cpu += CpuSeconds(server.pid()) - s0;
    client_cpu += CpuSeconds(0) - c0;
    upload_s += mib / ups.back();
    downs.push_back(run(false, r));
    up_ratios.push_back(ups.back() / raws.back());
    down_ratios.push_back(downs.back() / raws.back());
  }
  for (int r = 0; r < rounds; ++r) RemoveRaw(dir.path(), mib, "raw" + std::to_string(r) + "-");
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  const double raw = median(raws), plain = median(plains), raw_seq = median(seqs);
  const double up = median(ups), down = median(downs);
  std::printf("vaultfs-data loopback, %d x 1 MiB, 16 in flight, dir %s, %d rounds\n", mib,
              base.c_str(), rounds);
  for (int r = 0; r < rounds; ++r) {
    std::printf(
        "  round %d: raw %.0f (no rename %.0f, sequential %.0f), upload %.0f (%.2fx), "
        "download %.0f MB/s\n",
        r, raws[r], plains[r], seqs[r], ups[r], up_ratios[r], downs[r]);
  }
  std::printf("  raw disk, 1 file sequential + 1 fsync:       %8.1f MB/s\n", raw_seq);
  std::printf("  raw disk, 16 threads, write+fsync per MiB:   %8.1f MB/s\n", plain);
  std::printf(
      "  raw disk, 16 threads, per MiB create+write+fsync+rename+dir fsync, new names\n"
      "    = the baseline:                            %8.1f MB/s\n",
      raw);
  std::printf(
      "  upload:                                      %8.1f MB/s  (%.2fx baseline; "
      "%.2fx write+fsync)\n",
      up, median(up_ratios), up / plain);
  std::printf("  download:                                    %8.1f MB/s  (%.2fx baseline)\n", down,
              median(down_ratios));
  std::printf("  (ratios: median of the per-round ratios; MB/s: medians)\n");
  std::printf("  CPU during uploads: server %.0f%%, client %.0f%% of one core (2 cores here)\n",
              100 * server_cpu / upload_s, 100 * client_cpu / upload_s);
  if (big) {
    // A fresh server, so its peak RSS is that of the 1 GiB upload alone.
    testing::TempDir big_dir;
    testing::TestServer big_server(big_dir.path());
    if (Status st = big_server.Start(); !st.ok()) return 1;
    auto s = client.BeginUpload(big_server.addr(), big_server.Token("bench"), "b16", 1ull << 30);
    if (!s.ok()) return 1;
    for (int i = 0; i < 1024; ++i) {
      if (!(*s)->Write(*obj).ok()) return 1;
    }
    if (!(*s)->Finish().ok()) return 1;
    std::printf("  server peak RSS after a 1 GiB upload: %.1f MiB (target < 64)\n",
                big_server.PeakRssBytes() / 1048576.0);
    std::printf("  (peak RSS of the first server after the 16-in-flight runs: %.1f MiB)\n",
                server.PeakRssBytes() / 1048576.0);
  }
  return 0;
}
