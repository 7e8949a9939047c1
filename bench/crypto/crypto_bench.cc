// Crypto kernels of the data path, each next to a baseline measured in the same run:
//   - segment seal/open (SegmentCipher) vs raw EVP AES-256-GCM with one reused
//     EVP_CIPHER_CTX, at 64 KiB and 1 MiB segments (target: ours >= 0.8x raw);
//   - shard block hashing (Sha256 from hash.h) vs raw EVP SHA-256 with a reused EVP_MD_CTX,
//     at the block sizes a 64 KiB and a 1 MiB segment give with k = 10 (sealed size / 10,
//     rounded up).
// Throughput is bytes of plaintext (or hashed block) per second. After the usual table the
// binary prints each kernel's ratio to its baseline.
//
//   build-crypto/bench/crypto/crypto_bench --benchmark_min_time=0.5
// On a busy machine, compare medians of interleaved runs instead:
//   ... --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true
#include <benchmark/benchmark.h>
#include <openssl/evp.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "src/crypto/hash.h"
#include "src/crypto/segment_cipher.h"

namespace vaultfs::crypto {
namespace {

constexpr size_t kTag = SegmentCipher::kTagSize;
constexpr int kK = 10;

// Block size of one shard for a segment of `segment` plaintext bytes, as DESIGN.md §3 cuts it.
constexpr int64_t BlockSizeFor(int64_t segment) {
  return (segment + static_cast<int64_t>(kTag) + kK - 1) / kK;
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "crypto_bench: %s failed\n", what);
    std::abort();
  }
}

Key BenchKey() { return std::move(Key::Random()).value(); }

std::vector<uint8_t> Filled(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + 7);
  return v;
}

