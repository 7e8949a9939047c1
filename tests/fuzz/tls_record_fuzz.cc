// libFuzzer target for the TLS engine (src/common/tls.h) that fronts every vaultfs connection:
// hostile bytes from the network must make Receive() fail cleanly (and stay failed), never
// crash, and never yield plaintext the peer did not send.
//
// Input: 1 control byte, then data. Modes (control & 3):
//   0  a server engine receives the data as a client's first bytes, in pieces (sizes from
//      control >> 2), as recv() would deliver them
//   1  a client engine that sent its ClientHello receives the data as the server's reply
//   2  a real client/server handshake whose records are corrupted in flight: the data is a list
//      of (flight, offset, xor) triples; whatever completes must deliver intact application data
//   3  after a real handshake, the data is injected into the client -> server stream as records
// Certificates come from tools/mkcerts, run once per process into a temp dir.
#include <stdlib.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "src/common/tls.h"

namespace {

using vaultfs::Status;
using vaultfs::tls::TlsContext;
using vaultfs::tls::TlsEngine;

void Check(bool cond, const char* what, const std::string& detail = "") {
  if (!cond) {
    std::fprintf(stderr, "tls_record_fuzz invariant violated: %s %s\n", what, detail.c_str());
    std::abort();
  }
}

struct Contexts {
  std::shared_ptr<TlsContext> server, client;

  Contexts() {
    char tmpl[] = "/tmp/vaultfs-tls-fuzz-XXXXXX";
    Check(mkdtemp(tmpl) != nullptr, "mkdtemp");
    const std::filesystem::path dir = std::filesystem::path(tmpl) / "ca";
    const std::string cmd = std::string(VAULTFS_SOURCE_ROOT) + "/tools/mkcerts " + dir.string() +
                            " server client >/dev/null 2>&1";
    Check(std::system(cmd.c_str()) == 0, "tools/mkcerts failed:", cmd);
    auto server_id = vaultfs::tls::LoadIdentity(
        (dir / "ca.pem").string(), (dir / "server.pem").string(), (dir / "server.key").string());
    auto client_id = vaultfs::tls::LoadIdentity(
        (dir / "ca.pem").string(), (dir / "client.pem").string(), (dir / "client.key").string());
    std::error_code ec;
    std::filesystem::remove_all(tmpl, ec);  // everything needed is in memory now
    Check(server_id.ok() && client_id.ok(), "load the test identities");
    auto s = TlsContext::Server(*server_id, vaultfs::tls::ClientCerts::kOptional);
    auto c = TlsContext::Client(*client_id);
    Check(s.ok() && c.ok(), "create the TLS contexts");
    server = *s;
    client = *c;
  }
};

const Contexts& Ctx() {
  static const Contexts ctx;
  return ctx;
}

bool ExpectedError(const Status& st) {
  return st.code() == EPROTO || st.code() == EACCES || st.code() == ECONNRESET;
}

// Feeds `data` to `engine` in pieces of `piece` bytes; returns the first error. A failed engine
// must keep failing.
Status FeedInPieces(TlsEngine* engine, std::string_view data, size_t piece, std::string* plain) {
  for (size_t at = 0; at < data.size(); at += piece) {
    Status st = engine->Receive(data.substr(at, piece), plain);
    (void)engine->TakeOutput();
    if (!st.ok()) {
      Check(ExpectedError(st), "unexpected Receive error", st.ToString());
      Check(!engine->Receive("\x17\x03\x03\x00\x01x", plain).ok(),
            "engine recovered from an error");
      return st;
    }
  }
  return Status::Ok();
}

// A client and a server engine joined in memory; `corrupt` may alter each flight in transit.
struct Link {
  std::unique_ptr<TlsEngine> c, s;
  std::string c_plain, s_plain;
  Status c_st, s_st;

  Link() {
    auto ce = TlsEngine::Connect(Ctx().client, "127.0.0.1");
    auto se = TlsEngine::Accept(Ctx().server);
    Check(ce.ok() && se.ok(), "create the engines");
    c = std::move(*ce);
    s = std::move(*se);
  }

  // Moves bytes both ways until nothing is left to move (bounded); flight n is the n-th batch.
  template <typename Corrupt>
  void Pump(Corrupt corrupt) {
    for (int flight = 0; flight < 16; ++flight) {
      TlsEngine* from = flight % 2 == 0 ? c.get() : s.get();
      TlsEngine* to = flight % 2 == 0 ? s.get() : c.get();
      Status& to_st = flight % 2 == 0 ? s_st : c_st;
      std::string& to_plain = flight % 2 == 0 ? s_plain : c_plain;
      std::string bytes = from->TakeOutput();
      corrupt(flight, &bytes);
      if (!bytes.empty() && to_st.ok()) {
        to_st = to->Receive(bytes, &to_plain);
        if (!to_st.ok()) Check(ExpectedError(to_st), "unexpected Receive error", to_st.ToString());
      }
      if (!c->HasOutput() && !s->HasOutput() && flight > 0) break;
    }
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t piece = 1 + (control >> 2) * 4;  // 1..253 bytes per recv()
  std::string plain;

  switch (control & 3) {
    case 0: {
      auto engine = TlsEngine::Accept(Ctx().server);
      Check(engine.ok(), "Accept");
      Status st = FeedInPieces(engine->get(), in, piece, &plain);
      // Without a handshake nothing can have been decrypted.
      Check(plain.empty(), "a server decrypted bytes before any handshake");
      if (st.ok()) Check(!(*engine)->handshake_done(), "handshake completed with no client");
      break;
    }
    case 1: {
      auto engine = TlsEngine::Connect(Ctx().client, "127.0.0.1");
      Check(engine.ok(), "Connect");
      (void)(*engine)->TakeOutput();  // the ClientHello
      (void)FeedInPieces(engine->get(), in, piece, &plain);
      Check(plain.empty(), "a client decrypted bytes from a server it never verified");
      Check(!(*engine)->handshake_done(), "a client completed a handshake with forged bytes");
      break;
    }
    case 2: {
      Link link;
      const std::string message = "application data";
      Check(link.c->Send(message).ok(), "Send before the handshake");
      bool altered = false;
      link.Pump([&](int flight, std::string* bytes) {
        for (size_t i = 0; i + 3 <= in.size(); i += 3) {
          const uint8_t f = static_cast<uint8_t>(in[i]) % 8;
          const size_t off = static_cast<uint8_t>(in[i + 1]) * 7;
          const uint8_t x = static_cast<uint8_t>(in[i + 2]);
          if (f == flight && off < bytes->size() && x != 0) {
            (*bytes)[off] = static_cast<char>((*bytes)[off] ^ x);
            altered = true;
          }
        }
      });
      // TLS authenticates every byte: the server sees exactly the message or nothing of it.
      Check(link.s_plain.empty() || link.s_plain == message, "corrupted data was delivered",
            link.s_plain);
      if (!altered) Check(link.s_plain == message, "a clean handshake did not deliver data");
      break;
    }
    case 3: {
      Link link;
      link.Pump([](int, std::string*) {});
      Check(link.c->handshake_done() && link.s->handshake_done(), "clean handshake failed");
      (void)FeedInPieces(link.s.get(), in, piece, &link.s_plain);
      Check(link.s_plain.empty(), "injected records were decrypted", link.s_plain);
      break;
    }
  }
  return 0;
}
