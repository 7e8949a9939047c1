// The `vaultfs` subcommands: see commands.h.
#include "src/cli/commands.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "src/cli/progress.h"
#include "src/client/cluster_health.h"
#include "src/client/vault.h"
#include "src/cluster/data_client.h"
#include "src/common/log.h"
#include "src/crypto/token.h"
#include "src/web/listen_address.h"
#include "src/web/server.h"

namespace vaultfs::cli {

using client::Attr;
using client::Vault;
using nlohmann::json;

namespace {

std::string Basename(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  return slash == std::string::npos ? p : p.substr(slash + 1);
}

std::string JoinRemote(const std::string& dir, const std::string& name) {
  if (dir.empty() || dir == "/") return "/" + name;
  return (dir.back() == '/' ? dir : dir + "/") + name;
}

Result<ClusterConfig> LoadConfig(const GlobalOptions& g) {
  auto c = LoadClusterConfig(g.cluster);
  if (!c.ok()) {
    return Status(c.status().code(),
                  c.status().message() +
                      "\n(point --cluster or VAULTFS_CLUSTER at your cluster.json, or start a "
                      "local cluster with: tools/mkcluster up)");
  }
  return c;
}

// A logged-in vault for the commands that touch files.
Result<std::unique_ptr<Vault>> OpenVault(const GlobalOptions& g) {
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  auto vault = std::make_unique<Vault>(std::move(config));
  if (g.user.empty()) return InvalidArgument("no user: pass --user NAME or set VAULTFS_USER");
  VFS_ASSIGN_OR_RETURN(std::string pw,
                       ReadPassword(g.password, "password for vault user '" + g.user + "': "));
  VFS_RETURN_IF_ERROR(vault->accounts().Login(g.user, pw));
  return vault;
}

// ---- local files ----

class LocalReader {
 public:
  static Result<LocalReader> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status(errno, "cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    fstat(fd, &st);
    return LocalReader(fd, path, static_cast<uint64_t>(st.st_size));
  }
  LocalReader(LocalReader&& o) noexcept : fd_(o.fd_), path_(o.path_), size_(o.size_) { o.fd_ = -1; }
  ~LocalReader() {
    if (fd_ >= 0) ::close(fd_);
  }
  uint64_t size() const { return size_; }
  Status Read(uint8_t* buf, size_t n) {
    size_t off = 0;
    while (off < n) {
      ssize_t r = ::read(fd_, buf + off, n - off);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Status(errno, "read " + path_ + ": " + std::strerror(errno));
      if (r == 0) return IoError(path_ + " shrank while it was being uploaded");
      off += static_cast<size_t>(r);
    }
    return Status::Ok();
  }

 private:
  LocalReader(int fd, std::string path, uint64_t size)
      : fd_(fd), path_(std::move(path)), size_(size) {}
  int fd_;
  std::string path_;
  uint64_t size_;
};

// Writes to PATH.vaultfs-part, then fsync and rename, so a failed download never leaves a
// truncated file under the real name.
class LocalWriter {
 public:
  static Result<LocalWriter> Open(const std::string& path) {
    std::string part = path + ".vaultfs-part";
    int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Status(errno, "cannot create " + part + ": " + std::strerror(errno));
    return LocalWriter(fd, path, part);
  }
  LocalWriter(LocalWriter&& o) noexcept : fd_(o.fd_), path_(o.path_), part_(o.part_) { o.fd_ = -1; }
  ~LocalWriter() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(part_.c_str());
    }
  }
  Status Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t w = ::write(fd_, data.data(), data.size());
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return Status(errno, "write " + part_ + ": " + std::strerror(errno));
      data.remove_prefix(static_cast<size_t>(w));
    }
    return Status::Ok();
  }
  Status Commit() {
    if (::fsync(fd_) != 0) return Status(errno, "fsync " + part_ + ": " + std::strerror(errno));
    ::close(fd_);
    fd_ = -1;
    if (::rename(part_.c_str(), path_.c_str()) != 0) {
      int err = errno;
      ::unlink(part_.c_str());
      return Status(err, "rename to " + path_ + ": " + std::strerror(err));
    }
    return Status::Ok();
  }

 private:
  LocalWriter(int fd, std::string path, std::string part)
      : fd_(fd), path_(std::move(path)), part_(std::move(part)) {}
  int fd_;
  std::string path_;
  std::string part_;
};

