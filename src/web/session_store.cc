// Browser sessions: see session_store.h.
#include "src/web/session_store.h"

#include "src/crypto/hash.h"
#include "src/crypto/random.h"

namespace vaultfs::web {

namespace {

std::string KeyOf(std::string_view id) { return crypto::DigestToHex(crypto::Sha256(id)); }

}  // namespace

SessionStore::SessionStore(Options options, NowFn now) : options_(options), now_(std::move(now)) {}

bool SessionStore::Expired(const Entry& e, Clock::time_point now) const {
  return now - e.last_used >= options_.idle_timeout || now - e.created >= options_.max_lifetime;
}

void SessionStore::SweepLocked(Clock::time_point now) {
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    it = Expired(it->second, now) ? sessions_.erase(it) : std::next(it);
  }
}

Result<SessionStore::Created> SessionStore::Create(std::string user,
                                                   std::shared_ptr<client::Vault> vault) {
  VFS_ASSIGN_OR_RETURN(std::string id, crypto::RandomHexId(32));
  VFS_ASSIGN_OR_RETURN(std::string csrf, crypto::RandomHexId(32));
  auto session =
      std::make_shared<const Session>(Session{std::move(user), std::move(csrf), std::move(vault)});
  std::lock_guard<std::mutex> lock(mu_);
  Clock::time_point now = now_();
  SweepLocked(now);
  while (!sessions_.empty() && sessions_.size() >= options_.max_sessions) {
    auto lru = sessions_.begin();
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
      if (it->second.last_used < lru->second.last_used) lru = it;
    }
    sessions_.erase(lru);
  }
  sessions_[KeyOf(id)] = Entry{session, now, now};
  return Created{std::move(id), std::move(session)};
}

std::shared_ptr<const Session> SessionStore::Find(std::string_view id) {
  if (id.empty()) return nullptr;
  std::string key = KeyOf(id);
  std::lock_guard<std::mutex> lock(mu_);
  Clock::time_point now = now_();
  auto it = sessions_.find(key);
  if (it == sessions_.end()) return nullptr;
  if (Expired(it->second, now)) {
    sessions_.erase(it);
    return nullptr;
  }
  it->second.last_used = now;
  return it->second.session;
}

void SessionStore::Destroy(std::string_view id) {
  std::string key = KeyOf(id);
  std::lock_guard<std::mutex> lock(mu_);
  sessions_.erase(key);
}

size_t SessionStore::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return sessions_.size();
}

}  // namespace vaultfs::web
