// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) with the real
// encoders, so every seed is a well-formed input the target's parser accepts and the fuzzer
// starts from deep inside each format. Run by `tools/fuzz --make-seeds`; the output is
// committed. Usage: fuzz_make_seeds <corpus dir>
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/common/data_protocol.h"
#include "src/common/frame.h"
#include "src/common/shard_format.h"
#include "src/common/tls.h"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

fs::path g_root;

void Write(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::create_directories(g_root / target);
  std::ofstream out(g_root / target / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "cannot write %s/%s\n", target.c_str(), name.c_str());
    std::exit(1);
  }
}

template <typename T>
T Must(vaultfs::Result<T> r) {
  if (!r.ok()) {
    std::fprintf(stderr, "encoder failed: %s\n", r.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(r).value();
}

// frame_fuzz reads its control values from the END of the input (FuzzedDataProvider): the last
// byte picks the limit (odd: the 8 MiB default), the one before the number of cuts (1 + b % 8),
// then one byte per cut length (b % 41).
void FrameSeeds() {
  const std::vector<std::vector<std::string>> streams = {{""},
                                                         {"x"},
                                                         {R"({"op":"node_info","id":1})"},
                                                         {"a", "", std::string(300, 'b')},
                                                         {std::string(1000, 'z'), "tail"}};
  int n = 0;
  for (const auto& frames : streams) {
    std::string stream;
    for (const std::string& f : frames) stream += Must(vaultfs::EncodeFrame(f));
    Write("frame_fuzz", "frames-" + std::to_string(n++), stream + "\x07\x05\x11\x03\x01");
  }
  // A truncated frame and an oversized header.
  std::string truncated = Must(vaultfs::EncodeFrame("truncated"));
  truncated.pop_back();
  Write("frame_fuzz", "truncated", truncated + "\x02\x01");
  Write("frame_fuzz", "oversized", std::string("\xff\xff\xff\xff", 4) + "\x01\x01");
}

// data_request_fuzz: 1 limits byte (even: the server defaults), then the byte stream.
void DataRequestSeeds() {
  const std::string token = "v1.data.eyJ1IjoiYWxpY2UifQ.c2lnbmF0dXJl";
  std::string pipeline;
  auto add = [&](const std::string& name, const vaultfs::DataRequest& r, size_t payload) {
    std::string head = Must(vaultfs::EncodeRequestHead(r)) + std::string(payload, 'p');
    Write("data_request_fuzz", "request-" + name, std::string(1, '\0') + head);
    pipeline += head;
  };
  vaultfs::DataRequest r;
  r.id = 7;
  r.token = token;
  r.chunk = "0123456789abcdef-0";
  r.op = vaultfs::DataOp::kUpload;
  r.payload_size = 5;
  add("upload", r, 5);
  r.op = vaultfs::DataOp::kDownload;
  r.offset = 3;
  r.length = 100;
  add("download", r, 0);
  r.op = vaultfs::DataOp::kDelete;
  add("delete", r, 0);
  r.op = vaultfs::DataOp::kVerify;
  add("verify", r, 0);
  r.op = vaultfs::DataOp::kList;
  r.cursor = "00ff";
  r.limit = 10;
  add("list", r, 0);
  r.op = vaultfs::DataOp::kHealth;
  add("health", r, 0);
  Write("data_request_fuzz", "pipeline", std::string(1, '\0') + pipeline);
  // Replies of each op, as the client parses them.
  using vaultfs::Status;
  Write(
      "data_request_fuzz", "reply-download",
      std::string(1, '\0') +
          vaultfs::EncodeReply(7, Status::Ok(), {{"size", 10}, {"offset", 0}, {"length", 10}}, 10));
  vaultfs::HealthInfo h{100, 50, 40, 0, 3, 9, "0.1.0", "abcd"};
  Write("data_request_fuzz", "reply-health",
        std::string(1, '\0') + vaultfs::EncodeReply(1, Status::Ok(), vaultfs::ToJson(h)));
  vaultfs::ListPage page{{{"00aa", 10}, {"00bb", 20}}, "00bb"};
  Write("data_request_fuzz", "reply-list",
        std::string(1, '\0') + vaultfs::EncodeReply(2, Status::Ok(), vaultfs::ToJson(page)));
  vaultfs::VerifyReport v{4, {1, 3}, std::string(64, 'e')};
  Write("data_request_fuzz", "reply-verify",
        std::string(1, '\0') + vaultfs::EncodeReply(3, Status::Ok(), vaultfs::ToJson(v)));
  Write("data_request_fuzz", "reply-error",
        std::string(1, '\0') + vaultfs::EncodeReply(4, Status(ENOENT, "no such chunk")));
}

// shard_format_fuzz: 1 control byte (0: exact sizes), 8 bytes of raw object size, trailer.
void ShardSeeds() {
  struct Shape {
    uint64_t count;
    uint32_t block, last;
  };
  const Shape shapes[] = {{0, 0, 0}, {1, 4096, 1}, {3, 65536, 65536}, {5, 1000, 7}};
  for (const Shape& s : shapes) {
    vaultfs::ShardIndex index;
    index.block_count = s.count;
    index.block_size = s.block;
    index.last_block_size = s.last;
    for (uint64_t j = 0; j < s.count; ++j) {
      vaultfs::ShardBlockHash h;
      for (size_t b = 0; b < h.size(); ++b) h[b] = static_cast<uint8_t>(j * 31 + b);
      index.block_hashes.push_back(h);
    }
    const std::string trailer = Must(vaultfs::SerializeShardTrailer(index));
    char size[8];
    vaultfs::PutBigEndian64(index.ObjectSize(), size);
    Write("shard_format_fuzz", "trailer-" + std::to_string(s.count) + "-blocks",
          std::string(1, '\0') + std::string(size, 8) + trailer);
  }
}

// meta_request_fuzz: 1 control byte (bits 0-1 session: 1 user, 2 cluster; bit 2 fresh rid),
// then the request. The fuzz target registers user "fuzz" with auth key 64 x 'a'; its root
// directory is inode 1; the seeds' mkdir, create, symlink make inodes 3, 4, 5 (2 is bob's root).
void MetaSeeds() {
  constexpr char kNone = 0, kUser = 1, kCluster = 2, kUserWrite = 5, kClusterWrite = 6;
  const std::string auth(64, 'a');
  const std::string chunk = "00112233445566778899aabbccddeeff";
  const json shard_ok = {{"index", 0}, {"state", "ok"}, {"root", std::string(64, 'c')}};
  const std::vector<std::pair<char, json>> reqs = {
      {kUserWrite,
       {{"op", "register"},
        {"user", "bob"},
        {"salt", "00"},
        {"kdf", {{"alg", "scrypt"}}},
        {"auth_key", std::string(64, 'b')},
        {"wrapped_master_key", "w"}}},
      {kNone, {{"op", "get_salt"}, {"user", "fuzz"}}},
      {kNone, {{"op", "login"}, {"user", "fuzz"}, {"auth_key", auth}}},
      {kUserWrite,
       {{"op", "passwd"},
        {"old_auth_key", auth},
        {"auth_key", auth},
        {"salt", "01"},
        {"kdf", json::object()},
        {"wrapped_master_key", "w2"}}},
      {kUser, {{"op", "lookup"}, {"parent", 1}, {"key", "aa01"}}},
      {kUser, {{"op", "getattr"}, {"ino", 1}}},
      {kUserWrite, {{"op", "setattr"}, {"ino", 1}, {"mode", 0755}, {"mtime", 5}}},
      {kUserWrite, {{"op", "mkdir"}, {"parent", 1}, {"key", "aa02"}, {"name", "n-dir"}}},
      {kUserWrite, {{"op", "create"}, {"parent", 1}, {"key", "aa01"}, {"name", "n-file"}}},
      {kUserWrite,
       {{"op", "symlink"}, {"parent", 1}, {"key", "aa03"}, {"name", "n-link"}, {"target", "t"}}},
      {kUser, {{"op", "readlink"}, {"ino", 5}}},
      {kUserWrite, {{"op", "link"}, {"ino", 4}, {"parent", 1}, {"key", "aa04"}, {"name", "h"}}},
      {kUserWrite, {{"op", "unlink"}, {"parent", 1}, {"key", "aa03"}}},
      {kUserWrite, {{"op", "rmdir"}, {"parent", 1}, {"key", "aa02"}}},
      {kUserWrite,
       {{"op", "rename"},
        {"parent", 1},
        {"key", "aa01"},
        {"new_parent", 1},
        {"new_key", "aa05"},
        {"new_name", "renamed"},
        {"flags", 0}}},
      {kUser, {{"op", "readdir"}, {"ino", 1}, {"cursor", ""}, {"limit", 10}, {"attrs", true}}},
      {kUserWrite, {{"op", "begin_version"}, {"ino", 4}, {"k", 2}, {"m", 1}}},
      {kUserWrite, {{"op", "begin_version"}, {"ino", 4}, {"inline", true}, {"wrapped_key", "wk"}}},
      {kUserWrite,
       {{"op", "commit_version"},
        {"ino", 4},
        {"version", chunk},
        {"expected", nullptr},
        {"size", 10},
        {"shards", json::array({shard_ok})}}},
      {kUserWrite,
       {{"op", "write_inline"},
        {"ino", 4},
        {"version", chunk},
        {"expected", nullptr},
        {"size", 3},
        {"content", "abc"},
        {"wrapped_key", "wk"}}},
      {kUser, {{"op", "get_version"}, {"ino", 4}}},
      {kUserWrite,
       {{"op", "report_shard"}, {"version", chunk}, {"index", 0}, {"state", "missing"}}},
      {kUser, {{"op", "statfs"}}},
      {kNone, {{"op", "cluster_map"}}},
      {kClusterWrite,
       {{"op", "report_server"},
        {"server", 1},
        {"state", "up"},
        {"capacity", 1000},
        {"free", 500},
        {"storage_id", "00ff"}}},
      {kCluster, {{"op", "gc_list"}, {"limit", 10}, {"older_than_s", 0}}},
      {kClusterWrite, {{"op", "gc_done"}, {"seqs", json::array({1, 2})}}},
      {kCluster, {{"op", "repair_list"}, {"limit", 10}}},
      {kClusterWrite,
       {{"op", "repair_done"},
        {"version", chunk},
        {"shards",
         json::array(
             {{{"index", 0}, {"server", 2}, {"chunk", "ab"}, {"root", std::string(64, 'd')}}})}}},
      {kClusterWrite, {{"op", "expire_pending"}, {"older_than_s", 0}}},
      {kCluster, {{"op", "server_shards"}, {"server", 1}, {"cursor", ""}, {"limit", 10}}},
      {kClusterWrite, {{"op", "report_repair"}, {"stats", {{"repaired", 1}}}}},
      {kUserWrite, {{"op", "request_scrub"}}},
      {kNone, {{"op", "node_info"}, {"digest", true}}},
      {kUserWrite,
       {{"op", "setxattr"}, {"ino", 4}, {"key", "bb01"}, {"name", "00ff"}, {"value", "ab"}}},
      {kUser, {{"op", "getxattr"}, {"ino", 4}, {"key", "bb01"}}},
      {kUser, {{"op", "listxattr"}, {"ino", 4}}},
      {kUserWrite, {{"op", "removexattr"}, {"ino", 4}, {"key", "bb01"}}},
  };
  int n = 0;
  for (const auto& [control, req] : reqs) {
    json j = req;
    j["id"] = ++n;
    char num[8];
    std::snprintf(num, sizeof(num), "%02d-", n);  // file order = replay order
    const std::string name = num + req["op"].get<std::string>();
    Write("meta_request_fuzz", name, std::string(1, control) + j.dump());
  }
}

// tls_record_fuzz: 1 control byte (mode = control & 3), then data. Mode 0 gets a real
// ClientHello (from an engine trusting a throwaway CA made by tools/mkcerts), mode 2 clean and
// corrupted handshakes, mode 3 a few record headers.
void TlsSeeds() {
  char tmpl[] = "/tmp/vaultfs-seeds-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) std::exit(1);
  const fs::path dir = fs::path(tmpl) / "ca";
  const std::string cmd =
      std::string(VAULTFS_SOURCE_ROOT) + "/tools/mkcerts " + dir.string() + " --ca-only >/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "failed: %s\n", cmd.c_str());
    std::exit(1);
  }
  auto id = vaultfs::tls::LoadIdentity((dir / "ca.pem").string());
  fs::remove_all(tmpl);
  auto ctx = vaultfs::tls::TlsContext::Client(Must(std::move(id)));
  auto engine = vaultfs::tls::TlsEngine::Connect(Must(std::move(ctx)), "127.0.0.1");
  const std::string hello = Must(std::move(engine))->TakeOutput();
  Write("tls_record_fuzz", "client-hello", std::string(1, '\xfc') + hello);  // 253-byte pieces
  Write("tls_record_fuzz", "client-hello-bytewise", std::string(1, '\0') + hello);
  Write("tls_record_fuzz", "handshake-clean", std::string(1, '\x02'));
  Write("tls_record_fuzz", "handshake-corrupt-finished", std::string("\x02\x02\x01\x80", 4));
  Write("tls_record_fuzz", "records-after-handshake",
        std::string("\x03\x17\x03\x03\x00\x05hello\x15\x03\x03\x00\x02\x02\x28", 18));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
    return 2;
  }
  g_root = argv[1];
  FrameSeeds();
  DataRequestSeeds();
  ShardSeeds();
  MetaSeeds();
  TlsSeeds();
  return 0;
}
