// RS(10,4) encode and decode-with-4-erasures throughput for both engines, each next to a
// baseline measured in the same run: raw ISA-L (ec_encode_data) with its own Cauchy matrix
// (gf_gen_cauchy1_matrix) and decode tables prepared once, i.e. the bare SIMD kernel.
//
// Figures are plaintext segment bytes per second: a segment of S bytes is cut into k blocks of
// ceil(S/k) bytes. After the usual table, a summary prints each figure as a ratio to its
// baseline (targets: encode >= 0.8x, decode >= 0.6x).
//
//   build-release/bench/erasure/erasure_bench [--benchmark_filter=...]
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <isa-l/erasure_code.h>

#include "src/erasure/codec.h"
#include "src/erasure/isal_codec.h"

namespace vaultfs::erasure {
namespace {

constexpr int kK = 10;
constexpr int kM = 4;
constexpr int kN = kK + kM;
constexpr char kBaseline[] = "raw-isal-cauchy";

// The two decode cases: 2 data + 2 parity lost, and 4 data lost (the most work for a
// systematic code: all four come out of the inverted matrix).
struct Pattern {
  const char* name;
  std::array<int, kM> erased;
};
constexpr Pattern kPatterns[] = {{"decode_2d2p", {2, 7, 10, 13}}, {"decode_4d", {0, 3, 5, 9}}};

// k + m separately allocated, 64-byte aligned blocks of random data.
class Blocks {
 public:
  explicit Blocks(size_t block_size) : stride_((block_size + 63) / 64 * 64) {
    storage_.resize(stride_ * kN + 64);
    uint8_t* base = storage_.data();
    base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64;
    std::mt19937_64 rng(block_size);
    for (int i = 0; i < kN; ++i) ptrs_[i] = base + stride_ * i;
    for (auto& byte : storage_) byte = static_cast<uint8_t>(rng());
  }
  uint8_t** ptrs() { return ptrs_.data(); }

 private:
  size_t stride_;
  std::vector<uint8_t> storage_;
  std::array<uint8_t*, kN> ptrs_;
};

size_t BlockSize(size_t segment) { return (segment + kK - 1) / kK; }

void SetThroughput(benchmark::State& state, size_t segment) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(segment));
}

// --- Baseline: raw ISA-L with a Cauchy matrix ----------------------------------------------

struct RawIsal {
  std::array<uint8_t, kN * kK> matrix;       // (k + m) x k, identity on top
  std::array<uint8_t, 32 * kK * kM> tables;  // encode tables for the m parity rows
  RawIsal() {
    gf_gen_cauchy1_matrix(matrix.data(), kN, kK);
    ec_init_tables(kK, kM, matrix.data() + kK * kK, tables.data());
  }
  // Decode tables for `erased` (sorted), as ISA-L's ec_simple_example builds them; `sources`
  // receives the k surviving indices used.
  bool DecodeTables(const std::array<int, kM>& erased, std::array<int, kK>& sources,
                    std::array<uint8_t, 32 * kK * kM>& out) const {
    std::array<uint8_t, kK * kK> b, inverse;
    std::array<uint8_t, kK * kM> rows;
    for (int i = 0, r = 0; r < kK; ++i) {
      if (std::find(erased.begin(), erased.end(), i) != erased.end()) continue;
      std::memcpy(&b[r * kK], &matrix[i * kK], kK);
      sources[r++] = i;
    }
    if (gf_invert_matrix(b.data(), inverse.data(), kK) != 0) return false;
    for (int e = 0; e < kM; ++e) {
      if (erased[e] < kK) {
        std::memcpy(&rows[e * kK], &inverse[erased[e] * kK], kK);
        continue;
      }
      for (int col = 0; col < kK; ++col) {
        uint8_t acc = 0;
        for (int j = 0; j < kK; ++j)
          acc ^= gf_mul(matrix[erased[e] * kK + j], inverse[j * kK + col]);
        rows[e * kK + col] = acc;
      }
    }
    ec_init_tables(kK, kM, rows.data(), out.data());
    return true;
  }
};

