// Test support: see mount_fixture.h.
#include "tests/fuse/mount_fixture.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/common/proc_status.h"
#include "tests/fuse/file_checks.h"

namespace vaultfs::testing {

namespace fs = std::filesystem;

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string UnescapeMountField(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t j = 1; j <= 3; ++j) {
        char c = s[i + j];
        if (c < '0' || c > '7') ok = false;
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out.push_back(static_cast<char>(v));
        i += 3;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string Tail(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  return "[... " + std::to_string(text.size() - max_bytes) + " bytes cut ...]\n" +
         text.substr(text.size() - max_bytes);
}

// Runs argv with stdout and stderr appended to `log_path` (not a pipe: a daemon that keeps
// the descriptors must not hold us up) and waits up to `timeout`. Returns the exit code, or
// -1 if it was killed or timed out (its process group is then killed).
int RunLoggedToFile(const std::vector<std::string>& argv, const std::string& log_path,
                    std::chrono::seconds timeout) {
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    close_range(3, ~0U, 0);  // the daemon must not keep other threads' files (see RunCommand)
    setpgid(0, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(log_fd);
  if (pid < 0) return -1;
  int status = 0;
  bool exited = WaitUntil(
      [&] {
        pid_t r = waitpid(pid, &status, WNOHANG);
        return r == pid || r < 0;
      },
      timeout, std::chrono::milliseconds(20));
  if (!exited) {
    kill(-pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool IsVaultfsProcess(pid_t pid) {
  std::string cmdline = ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
  return cmdline.find("vaultfs") != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<TestCluster>> StartClusterWithUser(const std::string& user,
                                                          const std::string& password) {
  auto cluster = TestCluster::Start();
  if (!cluster.ok()) return cluster.status().Annotate("cluster did not start");
  auto r = (*cluster)->Vaultfs({"register", user}, user, password);
  if (r.exit_code != 0) return Status(EIO, "vaultfs register: " + r.err);
  return cluster;
}

bool FuseAvailable() {
  struct stat st {};
  return stat("/dev/fuse", &st) == 0 && S_ISCHR(st.st_mode);
}

bool IsFuseMountPoint(const std::string& path) {
  std::error_code ec;
  std::string want = fs::weakly_canonical(path, ec).string();
  if (ec) want = path;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
    std::istringstream fields(line);
    std::string id, parent, dev, root, mountpoint;
    fields >> id >> parent >> dev >> root >> mountpoint;
    size_t sep = line.find(" - ");
    if (sep == std::string::npos) continue;
    std::istringstream rest(line.substr(sep + 3));
    std::string fstype;
    rest >> fstype;
    if (UnescapeMountField(mountpoint) == want && fstype.rfind("fuse", 0) == 0) return true;
  }
  return false;
}

bool ProcessAlive(pid_t pid) {
  if (pid <= 0) return false;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  char state = stat[paren + 2];
  return state != 'Z' && state != 'X';
}

std::optional<uint64_t> PeakRssKiB(pid_t pid) {
  auto kib = ProcStatusKiB(pid, "VmHWM");
  if (!kib) return std::nullopt;
  return static_cast<uint64_t>(*kib);
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout,
               std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

CommandResult RunAs(uid_t uid, gid_t gid, const std::vector<std::string>& argv,
                    std::chrono::seconds timeout) {
  std::vector<std::string> full = {"setpriv", "--reuid=" + std::to_string(uid),
                                   "--regid=" + std::to_string(gid), "--clear-groups", "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, {}, timeout);
}

int ErrnoAs(uid_t uid, gid_t gid, const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid < 0) return 255;
  if (pid == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0) {
      _exit(255);
    }
    _exit(fn() & 0xff);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return 255;
  return WEXITSTATUS(status);
}

Result<std::unique_ptr<TestMount>> TestMount::Start(const TestCluster& cluster,
                                                    const std::string& user,
                                                    const std::string& password,
                                                    MountOptions options) {
  std::unique_ptr<TestMount> m(new TestMount());
  char tmpl[] = "/tmp/vaultfs-mount-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return ErrnoStatus(errno, "mkdtemp");
  m->tmp_dir_ = tmpl;
  // Other uids must reach the mountpoint (multi-user tests); the cache dir stays private.
  chmod(m->tmp_dir_.c_str(), 0755);
  m->mountpoint_ = m->tmp_dir_ + "/mnt";
  m->cache_dir_ = options.cache_dir.empty() ? m->tmp_dir_ + "/cache" : options.cache_dir;
  m->pid_file_ = m->tmp_dir_ + "/daemon.pid";
  m->log_file_ = m->tmp_dir_ + "/daemon.log";
  m->cluster_config_ = cluster.config_path();
  if (mkdir(m->mountpoint_.c_str(), 0755) != 0) {
    return ErrnoStatus(errno, "mkdir " + m->mountpoint_);
  }
  if (options.cache_dir.empty() && mkdir(m->cache_dir_.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, "mkdir " + m->cache_dir_);
  }
  const std::string password_file = m->tmp_dir_ + "/password";
  VFS_RETURN_IF_ERROR(PutFile(password_file, password + "\n", 0600));

  std::vector<std::string> argv = {Env("VAULTFS_BIN"), "mount",       "--cluster",
                                   m->cluster_config_, "--user",      user,
                                   "--password-file",  password_file, "--cache-dir",
                                   m->cache_dir_,      "--pid-file",  m->pid_file_};
  // Info-level daemon log (warnings carry the reason behind every EIO) in the cache dir;
  // --debug adds libfuse's trace of every request.
  argv.insert(argv.end(), {"--log-level", "info"});
  if (options.debug || Env("VAULTFS_FUSE_TEST_DEBUG") == "1") argv.push_back("--debug");
  for (const auto& o : options.fuse_options) {
    argv.push_back("-o");
    argv.push_back(o);
  }
  argv.push_back(m->mountpoint_);
  int rc = RunLoggedToFile(argv, m->log_file_, options.mount_timeout);
  if (rc != 0) {
    return IoError("`vaultfs mount` exited with " + std::to_string(rc) + "; output:\n" + m->Logs());
  }
  // The contract is "exit 0 once the mount is live"; poll anyway, with a deadline, so that a
  // slow kernel notification cannot make a test flaky.
  if (!WaitUntil([&] { return IsFuseMountPoint(m->mountpoint_); }, std::chrono::seconds(30))) {
    return IoError("`vaultfs mount` exited 0 but " + m->mountpoint_ +
                   " is not a FUSE mount in /proc/self/mountinfo; output:\n" + m->Logs());
  }
  if (!WaitUntil(
          [&] {
            m->pid_ = static_cast<pid_t>(std::atol(ReadFile(m->pid_file_).c_str()));
            return m->pid_ > 1;
          },
          std::chrono::seconds(30))) {
    return IoError("no pid in --pid-file " + m->pid_file_ + "; output:\n" + m->Logs());
  }
  if (!ProcessAlive(m->pid_)) {
    return IoError("daemon pid " + std::to_string(m->pid_) + " from " + m->pid_file_ +
                   " is not running; output:\n" + m->Logs());
  }
  return m;
}

TestMount::~TestMount() { Cleanup(); }

Status TestMount::Unmount(std::chrono::seconds timeout) {
  CommandResult r = RunCommand({Env("VAULTFS_BIN"), "umount", mountpoint_}, {}, timeout);
  if (r.exit_code != 0) {
    return IoError("`vaultfs umount` exited with " + std::to_string(r.exit_code) + " after " +
                   std::to_string(r.seconds) + " s: " + r.out + r.err + "\ndaemon output:\n" +
                   Logs());
  }
  if (IsFuseMountPoint(mountpoint_)) {
    return IoError("`vaultfs umount` exited 0 but " + mountpoint_ + " is still mounted");
  }
  // umount's contract: it returns after the daemon finished its uploads and exited.
  if (ProcessAlive(pid_) && IsVaultfsProcess(pid_)) {
    return IoError("`vaultfs umount` exited 0 but the daemon (pid " + std::to_string(pid_) +
                   ") is still running");
  }
  return Status::Ok();
}

void TestMount::KillDaemon() {
  if (pid_ <= 1) pid_ = static_cast<pid_t>(std::atol(ReadFile(pid_file_).c_str()));
  if (pid_ > 1 && ProcessAlive(pid_) && IsVaultfsProcess(pid_)) {
    kill(pid_, SIGKILL);
    WaitUntil([&] { return !ProcessAlive(pid_); }, std::chrono::seconds(20));
  }
}

void TestMount::Abort() {
  if (IsFuseMountPoint(mountpoint_)) RunCommand({"fusermount3", "-u", "-z", mountpoint_});
  KillDaemon();
  if (IsFuseMountPoint(mountpoint_)) RunCommand({"umount", "-l", mountpoint_});
}

void TestMount::Cleanup() {
  if (tmp_dir_.empty()) return;
  if (!mountpoint_.empty() && IsFuseMountPoint(mountpoint_)) {
    CommandResult r =
        RunCommand({Env("VAULTFS_BIN"), "umount", mountpoint_}, {}, std::chrono::seconds(120));
    if (r.exit_code != 0) {
      std::fprintf(stderr, "[mount fixture] `vaultfs umount %s` failed (%d): %s%s\n",
                   mountpoint_.c_str(), r.exit_code, r.out.c_str(), r.err.c_str());
    }
  }
  Abort();  // no-op after a clean unmount, except killing a daemon that outlived it
  if (IsFuseMountPoint(mountpoint_)) {
    // Never recurse into a live mount: that would delete the vault's content, or hang.
    std::fprintf(stderr,
                 "[mount fixture] !!! %s is STILL MOUNTED after umount, fusermount3 -u -z and "
                 "SIGKILL; leaving %s in place !!!\n",
                 mountpoint_.c_str(), tmp_dir_.c_str());
    return;
  }
  std::error_code ec;
  if (Env("VAULTFS_KEEP_MOUNT_DIRS").empty()) fs::remove_all(tmp_dir_, ec);
  tmp_dir_.clear();
}

std::string TestMount::Logs(size_t max_bytes) const {
  std::string out = "--- " + log_file_ + "\n" + Tail(ReadFile(log_file_), max_bytes);
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(cache_dir_, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (it->is_regular_file(ec) && p.filename().string().find("log") != std::string::npos) {
      out += "--- " + p.string() + "\n" + Tail(ReadFile(p.string()), max_bytes);
    }
  }
  return out;
}

}  // namespace vaultfs::testing
