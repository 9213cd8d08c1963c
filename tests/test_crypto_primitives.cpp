// crypto/primitives.h against published vectors (FIPS 180-2 SHA-256 examples).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/primitives.h"

namespace teesplit::crypto {
namespace {

std::string hex_of(const Bytes32& b) {
  return to_hex(b);
}

TEST(CryptoPrimitives, Sha256Vectors) {
  EXPECT_EQ(hex_of(sha256("", 0)),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of(sha256("abc", 3)),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(hex_of(sha256(two.data(), two.size())),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 h;  // in parts, the same digest
  h.update(two.data(), 10).update(two.data() + 10, two.size() - 10);
  EXPECT_EQ(hex_of(h.finish()), hex_of(sha256(two.data(), two.size())));
}

TEST(CryptoPrimitives, FieldsAreUnambiguous) {
  const std::vector<uint8_t> ab{'a', 'b'}, a{'a'}, b{'b'}, empty;
  Sha256 x, y;
  x.update_field(ab).update_field(empty);
  y.update_field(a).update_field(b);
  EXPECT_NE(x.finish(), y.finish());
}

TEST(CryptoPrimitives, CtEqualAndHex) {
  const uint8_t a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 5};
  EXPECT_TRUE(ct_equal(a, a, 4));
  EXPECT_FALSE(ct_equal(a, b, 4));
  EXPECT_TRUE(ct_equal(a, b, 3));
  uint8_t out[2];
  EXPECT_TRUE(from_hex("0aFf", out));
  EXPECT_EQ(out[0], 0x0a);
  EXPECT_EQ(out[1], 0xff);
  EXPECT_FALSE(from_hex("0g00", out));
  EXPECT_FALSE(from_hex("0a", out));
  EXPECT_EQ(to_hex(std::span<const uint8_t>(a, 4)), "01020304");
}

TEST(CryptoPrimitives, RandomBytesDiffer) {
  Bytes32 x{}, y{};
  random_bytes(x.data(), x.size());
  random_bytes(y.data(), y.size());
  EXPECT_NE(x, y);
  random_bytes(nullptr, 0);
}

}  // namespace
}  // namespace teesplit::crypto
