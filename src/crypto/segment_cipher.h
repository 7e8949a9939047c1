// SegmentCipher: AES-256-GCM sealing of the segments of one file version (DESIGN.md §3).
//
//   nonce = 0x00000000 || segment index (BE64). Unique because every version has its own
//           random file key and a segment index is sealed once per version. Contract: never
//           seal two different plaintexts under one (file key, index); changed content is a
//           new version with a new key (a retry of the same bytes is harmless).
//   AAD   = format (1 byte, 1) || EncodeVersionBinding(user, file, version)
//           || segment index (BE64) || is-last flag (1 byte)
//   out   = ciphertext (same size as the plaintext) || 16-byte tag
//
// So a segment that is flipped, swapped with another, reordered, cut off after a non-last
// segment (truncation), presented as a non-last one, or taken from another version, file or
// user fails Open with EBADMSG.
//
// Built for the data path: the key schedule is set once in Create; Seal/Open work on
// caller-owned buffers, reuse one EVP_CIPHER_CTX each and allocate nothing. One instance per
// thread (not thread-safe); create one per version being read or written.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "src/common/status.h"
#include "src/crypto/key.h"
#include "src/crypto/segment_sealer.h"
#include "src/crypto/version_binding.h"

namespace vaultfs::crypto {

class SegmentCipher final : public SegmentSealer {
 public:
  static constexpr size_t kNonceSize = 12;
  static constexpr size_t kMaxSegmentSize = size_t{256} << 20;

  // Sets up both directions for `file_key`; `version` must validate (EINVAL otherwise).
  // The cipher keeps no copy of the key beyond OpenSSL's key schedule, which is wiped on
  // destruction.
  static Result<SegmentCipher> Create(const Key& file_key, const VersionBinding& version);

  SegmentCipher(SegmentCipher&&) noexcept = default;
  SegmentCipher& operator=(SegmentCipher&&) noexcept = default;

  static constexpr size_t SealedSize(size_t plaintext_size) { return plaintext_size + kTagSize; }

  // Seals `plaintext` as segment `index` into out[0 .. plaintext.size() + kTagSize).
  // out.size() must be at least that (EINVAL otherwise); out may be exactly the plaintext
  // buffer (in place, with room for the tag after it) but must not overlap it otherwise.
  // Plaintext of 0..kMaxSegmentSize bytes.
  Status Seal(uint64_t index, bool is_last, std::span<const uint8_t> plaintext,
              std::span<uint8_t> out) override;

  // Opens segment `index` from `sealed` (ciphertext || tag) into
  // out[0 .. sealed.size() - kTagSize). EBADMSG if it does not authenticate for this key,
  // version, index and last flag (then that part of `out` is zeroed, never left holding
  // unauthenticated plaintext). Same aliasing rule as Seal.
  Status Open(uint64_t index, bool is_last, std::span<const uint8_t> sealed,
              std::span<uint8_t> out) override;

  // The nonce and AAD used for segment `index`, for cross-checking against the reference
  // AES-GCM in tests.
  static std::string NonceFor(uint64_t index);
  static std::string AadFor(const VersionBinding& version, uint64_t index, bool is_last);

 private:
  SegmentCipher() = default;
  void SetIndex(uint64_t index, bool is_last);

  struct CtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const;
  };
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> seal_ctx_;
  std::unique_ptr<EVP_CIPHER_CTX, CtxFree> open_ctx_;
  std::string aad_;  // prefix fixed at Create; the last 9 bytes are rewritten per call
  uint8_t nonce_[kNonceSize] = {};
};

}  // namespace vaultfs::crypto