bool IsLocalDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// ---- put / get helpers ----

// Old versions' shards that have passed their grace period are deleted after a command that
// replaces or removes files; a failure here never fails the command (the queue keeps them).
void CollectGarbage(Vault& v) {
  auto n = v.content().CollectGarbage();
  if (!n.ok()) VFS_LOG(kInfo) << "garbage collection postponed: " << n.status().ToString();
}

Status PutFile(Vault& v, const GlobalOptions& g, const std::string& local,
               const std::string& remote) {
  VFS_ASSIGN_OR_RETURN(LocalReader in, LocalReader::Open(local));
  VFS_ASSIGN_OR_RETURN(auto parent_name, v.tree().ResolveParent(remote));
  auto& [parent, name] = parent_name;
  Progress progress("put " + Basename(local), in.size(), !g.quiet);
  client::ContentReport report;
  client::StoreOptions so;
  so.progress = [&](uint64_t done) { progress.Update(done); };
  so.report = &report;
  auto stored = v.content().Store(
      parent.ino, name, in.size(), [&](uint8_t* buf, size_t n) { return in.Read(buf, n); }, so);
  if (!stored.ok()) {
    // Named by the path the user typed, not the last component.
    if (stored.status().code() == EISDIR) return Status(EISDIR, remote + " is a directory");
    return stored.status();
  }
  if (stored->replaced) CollectGarbage(v);
  if (report.shards_missing > 0 && !g.quiet) {
    std::fprintf(stderr,
                 "vaultfs: %s stored with %d shard(s) missing (servers down); it is readable and "
                 "queued for repair\n",
                 remote.c_str(), report.shards_missing);
  }
  return Status::Ok();
}

Status PutTree(Vault& v, const GlobalOptions& g, const std::string& local,
               const std::string& remote) {
  if (!IsLocalDir(local)) return PutFile(v, g, local, remote);
  auto existing = v.tree().Resolve(remote);
  if (!existing.ok()) {
    if (existing.status().code() != ENOENT) return existing.status();
    VFS_ASSIGN_OR_RETURN(auto pn, v.tree().ResolveParent(remote));
    VFS_RETURN_IF_ERROR(v.tree().Mkdir(pn.first.ino, pn.second, 0755).status());
  } else if (!existing->is_dir()) {
    return Status(ENOTDIR, remote + " exists and is not a directory");
  }
  DIR* d = ::opendir(local.c_str());
  if (d == nullptr) return Status(errno, "cannot open directory " + local);
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    std::string lp = local + "/" + n;
    struct stat st {};
    if (::lstat(lp.c_str(), &st) != 0) continue;
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      std::fprintf(stderr, "vaultfs: skipping %s (only files and directories are copied)\n",
                   lp.c_str());
      continue;
    }
    VFS_RETURN_IF_ERROR(PutTree(v, g, lp, JoinRemote(remote, n)));
  }
  return Status::Ok();
}

Status GetFile(Vault& v, const GlobalOptions& g, const Attr& a, const std::string& remote,
               const std::string& local) {
  if (a.is_dir()) return Status(EISDIR, remote + " is a directory (use get -r)");
  if (local == "-") {
    return v.content().ReadContent(a, 0, a.size, [](std::string_view piece) {
      if (std::fwrite(piece.data(), 1, piece.size(), stdout) != piece.size()) {
        return IoError("write to stdout failed");
      }
      return Status::Ok();
    });
  }
  VFS_ASSIGN_OR_RETURN(LocalWriter out, LocalWriter::Open(local));
  Progress progress("get " + Basename(remote), a.size, !g.quiet);
  client::ContentReport report;
  VFS_RETURN_IF_ERROR(v.content().ReadContent(
      a, 0, a.size, [&](std::string_view piece) { return out.Write(piece); },
      [&](uint64_t done) { progress.Update(done); }, &report));
  VFS_RETURN_IF_ERROR(out.Commit());
  size_t bad = 0, unreachable = 0;
  for (const auto& p : report.problems) (p.state == "unreachable" ? unreachable : bad)++;
  if (bad > 0 && !g.quiet) {
    std::fprintf(stderr,
                 "vaultfs: %s read correctly around %zu bad shard(s); they are queued for "
                 "repair\n",
                 remote.c_str(), bad);
  }
  if (unreachable > 0 && !g.quiet) {
    std::fprintf(stderr, "vaultfs: %s read correctly with %zu data server(s) unreachable\n",
                 remote.c_str(), unreachable);
  }
  return Status::Ok();
}

