// The HKDF labels (the "info" input) that derive every sub-key of vaultfs, in one place so
// that no two purposes can share a key by accident (a test checks they are all distinct).
//
// Key hierarchy (DESIGN.md §6):
//   scrypt(password, per-user salt, KdfParams) -> 64-byte root
//     HKDF(root, kAuthKey)            -> auth key: sent to the server, which stores only
//                                        AuthKeyVerifier(auth key) (kAuthVerifier domain)
//     HKDF(root, kKeyEncryptionKey)   -> KEK: never leaves the client
//       HKDF(KEK, kMasterKeyWrap)     -> wraps the user's random master key (key_wrap.h)
//   master key (random, 256-bit)
//     HKDF(master, kFileKeyWrap)      -> wraps each version's random file key (key_wrap.h)
//     HKDF(master, kNameLookup)       -> HMAC lookup key of directory entries (name_cipher.h)
//     HKDF(master, kNameSeal)         -> AEAD of directory entry names
//     HKDF(master, kSymlinkSeal)      -> AEAD of symlink targets
//     HKDF(master, kXattrLookup)      -> HMAC lookup key of xattr names
//     HKDF(master, kXattrNameSeal)    -> AEAD of xattr names
//     HKDF(master, kXattrValueSeal)   -> AEAD of xattr values
//     HKDF(master, kStagingSeal)      -> staging key of the mount's cache dir: never leaves the
//                                        client (src/fuse/staged_file.h)
//       HKDF(staging key, salt, kStagingBlock) -> one AES-256-GCM key per sealing of one
//                                        staged block (128-bit random salt kept in the record)
//     HKDF(master, kStagingJournalMac) -> HMAC key of staging journals
//   file key (random, 256-bit, one per version) -> AES-256-GCM of segments (segment_cipher.h)
//
//   server secret (server-secret, metadata nodes only; token.h TokenKey)
//     HKDF(secret, kMetaTokenKey)     -> MAC key of user sessions: metadata nodes only
//     HKDF(secret, kDataTokenKey)     -> MAC key of data tokens: metadata nodes mint them, data
//                                        servers hold only this key (data-secret)
//     HKDF(secret, kClusterTokenKey)  -> MAC key of cluster sessions: the repairer holds only
//                                        this key (cluster-secret)
//     HKDF(secret, kUnknownUserSalt)  -> HMAC key of the salts get_salt answers for user names
//                                        that do not exist: metadata nodes only
//
// Changing a label changes every derived key: bump the "v1" suffix only with a migration.
#pragma once

#include <array>
#include <string_view>

namespace vaultfs::crypto::labels {

inline constexpr std::string_view kAuthKey = "vaultfs auth key v1";
inline constexpr std::string_view kKeyEncryptionKey = "vaultfs key-encryption key v1";
inline constexpr std::string_view kAuthVerifier = "vaultfs auth verifier v1";
inline constexpr std::string_view kMasterKeyWrap = "vaultfs master-key wrap v1";
inline constexpr std::string_view kFileKeyWrap = "vaultfs file-key wrap v1";
inline constexpr std::string_view kNameLookup = "vaultfs name lookup v1";
inline constexpr std::string_view kNameSeal = "vaultfs name seal v1";
inline constexpr std::string_view kSymlinkSeal = "vaultfs symlink seal v1";
inline constexpr std::string_view kXattrLookup = "vaultfs xattr lookup v1";
inline constexpr std::string_view kXattrNameSeal = "vaultfs xattr name seal v1";
inline constexpr std::string_view kXattrValueSeal = "vaultfs xattr value seal v1";
inline constexpr std::string_view kStagingSeal = "vaultfs staging seal key v1";
inline constexpr std::string_view kStagingBlock = "vaultfs staging block subkey v1";
inline constexpr std::string_view kStagingJournalMac = "vaultfs staging journal mac v1";
inline constexpr std::string_view kMetaTokenKey = "vaultfs meta session token key v1";
inline constexpr std::string_view kDataTokenKey = "vaultfs data token key v1";
inline constexpr std::string_view kClusterTokenKey = "vaultfs cluster session token key v1";
inline constexpr std::string_view kUnknownUserSalt = "vaultfs unknown-user salt key v1";

inline constexpr std::array kAll = {
    kAuthKey,        kKeyEncryptionKey, kAuthVerifier,      kMasterKeyWrap,   kFileKeyWrap,
    kNameLookup,     kNameSeal,         kSymlinkSeal,       kXattrLookup,     kXattrNameSeal,
    kXattrValueSeal, kMetaTokenKey,     kDataTokenKey,      kClusterTokenKey, kUnknownUserSalt,
    kStagingSeal,    kStagingBlock,     kStagingJournalMac,
};

}  // namespace vaultfs::crypto::labels
