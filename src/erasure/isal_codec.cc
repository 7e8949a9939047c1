// ISA-L engine: ec_encode_data with Jerasure's matrix; decode by inverting surviving rows
// (the approach of ISA-L's erasure_code_test / ec_simple_example), plans cached per pattern.
#include "src/erasure/isal_codec.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <string>

#include <isa-l/erasure_code.h>

#include "src/erasure/coding_matrix.h"

namespace vaultfs::erasure {

Result<std::unique_ptr<IsalCodec>> IsalCodec::Create(int k, int m, size_t plan_cache_size) {
  if (k < 1 || m < 0 || k + m > kMaxBlocks) {
    return InvalidArgument("isa-l codec: invalid RS(" + std::to_string(k) + "," +
                           std::to_string(m) + ")");
  }
  std::vector<uint8_t> encode_matrix(static_cast<size_t>(k + m) * k, 0);
  for (int i = 0; i < k; ++i) encode_matrix[static_cast<size_t>(i) * k + i] = 1;
  if (m > 0) {
    VFS_ASSIGN_OR_RETURN(std::vector<uint8_t> coding, VandermondeCodingMatrix(k, m));
    std::copy(coding.begin(), coding.end(), encode_matrix.begin() + static_cast<size_t>(k) * k);
  }
  return std::unique_ptr<IsalCodec>(new IsalCodec(k, m, std::move(encode_matrix), plan_cache_size));
}

IsalCodec::IsalCodec(int k, int m, std::vector<uint8_t> encode_matrix, size_t plan_cache_size)
    : Codec(k, m),
      encode_matrix_(std::move(encode_matrix)),
      encode_tables_(static_cast<size_t>(32) * k * m),
      plan_cache_size_(plan_cache_size) {
  if (m > 0) {
    ec_init_tables(k, m, encode_matrix_.data() + static_cast<size_t>(k) * k, encode_tables_.data());
  }
}

size_t IsalCodec::cached_plans() const {
  std::shared_lock lock(plans_mu_);
  return plans_.size();
}

void IsalCodec::EncodeBlocks(const uint8_t* const* data, uint8_t* const* parity,
                             size_t block_size) const {
  // ISA-L's API is not const-correct; it only reads the sources and the tables.
  ec_encode_data(static_cast<int>(block_size), k(), m(),
                 const_cast<unsigned char*>(encode_tables_.data()),
                 const_cast<unsigned char**>(data), const_cast<unsigned char**>(parity));
}

Status IsalCodec::DecodeBlocks(uint8_t* const* blocks, std::span<const int> erased,
                               size_t block_size) const {
  VFS_ASSIGN_OR_RETURN(std::shared_ptr<const DecodePlan> plan, PlanFor(erased));
  std::array<unsigned char*, kMaxBlocks> sources;
  std::array<unsigned char*, kMaxBlocks> outputs;
  for (int i = 0; i < k(); ++i) sources[i] = blocks[plan->sources[i]];
  for (size_t i = 0; i < erased.size(); ++i) outputs[i] = blocks[erased[i]];
  ec_encode_data(static_cast<int>(block_size), k(), static_cast<int>(erased.size()),
                 const_cast<unsigned char*>(plan->tables.data()), sources.data(), outputs.data());
  return Status::Ok();
}

Result<std::shared_ptr<const IsalCodec::DecodePlan>> IsalCodec::PlanFor(
    std::span<const int> erased) const {
  if (plan_cache_size_ == 0) return BuildPlan(erased);
  Pattern pattern;
  for (int index : erased) pattern.set(index);
  {
    std::shared_lock lock(plans_mu_);
    auto it = plans_.find(pattern);
    if (it != plans_.end()) return it->second;
  }
  // Built outside the lock: two threads may build the same plan; both are correct and the
  // second insert is a no-op.
  VFS_ASSIGN_OR_RETURN(std::shared_ptr<const DecodePlan> plan, BuildPlan(erased));
  std::unique_lock lock(plans_mu_);
  if (plans_.size() >= plan_cache_size_) plans_.clear();
  plans_.emplace(pattern, plan);
  return plan;
}

Result<std::shared_ptr<const IsalCodec::DecodePlan>> IsalCodec::BuildPlan(
    std::span<const int> erased) const {
  const int k = this->k();
  const int n = k + m();
  const size_t kk = static_cast<size_t>(k) * k;
  auto plan = std::make_shared<DecodePlan>();
  plan->sources.reserve(k);

  // The first k surviving rows of the generator, and their inverse.
  std::vector<uint8_t> survivors(kk);
  size_t next = 0;  // walks the sorted erasures alongside the block indices
  for (int i = 0; i < n && static_cast<int>(plan->sources.size()) < k; ++i) {
    if (next < erased.size() && erased[next] == i) {
      ++next;
      continue;
    }
    const int row = static_cast<int>(plan->sources.size());
    std::copy_n(encode_matrix_.begin() + static_cast<size_t>(i) * k, k,
                survivors.begin() + static_cast<size_t>(row) * k);
    plan->sources.push_back(i);
  }
  std::vector<uint8_t> inverse(kk);
  if (gf_invert_matrix(survivors.data(), inverse.data(), k) != 0) {
    // Cannot happen for an MDS code with <= m erasures; refuse rather than emit garbage.
    return IoError("isa-l decode: surviving rows of RS(" + std::to_string(k) + "," +
                   std::to_string(m()) + ") are singular");
  }

  // Row for each erased block in terms of the sources: a data block's row is its row of the
  // inverse; a parity block's row is its generator row times the inverse.
  std::vector<uint8_t> rows(static_cast<size_t>(k) * erased.size());
  for (size_t e = 0; e < erased.size(); ++e) {
    uint8_t* out = rows.data() + e * k;
    const int index = erased[e];
    if (index < k) {
      std::copy_n(inverse.begin() + static_cast<size_t>(index) * k, k, out);
      continue;
    }
    const uint8_t* generator = encode_matrix_.data() + static_cast<size_t>(index) * k;
    for (int col = 0; col < k; ++col) {
      uint8_t acc = 0;
      for (int j = 0; j < k; ++j) {
        acc ^= gf_mul(generator[j], inverse[static_cast<size_t>(j) * k + col]);
      }
      out[col] = acc;
    }
  }
  plan->tables.resize(static_cast<size_t>(32) * k * erased.size());
  ec_init_tables(k, static_cast<int>(erased.size()), rows.data(), plan->tables.data());
  return std::shared_ptr<const DecodePlan>(std::move(plan));
}

}  // namespace vaultfs::erasure
