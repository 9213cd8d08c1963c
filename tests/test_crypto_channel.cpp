// crypto/{x25519,hkdf,aead}.h against published vectors: RFC 7748 section 6.1
// (X25519), RFC 5869 appendix A.1-A.3 (HKDF-SHA256), and McGrew and Viega's
// "The Galois/Counter Mode of Operation (GCM)", appendix B, test cases 13-16
// (AES-256-GCM). The vectors are typed from those documents.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/aead.h"
#include "crypto/hkdf.h"
#include "crypto/primitives.h"
#include "crypto/x25519.h"

namespace teesplit::crypto {
namespace {

std::vector<uint8_t> bytes(const std::string& hex) {
  std::vector<uint8_t> out(hex.size() / 2);
  EXPECT_TRUE(from_hex(hex, out)) << hex;
  return out;
}
SecretBytes secret(const std::string& hex) {
  const std::vector<uint8_t> b = bytes(hex);
  return SecretBytes(b.begin(), b.end());
}
Bytes32 bytes32(const std::string& hex) {
  Bytes32 out{};
  EXPECT_TRUE(from_hex(hex, out)) << hex;
  return out;
}
std::string hex(std::span<const uint8_t> b) {
  return to_hex(b);
}
std::vector<uint8_t> range(int first, int last) {  // first .. last inclusive
  std::vector<uint8_t> v;
  for (int i = first; i <= last; ++i) v.push_back(static_cast<uint8_t>(i));
  return v;
}

// ---- X25519, RFC 7748 section 6.1 ----

const char* kAlicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const char* kAlicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
const char* kBobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const char* kBobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
const char* kShared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(CryptoX25519, Rfc7748Vectors) {
  const X25519KeyPair alice = X25519KeyPair::from_private(secret(kAlicePrivate));
  const X25519KeyPair bob = X25519KeyPair::from_private(secret(kBobPrivate));
  EXPECT_EQ(hex(alice.public_key), kAlicePublic);
  EXPECT_EQ(hex(bob.public_key), kBobPublic);
  EXPECT_EQ(hex(x25519(alice.private_key, bytes32(kBobPublic))), kShared);
  EXPECT_EQ(hex(x25519(bob.private_key, bytes32(kAlicePublic))), kShared);
}

TEST(CryptoX25519, GeneratedPairsAgree) {
  const X25519KeyPair a = X25519KeyPair::generate(), b = X25519KeyPair::generate();
  EXPECT_EQ(a.private_key.size(), 32u);
  EXPECT_NE(a.public_key, b.public_key);
  EXPECT_EQ(a.public_key, x25519_public_key(a.private_key));
  EXPECT_EQ(x25519(a.private_key, b.public_key), x25519(b.private_key, a.public_key));
}

TEST(CryptoX25519, RefusesSmallOrderPointsAndBadKeys) {
  const SecretBytes priv = secret(kAlicePrivate);
  // u = 0 and u = 1 are points of small order: the shared secret is all zero.
  for (const char* u : {"0000000000000000000000000000000000000000000000000000000000000000",
                        "0100000000000000000000000000000000000000000000000000000000000000"}) {
    try {
      x25519(priv, bytes32(u));
      ADD_FAILURE() << "accepted the small-order point " << u;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("all-zero"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(x25519(SecretBytes(31), bytes32(kBobPublic)), Error);
  EXPECT_THROW(X25519KeyPair::from_private(SecretBytes(33)), Error);
}

// ---- HKDF-SHA256, RFC 5869 appendix A ----

TEST(CryptoHkdf, Rfc5869TestCase1) {
  const SecretBytes ikm(22, 0x0b);
  const std::vector<uint8_t> salt = range(0x00, 0x0c), info = range(0xf0, 0xf9);
  EXPECT_EQ(hex(hkdf_sha256(ikm, salt, info, 42)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
            "34007208d5b887185865");
}

TEST(CryptoHkdf, Rfc5869TestCase2) {
  const std::vector<uint8_t> ikm_v = range(0x00, 0x4f);
  const SecretBytes ikm(ikm_v.begin(), ikm_v.end());
  const std::vector<uint8_t> salt = range(0x60, 0xaf), info = range(0xb0, 0xff);
  ASSERT_EQ(ikm.size(), 80u);
  ASSERT_EQ(salt.size(), 80u);
  ASSERT_EQ(info.size(), 80u);
  EXPECT_EQ(hex(hkdf_sha256(ikm, salt, info, 82)),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
            "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
            "cc30c58179ec3e87c14c01d5c1f3434f1d87");
}

TEST(CryptoHkdf, Rfc5869TestCase3EmptySaltAndInfo) {
  const SecretBytes ikm(22, 0x0b);
  EXPECT_EQ(hex(hkdf_sha256(ikm, {}, {}, 42)),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
            "9d201395faa4b61a96c8");
  // An empty salt is 32 zero bytes (RFC 5869 section 2.2).
  const std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(hkdf_sha256(ikm, zeros, {}, 42), hkdf_sha256(ikm, {}, {}, 42));
}

TEST(CryptoHkdf, RefusesBadSizes) {
  const SecretBytes ikm(22, 0x0b);
  EXPECT_THROW(hkdf_sha256(SecretBytes(), {}, {}, 32), Error);
  EXPECT_THROW(hkdf_sha256(ikm, {}, {}, 0), Error);
  EXPECT_THROW(hkdf_sha256(ikm, {}, {}, 255 * 32 + 1), Error);
  EXPECT_EQ(hkdf_sha256(ikm, {}, {}, 255 * 32).size(), 255u * 32);
  const std::vector<uint8_t> long_info(kHkdfMaxInfo + 1, 1);
  EXPECT_THROW(hkdf_sha256(ikm, {}, long_info, 32), Error);
}

// ---- AES-256-GCM, McGrew and Viega, appendix B ----

struct GcmCase {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

const char* kKey = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
const char* kZeroKey = "0000000000000000000000000000000000000000000000000000000000000000";

const GcmCase kGcmCases[] = {
    {"13", kZeroKey, "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {"14", kZeroKey, "000000000000000000000000", "00000000000000000000000000000000", "",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {"15", kKey, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"16", kKey, "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

TEST(CryptoAesGcm, McGrewViegaVectors) {
  for (const GcmCase& c : kGcmCases) {
    SCOPED_TRACE(std::string("test case ") + c.name);
    const SecretBytes key = secret(c.key);
    const std::vector<uint8_t> iv = bytes(c.iv), pt = bytes(c.plaintext), aad = bytes(c.aad);
    ASSERT_EQ(iv.size(), 12u);
    const std::span<const uint8_t, 12> nonce(iv.data(), 12);
    const std::vector<uint8_t> sealed = aes256gcm_seal(key, nonce, aad, pt);
    EXPECT_EQ(hex(sealed), std::string(c.ciphertext) + c.tag);
    SecretBytes opened;
    ASSERT_TRUE(aes256gcm_open(key, nonce, aad, sealed, opened));
    EXPECT_EQ(std::vector<uint8_t>(opened.begin(), opened.end()), pt);
  }
}

class CryptoAesGcmTamper : public ::testing::Test {
 protected:
  const SecretBytes key = secret(kKey);
  const std::vector<uint8_t> iv = bytes("cafebabefacedbaddecaf888");
  const std::span<const uint8_t, 12> nonce{iv.data(), 12};
  const std::vector<uint8_t> aad = bytes("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const std::vector<uint8_t> pt = bytes("d9313225f88406e5a55909c5aff5269a");
  const std::vector<uint8_t> sealed = aes256gcm_seal(key, nonce, aad, pt);
  SecretBytes out{1, 2, 3};
};

TEST_F(CryptoAesGcmTamper, EveryFlippedBitIsRefused) {
  for (size_t i = 0; i < sealed.size() * 8; ++i) {
    std::vector<uint8_t> bad = sealed;
    bad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_FALSE(aes256gcm_open(key, nonce, aad, bad, out)) << "bit " << i;
    EXPECT_TRUE(out.empty());
  }
}

TEST_F(CryptoAesGcmTamper, WrongAadNonceKeyOrLengthIsRefused) {
  std::vector<uint8_t> other_aad = aad;
  other_aad.back() ^= 1;
  EXPECT_FALSE(aes256gcm_open(key, nonce, other_aad, sealed, out));
  EXPECT_FALSE(aes256gcm_open(key, nonce, {}, sealed, out));
  std::vector<uint8_t> other_iv = iv;
  other_iv[11] ^= 1;
  EXPECT_FALSE(
      aes256gcm_open(key, std::span<const uint8_t, 12>(other_iv.data(), 12), aad, sealed, out));
  SecretBytes other_key = key;
  other_key[0] ^= 1;
  EXPECT_FALSE(aes256gcm_open(other_key, nonce, aad, sealed, out));
  // Truncated: shorter than a tag, and a dropped last byte.
  EXPECT_FALSE(aes256gcm_open(key, nonce, aad, std::span(sealed).first(15), out));
  EXPECT_FALSE(aes256gcm_open(key, nonce, aad, {}, out));
  EXPECT_FALSE(aes256gcm_open(key, nonce, aad, std::span(sealed).first(sealed.size() - 1), out));
  std::vector<uint8_t> longer = sealed;
  longer.push_back(0);
  EXPECT_FALSE(aes256gcm_open(key, nonce, aad, longer, out));
  EXPECT_TRUE(out.empty());
  // And the untouched message still opens.
  EXPECT_TRUE(aes256gcm_open(key, nonce, aad, sealed, out));
  EXPECT_EQ(std::vector<uint8_t>(out.begin(), out.end()), pt);
}

TEST_F(CryptoAesGcmTamper, BadKeySizeThrows) {
  EXPECT_THROW(aes256gcm_seal(SecretBytes(16), nonce, aad, pt), Error);
  EXPECT_THROW(aes256gcm_open(SecretBytes(16), nonce, aad, sealed, out), Error);
}

}  // namespace
}  // namespace teesplit::crypto