void RawEncode(benchmark::State& state, size_t segment) {
  const size_t block = BlockSize(segment);
  Blocks blocks(block);
  RawIsal raw;
  for (auto _ : state) {
    ec_encode_data(static_cast<int>(block), kK, kM, raw.tables.data(), blocks.ptrs(),
                   blocks.ptrs() + kK);
    benchmark::ClobberMemory();
  }
  SetThroughput(state, segment);
}

void RawDecode(benchmark::State& state, size_t segment, const Pattern& pattern) {
  const size_t block = BlockSize(segment);
  Blocks blocks(block);
  RawIsal raw;
  ec_encode_data(static_cast<int>(block), kK, kM, raw.tables.data(), blocks.ptrs(),
                 blocks.ptrs() + kK);
  std::array<int, kK> source_index;
  std::array<uint8_t, 32 * kK * kM> tables;
  if (!raw.DecodeTables(pattern.erased, source_index, tables)) {
    state.SkipWithError("singular Cauchy submatrix");
    return;
  }
  std::array<uint8_t*, kK> sources;
  std::array<uint8_t*, kM> outputs;
  for (int i = 0; i < kK; ++i) sources[i] = blocks.ptrs()[source_index[i]];
  for (int e = 0; e < kM; ++e) outputs[e] = blocks.ptrs()[pattern.erased[e]];
  // Sanity: the baseline must really decode (rebuild block 0 of a copy and compare).
  std::vector<uint8_t> expected(outputs[0], outputs[0] + block);
  std::memset(outputs[0], 0, block);
  ec_encode_data(static_cast<int>(block), kK, kM, tables.data(), sources.data(), outputs.data());
  if (std::memcmp(expected.data(), outputs[0], block) != 0) {
    state.SkipWithError("baseline decode is wrong");
    return;
  }
  for (auto _ : state) {
    ec_encode_data(static_cast<int>(block), kK, kM, tables.data(), sources.data(), outputs.data());
    benchmark::ClobberMemory();
  }
  SetThroughput(state, segment);
}

// --- Our codecs ----------------------------------------------------------------------------

using CodecFactory = std::function<Result<std::unique_ptr<Codec>>()>;

void CodecEncode(benchmark::State& state, size_t segment, const CodecFactory& make) {
  auto codec = make();
  if (!codec.ok()) {
    state.SkipWithError(codec.status().ToString().c_str());
    return;
  }
  const size_t block = BlockSize(segment);
  Blocks blocks(block);
  for (auto _ : state) {
    Status st = (*codec)->Encode(blocks.ptrs(), blocks.ptrs() + kK, block);
    benchmark::DoNotOptimize(st);
    benchmark::ClobberMemory();
  }
  SetThroughput(state, segment);
}

void CodecDecode(benchmark::State& state, size_t segment, const Pattern& pattern,
                 const CodecFactory& make) {
  auto codec = make();
  if (!codec.ok()) {
    state.SkipWithError(codec.status().ToString().c_str());
    return;
  }
  const size_t block = BlockSize(segment);
  Blocks blocks(block);
  if (!(*codec)->Encode(blocks.ptrs(), blocks.ptrs() + kK, block).ok()) {
    state.SkipWithError("encode failed");
    return;
  }
  // Keep the originals of the erased blocks and wipe them, so the check after the loop
  // proves the decoder rebuilt them.
  std::vector<std::vector<uint8_t>> expected;
  for (int index : pattern.erased) {
    expected.emplace_back(blocks.ptrs()[index], blocks.ptrs()[index] + block);
    std::memset(blocks.ptrs()[index], 0, block);
  }
  for (auto _ : state) {
    Status st = (*codec)->Decode(blocks.ptrs(), pattern.erased, block);
    if (!st.ok()) {
      state.SkipWithError(st.ToString().c_str());
      return;
    }
    benchmark::ClobberMemory();
  }
  for (int e = 0; e < kM; ++e) {
    if (std::memcmp(expected[e].data(), blocks.ptrs()[pattern.erased[e]], block) != 0) {
      state.SkipWithError("decode is wrong");
      return;
    }
  }
  SetThroughput(state, segment);
}

