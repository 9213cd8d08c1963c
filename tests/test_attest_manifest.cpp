// The model owner's Ed25519 signature over a split's manifest: sign_manifest /
// verify_manifest_signature, write_split + open_split with keys, and the CLI
// round trip (keygen --ed25519, split --sign, run --split --owner-pub).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "core/file.h"
#include "crypto/ed25519.h"
#include "host/split_io.h"
#include "partition/manifest.h"
#include "support/test_support.h"
#include "zoo/zoo.h"

namespace teesplit {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

bool contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

std::string fresh_dir(const std::string& name) {
  const fs::path p = fs::path(testing::generated_dir()) / ("owner-" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

SplitManifest sample_manifest() {
  SplitManifest m;
  m.model_file = "m.onnx";
  m.model_sha256 = std::string(64, 'a');
  m.cut_index = 3;
  m.cut_name = "layer2.1";
  m.cut_node = "node7";
  m.input_name = "input";
  m.input_shape = {1, 3, 32, 32};
  m.feature_name = "feat";
  m.feature_shape = {1, 64, 8, 8};
  m.front_sha256 = std::string(64, 'b');
  m.back_sha256 = std::string(64, 'c');
  m.back_backend = "onednn";
  return m;
}

TEST(OwnerSignature, SignVerifyAndRefusals) {
  const crypto::Ed25519PrivateKey owner = crypto::Ed25519PrivateKey::generate();
  const crypto::Ed25519PrivateKey other = crypto::Ed25519PrivateKey::generate();
  SplitManifest m = sample_manifest();

  // Unsigned, when a key is required.
  EXPECT_TRUE(contains(testing::error_of([&] { verify_manifest_signature(m, owner.public_key()); }),
                       "not signed"));
  sign_manifest(m, owner);
  ASSERT_TRUE(m.owner_signature);
  EXPECT_EQ(m.owner_signature->public_key, crypto::to_hex(owner.public_key()));
  EXPECT_NO_THROW(verify_manifest_signature(m, owner.public_key()));

  // It survives the JSON round trip, and the signature is over the signed bytes.
  const SplitManifest back = manifest_from_json(manifest_to_json(m));
  EXPECT_NO_THROW(verify_manifest_signature(back, owner.public_key()));
  std::array<uint8_t, 64> sig{};
  ASSERT_TRUE(crypto::from_hex(m.owner_signature->signature, sig));
  const std::string msg = manifest_signed_bytes(m);
  EXPECT_TRUE(crypto::ed25519_verify(
      owner.public_key(), {reinterpret_cast<const uint8_t*>(msg.data()), msg.size()}, sig));

  // Another owner key.
  EXPECT_TRUE(contains(testing::error_of([&] { verify_manifest_signature(m, other.public_key()); }),
                       "signed by another key"));
  // Another key's signature with this owner's public key written in: does not verify.
  SplitManifest forged = m;
  sign_manifest(forged, other);
  forged.owner_signature->public_key = crypto::to_hex(owner.public_key());
  EXPECT_TRUE(
      contains(testing::error_of([&] { verify_manifest_signature(forged, owner.public_key()); }),
               "does not verify"));
  // Any signed field changed after signing.
  auto tampered = [&](auto&& edit) {
    SplitManifest t = m;
    edit(t);
    return testing::error_of([&] { verify_manifest_signature(t, owner.public_key()); });
  };
  EXPECT_TRUE(
      contains(tampered([](SplitManifest& t) { t.front_sha256[0] = 'c'; }), "does not verify"));
  EXPECT_TRUE(contains(tampered([](SplitManifest& t) { t.cut_index = 4; }), "does not verify"));
  EXPECT_TRUE(
      contains(tampered([](SplitManifest& t) { t.enclave_measurement = std::string(64, 'd'); }),
               "does not verify"));
  EXPECT_TRUE(contains(tampered([](SplitManifest& t) { t.encrypted = true; }), "does not verify"));
  // Another hex digit (a flipped bit can leave hex: 'a' ^ 1 is '`', a format error,
  // which made this check fail for about one key in three).
  EXPECT_TRUE(contains(tampered([](SplitManifest& t) {
                         char& c = t.owner_signature->signature[5];
                         c = c == '0' ? '1' : '0';
                       }),
                       "does not verify"));
}

std::string small_model() {
  const std::string path = testing::generated_dir() + "/owner_resnet.onnx";
  if (!fs::exists(path)) {
    ZooOptions o;
    o.arch = "resnet50";
    o.input_size = 32;
    o.width = 0.25;
    o.classes = 10;
    write_zoo_model(o, path);  // atomic
  }
  return path;
}

TEST(OwnerSignature, WriteAndOpenSignedSplit) {
  const std::string dir = fresh_dir("split");
  const crypto::Ed25519PrivateKey owner = crypto::Ed25519PrivateKey::generate();
  const crypto::Bytes32 pub = owner.public_key(),
                        wrong = crypto::Ed25519PrivateKey::generate().public_key();
  SplitWriteOptions wo;
  wo.owner_key = &owner;
  const std::string split = dir + "/signed";
  const SplitManifest m = write_split(small_model(), "layer2.1", split, wo);
  ASSERT_TRUE(m.owner_signature);
  EXPECT_TRUE(open_split(split, SplitRunOptions{}, nullptr, "", &pub).ok());
  EXPECT_TRUE(open_split(split, SplitRunOptions{}).ok());  // no key given: not checked

  auto open_error = [&](const std::string& d, const crypto::Bytes32& k) {
    auto r = open_split(d, SplitRunOptions{}, nullptr, "", &k);
    EXPECT_FALSE(r.ok());
    const std::string e = r.ok() ? "" : r.error();
    EXPECT_TRUE(contains(e, "manifest.json")) << e;
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
    return e;
  };
  EXPECT_TRUE(contains(open_error(split, wrong), "signed by another key"));

  // A tampered manifest whose file hashes still match: only the signature catches it.
  json j = json::parse(read_file(split + "/manifest.json"));
  j["model"]["file"] = "someone-else.onnx";
  write_file(split + "/manifest.json", j.dump(2));
  EXPECT_TRUE(contains(open_error(split, pub), "does not verify"));
  // The signature removed.
  j["owner_signature"] = nullptr;
  write_file(split + "/manifest.json", j.dump(2));
  EXPECT_TRUE(contains(open_error(split, pub), "not signed"));

  // An unsigned split, when the owner's key is required.
  const std::string plain = dir + "/plain";
  write_split(small_model(), "layer2.1", plain, SplitWriteOptions{});
  EXPECT_TRUE(contains(open_error(plain, pub), "not signed"));
}

// ---- CLI ----

struct CliResult {
  int code = -1;
  std::string out, err;
};

CliResult run_cli(const std::string& args, const std::string& dir) {
  const std::string err_file = dir + "/stderr.txt";
  const std::string cmd = std::string(TEESPLIT_BINARY_DIR) + "/teesplit " + args + " 2>" + err_file;
  CliResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream e(err_file);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  return r;
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_TRUE(contains(r.err, needle)) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(OwnerSignature, CliRoundTrip) {
  TS_REQUIRE_ORACLE(fs::exists(std::string(TEESPLIT_BINARY_DIR) + "/teesplit"),
                    "the teesplit binary is not built");
  const std::string dir = fresh_dir("cli");
  const std::string model = small_model();

  CliResult r = run_cli("keygen --ed25519 -o " + dir + "/owner.pem", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(mode_of(dir + "/owner.pem"), 0600u);
  EXPECT_EQ(mode_of(dir + "/owner.pub.pem"), 0644u);
  const crypto::Bytes32 pub = crypto::load_ed25519_public_key(dir + "/owner.pub.pem");
  EXPECT_TRUE(contains(r.out, crypto::to_hex(pub))) << r.out;
  // Never replaced without --force.
  expect_one_line_error(run_cli("keygen --ed25519 -o " + dir + "/owner.pem", dir), "exists");
  EXPECT_EQ(crypto::load_ed25519_public_key(dir + "/owner.pem"), pub);
  ASSERT_EQ(run_cli("keygen --ed25519 -o " + dir + "/other.pem", dir).code, 0);
  // The AES form: 32 bytes, 0600, usable by split --key.
  r = run_cli("keygen -o " + dir + "/front.key", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(dir + "/front.key").size(), 32u);
  EXPECT_EQ(mode_of(dir + "/front.key"), 0600u);
  EXPECT_EQ(run_cli("keygen -o " + dir + "/front.key", dir).code, 1);
  EXPECT_EQ(run_cli("keygen", dir).code, 2);  // -o is required: a usage error

  const std::string split = dir + "/split";
  r = run_cli("split " + model + " --at layer2.1 -o " + split + " --key " + dir +
                  "/front.key --sign " + dir + "/owner.pem --backend cpu",
              dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "signed by the owner's Ed25519 key " + crypto::to_hex(pub))) << r.out;
  const std::string run_args = "run --split " + split + " --key " + dir + "/front.key --owner-pub ";
  r = run_cli(run_args + dir + "/owner.pub.pem", dir);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(contains(r.out, "signature verified")) << r.out;
  // The private file works as the public key too.
  EXPECT_EQ(run_cli(run_args + dir + "/owner.pem", dir).code, 0);
  // Wrong owner key.
  expect_one_line_error(run_cli(run_args + dir + "/other.pub.pem", dir), "signed by another key");
  // Tampered manifest.
  const std::string original = read_file(split + "/manifest.json");
  json j = json::parse(original);
  j["cut"]["name"] = "layer9";
  write_file(split + "/manifest.json", j.dump(2));
  expect_one_line_error(run_cli(run_args + dir + "/owner.pub.pem", dir), "does not verify");
  // Unsigned manifest when the key is required.
  j = json::parse(original);
  j["owner_signature"] = nullptr;
  write_file(split + "/manifest.json", j.dump(2));
  expect_one_line_error(run_cli(run_args + dir + "/owner.pub.pem", dir), "not signed");
  write_file(split + "/manifest.json", original);
  EXPECT_EQ(run_cli(run_args + dir + "/owner.pub.pem", dir).code, 0);

  // An owner key file open to others is refused by split --sign, before anything is written.
  ASSERT_EQ(chmod((dir + "/owner.pem").c_str(), 0644), 0);
  expect_one_line_error(run_cli("split " + model + " --at layer2.1 -o " + dir + "/split2 --sign " +
                                    dir + "/owner.pem",
                                dir),
                        "chmod 600");
  EXPECT_FALSE(fs::exists(dir + "/split2"));
  // --owner-pub without --split is a usage error.
  EXPECT_EQ(run_cli("run " + model + " --owner-pub " + dir + "/owner.pub.pem", dir).code, 2);
}

}  // namespace
}  // namespace teesplit
