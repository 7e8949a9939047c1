// TestServer: see test_server.h.
#include "tests/data/test_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/common/proc_status.h"

namespace vaultfs::testing {

namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "vaultfs-data-test-XXXXXX").string();
  char* p = mkdtemp(tmpl.data());
  if (p == nullptr) std::abort();
  path_ = p;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

TestServer::TestServer(std::string root, std::string storage)
    : root_(std::move(root)),
      storage_(storage.empty() ? root_ + "/storage" : std::move(storage)),
      secret_file_(root_ + "/secret"),
      port_file_(root_ + "/port"),
      log_file_(root_ + "/server.log") {
  secret_ = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  std::ofstream(secret_file_) << secret_ << "\n";
  chmod(secret_file_.c_str(), 0600);
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

Status TestServer::Start(const std::vector<std::string>& extra_args) {
  const char* bin = std::getenv("VAULTFS_DATA_BIN");
  if (bin == nullptr) return InvalidArgument("VAULTFS_DATA_BIN is not set");
  unlink(port_file_.c_str());
  std::vector<std::string> args = {bin,        "--listen",   "127.0.0.1:0", "--storage", storage_,
                                   "--secret", secret_file_, "--port-file", port_file_};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  // These suites speak the wire protocol itself (malformed frames included); TLS on the data
  // path is covered by the cluster, chaos and security suites.
  if (std::find(args.begin(), args.end(), "--tls-cert") == args.end()) {
    args.push_back("--insecure");
  }
  pid_t pid = fork();
  if (pid < 0) return Status(errno, "fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a crashed test (forked on main thread)
    int fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 2);
      close(fd);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pid_ = pid;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(port_file_);
    unsigned port = 0;
    if (f >> port && port > 0) {
      port_ = static_cast<uint16_t>(port);
      return Status::Ok();
    }
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return IoError("vaultfs-data exited during start-up; see " + log_file_);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval
  }
  return Status(ETIMEDOUT, "vaultfs-data did not write its port file");
}

void TestServer::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

int TestServer::WaitExit(std::chrono::milliseconds d) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    int st = 0;
    if (waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      return st;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll interval
  }
  return -1;
}

uint64_t TestServer::PeakRssBytes() const {
  return static_cast<uint64_t>(ProcStatusKiB(pid_, "VmHWM").value_or(0)) * 1024;
}

std::vector<std::string> TestServer::TempFiles() const {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(storage_ + "/.tmp", ec)) {
    out.push_back(e.path().filename().string());
  }
  return out;
}

std::string TestServer::Token(const std::string& user, uint32_t rights, int64_t ttl_s,
                              const std::string& scope) const {
  crypto::TokenClaims c;
  c.scope = scope;
  c.audience = "data";
  c.user = user;
  c.rights = rights;
  c.expires_at = crypto::UnixNow() + ttl_s;
  auto t = crypto::SignToken(c, secret_);
  return t.ok() ? *t : std::string();
}

void FillPattern(uint64_t* state, char* out, size_t n) {
  uint64_t x = *state;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(out + i, &x, 8);
  }
  for (; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  *state = x;
}

std::string PatternBytes(uint64_t seed, size_t n) {
  std::string s(n, '\0');
  uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
  FillPattern(&state, s.data(), n);
  return s;
}

}  // namespace vaultfs::testing
