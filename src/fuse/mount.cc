// Mount and unmount: see mount.h.
#include "src/fuse/mount.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "src/client/vault.h"
#include "src/common/log.h"
#include "src/common/private_files.h"
#include "src/fuse/daemon_registry.h"
#include "src/fuse/fuse_ops.h"
#include "src/fuse/staging_area.h"
#include "src/fuse/vault_fs.h"

namespace vaultfs::fuse {
namespace {

constexpr long kFuseSuperMagic = 0x65735546;

Status Errno(const std::string& what) { return Status(errno, what + ": " + strerror(errno)); }

Status MakeDirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status(ec.value(), "create " + dir + ": " + ec.message());
  chmod(dir.c_str(), 0700);
  return Status::Ok();
}

// The absolute, normalised path, also for a mount point whose daemon is gone (where
// realpath fails with ENOTCONN).
std::string AbsolutePath(const std::string& path) {
  char buf[PATH_MAX];
  if (realpath(path.c_str(), buf) != nullptr) return buf;
  return std::filesystem::absolute(path).lexically_normal().string();
}

bool IsMountPoint(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string id, parent, dev, root, mp;
    f >> id >> parent >> dev >> root >> mp;
    if (mp == path) return true;
  }
  return false;
}

// True while `pid` runs. An exited but not yet reaped daemon (a zombie: its reaper may take a
// while) counts as gone, since everything it had to do is done.
bool DaemonRunning(pid_t pid) {
  if (kill(pid, 0) != 0 && errno != EPERM) return false;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  const size_t p = stat.rfind(')');
  return p == std::string::npos || p + 2 >= stat.size() || stat[p + 2] != 'Z';
}

long ReadPid(const std::string& file) {
  std::ifstream in(file);
  long pid = 0;
  in >> pid;
  return pid;
}

// Replaces `path` by rename, so a link planted at its name is replaced, not written through.
Status WritePidFile(const std::string& path) {
  const std::filesystem::path p(path);
  return WritePrivateFile(p.parent_path().string(), p.filename().string(),
                          std::to_string(getpid()) + "\n");
}

// Tells the waiting parent how the mount went: "OK" or "ERR <errno> <message>".
void Report(int fd, const Status& st) {
  if (fd < 0) return;
  std::string msg = st.ok() ? "OK" : "ERR " + std::to_string(st.code()) + " " + st.message();
  ssize_t n = write(fd, msg.data(), msg.size());
  (void)n;
  close(fd);
}

