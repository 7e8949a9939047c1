// Logged-in browser sessions: who is logged in, their vault, and their CSRF token.
//
// A session id is 32 random bytes (crypto::RandomHexId) handed to the browser in an HttpOnly
// cookie; the store keeps only its SHA-256, so neither a lookup's timing nor a dump of this
// process's maps gives out a usable id. A session ends when it has been idle for
// `idle_timeout`, when it reaches `max_lifetime`, on logout, or when the store is full and it
// is the least recently used one.
//
// Each session owns its own logged-in client::Vault (Vault is thread-safe after Login, so the
// HTTP thread pool may use it from several requests at once). Find() hands out a shared_ptr,
// so a download that is still streaming keeps its vault alive after a logout.
//
// Thread-safe. Time comes from an injectable clock so tests need no sleeps.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "src/client/vault.h"
#include "src/common/status.h"

namespace vaultfs::web {

struct Session {
  std::string user;
  std::string csrf_token;  // 32 random bytes, hex; sent back in X-CSRF-Token
  std::shared_ptr<client::Vault> vault;
};

class SessionStore {
 public:
  using Clock = std::chrono::steady_clock;
  using NowFn = std::function<Clock::time_point()>;

  struct Options {
    std::chrono::seconds idle_timeout{30 * 60};
    std::chrono::seconds max_lifetime{12 * 60 * 60};
    size_t max_sessions = 64;
  };

  explicit SessionStore(
      Options options, NowFn now = [] { return Clock::now(); });

  struct Created {
    std::string id;  // for the cookie; not kept by the store
    std::shared_ptr<const Session> session;
  };
  // A new session for `user` with fresh random id and CSRF token.
  Result<Created> Create(std::string user, std::shared_ptr<client::Vault> vault);

  // The live session with this id (and restarts its idle timer), or nullptr.
  std::shared_ptr<const Session> Find(std::string_view id);

  // Ends the session (logout). Unknown ids are ignored.
  void Destroy(std::string_view id);

  size_t size() const;

 private:
  struct Entry {
    std::shared_ptr<const Session> session;
    Clock::time_point created;
    Clock::time_point last_used;
  };
  bool Expired(const Entry& e, Clock::time_point now) const;
  void SweepLocked(Clock::time_point now);

  const Options options_;
  const NowFn now_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> sessions_;  // by hex SHA-256 of the id; guarded by mu_
};

}  // namespace vaultfs::web