Status GetTree(Vault& v, const GlobalOptions& g, const Attr& a, const std::string& remote,
               const std::string& local) {
  if (!a.is_dir()) return GetFile(v, g, a, remote, local);
  if (::mkdir(local.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status(errno, "cannot create directory " + local + ": " + std::strerror(errno));
  }
  VFS_ASSIGN_OR_RETURN(auto entries, v.tree().ReadDir(a.ino));
  for (const auto& e : entries) {
    VFS_ASSIGN_OR_RETURN(Attr child, v.tree().GetAttr(e.ino));
    VFS_RETURN_IF_ERROR(GetTree(v, g, child, JoinRemote(remote, e.name), local + "/" + e.name));
  }
  return Status::Ok();
}

std::string ModeString(const Attr& a) {
  char t = '-';
  if (a.type == "dir") t = 'd';
  if (a.type == "symlink") t = 'l';
  std::string s(1, t);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (a.mode & (0400 >> i)) ? rwx[i] : '-';
  return s;
}

std::string TimeString(int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

}  // namespace

int ExitCodeFor(const Status& st) {
  if (st.ok()) return 0;
  switch (st.code()) {
    case EACCES:
      return 3;
    case ENOENT:
      return 4;
    case EIO:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case EAGAIN:
      return 5;
    default:
      return 1;
  }
}

std::string DefaultClusterPath() {
  if (const char* env = std::getenv("VAULTFS_CLUSTER"); env != nullptr && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/root") + "/.local/share/vaultfs/cluster/cluster.json";
}

std::string DefaultUser() {
  if (const char* env = std::getenv("VAULTFS_USER"); env != nullptr && *env) return env;
  if (const char* env = std::getenv("USER"); env != nullptr && *env) return env;
  // Shells started without a login (cron, `env -i`, some su) have no $USER: the account's name
  // is what `tools/mkcluster demo` registered (`id -un`).
  if (const passwd* pw = getpwuid(getuid()); pw != nullptr && pw->pw_name != nullptr) {
    return pw->pw_name;
  }
  return "";
}

Status CmdRegister(const GlobalOptions& g, const std::string& user) {
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  Vault v(std::move(config));
  VFS_ASSIGN_OR_RETURN(std::string pw,
                       ReadPassword(g.password, "choose a password for '" + user + "': ", true));
  VFS_RETURN_IF_ERROR(v.accounts().Register(user, pw));
  if (!g.quiet) std::fprintf(stderr, "vaultfs: registered '%s'\n", user.c_str());
  return Status::Ok();
}

Status CmdPasswd(const GlobalOptions& g) {
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  if (g.user.empty()) return InvalidArgument("no user: pass --user NAME or set VAULTFS_USER");
  Vault v(std::move(config));
  VFS_ASSIGN_OR_RETURN(std::string old_pw,
                       ReadPassword(g.password, "current password for '" + g.user + "': "));
  VFS_RETURN_IF_ERROR(v.accounts().Login(g.user, old_pw));
  // The new password: $VAULTFS_NEW_PASSWORD for scripts, else asked twice on the terminal.
  std::string new_pw;
  if (const char* next = std::getenv("VAULTFS_NEW_PASSWORD"); next != nullptr) {
    new_pw = next;
  } else {
    PasswordSource prompt_only;
    prompt_only.use_env = false;
    VFS_ASSIGN_OR_RETURN(new_pw, ReadPassword(prompt_only, "new password: ", true));
  }
  if (new_pw.empty()) return InvalidArgument("the new password is empty");
  VFS_RETURN_IF_ERROR(v.accounts().ChangePassword(old_pw, new_pw));
  if (!g.quiet) std::fprintf(stderr, "vaultfs: password changed; other sessions are logged out\n");
  return Status::Ok();
}

Status CmdPut(const GlobalOptions& g, const std::string& local, const std::string& remote_arg,
              bool recursive) {
  bool is_dir = IsLocalDir(local);
  if (is_dir && !recursive) return Status(EISDIR, local + " is a directory (use put -r)");
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  std::string remote = remote_arg.empty() ? "/" + Basename(local) : remote_arg;
  auto target = v->tree().Resolve(remote);
  if (target.ok() && target->is_dir() && !remote_arg.empty()) {
    remote = JoinRemote(remote, Basename(local));
  }
  return recursive ? PutTree(*v, g, local, remote) : PutFile(*v, g, local, remote);
}

Status CmdGet(const GlobalOptions& g, const std::string& remote, const std::string& local_arg,
              bool recursive) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  VFS_ASSIGN_OR_RETURN(Attr a, v->tree().Resolve(remote));
  if (a.is_dir() && !recursive) return Status(EISDIR, remote + " is a directory (use get -r)");
  std::string local = local_arg.empty() ? Basename(remote) : local_arg;
  if (local != "-" && IsLocalDir(local)) local += "/" + Basename(remote);
  return recursive ? GetTree(*v, g, a, remote, local) : GetFile(*v, g, a, remote, local);
}

Status CmdCat(const GlobalOptions& g, const std::vector<std::string>& paths) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  for (const auto& p : paths) {
    VFS_ASSIGN_OR_RETURN(Attr a, v->tree().Resolve(p));
    VFS_RETURN_IF_ERROR(GetFile(*v, g, a, p, "-"));
  }
  std::fflush(stdout);
  return Status::Ok();
}

