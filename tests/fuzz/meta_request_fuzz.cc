// libFuzzer target for the metadata service's request handling (servers/meta/meta_service.h):
// every input is one client request body, handled by a real MetaService over a real MetaStore
// (meta_fuzz_node.h; created once per process, and its state accumulates across inputs, as a
// long-lived server's does). The service must answer every request exactly once, with a JSON
// object carrying a boolean "ok" (and an error code when it is false) that echoes the request
// id; it must never throw, crash or leak.
//
// Input: 1 control byte, then the request body. Control bits, so authenticated ops are reached:
//   0-1  session: 0 as sent, 1 a valid user session, 2 a cluster maintenance session,
//        3 a user session with a corrupted signature (each only if the body is a JSON object)
//   2    give the request a fresh "rid", so writes run instead of replaying a stored result
//   3-4  the replicator: 0 leader, 1 follower with a known leader, 2 follower with none,
//        3 leader whose proposals end with an unknown outcome (and whose barriers fail)
//   5-6  the client's address (127.0.0.1..4), which login throttling keys on
//   7    the client presented no cluster node certificate (cluster sessions are refused)
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/meta_fuzz_node.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static vaultfs::fuzz::MetaFuzzNode node;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::string problem = vaultfs::fuzz::RunMetaFuzzInput(node, input);
  vaultfs::fuzz::FuzzCheck(problem.empty(), "meta_request_fuzz", problem);
  return 0;
}