void BM_SegmentSeal(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Key key = BenchKey();
  auto cipher = SegmentCipher::Create(key, {"bench-user", 1, 1});
  Check(cipher.ok(), "SegmentCipher::Create");
  std::vector<uint8_t> plain = Filled(n), out(n + kTag);
  uint64_t index = 0;
  for (auto _ : state) {
    Check(cipher->Seal(index++, false, plain, out).ok(), "Seal");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_SegmentOpen(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  Key key = BenchKey();
  auto cipher = SegmentCipher::Create(key, {"bench-user", 1, 1});
  Check(cipher.ok(), "SegmentCipher::Create");
  std::vector<uint8_t> plain = Filled(n), sealed(n + kTag), out(n);
  Check(cipher->Seal(3, false, plain, sealed).ok(), "Seal");
  for (auto _ : state) {
    Check(cipher->Open(3, false, sealed, out).ok(), "Open");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

// Baseline: the leanest correct use of EVP AES-256-GCM: key schedule once, then per buffer
// only a new IV, the data, the final and the tag. No AAD.
struct RawGcm {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  explicit RawGcm(const Key& key, int enc) {
    Check(ctx && cipher && EVP_CipherInit_ex(ctx, cipher, nullptr, key.data(), nullptr, enc) == 1,
          "raw GCM init");
  }
  ~RawGcm() {
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
  }
};

void BM_RawEvpGcmSeal(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Key key = BenchKey();
  RawGcm gcm(key, 1);
  std::vector<uint8_t> plain = Filled(static_cast<size_t>(n)), out(static_cast<size_t>(n) + kTag);
  uint8_t iv[12] = {};
  for (auto _ : state) {
    ++iv[11];
    int len = 0, fin = 0;
    Check(EVP_EncryptInit_ex(gcm.ctx, nullptr, nullptr, nullptr, iv) == 1 &&
              EVP_EncryptUpdate(gcm.ctx, out.data(), &len, plain.data(), n) == 1 &&
              EVP_EncryptFinal_ex(gcm.ctx, out.data() + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(gcm.ctx, EVP_CTRL_AEAD_GET_TAG, kTag, out.data() + n) == 1,
          "raw seal");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_RawEvpGcmOpen(benchmark::State& state) {
  const int n = static_cast<int>(state.range(0));
  Key key = BenchKey();
  std::vector<uint8_t> plain = Filled(static_cast<size_t>(n)),
                       sealed(static_cast<size_t>(n) + kTag), out(static_cast<size_t>(n));
  uint8_t iv[12] = {};
  {
    RawGcm enc(key, 1);
    int len = 0, fin = 0;
    Check(EVP_EncryptInit_ex(enc.ctx, nullptr, nullptr, nullptr, iv) == 1 &&
              EVP_EncryptUpdate(enc.ctx, sealed.data(), &len, plain.data(), n) == 1 &&
              EVP_EncryptFinal_ex(enc.ctx, sealed.data() + len, &fin) == 1 &&
              EVP_CIPHER_CTX_ctrl(enc.ctx, EVP_CTRL_AEAD_GET_TAG, kTag, sealed.data() + n) == 1,
          "raw seal for open");
  }
  RawGcm gcm(key, 0);
  for (auto _ : state) {
    int len = 0, fin = 0;
    Check(EVP_DecryptInit_ex(gcm.ctx, nullptr, nullptr, nullptr, iv) == 1 &&
              EVP_DecryptUpdate(gcm.ctx, out.data(), &len, sealed.data(), n) == 1 &&
              EVP_CIPHER_CTX_ctrl(gcm.ctx, EVP_CTRL_AEAD_SET_TAG, kTag, sealed.data() + n) == 1 &&
              EVP_DecryptFinal_ex(gcm.ctx, out.data() + len, &fin) == 1,
          "raw open");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_BlockHash(benchmark::State& state) {
  std::vector<uint8_t> block = Filled(static_cast<size_t>(state.range(0)));
  std::string_view view(reinterpret_cast<const char*>(block.data()), block.size());
  for (auto _ : state) {
    Sha256Digest d = Sha256(view);
    benchmark::DoNotOptimize(d);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void BM_RawEvpSha256(benchmark::State& state) {
  std::vector<uint8_t> block = Filled(static_cast<size_t>(state.range(0)));
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  Check(md && ctx, "EVP_MD_fetch");
  unsigned char out[32];
  for (auto _ : state) {
    unsigned int len = 0;
    Check(EVP_DigestInit_ex(ctx, md, nullptr) == 1 &&
              EVP_DigestUpdate(ctx, block.data(), block.size()) == 1 &&
              EVP_DigestFinal_ex(ctx, out, &len) == 1,
          "raw sha256");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
}

BENCHMARK(BM_SegmentSeal)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_RawEvpGcmSeal)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_SegmentOpen)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_RawEvpGcmOpen)->Arg(64 << 10)->Arg(1 << 20);
BENCHMARK(BM_BlockHash)->Arg(BlockSizeFor(64 << 10))->Arg(BlockSizeFor(1 << 20));
BENCHMARK(BM_RawEvpSha256)->Arg(BlockSizeFor(64 << 10))->Arg(BlockSizeFor(1 << 20));

// Console output as usual, plus a record of each run's throughput for the ratio table.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    // With --benchmark_repetitions the median wins over any single repetition.
    for (const Run& run : runs) {
      auto it = run.counters.find("bytes_per_second");
      if (it == run.counters.end()) continue;
      const std::string name = run.run_name.str();
      if (run.run_type == Run::RT_Aggregate && run.aggregate_name == "median") {
        rate_[name] = it->second.value;
        from_median_.insert(name);
      } else if (run.run_type == Run::RT_Iteration && from_median_.count(name) == 0) {
        rate_[name] = it->second.value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintRatios() const {
    const std::pair<const char*, const char*> pairs[] = {
        {"BM_SegmentSeal", "BM_RawEvpGcmSeal"},
        {"BM_SegmentOpen", "BM_RawEvpGcmOpen"},
        {"BM_BlockHash", "BM_RawEvpSha256"},
    };
    std::printf("\n%-24s %10s %12s %12s %7s\n", "kernel (GB = 1e9 B)", "size", "ours GB/s",
                "base GB/s", "ratio");
    for (const auto& [ours, base] : pairs) {
      for (const auto& [name, rate] : rate_) {
        if (name.rfind(std::string(ours) + "/", 0) != 0) continue;
        std::string arg = name.substr(std::string(ours).size());
        auto b = rate_.find(std::string(base) + arg);
        if (b == rate_.end() || b->second <= 0) continue;
        std::printf("%-24s %10s %12.2f %12.2f %6.2fx\n", ours, arg.c_str() + 1, rate / 1e9,
                    b->second / 1e9, rate / b->second);
      }
    }
  }

 private:
  std::map<std::string, double> rate_;
  std::set<std::string> from_median_;
};

}  // namespace
}  // namespace vaultfs::crypto

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  vaultfs::crypto::RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintRatios();
  benchmark::Shutdown();
  return 0;
}