Status RunDaemon(const ClusterConfig& config, const std::string& user, const std::string& password,
                 const MountOptions& o, int ready_fd) {
  signal(SIGPIPE, SIG_IGN);
  // Staging files, journals and the log hold the user's file names and data.
  umask(kPrivateUmask);
  // Reads and writes cycle through buffers of up to a few MiB (blocks, segments) on many
  // threads. By default glibc hands the freed top of each thread's heap back to the kernel
  // and the next buffer faults it in again, zero-filled: 15% of the daemon's CPU during a
  // streaming read. Keep up to 64 MiB per heap, and such buffers out of mmap.
  mallopt(M_MMAP_THRESHOLD, 8 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  const std::string staging = o.cache_dir + "/staging";
  VFS_RETURN_IF_ERROR(EnsurePrivateDir(o.cache_dir, "--cache-dir"));
  VFS_RETURN_IF_ERROR(MakeDirs(staging));
  // One daemon per cache dir: its staging files and journals are that daemon's.
  const std::string lock_path = o.cache_dir + "/lock";
  int lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (lock_fd < 0) return Errno("open " + lock_path);
  if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    return Status(EBUSY, "another vaultfs mount uses the cache dir " + o.cache_dir + " (pid " +
                             std::to_string(ReadPid(o.cache_dir + "/daemon.pid")) +
                             "); give this mount its own --cache-dir");
  }
  VFS_RETURN_IF_ERROR(WritePidFile(o.cache_dir + "/daemon.pid"));
  if (!o.foreground) {
    // The daemon's messages go to its log; the terminal is the parent's.
    const std::string log = o.cache_dir + "/vaultfs.log";
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) dup2(fd, STDERR_FILENO);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
    }
  }
  VFS_LOG(kInfo) << "mounting the vault of '" << user << "' on " << o.mountpoint;

  client::Vault vault(config);
  VFS_RETURN_IF_ERROR(vault.accounts().Login(user, password));
  // Staged data is sealed under keys derived from the master key: nothing on this disk is
  // plaintext (staged_file.h).
  VFS_ASSIGN_OR_RETURN(client::StagingKeys staging_keys, vault.DeriveStagingKeys());
  const uint64_t cap = o.staging_cap != 0 ? o.staging_cap : StagingArea::DefaultCap(staging);
  StagingArea staging_area(staging, std::move(staging_keys), cap);
  VFS_LOG(kInfo) << "staging area " << staging << ": cap " << (cap >> 20) << " MiB";
  VaultFs fs(&vault, {o.attr_timeout, o.attr_timeout, &staging_area});

  std::string opts = "fsname=vaultfs,subtype=vaultfs,default_permissions";
  for (const auto& opt : o.fuse_opts) opts += "," + opt;
  std::vector<std::string> argv = {"vaultfs", "-o", opts};
  if (o.debug) argv.push_back("-d");
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(cargv.size()), cargv.data());
  fuse_session* se = fuse_session_new(&args, &FuseOps(), sizeof(fuse_lowlevel_ops), &fs);
  if (se == nullptr) return InvalidArgument("bad FUSE options: " + opts + " (see the log)");
  if (fuse_set_signal_handlers(se) != 0) {
    fuse_session_destroy(se);
    return Status(EIO, "cannot install signal handlers");
  }
  if (fuse_session_mount(se, o.mountpoint.c_str()) != 0) {
    fuse_remove_signal_handlers(se);
    fuse_session_destroy(se);
    return Status(EIO, "mounting on " + o.mountpoint +
                           " failed (see the messages above or the log; is /dev/fuse there, "
                           "and is allow_other permitted in /etc/fuse.conf?)");
  }
  // Checked before mounting; a folder that changed hands since costs only umount's wait.
  const DaemonRegistry registry = DaemonRegistry::ForThisUser();
  Status recorded = registry.Record(o.mountpoint, getpid());
  if (!recorded.ok()) {
    VFS_LOG(kError) << "umount will not wait for this daemon: " << recorded.ToString();
  }
  if (!o.pid_file.empty()) {
    Status st = WritePidFile(o.pid_file);
    if (!st.ok()) VFS_LOG(kError) << "--pid-file: " << st.ToString();
  }
  fs.files().RecoverJournals();
  VFS_LOG(kInfo) << "mounted on " << o.mountpoint;
  Report(ready_fd, Status::Ok());

  fuse_loop_config* loop = fuse_loop_cfg_create();
  fuse_loop_cfg_set_clone_fd(loop, 0);
  fuse_loop_cfg_set_idle_threads(loop, 8);
  fuse_loop_cfg_set_max_threads(loop, 32);
  int rc = fuse_session_loop_mt(se, loop);
  fuse_loop_cfg_destroy(loop);
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);

  // Whatever could not be committed yet is journaled for the next mount.
  const int left = fs.files().FlushAll(std::chrono::steady_clock::now() + std::chrono::seconds(60));
  if (left > 0) {
    VFS_LOG(kError) << left << " file(s) could not be committed; their data is kept in " << staging
                    << " and committed by the next mount of this cache dir";
  }
  if (recorded.ok()) registry.Forget(o.mountpoint);
  unlink((o.cache_dir + "/daemon.pid").c_str());
  VFS_LOG(kInfo) << "unmounted " << o.mountpoint << (rc == 0 ? "" : " (loop error)");
  close(lock_fd);
  return left == 0 ? Status::Ok() : Status(EIO, std::to_string(left) + " file(s) not committed");
}

}  // namespace

std::string DefaultCacheDir(const std::string& user) {
  const char* xdg = getenv("XDG_CACHE_HOME");
  const char* home = getenv("HOME");
  std::string base = xdg != nullptr && *xdg != '\0' ? xdg
                     : home != nullptr              ? std::string(home) + "/.cache"
                                                    : "/tmp";
  return base + "/vaultfs/" + user;
}

