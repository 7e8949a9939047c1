// The seam between the metadata service and its replication engine. The service proposes
// opaque command bytes and learns, on the event-loop thread, whether they were committed and
// what the state machine returned; the engine drives a StateMachine with committed entries in
// log order on every node. Only raft_replicator.cc knows which engine (libraft) sits behind it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "src/common/status.h"

namespace vaultfs::meta {

// A serialized state machine and how to free it: the image the database hands out reaches the
// engine without another whole-database copy.
struct SnapshotImage {
  std::unique_ptr<unsigned char, void (*)(void*)> data{nullptr, nullptr};
  size_t size = 0;
  std::string_view view() const { return {reinterpret_cast<const char*>(data.get()), size}; }
};

// Implemented by the metadata store. Called on the event-loop thread only.
class StateMachine {
 public:
  virtual ~StateMachine() = default;
  // Applies the committed entry at `index` and returns its result (a serialized reply body).
  // Request-level errors belong in the result. The one failure is ENOSPC: the disk is full,
  // nothing of the entry was applied, and the engine must apply the same entry again later,
  // before any later one.
  virtual Result<std::string> Apply(uint64_t index, std::string_view entry) = 0;
  virtual Result<SnapshotImage> Snapshot() = 0;
  virtual Status Restore(std::string_view image) = 0;
};

enum class ProposeOutcome {
  kApplied,    // committed and applied; `result` is the state machine's answer
  kNotLeader,  // refused before entering the log: definitely not applied
  kUnknown,    // leadership lost or the engine failed after appending: may still commit
};

class Replicator {
 public:
  using ProposeCallback = std::function<void(ProposeOutcome, std::string result)>;
  using BarrierCallback = std::function<void(Status)>;

  virtual ~Replicator() = default;
  virtual void Propose(std::string_view entry, ProposeCallback done) = 0;
  // Completes once every entry committed before the call has been applied locally and this node
  // was still leader when the barrier committed (makes a following local read linearizable).
  virtual void Barrier(BarrierCallback done) = 0;
  virtual bool IsLeader() const = 0;
  // The leader's node id as this node currently believes, 0 if unknown.
  virtual uint64_t LeaderId() const = 0;
  // Committed entries wait to be applied here because the disk is full (StateMachine::Apply
  // answered ENOSPC); new proposals would only queue behind them.
  virtual bool Stalled() const { return false; }
  // Stalled, and some waiting entry may already have been answered by another node (it was
  // not proposed by this leader in its current term): local reads could miss an acknowledged
  // write.
  virtual bool StaleForReads() const { return false; }
  // Stops the engine; `done` runs on the loop once it released everything.
  virtual void Close(std::function<void()> done) = 0;
};

}  // namespace vaultfs::meta