Status CmdLs(const GlobalOptions& g, const std::string& path, bool long_format) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  VFS_ASSIGN_OR_RETURN(Attr a, v->tree().Resolve(path));
  std::vector<std::pair<std::string, Attr>> rows;
  if (a.is_dir()) {
    VFS_ASSIGN_OR_RETURN(auto entries, v->tree().ReadDir(a.ino));
    for (const auto& e : entries) {
      if (long_format) {
        VFS_ASSIGN_OR_RETURN(Attr c, v->tree().GetAttr(e.ino));
        rows.emplace_back(e.name, c);
      } else {
        rows.emplace_back(e.name, Attr{});
      }
    }
  } else {
    rows.emplace_back(Basename(path), a);
  }
  std::sort(rows.begin(), rows.end(), [](auto& x, auto& y) { return x.first < y.first; });
  for (const auto& [name, attr] : rows) {
    if (long_format) {
      std::printf("%s %3llu %12llu %s %s%s\n", ModeString(attr).c_str(),
                  static_cast<unsigned long long>(attr.nlink),
                  static_cast<unsigned long long>(attr.size), TimeString(attr.mtime_ns).c_str(),
                  name.c_str(), attr.is_dir() ? "/" : "");
    } else {
      std::printf("%s\n", name.c_str());
    }
  }
  return Status::Ok();
}

Status CmdMkdir(const GlobalOptions& g, const std::vector<std::string>& paths, bool parents) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  for (const auto& p : paths) {
    if (parents) {
      std::string walked;
      uint64_t cur = v->root();
      size_t i = 0;
      while (i < p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string::npos) j = p.size();
        std::string part = p.substr(i, j - i);
        i = j + 1;
        if (part.empty() || part == ".") continue;
        walked += "/" + part;
        auto next = v->tree().Lookup(cur, part);
        if (next.ok()) {
          if (!next->is_dir()) return Status(ENOTDIR, walked + " exists and is not a directory");
          cur = next->ino;
          continue;
        }
        if (next.status().code() != ENOENT) return next.status();
        auto made = v->tree().Mkdir(cur, part, 0755);
        if (!made.ok() && made.status().code() == EEXIST) {
          VFS_ASSIGN_OR_RETURN(Attr raced, v->tree().Lookup(cur, part));  // made by someone else
          cur = raced.ino;
          continue;
        }
        if (!made.ok()) return made.status().Annotate(walked);
        cur = made->ino;
      }
    } else {
      VFS_ASSIGN_OR_RETURN(auto pn, v->tree().ResolveParent(p));
      auto made = v->tree().Mkdir(pn.first.ino, pn.second, 0755);
      if (!made.ok()) return made.status().Annotate("mkdir " + p);
    }
  }
  return Status::Ok();
}