Status Mount(const ClusterConfig& config, const std::string& user, const std::string& password,
             MountOptions o) {
  if (access("/dev/fuse", R_OK | W_OK) != 0) {
    return Status(ENODEV, "/dev/fuse is missing or not accessible (is the fuse module loaded?)");
  }
  struct stat st;
  if (stat(o.mountpoint.c_str(), &st) != 0) {
    if (errno == ENOTCONN) {
      return Status(ENOTCONN, o.mountpoint +
                                  " is a vaultfs mount whose daemon died; run "
                                  "`vaultfs umount " +
                                  o.mountpoint + "` first");
    }
    return Errno("mount point " + o.mountpoint);
  }
  if (!S_ISDIR(st.st_mode)) return Status(ENOTDIR, o.mountpoint + " is not a directory");
  o.mountpoint = AbsolutePath(o.mountpoint);
  if (IsMountPoint(o.mountpoint)) {
    return Status(EBUSY, o.mountpoint + " is already a mount point");
  }
  if (o.cache_dir.empty()) o.cache_dir = DefaultCacheDir(user);
  o.cache_dir = AbsolutePath(o.cache_dir);
  // Not realpath(): a link at the pid file's name is replaced, never resolved and written.
  if (!o.pid_file.empty()) {
    o.pid_file = std::filesystem::absolute(o.pid_file).lexically_normal().string();
  }
  // The pid registry may live in a shared /tmp: refuse a folder someone else prepared before
  // anything is mounted, rather than write into it.
  VFS_RETURN_IF_ERROR(DaemonRegistry::ForThisUser().Check());
  VFS_RETURN_IF_ERROR(EnsurePrivateDir(o.cache_dir, "--cache-dir"));
  if (o.foreground) return RunDaemon(config, user, password, o, -1);

  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return Errno("pipe");
  pid_t pid = fork();
  if (pid < 0) return Errno("fork");
  if (pid == 0) {
    close(p[0]);
    setsid();
    if (chdir("/") != 0) _exit(1);
    Status st = RunDaemon(config, user, password, o, p[1]);
    if (!st.ok()) {
      VFS_LOG(kError) << st.ToString();
      Report(p[1], st);  // no-op if the mount was reported already
    }
    _exit(st.ok() ? 0 : 1);
  }
  close(p[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof(buf))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  close(p[0]);
  if (msg == "OK") {
    // The first request waits for the kernel's INIT handshake, so once this answers the
    // mount is usable; a daemon that died during INIT leaves ENOTCONN.
    struct statfs sf;
    if (statfs(o.mountpoint.c_str(), &sf) == 0 && sf.f_type == kFuseSuperMagic) {
      return Status::Ok();
    }
    return Status(EIO, "the mount daemon stopped right after mounting (see " + o.cache_dir +
                           "/vaultfs.log); unmount with `vaultfs umount " + o.mountpoint + "`");
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (msg.rfind("ERR ", 0) == 0) {
    size_t sp = msg.find(' ', 4);
    int code = atoi(msg.substr(4, sp - 4).c_str());
    return Status(code != 0 ? code : EIO, sp == std::string::npos ? "" : msg.substr(sp + 1));
  }
  return Status(EIO,
                "the mount daemon exited without mounting (see " + o.cache_dir + "/vaultfs.log)");
}

namespace {

// One unmount attempt; 0 or an errno value.
int UnmountOnce(const std::string& mp) {
  if (geteuid() == 0) return umount2(mp.c_str(), 0) == 0 ? 0 : errno;
  pid_t child = fork();
  if (child == 0) {
    execlp("fusermount3", "fusermount3", "-u", "--", mp.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EBUSY;
}

// Processes with a working directory, root or open file inside `mp`, e.g. "4711 (bash)", for
// the "busy" message; empty if none is visible (the kernel may still hold a reference).
std::string MountUsers(const std::string& mp) {
  std::string out;
  std::error_code ec;
  const auto inside = [&mp](const std::string& p) {
    return p == mp ||
           (p.size() > mp.size() && p.compare(0, mp.size(), mp) == 0 && p[mp.size()] == '/');
  };
  for (const auto& proc : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = proc.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    bool uses = false;
    for (const char* link : {"cwd", "root"}) {
      uses = uses || inside(std::filesystem::read_symlink(proc.path() / link, ec).string());
    }
    for (const auto& fd : std::filesystem::directory_iterator(proc.path() / "fd", ec)) {
      if (uses) break;
      uses = inside(std::filesystem::read_symlink(fd.path(), ec).string());
    }
    if (!uses) continue;
    std::string comm;
    std::ifstream(proc.path() / "comm") >> comm;
    out += (out.empty() ? "" : ", ") + name + " (" + comm + ")";
  }
  return out;
}

}  // namespace

Status Unmount(const std::string& mountpoint_arg, int wait_s) {
  const std::string mp = AbsolutePath(mountpoint_arg);
  const long pid = DaemonRegistry::ForThisUser().Lookup(mp);
  if (!IsMountPoint(mp)) {
    return Status(EINVAL, mp + " is not mounted");
  }
  // A file closed a moment ago can still hold the mount while the kernel finishes its release,
  // so "busy" is retried briefly before it is reported.
  const auto busy_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int rc;
  while (true) {
    rc = UnmountOnce(mp);
    if (rc != EBUSY || std::chrono::steady_clock::now() >= busy_deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (rc == EBUSY) {
    const std::string users = MountUsers(mp);
    return Status(
        EBUSY, mp + " is busy: close the files and shells using it" +
                   (users.empty() ? " (see `fuser -m " + mp + "`)" : " (used by " + users + ")") +
                   ", then try again");
  }
  if (rc != 0) return Status(rc, "unmount " + mp + ": " + strerror(rc));
  if (pid <= 0) return Status::Ok();  // not started by this user's vaultfs: nothing to wait for
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  auto next_note = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (DaemonRunning(static_cast<pid_t>(pid))) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status(ETIMEDOUT, "the vaultfs daemon (pid " + std::to_string(pid) +
                                   ") is still committing files; it keeps trying, and whatever "
                                   "it cannot commit is kept for the next mount");
    }
    if (std::chrono::steady_clock::now() >= next_note) {
      fprintf(stderr, "vaultfs: waiting for the daemon (pid %ld) to finish uploads...\n", pid);
      next_note += std::chrono::seconds(10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Ok();
}

}  // namespace vaultfs::fuse
