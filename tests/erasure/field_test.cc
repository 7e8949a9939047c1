// The engines can only agree if gf-complete's default GF(2^8) (used by Jerasure) is the same
// field as ISA-L's: same primitive polynomial 0x11d, hence the same products everywhere.
#include <gtest/gtest.h>
#include <isa-l/erasure_code.h>
#include <jerasure.h>

#include "src/erasure/coding_matrix.h"

namespace vaultfs::erasure {
namespace {

TEST(FieldTest, GfCompleteAndIsalMultiplyAlike) {
  InitGaloisField();
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      ASSERT_EQ(galois_single_multiply(a, b, 8),
                gf_mul(static_cast<unsigned char>(a), static_cast<unsigned char>(b)))
          << a << " * " << b;
    }
  }
}

TEST(FieldTest, PolynomialIs0x11d) {
  // x^7 * x = x^8 = x^4 + x^3 + x^2 + 1 (mod 0x11d) = 0x1d in both libraries.
  InitGaloisField();
  EXPECT_EQ(gf_mul(0x80, 0x02), 0x1d);
  EXPECT_EQ(galois_single_multiply(0x80, 0x02, 8), 0x1d);
}

TEST(FieldTest, CodingMatrixRejectsBadShapes) {
  EXPECT_EQ(VandermondeCodingMatrix(0, 4).status().code(), EINVAL);
  EXPECT_EQ(VandermondeCodingMatrix(10, 0).status().code(), EINVAL);
  EXPECT_EQ(VandermondeCodingMatrix(250, 6).status().code(), EINVAL);
  auto ok = VandermondeCodingMatrix(10, 4);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->size(), 40u);
}

}  // namespace
}  // namespace vaultfs::erasure
