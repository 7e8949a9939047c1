// Builds the coding matrix with Jerasure so that both engines share its exact coefficients.
#include "src/erasure/coding_matrix.h"

#include <cstdlib>
#include <string>

#include <jerasure.h>
#include <reed_sol.h>

#include "src/erasure/codec.h"

namespace vaultfs::erasure {

void InitGaloisField() {
  // A function-local static is initialised exactly once, even with concurrent callers.
  static const bool initialised = [] {
    galois_init_default_field(8);  // gf-complete's default w=8 field: polynomial 0x11d
    return true;
  }();
  (void)initialised;
}

Result<std::vector<uint8_t>> VandermondeCodingMatrix(int k, int m) {
  if (k < 1 || m < 1 || k + m > kMaxBlocks) {
    return InvalidArgument(
        "coding matrix needs 1 <= k, 1 <= m, k + m <= " + std::to_string(kMaxBlocks) +
        "; got k=" + std::to_string(k) + " m=" + std::to_string(m));
  }
  InitGaloisField();
  int* matrix = reed_sol_vandermonde_coding_matrix(k, m, 8);  // malloc'ed by Jerasure
  if (matrix == nullptr) {
    return IoError("jerasure could not build the RS(" + std::to_string(k) + "," +
                   std::to_string(m) + ") Vandermonde matrix");
  }
  std::vector<uint8_t> out(static_cast<size_t>(k) * m);
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(matrix[i]);
  free(matrix);
  return out;
}

}  // namespace vaultfs::erasure