Status CmdMv(const GlobalOptions& g, const std::string& from, const std::string& to) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  VFS_ASSIGN_OR_RETURN(auto src, v->tree().ResolveParent(from));
  std::string dest = to;
  auto target = v->tree().Resolve(to);
  if (target.ok() && target->is_dir()) dest = JoinRemote(to, src.second);
  VFS_ASSIGN_OR_RETURN(auto dst, v->tree().ResolveParent(dest));
  VFS_RETURN_IF_ERROR(v->tree()
                          .Rename(src.first.ino, src.second, dst.first.ino, dst.second, 0)
                          .Annotate("mv " + from + " " + to));
  CollectGarbage(*v);  // a file moved over another one freed the old one's shards
  return Status::Ok();
}

Status CmdRm(const GlobalOptions& g, const std::vector<std::string>& paths, bool recursive) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  for (const auto& p : paths) {
    VFS_ASSIGN_OR_RETURN(auto pn, v->tree().ResolveParent(p));
    VFS_ASSIGN_OR_RETURN(Attr a, v->tree().Lookup(pn.first.ino, pn.second));
    if (a.is_dir() && !recursive) return Status(EISDIR, p + " is a directory (use rm -r)");
    VFS_RETURN_IF_ERROR(v->tree().RemoveTree(pn.first.ino, pn.second, a).Annotate("rm " + p));
  }
  CollectGarbage(*v);
  return Status::Ok();
}

namespace {

std::string Ago(int64_t unix_s) {
  if (unix_s <= 0) return "never";
  const int64_t d = std::max<int64_t>(0, crypto::UnixNow() - unix_s);
  if (d < 120) return std::to_string(d) + " s ago";
  if (d < 7200) return std::to_string(d / 60) + " min ago";
  return std::to_string(d / 3600) + " h ago";
}

// The repairer's last report (vaultfs-repair, via the metadata service).
void PrintRepair(int64_t queue, const json& r) {
  if (!r.is_object()) {
    std::printf(
        "repair: %lld version(s) queued; no repairer has reported (is vaultfs-repair "
        "running? tools/mkcluster starts one)\n",
        static_cast<long long>(queue));
    return;
  }
  const json rep = r.value("repair", json::object());
  const json scrub = r.value("scrub", json::object());
  std::string eta;
  if (queue > 0 && rep.value("eta_s", json()).is_number()) {
    eta = ", about " + std::to_string(rep["eta_s"].get<uint64_t>()) + " s left";
  }
  std::printf(
      "repair: %lld version(s) queued%s; %llu repaired, %llu shards rebuilt (%s); "
      "last pass %s\n",
      static_cast<long long>(queue), eta.c_str(),
      static_cast<unsigned long long>(rep.value("versions_repaired", uint64_t{0})),
      static_cast<unsigned long long>(rep.value("shards_rebuilt", uint64_t{0})),
      HumanBytes(rep.value("bytes_rebuilt", uint64_t{0})).c_str(),
      Ago(r.value("updated", int64_t{0})).c_str());
  std::printf("scrub: last finished %s, %llu shards checked, %llu bad found (all queued)\n",
              Ago(scrub.value("last_end", int64_t{0})).c_str(),
              static_cast<unsigned long long>(scrub.value("checked", uint64_t{0})),
              static_cast<unsigned long long>(scrub.value("bad", uint64_t{0})));
  const json servers = r.value("servers", json::object());
  for (const auto& [id, state] : servers.items()) {
    if (state == "down") {
      std::printf("  data-%s is down: its shards are rebuilt elsewhere if it stays down %lld s\n",
                  id.c_str(), static_cast<long long>(r.value("lost_after_s", int64_t{0})));
    } else if (state == "lost" || state == "draining" || state == "drained") {
      std::printf("  data-%s is %s\n", id.c_str(), state.get<std::string>().c_str());
    }
  }
  const std::string err = r.value("last_error", "");
  if (!err.empty()) std::printf("repair: last error: %s\n", err.c_str());
}

}  // namespace

