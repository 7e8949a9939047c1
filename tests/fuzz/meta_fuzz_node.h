// A single metadata node in one process, for meta_request_fuzz and the 'fuzz' regression
// suite: a real MetaService over a real MetaStore (SQLite in a fresh temp dir) with an
// in-process replicator that commits each proposal at once, so a request is answered
// synchronously inside Handle(). One user, "fuzz" (auth key 64 x 'a', root inode 1), is
// registered and logged in, and a cluster maintenance session is minted.
#pragma once

#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "servers/meta/meta_service.h"
#include "servers/meta/meta_store.h"
#include "servers/meta/replicator.h"
#include "src/common/log.h"
#include "src/crypto/token.h"

namespace vaultfs::fuzz {

// Setup failures cannot be reported through the fuzzer: say what failed and stop.
inline void FuzzCheck(bool cond, const char* what, const std::string& detail = "") {
  if (!cond) {
    std::fprintf(stderr, "invariant violated: %s\n%s\n", what, detail.c_str());
    std::abort();
  }
}

// Commits every proposal immediately, in order, on the calling thread. The mode makes this
// node a follower (with or without a known leader) or a leader whose proposals end with an
// unknown outcome and whose barriers fail, so those paths of the service are reachable too.
class InlineReplicator : public meta::Replicator {
 public:
  enum class Mode { kLeader, kFollowerKnown, kFollowerUnknown, kLeaderUnknownOutcome };

  explicit InlineReplicator(meta::StateMachine* sm) : sm_(sm) {}
  void set_mode(Mode m) { mode_ = m; }

  void Propose(std::string_view entry, ProposeCallback done) override {
    switch (mode_) {
      case Mode::kFollowerKnown:
      case Mode::kFollowerUnknown:
        return done(meta::ProposeOutcome::kNotLeader, std::string());
      case Mode::kLeaderUnknownOutcome:
        return done(meta::ProposeOutcome::kUnknown, std::string());
      case Mode::kLeader:
        break;
    }
    Result<std::string> result = sm_->Apply(++index_, entry);
    if (!result.ok()) return done(meta::ProposeOutcome::kUnknown, std::string());
    done(meta::ProposeOutcome::kApplied, std::move(result).value());
  }
  void Barrier(BarrierCallback done) override {
    if (mode_ == Mode::kLeader) return done(Status::Ok());
    done(Status(EAGAIN, "leadership lost during the barrier"));
  }
  bool IsLeader() const override {
    return mode_ == Mode::kLeader || mode_ == Mode::kLeaderUnknownOutcome;
  }
  uint64_t LeaderId() const override {
    if (mode_ == Mode::kFollowerUnknown) return 0;
    return mode_ == Mode::kFollowerKnown ? 2 : 1;
  }
  void Close(std::function<void()> done) override { done(); }

 private:
  meta::StateMachine* sm_;
  Mode mode_ = Mode::kLeader;
  uint64_t index_ = 0;
};

class MetaFuzzNode {
 public:
  MetaFuzzNode() {
    SetLogLevel(LogLevel::kError);
    char tmpl[] = "/tmp/vaultfs-meta-fuzz-XXXXXX";
    FuzzCheck(mkdtemp(tmpl) != nullptr, "mkdtemp");
    dir_ = tmpl;
    config_.k = 2;
    config_.m = 1;
    config_.write_quorum = 2;
    config_.meta = {{1, {"127.0.0.1", 7001}, {"127.0.0.1", 7101}},
                    {2, {"127.0.0.1", 7002}, {"127.0.0.1", 7102}}};
    for (uint64_t id = 1; id <= 3; ++id) {
      config_.data.push_back({id, {"127.0.0.1", static_cast<uint16_t>(7200 + id)}});
    }
    store_ = std::make_unique<meta::MetaStore>(&config_);
    FuzzCheck(store_->Open(dir_ + "/meta.db").ok(), "open the metadata store");
    sm_ = std::make_unique<meta::StoreStateMachine>(store_.get());
    repl_ = std::make_unique<InlineReplicator>(sm_.get());
    meta::ServiceOptions opts;
    opts.node_id = 1;
    opts.config = &config_;
    opts.secret = std::string(32, 's');
    service_ = std::make_unique<meta::MetaService>(opts, store_.get(), repl_.get());

    const std::string key(64, 'a');
    meta::Json reg = Call({{"op", "register"},
                           {"id", 1},
                           {"rid", "setup-register"},
                           {"user", "fuzz"},
                           {"salt", "00"},
                           {"kdf", meta::Json::object()},
                           {"auth_key", key},
                           {"wrapped_master_key", "w"}});
    FuzzCheck(reg.value("ok", false), "register the fuzz user", reg.dump());
    meta::Json login = Call({{"op", "login"}, {"id", 2}, {"user", "fuzz"}, {"auth_key", key}});
    FuzzCheck(login.value("ok", false), "log in the fuzz user", login.dump());
    user_session_ = login["session"].get<std::string>();
    auto cluster = meta::MetaService::MintClusterToken(
        crypto::TokenKey(opts.secret, crypto::kAudienceCluster).value(), 24 * 3600);
    FuzzCheck(cluster.ok(), "mint a cluster token");
    cluster_session_ = *cluster;
  }