// --- Ratio summary -------------------------------------------------------------------------

// Prints the usual console table, then every figure divided by its baseline
// ("<op>/<engine>/<size>" against "<op>/raw-isal-cauchy/<size>").
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  static constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;  // the table's "G/s" unit

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      // With --benchmark_repetitions use the median; otherwise the single run.
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name != "median") continue;
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      const std::string name = run.run_name.function_name;
      if (!rates_.count(name)) order_.push_back(name);
      rates_[name] = it->second.value;
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    std::printf("\n%-40s %10s %12s\n", "benchmark", "GiB/s", "vs baseline");
    for (const std::string& name : order_) {
      // name = op/engine/size
      const size_t a = name.find('/');
      const size_t b = name.rfind('/');
      const std::string baseline = name.substr(0, a + 1) + kBaseline + name.substr(b);
      const double rate = rates_[name];
      auto base = rates_.find(baseline);
      if (base == rates_.end() || base->second <= 0) {
        std::printf("%-40s %10.2f %12s\n", name.c_str(), rate / kGiB, "-");
      } else {
        std::printf("%-40s %10.2f %11.2fx\n", name.c_str(), rate / kGiB, rate / base->second);
      }
    }
  }

 private:
  std::map<std::string, double> rates_;
  std::vector<std::string> order_;
};

void RegisterAll() {
  struct EngineCase {
    const char* name;
    CodecFactory make;
  };
  const std::vector<EngineCase> engines = {
      {"isa-l", [] { return MakeCodec(kK, kM, Engine::kIsal); }},
      {"jerasure", [] { return MakeCodec(kK, kM, Engine::kJerasure); }},
  };
  // ISA-L engine with the decode-plan cache off: what a per-call matrix inversion costs.
  const CodecFactory isal_uncached = []() -> Result<std::unique_ptr<Codec>> {
    VFS_ASSIGN_OR_RETURN(auto codec, IsalCodec::Create(kK, kM, 0));
    return std::unique_ptr<Codec>(std::move(codec));
  };

  for (size_t segment : {size_t{64} << 10, size_t{1} << 20}) {
    const std::string size = segment < (1 << 20) ? "64KiB" : "1MiB";
    benchmark::RegisterBenchmark(("encode/" + std::string(kBaseline) + "/" + size).c_str(),
                                 [segment](benchmark::State& s) { RawEncode(s, segment); });
    for (const auto& e : engines) {
      benchmark::RegisterBenchmark(
          ("encode/" + std::string(e.name) + "/" + size).c_str(),
          [segment, make = e.make](benchmark::State& s) { CodecEncode(s, segment, make); });
    }
    for (const Pattern& p : kPatterns) {
      const std::string op = p.name;
      benchmark::RegisterBenchmark(
          (op + "/" + kBaseline + "/" + size).c_str(),
          [segment, &p](benchmark::State& s) { RawDecode(s, segment, p); });
      for (const auto& e : engines) {
        benchmark::RegisterBenchmark((op + "/" + e.name + "/" + size).c_str(),
                                     [segment, &p, make = e.make](benchmark::State& s) {
                                       CodecDecode(s, segment, p, make);
                                     });
      }
      benchmark::RegisterBenchmark((op + "/isa-l-nocache/" + size).c_str(),
                                   [segment, &p, isal_uncached](benchmark::State& s) {
                                     CodecDecode(s, segment, p, isal_uncached);
                                   });
    }
  }
}

}  // namespace
}  // namespace vaultfs::erasure

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  vaultfs::erasure::RegisterAll();
  vaultfs::erasure::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
