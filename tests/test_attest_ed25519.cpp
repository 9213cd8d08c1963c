// crypto/ed25519.h against RFC 8032 section 7.1 (tests 1-3), and its PEM files:
// round trips, 0600 private files, refusal of group/other-readable ones.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "crypto/ed25519.h"
#include "support/test_support.h"

namespace teesplit::crypto {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> unhex(const std::string& h) {
  std::vector<uint8_t> out(h.size() / 2);
  EXPECT_TRUE(from_hex(h, out)) << h;
  return out;
}

// A directory of its own per test (ctest runs tests in parallel).
std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::path(testing::generated_dir()) / ("ed25519-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

struct Rfc8032Vector {
  const char* secret;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032, section 7.1, TEST 1, TEST 2 and TEST 3 (typed from the RFC).
const Rfc8032Vector kVectors[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
     "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
     "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST(Ed25519, Rfc8032Vectors) {
  for (const Rfc8032Vector& v : kVectors) {
    SCOPED_TRACE(v.public_key);
    const std::vector<uint8_t> seed = unhex(v.secret), msg = unhex(v.message),
                               sig = unhex(v.signature);
    Bytes32 pub{};
    ASSERT_TRUE(from_hex(v.public_key, pub));
    const Ed25519PrivateKey key = Ed25519PrivateKey::from_seed(std::span<const uint8_t, 32>(seed));
    EXPECT_EQ(to_hex(key.public_key()), v.public_key);
    const Ed25519Signature got = ed25519_sign(key, msg);
    EXPECT_EQ(to_hex(got), v.signature);  // Ed25519 is deterministic
    EXPECT_TRUE(ed25519_verify(pub, msg, sig));
    // Any flipped bit of the signature, the message or the key: not valid.
    for (size_t i = 0; i < sig.size(); ++i) {
      std::vector<uint8_t> bad = sig;
      bad[i] ^= 0x01;
      EXPECT_FALSE(ed25519_verify(pub, msg, bad)) << "signature byte " << i;
    }
    std::vector<uint8_t> other_msg = msg;
    other_msg.push_back(0);
    EXPECT_FALSE(ed25519_verify(pub, other_msg, sig));
    Bytes32 other_pub = pub;
    other_pub[0] ^= 0x80;
    EXPECT_FALSE(ed25519_verify(other_pub, msg, sig));
    // Wrong lengths are simply invalid.
    EXPECT_FALSE(ed25519_verify(pub, msg, std::span<const uint8_t>(sig).first(63)));
    EXPECT_FALSE(ed25519_verify(pub, msg, {}));
  }
}

TEST(Ed25519, GeneratedKeysDifferAndVerify) {
  const Ed25519PrivateKey a = Ed25519PrivateKey::generate(), b = Ed25519PrivateKey::generate();
  EXPECT_NE(a.public_key(), b.public_key());
  const std::vector<uint8_t> msg = {1, 2, 3};
  const Ed25519Signature sig = ed25519_sign(a, msg);
  EXPECT_TRUE(ed25519_verify(a.public_key(), msg, sig));
  EXPECT_FALSE(ed25519_verify(b.public_key(), msg, sig));
}

TEST(Ed25519, PemRoundTripAndModes) {
  const std::string dir = fresh_dir("pem");
  const std::string priv = dir + "/owner.pem", pub = dir + "/owner.pub.pem";
  const Ed25519PrivateKey key = Ed25519PrivateKey::generate();
  key.save(priv);
  key.save_public(pub);
  EXPECT_EQ(mode_of(priv), 0600u);
  EXPECT_EQ(mode_of(pub), 0644u);
  EXPECT_NE(read_file(priv).find("-----BEGIN PRIVATE KEY-----"), std::string::npos);
  EXPECT_NE(read_file(pub).find("-----BEGIN PUBLIC KEY-----"), std::string::npos);
  EXPECT_EQ(Ed25519PrivateKey::load(priv).public_key(), key.public_key());
  EXPECT_EQ(load_ed25519_public_key(pub), key.public_key());
  EXPECT_EQ(load_ed25519_public_key(priv), key.public_key());  // from the private file too
  // No temporary left beside them.
  size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir)) files += e.is_regular_file();
  EXPECT_EQ(files, 2u);

  // Existing files are not replaced unless asked.
  const Ed25519PrivateKey other = Ed25519PrivateKey::generate();
  EXPECT_NE(testing::error_of([&] { other.save(priv); }).find("exists"), std::string::npos);
  EXPECT_EQ(Ed25519PrivateKey::load(priv).public_key(), key.public_key());
  other.save(priv, /*overwrite=*/true);
  EXPECT_EQ(Ed25519PrivateKey::load(priv).public_key(), other.public_key());
  EXPECT_EQ(mode_of(priv), 0600u);

  // A signature made with the loaded key verifies with the saved public key.
  const std::vector<uint8_t> msg = {'m'};
  save_ed25519_public_key(dir + "/raw.pub.pem", other.public_key());
  EXPECT_TRUE(ed25519_verify(load_ed25519_public_key(dir + "/raw.pub.pem"), msg,
                             ed25519_sign(Ed25519PrivateKey::load(priv), msg)));
}

TEST(Ed25519, RefusesOpenPrivateKeyFiles) {
  const std::string dir = fresh_dir("modes");
  const std::string priv = dir + "/k.pem";
  Ed25519PrivateKey::generate().save(priv);
  for (mode_t m : {0640, 0604, 0660, 0610}) {
    ASSERT_EQ(chmod(priv.c_str(), m), 0);
    const std::string err = testing::error_of([&] { Ed25519PrivateKey::load(priv); });
    EXPECT_NE(err.find("must not be accessible by group or others"), std::string::npos) << err;
    EXPECT_NE(err.find("chmod 600"), std::string::npos) << err;
    EXPECT_EQ(err.find('\n'), std::string::npos);
    // Asking for the public key of a private file checks the same.
    EXPECT_FALSE(testing::error_of([&] { load_ed25519_public_key(priv); }).empty());
  }
  ASSERT_EQ(chmod(priv.c_str(), 0400), 0);
  EXPECT_NO_THROW(Ed25519PrivateKey::load(priv));
}

TEST(Ed25519, RefusesBadFiles) {
  const std::string dir = fresh_dir("bad");
  auto write_private = [&](const std::string& name, const std::string& text) {
    const std::string p = dir + "/" + name;
    write_file(p, text);
    chmod(p.c_str(), 0600);
    return p;
  };
  EXPECT_NE(
      testing::error_of([&] { Ed25519PrivateKey::load(dir + "/missing.pem"); }).find("cannot open"),
      std::string::npos);
  EXPECT_NE(testing::error_of([&] { Ed25519PrivateKey::load(dir); }).find("not a regular file"),
            std::string::npos);
  const std::string junk = write_private("junk.pem", "hello\n");
  EXPECT_NE(testing::error_of([&] { Ed25519PrivateKey::load(junk); }).find("not a PEM"),
            std::string::npos);
  EXPECT_NE(testing::error_of([&] { load_ed25519_public_key(junk); }).find("not a PEM"),
            std::string::npos);
  const std::string big = write_private("big.pem", std::string(kMaxKeyFileBytes + 1, 'A'));
  EXPECT_NE(testing::error_of([&] { Ed25519PrivateKey::load(big); }).find("allowed"),
            std::string::npos);
  // A truncated PEM.
  const std::string good = dir + "/good.pem";
  Ed25519PrivateKey::generate().save(good);
  const std::string text = read_file(good);
  const std::string cut = write_private("cut.pem", text.substr(0, text.size() / 2));
  EXPECT_NE(testing::error_of([&] { Ed25519PrivateKey::load(cut); }).find("not a PEM"),
            std::string::npos);
}

}  // namespace
}  // namespace teesplit::crypto