Status CmdScrub(const GlobalOptions& g, bool wait, int timeout_s) {
  VFS_ASSIGN_OR_RETURN(auto v, OpenVault(g));
  VFS_ASSIGN_OR_RETURN(json asked, v->meta().Call("request_scrub"));
  const int64_t asked_s = asked.value("requested_at", int64_t{0}) / 1000000000;
  if (!wait) {
    std::printf(
        "scrub requested: the repairer starts it with its next pass (progress: vaultfs "
        "status)\n");
    return Status::Ok();
  }
  if (!g.quiet) std::fprintf(stderr, "vaultfs: waiting for the repairer to scrub every shard...\n");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    VFS_ASSIGN_OR_RETURN(json map, v->meta().Call("cluster_map"));
    const json r = map.value("repair", json());
    if (r.is_object()) {
      const json scrub = r.value("scrub", json::object());
      if (scrub.value("last_start", int64_t{0}) >= asked_s &&
          scrub.value("last_end", int64_t{0}) >= scrub.value("last_start", int64_t{0}) &&
          scrub.value("last_end", int64_t{0}) > 0) {
        std::printf(
            "scrub finished: %llu shards checked so far, %llu bad found in all; %lld "
            "version(s) queued for repair\n",
            static_cast<unsigned long long>(scrub.value("checked", uint64_t{0})),
            static_cast<unsigned long long>(scrub.value("bad", uint64_t{0})),
            static_cast<long long>(map.value("repair_queue", 0)));
        return Status::Ok();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // poll interval
  }
  return Status(ETIMEDOUT, "the scrub did not finish within " + std::to_string(timeout_s) +
                               " s; is vaultfs-repair running? (vaultfs status)");
}

Status CmdStatus(const GlobalOptions& g, const StatusOptions& o) {
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  MetaClientOptions mopts;
  if (o.wait_leader || o.leader_id) mopts.deadline = std::chrono::milliseconds(3000);
  MetaClient meta(config, mopts);
  // Without a session the map names only the metadata nodes and the leader; the recorded
  // server states and the repair queue come with a login, when we can log in without asking.
  bool can_login = !o.wait_leader && !o.leader_id && !o.servers_only && !g.user.empty() &&
                   (!g.password.file.empty() || std::getenv("VAULTFS_PASSWORD") != nullptr);
  std::unique_ptr<Vault> vault;
  std::string login_error;
  if (can_login) {
    auto v = OpenVault(g);
    if (v.ok()) {
      vault = std::move(*v);
    } else {
      login_error = v.status().ToString();
    }
  }
  MetaClient& asked = vault ? vault->meta() : meta;
  if (o.wait_leader || o.leader_id) {
    auto map = asked.Call("cluster_map");
    if (!map.ok()) return map.status();
    if (o.wait_leader) {
      return (*map)["leader"].is_string() ? Status::Ok() : Status(EAGAIN, "no leader yet");
    }
    for (const auto& n : (*map)["meta"]) {
      if (n.value("leader", false)) {
        std::printf("%llu\n", static_cast<unsigned long long>(n["id"].get<uint64_t>()));
        return Status::Ok();
      }
    }
    return Status(EAGAIN, "the metadata group has no leader right now");
  }

  // Data servers are asked with a short request timeout of our own: a status report must not
  // hang on a server that accepts and then stalls.
  cluster::DataClientOptions dopts;
  VFS_ASSIGN_OR_RETURN(dopts.tls, tls::ClientContext(config));
  dopts.connect_timeout = std::chrono::milliseconds(1000);
  dopts.request_timeout = std::chrono::milliseconds(2000);
  cluster::DataClient data(dopts);
  const client::ClusterHealth h = client::QueryClusterHealth(config, asked, data, vault != nullptr);

  json out;
  if (h.map_status.ok()) {
    out["meta"] = h.meta_nodes;
    out["leader"] = h.leader;
  } else {
    out["meta_error"] = h.map_status.ToString();
  }
  // Data servers: what the metadata service records, and what each says itself right now.
  json servers = json::array();
  for (const auto& d : h.data) {
    json s = {{"id", d.id}, {"address", d.address.ToString()}};
    if (d.probe.ok()) {
      s["up"] = true;
      s["free_bytes"] = d.probe->free_bytes;
      s["used_bytes"] = d.probe->used_bytes;
      s["objects"] = d.probe->objects;
    } else {
      s["up"] = false;
      s["error"] = d.probe.status().message();
    }
    if (!d.recorded_state.is_null()) s["recorded_state"] = d.recorded_state;
    servers.push_back(std::move(s));
  }
  out["data"] = servers;
  out["data_up"] = h.data_up;
  const int up = h.data_up;
  if (h.repair_queue) {
    out["repair_queue"] = *h.repair_queue;
    out["repair"] = h.repair;
  }

  // The user's own degraded versions.
  if (vault) {
    if (h.user_queue_status.ok()) out["degraded_versions"] = h.degraded_versions;
  } else if (can_login) {
    out["login_error"] = login_error;
  }

  if (o.json) {
    std::printf("%s\n", out.dump(2).c_str());
    return Status::Ok();
  }
  if (h.map_status.ok()) {
    std::printf("metadata: leader %s\n",
                out["leader"].is_string() ? out["leader"].get<std::string>().c_str() : "(none)");
  } else {
    std::printf("metadata: %s\n", out["meta_error"].get<std::string>().c_str());
  }
  std::printf("data servers: %d of %zu up (k=%d m=%d: reads need %d, writes %d)\n", up,
              config.data.size(), config.k, config.m, config.k, config.write_quorum);
  for (const auto& s : servers) {
    if (s["up"].get<bool>()) {
      std::printf("  data-%-3llu %-21s up    free %-10s used %-10s objects %llu\n",
                  static_cast<unsigned long long>(s["id"].get<uint64_t>()),
                  s["address"].get<std::string>().c_str(),
                  HumanBytes(s["free_bytes"].get<uint64_t>()).c_str(),
                  HumanBytes(s["used_bytes"].get<uint64_t>()).c_str(),
                  static_cast<unsigned long long>(s["objects"].get<uint64_t>()));
    } else {
      std::printf("  data-%-3llu %-21s DOWN  %s\n",
                  static_cast<unsigned long long>(s["id"].get<uint64_t>()),
                  s["address"].get<std::string>().c_str(), s["error"].get<std::string>().c_str());
    }
  }
  if (out.contains("repair_queue")) {
    PrintRepair(out["repair_queue"].get<int64_t>(), out["repair"]);
  } else if (h.map_status.ok() && !o.servers_only) {
    std::printf(
        "(the recorded server states and the repair queue need a login: give --user and a "
        "password file or VAULTFS_PASSWORD)\n");
  }
  if (out.contains("degraded_versions")) {
    std::printf("your degraded file versions (queued for repair): %zu\n",
                out["degraded_versions"].get<size_t>());
  } else if (out.contains("login_error")) {
    std::printf("(could not log in to show your files: %s)\n",
                out["login_error"].get<std::string>().c_str());
  }
  if (up < config.k) {
    return Status(EIO, "only " + std::to_string(up) + " data servers are up; reads need " +
                           std::to_string(config.k));
  }
  return Status::Ok();
}

Status CmdMount(const GlobalOptions& g, fuse::MountOptions o) {
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  VFS_ASSIGN_OR_RETURN(std::string password,
                       ReadPassword(g.password, "password for vault user '" + g.user + "': "));
  return fuse::Mount(config, g.user, password, std::move(o));
}

Status CmdUmount(const std::string& mountpoint, int wait_s) {
  return fuse::Unmount(mountpoint, wait_s);
}

Status CmdWeb(const GlobalOptions& g, const WebOptions& o) {
  // Before anything else: a refused address must not depend on cluster.json being at hand.
  VFS_ASSIGN_OR_RETURN(web::ListenAddress addr, web::ParseListenAddress(o.listen));
  VFS_RETURN_IF_ERROR(web::CheckListenAllowed(addr, o.insecure_http));
  if (o.workers == 0 || o.max_connections < o.workers || o.max_per_address == 0) {
    return InvalidArgument(
        "--workers and --max-connections-per-address must be at least 1, "
        "and --max-connections at least --workers");
  }
  VFS_ASSIGN_OR_RETURN(ClusterConfig config, LoadConfig(g));
  web::ServeOptions so;
  so.listen = o.listen;
  so.port_file = o.port_file;
  so.insecure_http = o.insecure_http;
  so.limits.workers = o.workers;
  so.limits.max_queued = o.max_connections - o.workers;
  so.limits.max_per_address = o.max_per_address;
  so.limits.idle_timeout = std::chrono::seconds(o.idle_timeout_s);
  return web::Serve(config, so);
}

}  // namespace vaultfs::cli
