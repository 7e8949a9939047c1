// MetaCluster test harness: see meta_cluster.h.
#include "tests/meta/meta_cluster.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "src/common/hex.h"
#include "src/common/socket.h"
#include "src/common/tls_stream.h"
#include "src/crypto/random.h"
#include "src/crypto/token.h"

namespace vaultfs::testing {
namespace {

uint16_t FreePort() {
  auto fd = ListenTcp(HostPort{"127.0.0.1", 0});
  if (!fd.ok()) return 0;
  auto p = LocalPort(fd->get());
  return p.ok() ? *p : 0;
}

std::string MetaBin() {
  const char* b = std::getenv("META_BIN");
  return b ? b : "servers/meta/vaultfs-meta";
}

}  // namespace

std::string ReadTextFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string SourceRoot() {
  const char* r = std::getenv("VAULTFS_SOURCE_ROOT");
  return r ? r : ".";
}

Status MakeCerts(const std::string& dir, const std::vector<std::string>& names) {
  std::vector<std::string> argv = {SourceRoot() + "/tools/mkcerts", dir};
  argv.insert(argv.end(), names.begin(), names.end());
  std::string out;
  int rc = RunProgram(argv, &out, std::chrono::seconds(60));
  if (rc != 0) {
    return IoError("tools/mkcerts failed (exit " + std::to_string(rc) +
                   "; is VAULTFS_SOURCE_ROOT " + SourceRoot() + " right?): " + out);
  }
  return Status::Ok();
}

namespace {

Status SetUpTls(const std::string& tls_dir, int nodes, ClusterConfig* config,
                std::shared_ptr<tls::TlsContext>* client) {
  std::vector<std::string> names;
  for (int i = 0; i < nodes; ++i) names.push_back("meta-" + std::to_string(i + 1));
  VFS_RETURN_IF_ERROR(MakeCerts(tls_dir, names));
  config->ca_cert = ReadTextFile(tls_dir + "/ca.pem");
  VFS_ASSIGN_OR_RETURN(*client, tls::TlsContext::Client(tls::TlsIdentity{config->ca_cert, "", ""}));
  return Status::Ok();
}

}  // namespace

MetaCluster::MetaCluster(int nodes, bool single, unsigned election_ms, unsigned heartbeat_ms,
                         Security security)
    : n_(nodes),
      single_(single),
      election_ms_(election_ms),
      heartbeat_ms_(heartbeat_ms),
      security_(security),
      pids_(nodes, -1) {
  char tmpl[] = "/tmp/vaultfs-meta-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  secret_path_ = dir_ + "/secret";
  secret_ = HexEncode(*crypto::RandomBytes(32));
  {
    std::ofstream f(secret_path_);
    f << secret_ << "\n";
  }
  ::chmod(secret_path_.c_str(), 0600);
  config_.cluster_id = "test";
  for (int i = 0; i < n_; ++i) {
    MetaNodeConfig m;
    m.id = static_cast<uint64_t>(i + 1);
    m.address = {"127.0.0.1", FreePort()};
    m.raft_address = {"127.0.0.1", FreePort()};
    config_.meta.push_back(m);
  }
  for (int i = 0; i < 14; ++i) {
    DataNodeConfig d;
    d.id = static_cast<uint64_t>(i + 1);
    d.address = {"127.0.0.1", static_cast<uint16_t>(20000 + i)};
    config_.data.push_back(d);
  }
  tls_dir_ = dir_ + "/tls";
  if (security_ == Security::kTls) {
    setup_ = SetUpTls(tls_dir_, n_, &config_, &client_tls_);
  } else {
    config_.insecure = true;
  }
  config_path_ = dir_ + "/cluster.json";
  std::ofstream f(config_path_);
  f << config_.ToJson();
}

MetaCluster::~MetaCluster() {
  for (int i = 0; i < n_; ++i) {
    if (pids_[i] > 0) {
      ::kill(pids_[i], SIGCONT);
      Kill(i);
    }
  }
  if (std::getenv("META_TEST_KEEP_DIR") != nullptr) {  // for debugging a failure
    std::fprintf(stderr, "kept test directory %s\n", dir_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::vector<std::string> MetaCluster::TlsArgs(int i) const {
  if (auto it = tls_args_.find(i); it != tls_args_.end()) return it->second;
  if (security_ == Security::kInsecure) return {"--insecure"};
  std::string name = tls_dir_ + "/meta-" + std::to_string(i + 1);
  return {"--tls-ca",    tls_dir_ + "/ca.pem", "--tls-cert",
          name + ".pem", "--tls-key",          name + ".key"};
}

Status MetaCluster::Start(int i) {
  if (!setup_.ok()) return setup_;
  if (pids_[i] > 0) return Status::Ok();
  std::string node_dir = dir_ + "/node" + std::to_string(i + 1);
  std::filesystem::create_directories(node_dir);
  std::string port_file = node_dir + "/port";
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {MetaBin(),
                                   "--id",
                                   std::to_string(i + 1),
                                   "--data-dir",
                                   node_dir + "/data",
                                   "--config",
                                   config_path_,
                                   "--secret",
                                   secret_path_,
                                   "--port-file",
                                   port_file,
                                   "--election-timeout-ms",
                                   std::to_string(election_ms_),
                                   "--heartbeat-timeout-ms",
                                   std::to_string(heartbeat_ms_),
                                   "--log-level",
                                   "info"};
  if (single_) args.push_back("--single");
  for (std::string& a : TlsArgs(i)) args.push_back(std::move(a));
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::string log = node_dir + "/log";
  // Everything the child needs is prepared before fork: other test threads may hold locks.
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return IoError("cannot open " + log);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    return IoError("fork failed");
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(log_fd, STDERR_FILENO);
    ::dup2(log_fd, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(log_fd);
  pids_[i] = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (std::filesystem::exists(port_file)) return Status::Ok();
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      pids_[i] = -1;
      return IoError("node " + std::to_string(i + 1) + " exited at start: " + Log(i));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return IoError("node " + std::to_string(i + 1) + " did not start listening");
}

Status MetaCluster::StartAll() {
  for (int i = 0; i < n_; ++i) {
    Status st = Start(i);
    if (!st.ok()) {
      // Callers assert on ok() alone; the reason (the node's log) must reach the test output.
      std::fprintf(stderr, "MetaCluster::StartAll: %s\n", st.ToString().c_str());
      return st;
    }
  }
  return Status::Ok();
}

void MetaCluster::Kill(int i) {
  if (pids_[i] <= 0) return;
  ::kill(pids_[i], SIGKILL);
  int status = 0;
  ::waitpid(pids_[i], &status, 0);
  pids_[i] = -1;
}

void MetaCluster::Signal(int i, int sig) {
  if (pids_[i] > 0) ::kill(pids_[i], sig);
}

std::string MetaCluster::State(int i) {
  if (pids_[i] <= 0) return "stopped";
  int status = 0;
  if (::waitpid(pids_[i], &status, WNOHANG) != pids_[i]) return "running";
  pids_[i] = -1;
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit " + std::to_string(WEXITSTATUS(status));
}

std::string MetaCluster::TokenKey(std::string_view audience) const {
  auto key = crypto::TokenKey(secret_, audience);
  return key.ok() ? *key : std::string();
}

std::string MetaCluster::Log(int i) const {
  return ReadTextFile(dir_ + "/node" + std::to_string(i + 1) + "/log");
}

nlohmann::json MetaCluster::NodeInfo(int i, bool digest) {
  if (pids_[i] <= 0) return nullptr;
  // last_applied and the digest need a session: the cluster's, over a connection with a node
  // certificate, as an operator's tool would use.
  if (!node_tls_ && security_ == Security::kTls) {
    const std::vector<std::string> a = TlsArgs(0);  // --tls-ca C --tls-cert P --tls-key K
    if (a.size() != 6) return nullptr;
    auto id = tls::LoadIdentity(a[1], a[3], a[5]);
    if (!id.ok()) return nullptr;
    auto ctx = tls::TlsContext::Client(*id);
    if (!ctx.ok()) return nullptr;
    node_tls_ = *ctx;
  }
  crypto::TokenClaims claims{"cluster", "_cluster", crypto::kRightAll, crypto::UnixNow() + 600,
                             "00"};
  auto session = crypto::SignToken(claims, TokenKey("cluster"));
  if (!session.ok()) return nullptr;
  auto conn =
      Stream::Connect(config_.meta[i].address, node_tls_, DeadlineIn(std::chrono::seconds(2)));
  if (!conn.ok()) return nullptr;
  nlohmann::json req = {{"op", "node_info"}, {"id", 1}, {"digest", digest}, {"session", *session}};
  auto deadline = DeadlineIn(std::chrono::seconds(5));
  if (!conn->WriteFrame(req.dump(), deadline).ok()) return nullptr;
  auto body = conn->ReadFrame(deadline);
  if (!body.ok()) return nullptr;
  auto j = nlohmann::json::parse(*body, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

int MetaCluster::WaitLeader(std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < n_; ++i) {
      auto info = NodeInfo(i);
      if (info.is_object() && info.value("is_leader", false)) return i;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

std::unique_ptr<MetaClient> MetaCluster::Client(MetaClientOptions opts) const {
  return std::make_unique<MetaClient>(config_, opts);
}

std::unique_ptr<MetaClient> MetaCluster::ClientFor(int i, MetaClientOptions opts) const {
  if (!opts.tls) opts.tls = client_tls_;
  return std::make_unique<MetaClient>(std::vector<HostPort>{config_.meta[i].address}, opts);
}

int RunMetaBinary(const std::vector<std::string>& args, std::string* output,
                  std::chrono::milliseconds timeout) {
  std::vector<std::string> full = {MetaBin()};
  full.insert(full.end(), args.begin(), args.end());
  return RunProgram(full, output, timeout);
}

int RunProgram(const std::vector<std::string>& args, std::string* output,
               std::chrono::milliseconds timeout) {
  char tmpl[] = "/tmp/vaultfs-meta-run-XXXXXX";
  int out_fd = ::mkstemp(tmpl);
  if (out_fd < 0) return -1;
  std::vector<std::string> full = args;
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::dup2(out_fd, STDERR_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool done = false;
  while (pid > 0 && !done && std::chrono::steady_clock::now() < deadline) {
    done = ::waitpid(pid, &status, WNOHANG) == pid;
    if (!done) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (pid > 0 && !done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  *output = ReadTextFile(tmpl);
  ::unlink(tmpl);
  if (!done) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Result<std::string> RawExchange(const HostPort& addr, const std::string& bytes,
                                std::chrono::milliseconds timeout,
                                std::shared_ptr<tls::TlsContext> tls) {
  auto deadline = DeadlineIn(timeout);
  VFS_ASSIGN_OR_RETURN(Stream conn, Stream::Connect(addr, std::move(tls), deadline));
  VFS_RETURN_IF_ERROR(conn.WriteAll(bytes, deadline));
  return conn.ReadFrame(deadline);
}

}  // namespace vaultfs::testing
