// Test support: see cluster_fixture.h.
#include "tests/cluster/cluster_fixture.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "src/crypto/hash.h"

extern char** environ;

namespace vaultfs::testing {

namespace fs = std::filesystem;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// Starts a process that outlives this one only to clean up after it: if the test dies without
// running ~TestCluster (the SIGTERM of a meson timeout, a crash), the pipe it reads closes and
// it kills the servers mkcluster recorded in DIR/run and removes DIR. ~TestCluster writes a
// line to the pipe instead, and it exits. Returns the pipe's write end, or -1.
int StartReaper(const std::string& dir, pid_t* pid_out) {
  const std::string script =
      "if read -r _; then exit 0; fi; "
      "for f in \"$0\"/run/*; do p=$(cat \"$f\" 2>/dev/null); [ -n \"$p\" ] || continue; "
      "kill -CONT \"$p\" 2>/dev/null; kill -KILL \"$p\" 2>/dev/null; done; "
      "[ -n \"$VAULTFS_KEEP_CLUSTER\" ] || rm -rf \"$0\"";
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(p[0], 0);  // dup2 clears O_CLOEXEC on stdin only
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 1);
    dup2(devnull, 2);
    close_range(3, ~0U, 0);
    setsid();  // out of the test's process group, which a timeout kills
    execl("/bin/sh", "sh", "-c", script.c_str(), dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[0]);
  if (pid < 0) {
    close(p[1]);
    return -1;
  }
  *pid_out = pid;
  return p[1];
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env,
                         std::chrono::seconds timeout) {
  CommandResult res;
  auto start = std::chrono::steady_clock::now();
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) return res;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    // Nothing else of ours: a server started here (mkcluster revive) would otherwise keep a
    // file another thread has open, e.g. inside a FUSE mount, and make it busy forever.
    close_range(3, ~0U, 0);
    setpgid(0, 0);  // own process group: a timeout kills its children too
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  auto deadline = start + timeout;
  int open_fds = 2;
  bool timed_out = false;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    int r = poll(fds, 2, static_cast<int>(std::min<int64_t>(left.count(), 1000)));
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[65536];
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? res.out : res.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  res.exit_code = (!timed_out && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return res;
}

std::string TestBytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out.data() + i, &x, std::min<size_t>(8, n - i));
  }
  return out;
}

std::string FileSha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  crypto::Sha256Hasher h;
  std::string buf(1 << 20, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.Update(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  return crypto::DigestToHex(h.Finish());
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

std::string ReadFile(const std::string& path) {
  auto text = ReadFileToString(path);
  return text.ok() ? *text : std::string();
}

Result<std::unique_ptr<TestCluster>> TestCluster::Start(int data, int meta,
                                                        const std::string& repair_opts,
                                                        bool insecure,
                                                        const std::string& meta_opts) {
  std::random_device rd;
  Status last;
  // Two test processes may race for the same free ports; a lost race is retried elsewhere.
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<TestCluster> c(new TestCluster());
    char tmpl[] = "/tmp/vaultfs-cluster-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return IoError("mkdtemp failed");
    c->dir_ = tmpl;
    c->reaper_fd_ = StartReaper(c->dir_, &c->reaper_);
    // Below the kernel's ephemeral range (32768+), so that while a server is down no
    // outgoing connection can take its port and block its revival.
    int base = 18000 + static_cast<int>(rd() % 14000);
    std::vector<std::string> up = {"up",
                                   "--data",
                                   std::to_string(data),
                                   "--meta",
                                   std::to_string(meta),
                                   "--base-port",
                                   std::to_string(base)};
    if (insecure) up.push_back("--insecure");
    CommandResult r =
        c->Mkcluster(up, {{"VAULTFS_REPAIR_OPTS", repair_opts}, {"VAULTFS_META_OPTS", meta_opts}});
    if (r.exit_code == 0) {
      VFS_ASSIGN_OR_RETURN(c->config_, LoadClusterConfig(c->config_path()));
      return c;
    }
    std::string logs;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(c->dir_ + "/logs", ec)) {
      logs += "--- " + e.path().filename().string() + "\n" + ReadFile(e.path().string());
    }
    last = IoError("mkcluster up failed (" + std::to_string(r.exit_code) + "):\n" + r.out + r.err +
                   logs);
  }
  return last;
}

std::shared_ptr<tls::TlsContext> TestCluster::ClientTls() const {
  auto ctx = tls::ClientContext(config_);
  return ctx.ok() ? *ctx : nullptr;
}

TestCluster::~TestCluster() {
  KillEverything();
  std::error_code ec;
  if (std::getenv("VAULTFS_KEEP_CLUSTER") == nullptr) fs::remove_all(dir_, ec);
  if (reaper_fd_ >= 0) {
    (void)!write(reaper_fd_, "done\n", 5);
    close(reaper_fd_);
    waitpid(reaper_, nullptr, 0);
  }
}

void TestCluster::KillEverything() {
  // SIGKILL by the pids mkcluster recorded; a clean shutdown is not what these tests check.
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_ + "/run", ec)) {
    std::string text = ReadFile(e.path().string());
    pid_t pid = static_cast<pid_t>(std::atol(text.c_str()));
    if (pid > 1) {
      kill(pid, SIGCONT);
      kill(pid, SIGKILL);
    }
  }
}

CommandResult TestCluster::Mkcluster(const std::vector<std::string>& args,
                                     std::map<std::string, std::string> env) const {
  std::vector<std::string> argv = {Env("MKCLUSTER")};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--dir");
  argv.push_back(dir_);
  for (const char* bin :
       {"VAULTFS_BIN", "VAULTFS_DATA_BIN", "VAULTFS_META_BIN", "VAULTFS_REPAIR_BIN"}) {
    env[bin] = Env(bin);
  }
  return RunCommand(argv, env);
}

nlohmann::json TestCluster::RepairStatus() const {
  std::string text = ReadFile(dir_ + "/repair-status.json");
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json() : j;
}

Status TestCluster::KillData(int id) {
  auto r = Mkcluster({"kill", "data", std::to_string(id)});
  if (r.exit_code != 0) return IoError("mkcluster kill data " + std::to_string(id) + ": " + r.err);
  return Status::Ok();
}

Status TestCluster::ReviveData(int id) {
  auto r = Mkcluster({"revive", "data", std::to_string(id)});
  if (r.exit_code != 0) {
    return IoError("mkcluster revive data " + std::to_string(id) + ": " + r.err +
                   ReadFile(dir_ + "/logs/data-" + std::to_string(id) + ".log"));
  }
  return Status::Ok();
}

CommandResult TestCluster::Vaultfs(const std::vector<std::string>& args, const std::string& user,
                                   const std::string& password,
                                   std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {Env("VAULTFS_BIN")};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(
      argv,
      {{"VAULTFS_CLUSTER", config_path()}, {"VAULTFS_USER", user}, {"VAULTFS_PASSWORD", password}},
      timeout);
}

Result<std::vector<uint64_t>> ShardServers(client::Vault& v, const std::string& path) {
  VFS_ASSIGN_OR_RETURN(client::Attr a, v.tree().Resolve(path));
  VFS_ASSIGN_OR_RETURN(nlohmann::json gv, v.meta().Call("get_version", {{"ino", a.ino}}));
  std::vector<uint64_t> servers(gv["shards"].size(), 0);
  for (const auto& s : gv["shards"]) {
    servers.at(s["index"].get<size_t>()) = s["server"].get<uint64_t>();
  }
  return servers;
}

}  // namespace vaultfs::testing
