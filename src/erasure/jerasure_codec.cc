// Jerasure engine: jerasure_matrix_encode / jerasure_matrix_decode with w=8.
#include "src/erasure/jerasure_codec.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include <jerasure.h>

#include "src/erasure/coding_matrix.h"

namespace vaultfs::erasure {
namespace {

// gf-complete requires every source/destination pair to share its address mod 16.
constexpr uintptr_t kGfAlign = 16;

bool CongruentMod16(const void* const* ptrs, int count) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(ptrs[0]) % kGfAlign;
  for (int i = 1; i < count; ++i) {
    if (reinterpret_cast<uintptr_t>(ptrs[i]) % kGfAlign != first) return false;
  }
  return true;
}

// Per-thread staging area of `blocks` blocks of `block_size` bytes, each 64-byte aligned.
// Kept between calls so that repeated coding of same-sized blocks allocates nothing.
class Scratch {
 public:
  static Scratch& ForThisThread() {
    thread_local Scratch scratch;
    return scratch;
  }

  // Makes room for `blocks` blocks; Block(i) pointers stay valid until the next Prepare.
  void Prepare(int blocks, size_t block_size) {
    stride_ = (block_size + 63) / 64 * 64;
    const size_t need = stride_ * blocks + 64;
    if (buffer_.size() < need) buffer_.resize(need);
    base_ = buffer_.data() + (64 - reinterpret_cast<uintptr_t>(buffer_.data()) % 64) % 64;
  }
  char* Block(int i) { return reinterpret_cast<char*>(base_ + stride_ * i); }

 private:
  std::vector<uint8_t> buffer_;
  uint8_t* base_ = nullptr;
  size_t stride_ = 0;
};

}  // namespace

Result<std::unique_ptr<JerasureCodec>> JerasureCodec::Create(int k, int m) {
  if (k < 1 || m < 0 || k + m > kMaxBlocks) {
    return InvalidArgument("jerasure codec: invalid RS(" + std::to_string(k) + "," +
                           std::to_string(m) + ")");
  }
  InitGaloisField();
  std::vector<int> matrix;
  if (m > 0) {
    VFS_ASSIGN_OR_RETURN(std::vector<uint8_t> coefficients, VandermondeCodingMatrix(k, m));
    matrix.assign(coefficients.begin(), coefficients.end());
  }
  return std::unique_ptr<JerasureCodec>(new JerasureCodec(k, m, std::move(matrix)));
}

JerasureCodec::JerasureCodec(int k, int m, std::vector<int> matrix)
    : Codec(k, m), matrix_(std::move(matrix)) {}

void JerasureCodec::EncodeBlocks(const uint8_t* const* data, uint8_t* const* parity,
                                 size_t block_size) const {
  const int k = this->k();
  const int m = this->m();
  const int size = static_cast<int>(block_size);
  // Jerasure's API is not const-correct; it only reads data_ptrs.
  std::array<char*, kMaxBlocks> ptrs;
  for (int i = 0; i < k; ++i) ptrs[i] = reinterpret_cast<char*>(const_cast<uint8_t*>(data[i]));
  for (int i = 0; i < m; ++i) ptrs[k + i] = reinterpret_cast<char*>(parity[i]);
  int* matrix = const_cast<int*>(matrix_.data());  // read only

  if (CongruentMod16(reinterpret_cast<const void* const*>(ptrs.data()), k + m)) {
    jerasure_matrix_encode(k, m, 8, matrix, ptrs.data(), ptrs.data() + k, size);
    return;
  }
  Scratch& scratch = Scratch::ForThisThread();
  scratch.Prepare(k + m, block_size);
  std::array<char*, kMaxBlocks> staged;
  for (int i = 0; i < k + m; ++i) staged[i] = scratch.Block(i);
  for (int i = 0; i < k; ++i) memcpy(staged[i], ptrs[i], block_size);
  jerasure_matrix_encode(k, m, 8, matrix, staged.data(), staged.data() + k, size);
  for (int i = 0; i < m; ++i) memcpy(ptrs[k + i], staged[k + i], block_size);
}

Status JerasureCodec::DecodeBlocks(uint8_t* const* blocks, std::span<const int> erased,
                                   size_t block_size) const {
  const int n = k() + m();
  std::array<char*, kMaxBlocks> ptrs;
  for (int i = 0; i < n; ++i) ptrs[i] = reinterpret_cast<char*>(blocks[i]);
  if (CongruentMod16(reinterpret_cast<const void* const*>(ptrs.data()), n)) {
    return DecodeAligned(ptrs.data(), ptrs.data() + k(), erased, block_size);
  }
  Scratch& scratch = Scratch::ForThisThread();
  scratch.Prepare(n, block_size);
  std::array<char*, kMaxBlocks> staged;
  for (int i = 0; i < n; ++i) staged[i] = scratch.Block(i);
  size_t next = 0;  // walks the sorted erasures alongside the block indices
  for (int i = 0; i < n; ++i) {
    if (next < erased.size() && erased[next] == i) {
      ++next;
      continue;
    }
    memcpy(staged[i], ptrs[i], block_size);
  }
  VFS_RETURN_IF_ERROR(DecodeAligned(staged.data(), staged.data() + k(), erased, block_size));
  for (int index : erased) memcpy(ptrs[index], staged[index], block_size);
  return Status::Ok();
}

Status JerasureCodec::DecodeAligned(char** data, char** coding, std::span<const int> erased,
                                    size_t block_size) const {
  // Jerasure wants the erasures as a -1 terminated list.
  std::array<int, kMaxBlocks + 1> list;
  for (size_t i = 0; i < erased.size(); ++i) list[i] = erased[i];
  list[erased.size()] = -1;
  // row_k_ones = 1: the first row of Jerasure's Vandermonde coding matrix is all ones, which
  // lets it rebuild one lost data block with plain XOR.
  const int rc = jerasure_matrix_decode(k(), m(), 8, const_cast<int*>(matrix_.data()), 1,
                                        list.data(), data, coding, static_cast<int>(block_size));
  if (rc != 0) {
    return IoError("jerasure could not decode " + std::to_string(erased.size()) +
                   " erasures of RS(" + std::to_string(k()) + "," + std::to_string(m()) + ")");
  }
  return Status::Ok();
}

}  // namespace vaultfs::erasure