  ~MetaFuzzNode() {
    service_.reset();
    repl_.reset();
    sm_.reset();
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  MetaFuzzNode(const MetaFuzzNode&) = delete;
  MetaFuzzNode& operator=(const MetaFuzzNode&) = delete;

  // Handles one request body and returns the reply; stops the process unless the service
  // replied exactly once, synchronously.
  std::string Handle(std::string_view body,
                     const meta::ClientPeer& peer = meta::ClientPeer{"127.0.0.1", true}) {
    int replies = 0;
    std::string reply;
    service_->Handle(
        body,
        [&](std::string r) {
          ++replies;
          reply = std::move(r);
        },
        peer);
    FuzzCheck(replies == 1, "Handle did not reply exactly once (synchronously)", std::string(body));
    return reply;
  }

  meta::Json Call(const meta::Json& req) { return meta::Json::parse(Handle(req.dump())); }

  InlineReplicator& replicator() { return *repl_; }
  const std::string& user_session() const { return user_session_; }
  void set_user_session(std::string s) { user_session_ = std::move(s); }
  const std::string& cluster_session() const { return cluster_session_; }

 private:
  std::string dir_;
  ClusterConfig config_;
  std::unique_ptr<meta::MetaStore> store_;
  std::unique_ptr<meta::StoreStateMachine> sm_;
  std::unique_ptr<InlineReplicator> repl_;
  std::unique_ptr<meta::MetaService> service_;
  std::string user_session_;
  std::string cluster_session_;
};

// Runs one meta_request_fuzz input against `node` (input format: meta_request_fuzz.cc) and
// checks the reply. Returns "" when the reply is well-formed, else what is wrong with it.
// Exceptions escaping the service propagate (the fuzzer reports them as crashes). The reply
// goes to *reply_out when given.
inline std::string RunMetaFuzzInput(MetaFuzzNode& node, std::string_view input,
                                    std::string* reply_out = nullptr) {
  if (input.empty()) return "";
  const uint8_t control = static_cast<uint8_t>(input[0]);
  std::string body(input.substr(1));
  meta::Json req = meta::Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (req.is_object()) {
    bool changed = true;
    switch (control & 3) {
      case 1:
        req["session"] = node.user_session();
        break;
      case 2:
        req["session"] = node.cluster_session();
        break;
      case 3:
        req["session"] = node.user_session();
        req["session"].get_ref<std::string&>().back() ^= 1;
        break;
      default:
        changed = false;
    }
    if (control & 4) {
      static uint64_t next_rid = 0;
      req["rid"] = "fuzz-" + std::to_string(++next_rid);
      changed = true;
    }
    if (changed) body = req.dump();
  }
  node.replicator().set_mode(static_cast<InlineReplicator::Mode>((control >> 3) & 3));
  // Four client addresses, so one throttled address does not end all login coverage; with or
  // without a cluster node certificate.
  const meta::ClientPeer peer{"127.0.0." + std::to_string(1 + ((control >> 5) & 3)),
                              (control & 0x80) == 0};
  const std::string reply_text = node.Handle(body, peer);
  node.replicator().set_mode(InlineReplicator::Mode::kLeader);
  if (reply_out != nullptr) *reply_out = reply_text;
  static const bool print = std::getenv("META_FUZZ_PRINT") != nullptr;  // for seed debugging
  if (print) std::fprintf(stderr, "request %s\nreply   %s\n", body.c_str(), reply_text.c_str());

  const meta::Json reply = meta::Json::parse(reply_text, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return "reply is not a JSON object: " + reply_text;
  auto ok = reply.find("ok");
  if (ok == reply.end() || !ok->is_boolean()) return "reply has no boolean 'ok': " + reply_text;
  if (!ok->get<bool>()) {
    auto err = reply.find("error");
    if (err == reply.end() || !err->is_object() || !err->contains("code") ||
        !(*err)["code"].is_string()) {
      return "error reply without error.code: " + reply_text;
    }
  }
  if (!reply.contains("id")) return "reply has no 'id': " + reply_text;
  if (req.is_object() && req.contains("id") && req["id"].is_number_integer() &&
      reply["id"] != req["id"]) {
    return "reply does not echo the request id: " + reply_text;
  }
  // A successful passwd revokes the session we hold; keep using the one it returned.
  if (ok->get<bool>() && req.is_object() && req.value("op", meta::Json()) == "passwd" &&
      reply.contains("session") && reply["session"].is_string()) {
    node.set_user_session(reply["session"].get<std::string>());
  }
  return "";
}

}  // namespace vaultfs::fuzz
